"""``newsletter ledger copy`` (store/copy.py): a ledger moved between SQLite and a real
PostgreSQL, both ways, into an empty ledger, counts verified; after the move nothing
is sent again, and a pending delivery goes out with its Message-ID."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from newsletter.config import load_config
from newsletter.delivery.service import PassOptions, run_send
from newsletter.store import SqliteLedger
from newsletter.store.postgres import PostgresLedger
from tests.conftest import newsletter, settled_copy
from tests.memsender import MemoryTransport
from tests.smtpd import EXAMPLE_SUBSCRIBERS, write_config


def _state(cfg: Path, state: str) -> None:
    data: dict[str, Any] = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    data["state"] = state
    cfg.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_store_copy_sqlite_to_postgres_and_back_sends_nothing_again(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str
) -> None:
    cfg = write_config(tmp_path, 9, EXAMPLE_SUBSCRIBERS)
    for name in ("000", "001"):
        settled_copy(seeds[name], tmp_path / "digests")
    first = MemoryTransport(defer=frozenset({"alice@example.org"}))
    done = run_send(load_config(cfg), PassOptions(sender=first))
    assert done.sent >= 1 and done.pending == 1  # alice's delivery waits, bytes and Message-ID recorded
    with SqliteLedger.open(tmp_path / "ledger.sqlite3") as lite:
        [waiting] = [d for d in lite.deliveries("alice@example.org")]

    moved = newsletter("ledger", "copy", "-c", str(cfg), "--to", pg_url)
    assert moved.exit_code == 0, moved.output
    lines = moved.output.splitlines()
    assert any(line.startswith(f"deliveries: {done.sent + 1} of {done.sent + 1} rows") for line in lines)
    assert any(line.startswith("digests: 2 of 2 rows") for line in lines)

    _state(cfg, pg_url)  # the same digests still in the directory: known by their SHA-256
    later = MemoryTransport()
    again = run_send(load_config(cfg), PassOptions(sender=later))
    assert (again.sent, again.failed, again.pending, again.digests_ok) == (1, 0, 0, 0)
    [resent] = later.outbox
    assert resent.recipient == "alice@example.org"
    assert resent.message["Message-ID"] == waiting["message_id"]  # the recorded message, not a new one

    back = tmp_path / "back.sqlite3"
    returned = newsletter("ledger", "copy", "-c", str(cfg), "--to", str(back))
    assert returned.exit_code == 0, returned.output
    assert "passes: 0 of 1 rows (several senders only: not in a SQLite ledger)" in returned.output
    _state(cfg, str(back))
    last = MemoryTransport()
    once_more = run_send(load_config(cfg), PassOptions(sender=last))
    assert (once_more.sent, once_more.pending, once_more.digests_ok) == (0, 0, 0) and not last.outbox
    with PostgresLedger.open(pg_url) as pg, SqliteLedger.open(back) as lite:
        assert lite.delivery_counts() == pg.delivery_counts()
        for sub in EXAMPLE_SUBSCRIBERS:
            assert lite.sent_papers(sub["email"]) == pg.sent_papers(sub["email"])


def test_store_copy_into_a_ledger_with_rows_is_refused(tmp_path: Path, seeds: dict[str, Path], pg_url: str) -> None:
    cfg = write_config(tmp_path, 9, EXAMPLE_SUBSCRIBERS)
    settled_copy(seeds["000"], tmp_path / "digests")
    run_send(load_config(cfg), PassOptions(sender=MemoryTransport()))
    assert newsletter("ledger", "copy", "-c", str(cfg), "--to", pg_url).exit_code == 0
    again = newsletter("ledger", "copy", "-c", str(cfg), "--to", pg_url)
    assert again.exit_code == 2
    assert "the target ledger is not empty" in again.output and "Traceback" not in again.output


def test_store_copy_between_two_sqlite_files_is_refused(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, 9, EXAMPLE_SUBSCRIBERS)
    refused = newsletter("ledger", "copy", "-c", str(cfg), "--to", str(tmp_path / "other.sqlite3"))
    assert refused.exit_code == 2 and "between SQLite and PostgreSQL" in refused.output
