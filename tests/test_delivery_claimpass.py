"""The send pass on a shared PostgreSQL ledger (delivery/claimpass.py), through the
Sender seam (an in-memory transport) on a real PostgreSQL (tests/pgserver.py), real
digests. Several real processes and a real SMTP server: test_delivery_manyhosts.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from newsletter.config import load_config
from newsletter.delivery.claimpass import fire_minute, plan_for
from newsletter.delivery.pickup import pick_up_digests
from newsletter.delivery.service import PassOptions, run_send
from newsletter.delivery.smtp import Outgoing
from newsletter.digest.scan import load_digests
from newsletter.matching.matcher import plan
from newsletter.store.postgres import PostgresLedger
from tests.conftest import settled_copy, text_of, wait_for
from tests.memsender import MemoryTransport
from tests.smtpd import EXAMPLE_SUBSCRIBERS, write_config

NO_SERVER = 9  # the discard port: nothing listens, and nothing may try


def _config(tmp_path: Path, seeds: dict[str, Path], url: str, *names: str, **top: Any) -> Path:
    cfg = write_config(tmp_path, NO_SERVER, EXAMPLE_SUBSCRIBERS, state=url, **top)
    for name in names:
        settled_copy(seeds[name], tmp_path / "digests")
    return cfg


def test_claimpass_sends_each_planned_email_once_then_nothing_new(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str
) -> None:
    cfg = _config(tmp_path, seeds, pg_url, "000", "001")
    config = load_config(cfg)
    transport = MemoryTransport()
    first = run_send(config, PassOptions(sender=transport))
    papers = load_digests([seeds["000"], seeds["001"]]).papers
    planned = {s.email for s, ms in plan(config.subscribers, papers) if ms}
    assert first.exit_code == 0 and first.sent == len(planned) == len(transport.outbox)
    assert first.digests_ok == 2
    assert {m.recipient for m in transport.outbox} == planned
    for sent in transport.outbox:
        assert sent.message["To"] and sent.recipient in sent.message["To"]
    again = run_send(load_config(cfg), PassOptions(sender=transport, fire_at=datetime(2030, 1, 1, tzinfo=UTC)))
    assert (again.sent, again.failed, again.pending) == (0, 0, 0)
    assert len(transport.outbox) == len(planned)
    with PostgresLedger.open(pg_url) as ledger:
        assert ledger.delivery_counts() == {"sent": len(planned), "pending": 0, "failed": 0}
        status = ledger.claim_status()
        assert status.finished and status.refused == 0


def test_claimpass_fire_minute_rounds_to_the_nearest_minute() -> None:
    assert fire_minute(datetime(2026, 1, 1, 6, 59, 40, tzinfo=UTC)) == datetime(2026, 1, 1, 7, 0, tzinfo=UTC)
    assert fire_minute(datetime(2026, 1, 1, 7, 0, 20, tzinfo=UTC)) == datetime(2026, 1, 1, 7, 0, tzinfo=UTC)


def test_claimpass_refused_recipient_is_failed_and_a_hard_bounce(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str
) -> None:
    cfg = _config(tmp_path, seeds, pg_url, "000", "001")
    transport = MemoryTransport(refuse={"bob@example.org": "550 5.1.1 no such user"})
    summary = run_send(load_config(cfg), PassOptions(sender=transport))
    assert summary.exit_code == 1 and summary.failed == 1
    assert summary.failures == [("bob@example.org", "550 5.1.1 no such user (RCPT TO)")]
    with PostgresLedger.open(pg_url) as ledger:
        assert ledger.suppression("bob@example.org") is not None
        [bounced] = ledger.bounced()
        assert bounced["email"] == "bob@example.org"


def test_claimpass_deferred_recipient_goes_next_pass_with_the_same_message(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str
) -> None:
    cfg = _config(tmp_path, seeds, pg_url, "000", "001")
    busy = MemoryTransport(defer=frozenset({"alice@example.org"}))
    first = run_send(load_config(cfg), PassOptions(sender=busy, fire_at=datetime(2030, 1, 1, 7, tzinfo=UTC)))
    assert first.pending == 1 and first.exit_code == 1 and not busy.to("alice@example.org")
    with PostgresLedger.open(pg_url) as ledger:
        assert ledger.claim_status().finished  # deferred to the next pass, this one is done
        [row] = ledger.deliveries("alice@example.org")
        assert row["status"] == "pending"
    later = MemoryTransport()
    second = run_send(load_config(cfg), PassOptions(sender=later, fire_at=datetime(2030, 1, 1, 8, tzinfo=UTC)))
    assert (second.sent, second.pending) == (1, 0)
    [resent] = later.to("alice@example.org")
    assert resent.message["Message-ID"] == row["message_id"]


def test_claimpass_email_is_the_single_machine_email(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendered at claim from the ledger's papers, the email is the one the SQLite pass
    renders at planning: same Message-ID, same papers, same reasons (under one
    unsubscribe secret, which keys the Message-ID: two config files in two places would
    otherwise each fall back on a secret of their own path)."""
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", "one-secret-for-both")
    lite_dir, pg_dir = tmp_path / "lite", tmp_path / "pg"
    lite_dir.mkdir()
    pg_dir.mkdir()
    day = datetime(2030, 1, 1, tzinfo=UTC)
    lite, pg = MemoryTransport(), MemoryTransport()
    run_send(load_config(_config(lite_dir, seeds, "ledger.sqlite3", "000")), PassOptions(sender=lite, today=day.date()))
    run_send(load_config(_config(pg_dir, seeds, pg_url, "000")), PassOptions(sender=pg, today=day.date()))
    assert lite.outbox and len(lite.outbox) == len(pg.outbox)
    for one, other in zip(
        sorted(lite.outbox, key=lambda m: m.recipient), sorted(pg.outbox, key=lambda m: m.recipient), strict=True
    ):
        assert one.message["Message-ID"] == other.message["Message-ID"]
        assert one.message["Subject"] == other.message["Subject"]
        assert text_of(one.message) == text_of(other.message)


