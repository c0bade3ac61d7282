"""Bounces (SPEC 6, issue 14): a 5xx at RCPT is a hard bounce that suppresses the
address; delivery status notifications read from a real Maildir; `status` and
`resubscribe`. Real aiosmtpd, real SQLite, real files."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.config import load_config
from newsletter.store import SqliteLedger
from tests.conftest import newsletter
from tests.smtpd import EXAMPLE_SUBSCRIBERS, Faults, smtp_server, write_config


def add_seeds(config: Path, seeds: dict[str, Path], *names: str) -> None:
    for name in names:
        shutil.copy2(seeds[name], config.parent / "digests")


def test_bounce_550_at_rcpt_suppresses_address_until_resubscribe(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server(Faults(reject=frozenset({"bob@example.org"}))) as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS)
        add_seeds(cfg, seeds, "000", "001")
        first = newsletter("send", "-c", str(cfg))
        assert first.exit_code == 1 and "failed: bob@example.org: 550" in first.output
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        (bounced,) = status["bounced"]
        assert bounced["email"] == "bob@example.org" and bounced["hard"] == 1
        assert "1 hard bounce" in bounced["reason"] and "5.1.1" in bounced["reason"]
        human = newsletter("status", "-c", str(cfg)).output
        assert "bounced bob@example.org: 1 hard bounce" in human

        # a new digest: bob would match again, but the next pass does not mail him
        add_seeds(cfg, seeds, "002")
        before = len(server.received)
        second = newsletter("send", "-c", str(cfg), "-v")
        assert "1 unsubscribed skipped" in second.output
        assert all(m.rcpt_tos != ["bob@example.org"] for m in server.received[before:])
        with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
            assert [d["status"] for d in ledger.deliveries("bob@example.org")] == ["failed"]

        # resubscribe lifts it: bob is mailed again for digests picked up from now on
        assert newsletter("resubscribe", "-c", str(cfg), "bob@example.org").exit_code == 0
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        assert status["bounced"] == []
        server.handler.faults.reject = frozenset()
        add_seeds(cfg, seeds, "003")
        third = newsletter("send", "-c", str(cfg))
        assert third.exit_code == 0, third.output
        assert any(m.rcpt_tos == ["bob@example.org"] for m in server.received)


def test_bounce_policy_refusal_5_7_is_not_a_bounce(tmp_path: Path, seeds: dict[str, Path]) -> None:
    # a relay refusing on policy (5.7.1: relay denied, spam) says nothing about the address
    refusal = {"alice@example.org": "554 5.7.1 <alice@example.org>: Relay access denied"}
    with smtp_server(Faults(rcpt_replies=refusal)) as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS)
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 1
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        assert status["failed"][0]["email"] == "alice@example.org"
        assert status["bounced"] == [] and status["suppressed"] == 0


def test_bounce_refusal_of_the_message_after_data_is_not_a_bounce_of_the_address(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    # the relay took RCPT TO and refused the message itself after its data: too large,
    # a content filter without an enhanced code. The address is fine: nobody is
    # suppressed (a digest over the size limit must not unsubscribe the whole list).
    # A mailbox status after DATA (5.1.1 of a server that checks recipients late) is one.
    replies = {
        "alice@example.org": "552 5.3.4 Message size exceeds fixed maximum message size",
        "bob@example.org": "554 Transaction failed: message content rejected",
        "chen@example.org": "550 5.1.1 <chen@example.org>: Recipient address rejected: User unknown",
    }
    with smtp_server(Faults(data_replies=replies)) as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS)
        add_seeds(cfg, seeds, "000", "001")
        first = newsletter("send", "-c", str(cfg))
        assert first.exit_code == 1
        assert "failed: alice@example.org: 552 5.3.4 Message size exceeds" in first.output
        assert "failed: bob@example.org: 554 Transaction failed" in first.output
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        assert {f["email"] for f in status["failed"]} == set(replies)
        (bounced,) = status["bounced"]
        assert bounced["email"] == "chen@example.org" and "5.1.1" in bounced["reason"]
        assert status["suppressed"] == 1

        # the next digest still goes to alice and bob once the relay takes it
        server.handler.faults.data_replies = {}
        add_seeds(cfg, seeds, "002")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        got = server.by_recipient()
        assert "alice@example.org" in got and "bob@example.org" in got and "chen@example.org" not in got


def test_bounce_domain_that_cannot_be_routed_after_data_is_a_hard_bounce(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    # 5.4.4 "unable to route" (RFC 3463; with 5 it is for good): the domain has no MX or
    # does not exist, the address can never receive mail, also when the relay says so late
    replies = {"alice@example.org": "550 5.4.4 <alice@example.org>: Host or domain name not found"}
    with smtp_server(Faults(data_replies=replies)) as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS)
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 1
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        (bounced,) = status["bounced"]
        assert bounced["email"] == "alice@example.org" and "5.4.4" in bounced["reason"]


# --------------------------------------------------------------------------- the bounce mailbox


def dsn(
    original: bytes | None,
    recipient: str,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    headers_only: bool = True,
    report_id: str = "<dsn-1@mx.example.net>",
) -> bytes:
    """A delivery status notification as Postfix writes it (RFC 3464)."""
    returned = b""
    if original is not None:
        head = original.split(b"\r\n\r\n", 1)[0] if headers_only else original
        kind = "text/rfc822-headers" if headers_only else "message/rfc822"
        returned = (
            f"--B0UND\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: {kind}\r\n\r\n".encode()
            + head
            + b"\r\n"
        )
    text = (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        "To: digest@example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {report_id}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B0UND"\r\n'
        "\r\n"
        "--B0UND\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n\r\n"
        "--B0UND\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\nArrival-Date: Mon, 30 Nov 2026 07:00:01 +0000\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\nDiagnostic-Code: {diagnostic.format(rcpt=recipient)}\r\n\r\n"
    ).encode()
    return text + returned + b"--B0UND--\r\n"


HUMAN = (
    b"From: Alice <alice@example.org>\r\nTo: digest@example.org\r\nSubject: thanks for the digest\r\n"
    b"Message-ID: <human-1@example.org>\r\n\r\nLoved the paper on contrastive learning.\r\n"
)


def bounce_setup(tmp_path: Path, port: int, **bounces: Any) -> Path:
    maildir = tmp_path / "bounces"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    return write_config(
        tmp_path,
        port,
        EXAMPLE_SUBSCRIBERS,
        bounces={"maildir": "bounces", **bounces},
        sender={
            "from": "Paper Digest <digest@example.org>",
            "unsubscribe": {"mailto": "unsubscribe@example.org", "secret_env": "TEST_UNSUB_SECRET"},
        },
    )


def drop(maildir: Path, name: str, data: bytes) -> Path:
    path = maildir / "new" / name
    path.write_bytes(data)
    return path


def test_bounce_dsn_in_maildir_suppresses_moves_report_aside_rest_unchanged(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    with smtp_server() as server:
        cfg = bounce_setup(tmp_path, server.port)
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        bob = server.by_recipient()["bob@example.org"][0]
        before = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        maildir = tmp_path / "bounces"
        report = drop(maildir, "1700000000.dsn.host", dsn(bob.data, "bob@example.org"))
        human = drop(maildir, "1700000001.human.host", HUMAN)

        result = newsletter("bounces", "-c", str(cfg))
        assert result.exit_code == 0, result.output
        assert "suppressed bob@example.org: 1 hard bounce" in result.output
        assert "1 bounce report" in result.output and "1 left alone" in result.output
        assert not report.exists() and human.exists()  # the report moved aside, other mail untouched
        processed = list((maildir / ".processed" / "cur").iterdir())
        assert len(processed) == 1 and processed[0].read_bytes() == dsn(bob.data, "bob@example.org")

        after = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        (bounced,) = after["bounced"]
        assert (bounced["email"], bounced["source"], bounced["status"]) == ("bob@example.org", "dsn", "5.1.1")
        assert "User unknown" in bounced["reason"]
        assert after["deliveries"] == before["deliveries"] and after["suppressed"] == 1

        # read again: nothing new (the report is gone; the same report dropped twice counts once)
        drop(maildir, "1700000002.dsn.host", dsn(bob.data, "bob@example.org"))
        again = newsletter("bounces", "-c", str(cfg))
        assert "0 bounces recorded" in again.output
        with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
            assert ledger.conn.execute("SELECT COUNT(*) FROM bounces").fetchone()[0] == 1


def test_bounce_soft_dsns_suppress_after_consecutive_limit_and_send_reads_mailbox_first(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    with smtp_server() as server:
        cfg = bounce_setup(tmp_path, server.port, soft=2)
        maildir = tmp_path / "bounces"
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        first = server.by_recipient()["alice@example.org"][0]
        delayed = dsn(first.data, "alice@example.org", action="delayed", status="4.2.2", report_id="<d1@mx>")
        drop(maildir, "1.dsn", delayed)
        add_seeds(cfg, seeds, "002")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0  # reads the mailbox, then delivers
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        assert status["bounced"] == []  # one soft bounce: still mailed
        second = server.by_recipient()["alice@example.org"][1]

        # a report without our headers names nobody (anyone can write Final-Recipient): ignored
        drop(maildir, "2.dsn", dsn(None, "alice@example.org", status="4.4.7", report_id="<d2@mx>"))
        assert "0 bounces recorded, 1 ignored" in newsletter("bounces", "-c", str(cfg)).output
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        (ignored,) = status["ignored_reports"]
        assert ignored["report_id"] == "<d2@mx>" and ignored["names"] == ["alice@example.org"]
        assert "no Message-ID of ours" in ignored["reason"]
        # the second delivery bounces softly too, with its headers returned
        drop(maildir, "3.dsn", dsn(second.data, "alice@example.org", status="4.4.7", report_id="<d3@mx>"))
        add_seeds(cfg, seeds, "003")
        sent_before = len(server.by_recipient()["alice@example.org"])
        result = newsletter("send", "-c", str(cfg), "-v")
        assert "unsubscribed skipped" in result.output
        assert len(server.by_recipient()["alice@example.org"]) == sent_before == 2
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        (bounced,) = status["bounced"]
        assert bounced["email"] == "alice@example.org" and bounced["soft"] == 2
        assert "2 consecutive soft bounces" in bounced["reason"]
        assert second.message_id != first.message_id


def mailto_subject(msg: Any) -> str:
    """The subject a mail client writes from a delivery's List-Unsubscribe mailto: URI."""
    from urllib.parse import unquote

    uri = str(msg["List-Unsubscribe"]).split(",")[0].strip().strip("<>")
    assert uri.startswith("mailto:unsubscribe@example.org?subject=unsubscribe%20")
    return unquote(uri.partition("subject=")[2])


