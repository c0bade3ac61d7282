"""Bounces as real mail servers write them (SPEC 6, 6c): messages from the sisimai
project's set-of-emails (tests/samples/bounces/, BSD 2-Clause, see LICENSE there),
read by the bounce reader, and one of them tied to a delivery of ours end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.bounces import parse_report
from newsletter.bounces.dsn import Report, Unreadable, read_message
from newsletter.bounces.mailbox import MaildirBox
from newsletter.bounces.process import judge_key
from newsletter.config import load_config
from newsletter.store import SqliteLedger
from tests.conftest import newsletter
from tests.smtpd import Received, smtp_server
from tests.test_bounces_process import add_seeds, bounce_setup, drop, dsn

SAMPLES = Path(__file__).parent / "samples" / "bounces"
ADDRESS = "unsubscribe@example.org"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "message_id", "bounces"),
    [
        # qmail's QSBMF: "Hi. This is the qmail-send program", the copy inline after a line
        (
            "lhost-qmail-01.eml",
            "<000000000.9999999999999.JavaMail.postmaster@mailhub>",
            [("kijitora@example.ne.jp", "hard", "5.5.0")],
        ),
        # Exim: "The following address(es) failed", the status only in the text
        (
            "lhost-exim-05.eml",
            "<19990429233445.000000@mx4.example.org>",
            [("kijitora@neko.example.co.jp", "hard", "5.1.1")],
        ),
        # Gmail: "Delivery to the following recipient failed permanently", "----- Original message -----"
        (
            "lhost-gmail-01.eml",
            "<D992C2C3-F175-4C4D-97E2-53A90E4E5BF5@gmail.com>",
            [("userunknown@example.jp", "hard", "5.1.1")],
        ),
        # Exchange 2003: two recipients, "The following recipient(s) could not be reached"
        (
            "lhost-exchange2003-02.eml",
            "<000000000000000.0000000@example.jp>",
            [("kijitora@example.co.jp", "hard", "5.0.0"), ("mikeneko@example.co.jp", "hard", "5.0.0")],
        ),
        # Active!Hunter: multipart/report, but no message/delivery-status part (was quarantined)
        (
            "lhost-activehunter-01.eml",
            "<0000000000.00000000000@mx4.example.org>",
            [("kijitora@example.org", "hard", "5.1.1")],
        ),
    ],
)
def test_bounce_real_plain_text_bounce_names_recipient_status_and_returned_message_id(
    name: str, message_id: str, bounces: list[tuple[str, str, str]]
) -> None:
    found = read_message(sample(name), ADDRESS)
    assert isinstance(found, Report), found
    assert found.message_id == message_id
    assert [(b.recipient, b.kind, b.status) for b in found.bounces] == bounces


def test_bounce_real_policy_refusal_in_a_report_is_soft_not_hard() -> None:
    # Barracuda: "Action: failed", "Status: 5.7.1", "550 permanent failure ... spam": our
    # message was refused, the address is fine (as 5.7.x at RCPT: no hard bounce)
    found = parse_report(sample("lhost-barracuda-01.eml"))
    assert isinstance(found, Report)
    assert [(b.recipient, b.kind, b.status) for b in found.bounces] == [("kijitora@example.org", "soft", "5.7.1")]
    # the remote server's own code wins over the one the reporting server guessed (Sendmail)
    guessed = sample("lhost-barracuda-01.eml").replace(b"Status: 5.7.1", b"Status: 5.1.1")
    assert [b.kind for b in parse_report(guessed).bounces] == ["soft"]  # type: ignore[union-attr]
    # the same report saying the address is unknown is hard, also when only the text says so
    unknown = guessed.replace(b"550 5.7.1 Message content rejected", b"550 5.1.1 User unknown")
    assert [b.kind for b in parse_report(unknown).bounces] == ["hard"]  # type: ignore[union-attr]
    vague = dsn(None, "a@example.org", status="5.1.0", diagnostic="smtp; 550 5.1.0 not allowed to send per SPF")
    assert [b.kind for b in parse_report(vague).bounces] == ["soft"]  # type: ignore[union-attr]
    generic = dsn(None, "a@example.org", status="5.0.0", diagnostic="smtp; 550 5.1.1 <{rcpt}>: User unknown")
    assert [(b.kind, b.status) for b in parse_report(generic).bounces] == [("hard", "5.0.0")]  # type: ignore[union-attr]
    spam = dsn(None, "a@example.org", status="5.0.0", diagnostic="smtp; 554 Message rejected as spam")
    assert [b.kind for b in parse_report(spam).bounces] == ["soft"]  # type: ignore[union-attr]


def test_bounce_real_returned_message_cut_short_still_gives_its_message_id() -> None:
    # Postfix returned the message without the closing MIME delimiter (the copy was cut)
    found = parse_report(sample("lhost-postfix-03.eml"))
    assert isinstance(found, Report)
    assert found.message_id == "<20140701000000.000000000000@e1.example.ne.jp>"
    assert [b.recipient for b in found.bounces] == ["kijitora@example.net"]


def test_bounce_real_auto_reply_is_no_bounce() -> None:
    # an out-of-office reply (RFC 3834) is its person's, not the mail system's
    assert read_message(sample("rfc3834-01.eml"), ADDRESS) is None
    # ... also when it quotes our Message-ID and says "failed", "550" and "user unknown"
    away = sample("rfc3834-01.eml").replace(
        b"Subject: Away until May 5",
        b"In-Reply-To: <our-1@example.org>\nSubject: Re: delivery failed: 550 5.1.1 user unknown",
    )
    assert read_message(away, ADDRESS) is None
    # a report that is neither a delivery-status part nor a bounce in words stays unreadable
    text = b"Content-Type: text/plain\n\nhello\n"
    report = (
        b'From: MAILER-DAEMON@mx.example.net\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"'
        b"\n\n--b\n" + text + b"--b--\n"
    )
    assert isinstance(read_message(report, ADDRESS), Unreadable)


def our_qmail_bounce(message_id: str | None, recipient: str) -> bytes:
    """The real qmail bounce, about the delivery with ``message_id`` to ``recipient``."""
    assert message_id
    return (
        sample("lhost-qmail-01.eml")
        .replace(b"<000000000.9999999999999.JavaMail.postmaster@mailhub>", message_id.encode())
        .replace(b"kijitora@example.ne.jp", recipient.encode())
        .replace(b"nekochan@example.jp", b"digest@example.org")
    )


def sent_to_bob(tmp_path: Path, seeds: dict[str, Path]) -> tuple[Path, Received]:
    """A configuration whose first send went out over real SMTP, and the message to bob."""
    with smtp_server() as server:
        cfg = bounce_setup(tmp_path, server.port)
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        bob = server.by_recipient()["bob@example.org"][0]
    assert bob.message_id
    return cfg, bob


def test_bounce_real_qmail_bounce_of_our_delivery_suppresses_and_a_forged_one_does_not(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    cfg, bob = sent_to_bob(tmp_path, seeds)
    maildir = tmp_path / "bounces"
    # a forged one: alice named, but not the Message-ID of our delivery to her
    drop(maildir, "1.forged", our_qmail_bounce("<made-up@example.org>", "alice@example.org"))
    drop(maildir, "2.qmail", our_qmail_bounce(bob.message_id, "bob@example.org"))
    result = newsletter("bounces", "-c", str(cfg))
    assert result.exit_code == 0, result.output
    assert "suppressed bob@example.org: 1 hard bounce" in result.output
    assert "1 bounce recorded, 1 ignored" in result.output
    status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
    assert [(b["email"], b["status"]) for b in status["bounced"]] == [("bob@example.org", "5.5.0")]
    (ignored,) = status["ignored_reports"]
    assert "no delivery of ours" in ignored["reason"] and ignored["names"] == ["alice@example.org"]
    assert not list((maildir / "new").iterdir())  # both read and moved aside


def test_bounce_real_report_records_the_failure_of_our_recipient_not_another(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    cfg, bob = sent_to_bob(tmp_path, seeds)
    # bob's delivery is delayed; the report also names an address that failed for good
    report = dsn(bob.data, "bob@example.org", action="delayed", status="4.4.7", diagnostic="smtp; 451 later")
    other = b"Final-Recipient: rfc822; gone@elsewhere.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
    returned = b"--B0UND\r\nContent-Description"
    report = report.replace(b"\r\n" + returned, b"\r\n" + other + returned)
    drop(tmp_path / "bounces", "1.dsn", report)
    result = newsletter("bounces", "-c", str(cfg))
    assert "1 bounce recorded" in result.output and "suppressed" not in result.output
    status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
    assert status["bounced"] == []


def test_bounce_real_text_bounce_left_alone_by_the_earlier_reader_is_read_after_the_upgrade(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    cfg, bob = sent_to_bob(tmp_path, seeds)
    maildir = tmp_path / "bounces"
    drop(maildir, "1764000001.qmail.host", our_qmail_bounce(bob.message_id, "bob@example.org"))
    # the reader before plain-text bounces judged it foreign and remembered its name
    config = load_config(cfg)
    earlier = "1:" + judge_key(config).partition(":")[2]
    with SqliteLedger.open(config.ledger_path) as ledger:
        ledger.remember_known_mail(MaildirBox(maildir).identity, earlier, add={"1764000001.qmail.host"}, gone=())

    result = newsletter("bounces", "-c", str(cfg))

    assert "suppressed bob@example.org: 1 hard bounce" in result.output, result.output