def test_claimpass_two_schedules_planned_at_once_plan_each_paper_once(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str
) -> None:
    """A fire and a ``send`` planned at the same moment: the second planner waits for the
    first (seen waiting on the database's lock, not by a timer) and plans nothing twice."""
    cfg = _config(tmp_path, seeds, pg_url, "000")
    config = load_config(cfg)
    with PostgresLedger.open(pg_url) as ledger:
        ledger.register_subscribers([s.email for s in config.subscribers])  # before: the digest is new to them
        pick_up_digests(config, ledger)
    at = datetime(2030, 1, 1, 7, tzinfo=UTC)
    plan_fn = plan_for(config, config.subscribers, [], "2030-01-01")
    second: dict[str, Any] = {}

    def plan_second() -> None:
        with PostgresLedger.open(pg_url) as other:
            second["ref"] = other.plan_pass("send", at, plan_fn, owner="b")

    def plan_while_another_waits(ledger: Any) -> Any:
        thread = threading.Thread(target=plan_second)
        thread.start()
        second["thread"] = thread
        with psycopg.connect(pg_url, autocommit=True) as watch:
            wait_for(
                lambda: watch.execute("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone(),
                30,
                "the second planner waiting",
            )
        assert "ref" not in second
        return plan_fn(ledger)

    with PostgresLedger.open(pg_url) as ledger:
        first = ledger.plan_pass("global", at, plan_while_another_waits, owner="a")
    second["thread"].join(30)
    assert first.deliveries > 0 and second["ref"].deliveries == 0


def test_claimpass_stopped_sender_leaves_its_claims_to_a_takeover_in_the_same_pass(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str
) -> None:
    """A sender stopped (SIGTERM) after claiming: what it never tried stays claimed (not
    deferred to the next pass), and another sender of the SAME pass takes it over once
    the lease ends and sends it."""
    cfg = _config(
        tmp_path, seeds, pg_url, "000", "001", ledger={"lease_seconds": 1}, smtp={"port": NO_SERVER, "timeout": 0.2}
    )
    at = datetime(2030, 1, 1, 7, tzinfo=UTC)
    stop = asyncio.Event()
    stopped = MemoryTransport()

    def stopping_at_once(on_result: Any, stop: asyncio.Event | None) -> Any:
        sender = stopped(on_result, stop)

        class Sender:
            async def send_all(self, items: AsyncIterable[Outgoing]) -> Any:
                async def claimed_then_stopped() -> AsyncIterator[Outgoing]:
                    async for item in items:
                        assert stop is not None
                        stop.set()  # SIGTERM once the first batch is claimed
                        yield item

                return await sender.send_all(claimed_then_stopped())

        return Sender()

    first = run_send(load_config(cfg), PassOptions(sender=stopping_at_once, stop=stop, fire_at=at))
    assert not stopped.outbox and first.pending > 0
    with PostgresLedger.open(pg_url) as ledger:
        status = ledger.claim_status()
        assert not status.finished and status.counts["claimed"] > 0 and status.counts["pending"] == 0
    other = MemoryTransport()
    second = run_send(load_config(cfg), PassOptions(sender=other, fire_at=at))  # joins the same pass
    assert second.sent == status.counts["claimed"] == len(other.outbox) and first.sent == 0
    with PostgresLedger.open(pg_url) as ledger:
        done = ledger.claim_status()
        assert done.finished and done.takeovers == status.counts["claimed"]
        assert done.current is not None and status.current is not None and done.current.id == status.current.id


def test_claimpass_subscriber_removed_since_planning_is_dropped_and_the_pass_ends(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str
) -> None:
    cfg = _config(tmp_path, seeds, pg_url, "000", "001")
    config = load_config(cfg)
    at = datetime(2030, 1, 1, 7, tzinfo=UTC)
    with PostgresLedger.open(pg_url) as ledger:
        ledger.register_subscribers([s.email for s in config.subscribers])
        pick_up_digests(config, ledger)
        planned = ledger.plan_pass("send", at, plan_for(config, config.subscribers, [], "2030-01-01"), owner="a")
    gone = "bob@example.org"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(gone, "robert@example.org"), encoding="utf-8")
    transport = MemoryTransport()
    summary = run_send(load_config(cfg), PassOptions(sender=transport, fire_at=at))  # joins the planned pass
    assert summary.sent == planned.deliveries - 1 and not transport.to(gone)
    with PostgresLedger.open(pg_url) as ledger:
        [row] = ledger.deliveries(gone)
        assert (row["status"], row["last_error"]) == ("failed", "no longer subscribed")
        assert ledger.claim_status().finished
