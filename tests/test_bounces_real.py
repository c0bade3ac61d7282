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
        # Google Groups: the reason only in the reader's language, no code; X-Failed-Recipients
        # names what failed for good (a group refusing posts: soft)
        (
            "lhost-googlegroups-01.eml",
            "<D0E3D626-1C96-4749-8101-62C0CE13B1D5@example.jp>",
            [("libsisimai@googlegroups.com", "soft", "5.0.0")],
        ),
        # IMail: "Unknown user: ADDRESS", the words before the address, no code
        (
            "lhost-imailserver-01.eml",
            "<00000000.ffffffff@example.org>",
            [("kijitora@example.com", "hard", "5.0.0")],
        ),
        # SurfControl: a delivery-status part whose recipient block starts with blank lines
        (
            "lhost-surfcontrol-01.eml",
            "<20100429233445.00000000000@mx4.example.co.jp>",
            [("kijitora@example.com", "hard", "5.0.0")],
        ),
        # Exim delivering to a pipe: the status part names the pipe, the text the address
        (
            "lhost-exim-44.eml",
            "<22ee2222222ffff00@nyaan.example.com>",
            [("kijitora@example.com", "soft", "5.0.0")],
        ),
        # Lotus Notes: "Failure Reasons" and the address, the reason in ISO-2022-JP
        (
            "lhost-notes-01.eml",
            "<000000000.0000000000000.notes@example.co.jp>",
            [("kijitora@u1.example.co.jp", "soft", "5.0.0")],
        ),
        # McAfee: From "<>", the null address (no person's), "had delivery problems"
        (
            "lhost-mcafee-04.eml",
            "<000000000010.0000.1111111111111111AA0@NEKO.NYAAN>",
            [("kijitora@example.com", "hard", "5.0.0")],
        ),
        # Postfix: the returned headers' folded lines lost their indent ("Received: ...\nby ...")
        (
            "lhost-postfix-57.eml",
            "<44kWHZ2S3Qz1yxHC@rokujo.cr.nyaan.jp>",
            [("kijitora@cr.nyaan.jp", "hard", "5.2.1")],
        ),
        # OpenSMTPD: From "Mailer Daemon", "Envelope expired" (no Message-ID in the copy)
        ("lhost-opensmtpd-05.eml", None, [("kijitora@mail.example.co.jp", "soft", "5.0.0")]),
    ],
)
def test_bounce_real_plain_text_bounce_names_recipient_status_and_returned_message_id(
    name: str, message_id: str | None, bounces: list[tuple[str, str, str]]
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
    gone = dsn(None, "a@example.org", status="5.0.0", diagnostic="smtp; 550 <{rcpt}>... User not exist")  # McAfee
    assert [b.kind for b in parse_report(gone).bounces] == ["hard"]  # type: ignore[union-attr]
    spam = dsn(None, "a@example.org", status="5.0.0", diagnostic="smtp; 554 Message rejected as spam")
    assert [b.kind for b in parse_report(spam).bounces] == ["soft"]  # type: ignore[union-attr]


def test_bounce_real_domain_that_cannot_be_routed_is_hard_a_passing_dns_failure_soft() -> None:
    # Postfix "Host or domain name not found" (5.4.4 in Status), qmail "couldn't find a mail
    # exchanger" (#5.4.4): permanent "unable to route" (RFC 3463), the address can never
    # receive mail
    for name in ("lhost-postfix-06.eml", "lhost-qmail-11.eml"):
        found = read_message(sample(name), ADDRESS)
        assert isinstance(found, Report), name
        assert [(b.kind, b.status) for b in found.bounces] == [("hard", "5.4.4")], name
    # the same lookup failing for now (4.4.x) or still being retried is soft
    later = sample("lhost-postfix-06.eml").replace(b"Status: 5.4.4", b"Status: 4.4.4")
    later = later.replace(b"Action: failed", b"Action: delayed")
    assert [(b.kind, b.status) for b in parse_report(later).bounces] == [("soft", "4.4.4")]  # type: ignore[union-attr]
    # other 5.4.x network trouble is no sign the address is gone
    loop = dsn(None, "a@example.org", status="5.4.6", diagnostic="smtp; 554 5.4.6 mail forwarding loop")
    assert [b.kind for b in parse_report(loop).bounces] == ["soft"]  # type: ignore[union-attr]


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


def our_imail_bounce(message_id: str | None, recipient: str) -> bytes:
    """The real IMail bounce ("Unknown user: ADDRESS", no status code), about the delivery
    with ``message_id`` to ``recipient``."""
    assert message_id
    return (
        sample("lhost-imailserver-01.eml")
        .replace(b"<00000000.ffffffff@example.org>", message_id.encode())
        .replace(b"kijitora@example.com", recipient.encode())
    )


def test_bounce_real_bounce_without_a_code_of_our_delivery_suppresses_and_a_forged_one_does_not(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    cfg, bob = sent_to_bob(tmp_path, seeds)
    maildir = tmp_path / "bounces"
    drop(maildir, "1.forged", our_imail_bounce("<made-up@example.org>", "alice@example.org"))
    drop(maildir, "2.imail", our_imail_bounce(bob.message_id, "bob@example.org"))
    # Google Groups' text in Japanese, no code, returning bob's Message-ID but naming alice
    groups = (
        sample("lhost-googlegroups-01.eml")
        .replace(b"<D0E3D626-1C96-4749-8101-62C0CE13B1D5@example.jp>", bob.message_id.encode())  # type: ignore[union-attr]
        .replace(b"libsisimai@googlegroups.com", b"alice@example.org")
    )
    drop(maildir, "3.groups", groups)  # not our delivery to alice: ignored
    result = newsletter("bounces", "-c", str(cfg))
    assert result.exit_code == 0, result.output
    assert "suppressed bob@example.org: 1 hard bounce" in result.output
    assert "1 bounce recorded, 2 ignored" in result.output
    status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
    assert [b["email"] for b in status["bounced"]] == ["bob@example.org"]
    assert sorted(i["names"] for i in status["ignored_reports"]) == [["alice@example.org"], ["alice@example.org"]]
    assert not list((maildir / "new").iterdir())