def test_bounce_mailto_unsubscribe_request_honoured_forged_token_changes_nothing(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: Any
) -> None:
    monkeypatch.setenv("TEST_UNSUB_SECRET", "the-unsubscribe-secret")
    with smtp_server() as server:
        cfg = bounce_setup(tmp_path, server.port)
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        subject = mailto_subject(server.by_recipient()["chen@example.org"][0].message)
        maildir = tmp_path / "bounces"
        forged_subject = "unsubscribe " + "A" * 43
        forged = (
            f"From: Mallory <mallory@example.net>\r\nTo: unsubscribe@example.org\r\nSubject: {forged_subject}\r\n"
            "Message-ID: <forged@example.net>\r\n\r\nunsubscribe\r\n"
        ).encode()
        forged_path = drop(maildir, "1.forged", forged)
        result = newsletter("bounces", "-c", str(cfg))
        assert "0 unsubscribe requests honoured, 1 refused" in result.output
        assert json.loads(newsletter("status", "-c", str(cfg), "--json").output)["suppressed"] == 0
        assert forged_path.read_bytes() == forged  # left where it was, for a human to read

        request = (
            f"From: Chen Wei <chen@example.org>\r\nTo: unsubscribe@example.org\r\nSubject: {subject}\r\n"
            "Message-ID: <req-1@example.org>\r\n\r\n\r\n"
        ).encode()
        drop(maildir, "2.request", request)
        # the address form, unsubscribe+TOKEN@, works as well
        token = subject.split()[1]
        plus = (
            f"From: Bob <bob@example.org>\r\nTo: unsubscribe+{token}@example.org\r\nSubject: bye\r\n"
            "Message-ID: <req-2@example.org>\r\n\r\n\r\n"
        ).encode()
        drop(maildir, "3.request", plus)
        result = newsletter("bounces", "-c", str(cfg))
        assert "unsubscribed chen@example.org (mailto request)" in result.output
        with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
            state = ledger.suppression("chen@example.org")
            assert state is not None and state.source == "mailto" and state.until is None
            assert ledger.suppression("bob@example.org") is None  # chen's token in bob's mail: still chen's
            assert ledger.suppression("mallory@example.net") is None
        assert list((maildir / "new").iterdir()) == [forged_path]  # only the forged one stays


