"""Foreign mail in a shared IMAP bounce mailbox costs nothing after the first look (SPEC
6, 6c): a real Dovecot, real SQLite ledger, real SMTP for the deliveries the reports are
about. What the reader asks the server is observed through imaplib's ``_command`` (every
command the client sends, counted; nothing is changed)."""

from __future__ import annotations

import imaplib
import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from newsletter.config import load_config
from newsletter.store import SqliteLedger
from tests.conftest import newsletter, settled_copy
from tests.imapd import Imapd, dovecot
from tests.smtpd import EXAMPLE_SUBSCRIBERS, Received, smtp_server, write_config
from tests.test_bounces_process import HUMAN, dsn

pytestmark = pytest.mark.slow


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

    def bounce_rows(self) -> int:
        with SqliteLedger.open(load_config(self.cfg).ledger_path) as ledger:
            return int(ledger.conn.execute("SELECT count(*) FROM bounces").fetchone()[0])


@contextmanager
def rig(tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch, **imap: Any) -> Iterator[Rig]:
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
        assert r.bounced() == ["bob@example.org"] and r.bounce_rows() == 1  # our report: once

        # the human mail is as it was: unread, no flag or keyword of ours
        assert r.client.select("INBOX", readonly=True) == ("OK", [b"3"])
        _, flags = r.client.fetch("1:*", "(FLAGS)")
        assert flags == [b"1 (FLAGS ())", b"2 (FLAGS ())", b"3 (FLAGS ())"]


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
        assert "1 bounce report" in fixed and "1 left alone" in fixed and r.bounce_rows() == 1
        assert r.client.select("Processed", readonly=True) == ("OK", [b"1"])
