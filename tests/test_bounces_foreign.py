"""Foreign mail in a shared bounce mailbox costs nothing after the first look (SPEC 6,
6c): a real Dovecot (and a real Maildir), real SQLite and PostgreSQL ledgers, real SMTP
for the deliveries the reports are about. What the reader asks the IMAP server is
observed through imaplib's ``_command`` (every command the client sends, counted;
nothing is changed)."""

from __future__ import annotations

import imaplib
import json
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from newsletter.bounces.mailbox import MaildirBox
from newsletter.bounces.process import judge_key
from newsletter.config import load_config
from newsletter.store import SqliteLedger
from newsletter.store.choose import open_ledger
from newsletter.store.postgres import PostgresLedger
from tests.conftest import newsletter, settled_copy
from tests.imapd import Imapd, dovecot
from tests.smtpd import EXAMPLE_SUBSCRIBERS, Received, smtp_server, write_config
from tests.test_bounces_process import HUMAN, bounce_setup, drop, dsn


def human(n: int) -> bytes:
    return HUMAN.replace(b"thanks for the digest", f"question number {n}".encode()).replace(
        b"<human-1@", f"<human-{n}@".encode()
    )


class Commands:
    """The IMAP commands the bounce reader sends (imaplib's ``_command``, wrapped)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[tuple[str, ...]] = []
        real = imaplib.IMAP4._command

        def counted(client: imaplib.IMAP4, name: str, *args: Any) -> Any:
            self.sent.append((name, *(a.decode() if isinstance(a, bytes) else str(a) for a in args)))
            return real(client, name, *args)

        monkeypatch.setattr(imaplib.IMAP4, "_command", counted)

    def header_fetches(self) -> list[str]:
        """The UIDs whose headers were fetched, in order."""
        return [c[2] for c in self.sent if c[:2] == ("UID", "FETCH") and "BODY.PEEK[HEADER]" in c[3]]

    def clear(self) -> None:
        self.sent.clear()


@dataclass
class Rig:
    cfg: Path
    imapd: Imapd
    client: imaplib.IMAP4_SSL
    deliveries: dict[str, list[Received]]
    commands: Commands

    def append(self, *messages: bytes, folder: str = "INBOX") -> None:
        for message in messages:
            assert self.client.append(folder, None, None, message)[0] == "OK"

    def report(self, email: str, n: int) -> bytes:
        return dsn(self.deliveries[email][0].data, email, headers_only=False, report_id=f"<dsn-{n}@mx.example.net>")

    def bounces(self) -> str:
        self.commands.clear()
        result = newsletter("bounces", "-c", str(self.cfg))
        assert result.exit_code == 0, result.output
        return str(result.output)

    def bounced(self) -> list[str]:
        status = json.loads(newsletter("status", "-c", str(self.cfg), "--json").stdout)
        return sorted(b["email"] for b in status["bounced"])

    def hard_bounces(self, email: str) -> int:
        """How many times a hard bounce of ``email`` was counted."""
        with open_ledger(load_config(self.cfg)) as ledger:
            return next(int(b["hard"]) for b in ledger.bounced() if b["email"] == email)


@contextmanager
def rig(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch, state: str = "ledger.sqlite3", **imap: Any
) -> Iterator[Rig]:
    with dovecot() as imapd, smtp_server() as server:
        monkeypatch.setenv("TEST_IMAP_PASSWORD", imapd.password)
        settings = {
            "host": imapd.host,
            "port": imapd.port,
            "security": "tls",
            "username": imapd.user,
            "password_env": "TEST_IMAP_PASSWORD",
            "ca_file": str(imapd.cert),
            **imap,
        }
        cfg = write_config(
            tmp_path,
            server.port,
            EXAMPLE_SUBSCRIBERS,
            bounces={"imap": settings},
            state=state,
            sender={
                "from": "Paper Digest <digest@example.org>",
                "unsubscribe": {"mailto": "unsubscribe@example.org", "secret_env": "TEST_UNSUB_SECRET"},
            },
        )
        monkeypatch.setenv("TEST_UNSUB_SECRET", "s3cret-for-tokens-0123456789abcdef")
        settled_copy(seeds["000"], tmp_path / "digests")
        if settings.get("folder", "INBOX") != "INBOX":
            client0 = _client(imapd)
            client0.create(settings["folder"])
            client0.logout()
        assert newsletter("send", "-c", str(cfg)).exit_code == 0  # the deliveries the reports are about
        client = _client(imapd)
        commands = Commands(monkeypatch)
        try:
            yield Rig(cfg, imapd, client, server.by_recipient(), commands)
        finally:
            client.logout()


def _client(imapd: Imapd) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL(
        imapd.host, imapd.port, ssl_context=ssl.create_default_context(cafile=str(imapd.cert)), timeout=10
    )
    client.login(imapd.user, imapd.password)
    return client


@pytest.mark.slow
def test_bounce_imap_foreign_mail_is_fetched_once_and_our_report_counted_once(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    with rig(tmp_path, seeds, monkeypatch) as r:
        r.append(human(1), human(2), r.report("bob@example.org", 1), human(3))

        first = r.bounces()
        assert "suppressed bob@example.org: 1 hard bounce" in first and "3 left alone" in first
        assert r.commands.header_fetches() == ["1", "2", "3", "4"]

        second = r.bounces()
        assert r.commands.header_fetches() == []  # the human mail is not fetched again
        assert "0 messages" in second and "(3 more from earlier passes, not read again)" in second
        assert r.bounced() == ["bob@example.org"] and r.hard_bounces("bob@example.org") == 1  # our report: once

        # the human mail is as it was: unread, no flag or keyword of ours
        assert r.client.select("INBOX", readonly=True) == ("OK", [b"3"])
        _, flags = r.client.fetch("1:*", "(FLAGS)")
        assert flags == [b"1 (FLAGS ())", b"2 (FLAGS ())", b"3 (FLAGS ())"]


@pytest.mark.slow
def test_bounce_imap_report_arriving_after_foreign_mail_is_read(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    with rig(tmp_path, seeds, monkeypatch) as r:
        r.append(human(1), human(2))
        assert "2 left alone" in r.bounces()
        r.append(r.report("alice@example.org", 1), human(3))

        later = r.bounces()

        assert r.commands.header_fetches() == ["3", "4"]  # only what arrived since
        assert "suppressed alice@example.org: 1 hard bounce" in later and "1 left alone" in later
        assert r.bounced() == ["alice@example.org"]


@pytest.mark.slow
def test_bounce_imap_recreated_folder_is_read_again_whole(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a folder deleted and created again numbers its messages anew (a new UIDVALIDITY):
    # its UID 1 is not the UID 1 judged before
    with rig(tmp_path, seeds, monkeypatch, folder="Bounces") as r:
        r.append(human(1), human(2), folder="Bounces")
        assert "2 left alone" in r.bounces()
        assert r.client.delete("Bounces")[0] == "OK" and r.client.create("Bounces")[0] == "OK"
        r.append(r.report("bob@example.org", 1), human(1), human(2), folder="Bounces")

        again = r.bounces()

        assert r.commands.header_fetches() == ["1", "2", "3"]
        assert "suppressed bob@example.org: 1 hard bounce" in again and "2 left alone" in again


@pytest.mark.slow
def test_bounce_imap_report_that_could_not_be_moved_is_read_at_the_next_pass(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the pass stops at a report it cannot move aside (the server refuses the folder): the
    # mail judged before it is remembered, the report itself is not, and is read again
    with rig(tmp_path, seeds, monkeypatch, processed="x" * 300) as r:
        r.append(human(1), r.report("bob@example.org", 1), human(2))
        failed = newsletter("bounces", "-c", str(r.cfg))
        assert failed.exit_code == 1 and "cannot copy a message" in failed.output
        assert r.bounced() == ["bob@example.org"]  # recorded before the move failed

        # the config fixed: a folder the server accepts
        r.cfg.write_text(r.cfg.read_text(encoding="utf-8").replace("x" * 300, "Processed"), encoding="utf-8")
        fixed = r.bounces()

        assert r.commands.header_fetches() == ["2", "3"]  # not UID 1: judged before the failure
        assert "1 bounce report" in fixed and "1 left alone" in fixed and r.hard_bounces("bob@example.org") == 1
        assert r.client.select("Processed", readonly=True) == ("OK", [b"1"])


@pytest.mark.slow
def test_bounce_imap_report_a_human_flagged_deleted_is_not_lost_and_one_moved_back_counts_once(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a human sharing the mailbox flags our report and a reply deleted (a mail client in
    # "mark as deleted" mode) before the pass; newer mail arrives behind them
    with rig(tmp_path, seeds, monkeypatch) as r:
        r.append(r.report("bob@example.org", 1), human(1), human(2))
        assert r.client.select("INBOX")[0] == "OK"
        assert r.client.uid("STORE", "1:2", "+FLAGS", r"(\Deleted)")[0] == "OK"

        first = r.bounces()
        # ... and undeletes both: the report was read all the same, the reply left as it was
        _, flags = r.client.uid("FETCH", "2", "(FLAGS)")
        assert b"\\Deleted" in flags[-1] and b"\\Seen" not in flags[-1]  # type: ignore[operator]
        assert r.client.uid("STORE", "1:2", "-FLAGS", r"(\Deleted)")[0] == "OK"
        r.bounces()

        assert "suppressed bob@example.org: 1 hard bounce" in first and "2 left alone" in first
        assert r.bounced() == ["bob@example.org"]
        # a report moved back from Processed into the folder (a new UID) is read and counts once
        assert r.client.select("Processed")[0] == "OK"
        assert r.client.uid("MOVE", "1", "INBOX")[0] == "OK"
        again = r.bounces()
        assert "1 bounce report" in again and r.hard_bounces("bob@example.org") == 1
        assert r.client.select("INBOX", readonly=True) == ("OK", [b"2"])  # the two replies only


@pytest.mark.slow
def test_bounce_imap_hosts_sharing_a_postgresql_ledger_share_what_they_judged(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    # two hosts read the same folder at once (SPEC 6d): the report counts once, and what
    # either judged is not fetched again by the other
    with rig(tmp_path, seeds, monkeypatch, state=pg_url) as r:
        r.append(human(1), r.report("bob@example.org", 1), human(2), human(3))
        hosts = [
            subprocess.Popen(
                [sys.executable, "-m", "newsletter", "bounces", "-c", str(r.cfg)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [host.communicate(timeout=120) for host in hosts]
        assert [host.returncode for host in hosts] == [0, 0], outputs
        assert r.bounced() == ["bob@example.org"] and r.hard_bounces("bob@example.org") == 1

        third = r.bounces()

        assert r.commands.header_fetches() == []
        assert "(3 more from earlier passes, not read again)" in third
        with PostgresLedger.open(pg_url) as ledger:
            [(mailbox, uid)] = ledger.conn.execute("SELECT mailbox, uid FROM mailbox_marks").fetchall()
        assert mailbox.endswith("/INBOX") and uid == 4


# --------------------------------------------------------------------------- a Maildir


def maildir_setup(tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Any]:
    """A config reading the Maildir ``tmp_path/bounces``, after one digest went out."""
    monkeypatch.setenv("TEST_UNSUB_SECRET", "the-unsubscribe-secret")
    with smtp_server() as server:
        cfg = bounce_setup(tmp_path, server.port)
        settled_copy(seeds["000"], tmp_path / "digests")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
    return cfg, server.by_recipient()


def bounces(cfg: Path) -> str:
    result = newsletter("bounces", "-c", str(cfg))
    assert result.exit_code == 0, result.output
    return str(result.output)


def test_bounce_maildir_foreign_mail_is_read_once(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, sent = maildir_setup(tmp_path, seeds, monkeypatch)
    maildir = tmp_path / "bounces"
    first_human = drop(maildir, "1764000001.human1.host", human(1))
    drop(maildir, "1764000002.dsn.host", dsn(sent["bob@example.org"][0].data, "bob@example.org"))
    second_human = drop(maildir, "1764000003.human2.host", human(2))
    first = bounces(cfg)
    assert "suppressed bob@example.org: 1 hard bounce" in first and "2 left alone" in first

    # the human's mail reader marks one read (new/ -> cur/, flag S); the other one's file
    # now holds what would be quarantined if it were read again: it is not
    first_human.rename(maildir / "cur" / "1764000001.human1.host:2,S")
    second_human.write_bytes(b"\x00\x01\r\n\r\nno header field at all\r\n")
    second = bounces(cfg)

    assert "0 messages" in second and "(2 more from earlier passes, not read again)" in second
    assert "quarantined" not in second and second_human.exists()
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        assert ledger.conn.execute("SELECT count(*) FROM bounces").fetchone()[0] == 1  # our report: once


def test_bounce_maildir_report_after_foreign_mail_is_read_and_deleted_mail_forgotten(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, sent = maildir_setup(tmp_path, seeds, monkeypatch)
    maildir = tmp_path / "bounces"
    gone = drop(maildir, "1764000001.human1.host", human(1))
    drop(maildir, "1764000002.human2.host", human(2))
    assert "2 left alone" in bounces(cfg)
    gone.unlink()  # the human deleted it
    drop(maildir, "1764000003.dsn.host", dsn(sent["alice@example.org"][0].data, "alice@example.org"))

    later = bounces(cfg)

    assert "suppressed alice@example.org: 1 hard bounce" in later
    assert "1 message," in later and "(1 more from earlier passes, not read again)" in later
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        known = ledger.known_mail(MaildirBox(maildir).identity, judge_key(load_config(cfg)))
    assert known == {"1764000002.human2.host"}  # what is gone is not remembered for ever


def test_bounce_maildir_new_unsubscribe_address_reads_left_mail_again(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests that came to the address about to become the unsubscribe address were
    # "not ours" until the config names it: then they are read again and honoured
    cfg, sent = maildir_setup(tmp_path, seeds, monkeypatch)
    uri = str(sent["alice@example.org"][0].message["List-Unsubscribe"]).split(",")[0].strip().strip("<>")
    subject = unquote(uri.partition("subject=")[2])
    request = (
        f"From: Alice <alice@example.org>\r\nTo: leave@example.org\r\nSubject: {subject}\r\n"
        "Message-ID: <req-1@example.org>\r\n\r\n\r\n"
    ).encode()
    drop(tmp_path / "bounces", "1764000001.request.host", request)
    assert "1 left alone" in bounces(cfg)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("unsubscribe@example.org", "leave@example.org"))

    again = bounces(cfg)

    assert "unsubscribed alice@example.org (mailto request)" in again