def test_bounce_mailto_unsubscribe_of_a_removed_subscriber_is_honoured(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: Any
) -> None:
    """Chen got a digest and was then removed from the configuration: the mailto request
    her mail client sends from that email still records her suppression (a later
    re-import of an old list does not write to her again), as the one-click link does."""
    monkeypatch.setenv("TEST_UNSUB_SECRET", "the-unsubscribe-secret")
    with smtp_server() as server:
        cfg = bounce_setup(tmp_path, server.port)
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        subject = mailto_subject(server.by_recipient()["chen@example.org"][0].message)
    data = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    data["subscribers"] = [s for s in data["subscribers"] if s["email"] != "chen@example.org"]
    cfg.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    request = (
        f"From: Chen Wei <chen@example.org>\r\nTo: unsubscribe@example.org\r\nSubject: {subject}\r\n"
        "Message-ID: <req-1@example.org>\r\n\r\n\r\n"
    ).encode()
    drop(tmp_path / "bounces", "1.request", request)
    result = newsletter("bounces", "-c", str(cfg))
    assert "unsubscribed chen@example.org (mailto request)" in result.output, result.output
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        state = ledger.suppression("chen@example.org")
        assert state is not None and state.source == "mailto"


@pytest.mark.slow
@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_bounce_dsn_in_imap_folder_of_real_dovecot(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: Any, security: str
) -> None:
    import imaplib
    import ssl

    from tests.imapd import dovecot

    with dovecot() as imapd, smtp_server() as server:
        monkeypatch.setenv("TEST_IMAP_PASSWORD", imapd.password)
        imap = {
            "host": imapd.host,
            "port": imapd.port if security == "tls" else imapd.starttls_port,
            "security": security,
            "username": imapd.user,
            "password_env": "TEST_IMAP_PASSWORD",
            "folder": "INBOX",
            "processed": "Processed",
            "ca_file": str(imapd.cert),
        }
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS, bounces={"imap": imap})
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        bob = server.by_recipient()["bob@example.org"][0]
        ctx = ssl.create_default_context(cafile=str(imapd.cert))
        client = imaplib.IMAP4_SSL(imapd.host, imapd.port, ssl_context=ctx, timeout=10)
        client.login(imapd.user, imapd.password)
        assert client.append("INBOX", None, None, dsn(bob.data, "bob@example.org", headers_only=False))[0] == "OK"
        assert client.append("INBOX", None, None, HUMAN)[0] == "OK"
        # a message the human sharing the mailbox marked deleted (and may still undelete)
        trashed = HUMAN.replace(b"thanks for the digest", b"old newsletter")
        assert client.append("INBOX", r"(\Deleted)", None, trashed)[0] == "OK"

        result = newsletter("bounces", "-c", str(cfg))
        assert result.exit_code == 0, result.output
        assert "suppressed bob@example.org: 1 hard bounce" in result.output

        def count(folder: str) -> int:
            status, data = client.select(f'"{folder}"', readonly=True)
            assert status == "OK", data
            return int(data[0] or 0)

        assert count("INBOX") == 2 and count("Processed") == 1  # moved aside; the human mail stays
        assert client.select("INBOX", readonly=True)[0] == "OK"
        status, found = client.uid("SEARCH", "DELETED")
        assert status == "OK" and len(found[0].split()) == 1  # what the human deleted is theirs to expunge
        _, flags = client.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert b"thanks for the digest" in flags[0][1] and b"\\Seen" not in flags[0][0]  # left unread
        client.logout()
        second = newsletter("bounces", "-c", str(cfg))  # the human mail judged once is not fetched again
        assert "0 messages, 0 bounce reports" in second.output
        # the reply and the one marked deleted: both judged (and left as they are) in the first pass
        assert "(2 more from earlier passes, not read again)" in second.output

        # a wrong password: one line, exit 1, no traceback
        monkeypatch.setenv("TEST_IMAP_PASSWORD", "wrong")
        wrong = CliRunner().invoke(cli, ["bounces", "-c", str(cfg)])
        assert wrong.exit_code == 1 and "IMAP login as bounces refused" in wrong.output


def test_bounce_daemon_reads_mailbox_every_few_minutes(tmp_path: Path, seeds: dict[str, Path]) -> None:
    from tests.indaemon import in_daemon
    from tests.memsender import MemoryTransport

    with smtp_server() as server:
        cfg = bounce_setup(tmp_path, server.port, every_minutes=5)
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
    maildir = tmp_path / "bounces"
    bob = server.by_recipient()["bob@example.org"][0]
    alice = server.by_recipient()["alice@example.org"][0]
    drop(maildir, "1.dsn", dsn(bob.data, "bob@example.org"))
    state = load_config(cfg).ledger_path

    def suppressed(email: str) -> bool:
        with SqliteLedger.open(state) as ledger:
            return ledger.suppression(email) is not None

    async def rounds() -> None:
        async with in_daemon(cfg, transport=MemoryTransport()) as rig:
            await rig.poll()
            assert suppressed("bob@example.org")  # the report read at start
            # a later report: read at the round after five minutes, without a restart
            drop(maildir, "2.dsn", dsn(alice.data, "alice@example.org", report_id="<dsn-2@mx>"))
            rig.advance(299)
            await rig.poll()
            assert not suppressed("alice@example.org")  # not due yet
            rig.advance(1)
            await rig.poll()
            assert suppressed("alice@example.org")

    asyncio.run(rounds())
    assert list((maildir / "new").iterdir()) == []
    assert not suppressed("chen@example.org")


@pytest.mark.slow
def test_bounce_imap_without_processed_folder_expunges_only_its_own(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: Any
) -> None:
    # processed: null: our report is flagged deleted and expunged by UID (UIDPLUS); a
    # message the human marked deleted stays, for them to undelete or expunge
    import imaplib
    import ssl

    from tests.imapd import dovecot

    with dovecot() as imapd, smtp_server() as server:
        monkeypatch.setenv("TEST_IMAP_PASSWORD", imapd.password)
        imap = {
            "host": imapd.host,
            "port": imapd.port,
            "security": "tls",
            "username": imapd.user,
            "password_env": "TEST_IMAP_PASSWORD",
            "processed": None,
            "ca_file": str(imapd.cert),
        }
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS, bounces={"imap": imap})
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        bob = server.by_recipient()["bob@example.org"][0]
        client = imaplib.IMAP4_SSL(
            imapd.host, imapd.port, ssl_context=ssl.create_default_context(cafile=str(imapd.cert)), timeout=10
        )
        client.login(imapd.user, imapd.password)
        assert client.append("INBOX", None, None, dsn(bob.data, "bob@example.org", headers_only=False))[0] == "OK"
        assert client.append("INBOX", r"(\Deleted)", None, HUMAN)[0] == "OK"

        result = newsletter("bounces", "-c", str(cfg))
        assert result.exit_code == 0 and "suppressed bob@example.org: 1 hard bounce" in result.output

        status, data = client.select("INBOX", readonly=True)
        assert status == "OK" and int(data[0] or 0) == 1  # the report is gone, the human's message is not
        _, fetched = client.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert b"thanks for the digest" in fetched[0][1] and b"\\Deleted" in fetched[0][0]
        client.logout()


def test_bounce_config_errors_name_key_and_line(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        1,
        EXAMPLE_SUBSCRIBERS,
        bounces={"maildri": "x", "hard": 0, "imap": {"host": "127.0.0.1", "username": "u", "folderr": "INBOX"}},
        dkim={"domain": "example.org", "selector": "bad selector"},
    )
    result = CliRunner().invoke(cli, ["check", "-c", str(cfg)])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    for key in ("bounces.maildri: unknown key", "bounces.hard:", "bounces.imap.folderr: unknown key", "dkim.selector:"):
        assert any(f"{cfg}:" in line and key in line for line in lines), (key, lines)
    assert "Traceback" not in result.output


def test_bounce_imap_password_variable_unset_is_config_error(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("TEST_IMAP_PASSWORD", raising=False)
    imap = {"host": "127.0.0.1", "port": 1, "username": "u", "password_env": "TEST_IMAP_PASSWORD"}
    cfg = write_config(tmp_path, 1, EXAMPLE_SUBSCRIBERS, bounces={"imap": imap})
    for command in ("check", "bounces"):
        result = CliRunner().invoke(cli, [command, "-c", str(cfg)])
        assert result.exit_code == 2 and "TEST_IMAP_PASSWORD" in result.output, (command, result.output)


# --------------------------------------------------------------------------- parsing (pure functions)


def test_bounce_report_parsing_recipients_kinds_and_untrusted_text() -> None:
    from newsletter.bounces import parse_report, parse_unsubscribe

    original = b"From: digest@example.org\r\nTo: a@example.org\r\nMessage-ID: <abc@example.org>\r\n\r\nhi\r\n"
    data = dsn(original, "a@example.org", diagnostic="smtp; 550 5.1.1 gone\r\n\tX-Injected: yes")
    # a second recipient block: delivered (no bounce), then a delayed one
    extra = (
        b"Final-Recipient: rfc822; b@example.org\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n"
        b"Final-Recipient: rfc822; C@Example.org\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n"
    )
    data = data.replace(b"\r\n--B0UND\r\nContent-Description", b"\r\n" + extra + b"--B0UND\r\nContent-Description", 1)
    report = parse_report(data)
    assert report is not None and report.message_id == "<abc@example.org>"
    assert [(b.recipient, b.kind, b.status) for b in report.bounces] == [
        ("a@example.org", "hard", "5.1.1"),
        ("c@example.org", "soft", "4.4.1"),
    ]
    diagnostic = report.bounces[0].diagnostic or ""
    assert "\r" not in diagnostic and "\n" not in diagnostic and "550 5.1.1 gone" in diagnostic
    assert parse_report(HUMAN) is None
    not_dsn = HUMAN.replace(b"Subject:", b"Content-Type: multipart/report; report-type=disposition-notification\r\nX:")
    assert parse_report(not_dsn) is None
    assert parse_unsubscribe(HUMAN, "unsubscribe@example.org") is None  # to digest@, about something else
    token = "-" + "a" * 41 + "_"  # tokens are base64url: they may start with "-"
    request = f"To: unsubscribe@example.org\r\nSubject: Re: unsubscribe {token}\r\n\r\n".encode()
    parsed = parse_unsubscribe(request, "unsubscribe@example.org")
    assert parsed is not None and parsed.token == token


def test_bounce_verp_return_path_ties_report_without_headers_to_an_alias(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    with smtp_server() as server:
        cfg = bounce_setup(tmp_path, server.port, verp=True)
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        bob = server.by_recipient()["bob@example.org"][0]
        senders = {m.mail_from for m in server.received}
        assert len(senders) == 3 and all(s.startswith("digest+b") and s.endswith("@example.org") for s in senders)
        # bob forwards to an alias that bounces; the report returns no headers of ours
        report = dsn(None, "bob.old@elsewhere.example", report_id="<verp-1@mx>").replace(
            b"To: digest@example.org\r\n", f"To: {bob.mail_from}\r\n".encode()
        )
        maildir = tmp_path / "bounces"
        drop(maildir, "1.dsn", report)
        result = newsletter("bounces", "-c", str(cfg))
        assert "suppressed bob@example.org: 1 hard bounce" in result.output
        # a forged tag ties to nothing
        forged = report.replace(bob.mail_from.encode(), b"digest+baaaaaaaaaaaaaaaa@example.org").replace(
            b"<verp-1@mx>", b"<verp-2@mx>"
        )
        drop(maildir, "2.dsn", forged)
        result = newsletter("bounces", "-c", str(cfg))
        assert "0 bounces recorded, 1 ignored" in result.output
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        assert [b["email"] for b in status["bounced"]] == ["bob@example.org"]
        (ignored,) = status["ignored_reports"]
        assert ignored["report_id"] == "<verp-2@mx>" and "VERP address of one of our deliveries" in ignored["reason"]
