"""The daemon on a PostgreSQL ledger (SPEC 6d): no single-instance refusal; every host
fires, one plans; a job of a fire (the fetch) runs once across hosts. Real daemon
processes, a real aiosmtpd, a real PostgreSQL (tests/pgserver.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.daemon.daemon import Daemon
from newsletter.store.choose import open_ledger
from newsletter.store.postgres import PostgresLedger
from tests.conftest import EVERY_2S, daemon, settled_copy, wait_for
from tests.fakeclock import FakeClock
from tests.smtpd import EXAMPLE_SUBSCRIBERS, smtp_server, write_config


@pytest.mark.slow
def test_daemon_postgres_two_daemons_each_fire_planned_once(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str
) -> None:
    with smtp_server() as server:
        cfg = write_config(
            tmp_path, server.port, EXAMPLE_SUBSCRIBERS, state=pg_url, schedule={"cron": EVERY_2S, "timezone": "UTC"}
        )
        with daemon(cfg) as one, daemon(cfg) as two:  # the second is not refused
            settled_copy(seeds["000"], tmp_path / "digests")
            wait_for(lambda: server.received, 30, "the digest delivered at a fire")
            # a few more fires on both: each joins the fire the other planned, or plans it
            for proc in (one, two):
                proc.wait_passes(proc.passes("global") + 3, reason="global")
            assert one.stop() == 0 and two.stop() == 0
        texts = one.text() + two.text()
        assert "joining it" in texts and "planned here" in texts
        received = server.by_recipient()
        assert received and all(len(msgs) == 1 for msgs in received.values())  # one email each, from two daemons
        with PostgresLedger.open(pg_url) as ledger:
            assert ledger.delivery_counts()["sent"] == len(received)
            digests = ledger.digests()
        assert len(digests) == 1  # the file both daemons saw is one digest


def test_daemon_postgres_fetch_of_one_fire_runs_on_one_host(tmp_path: Path, pg_url: str) -> None:
    cfg = write_config(tmp_path, 9, EXAMPLE_SUBSCRIBERS, state=pg_url, fetch={"cron": "30 6 * * *"})
    config = load_config(cfg)
    clocks = [
        FakeClock(datetime(2026, 11, 17, 6, 30, 0, 200_000, tzinfo=UTC)),
        FakeClock(datetime(2026, 11, 17, 6, 30, 1, 900_000, tzinfo=UTC)),
    ]  # two hosts whose clocks differ: the same fire

    async def both() -> list[bool]:
        daemons = [Daemon(config, config_path=cfg, clock=clock) for clock in clocks]
        for d in daemons:
            d.ledger = open_ledger(config)
        try:
            first = list(await asyncio.gather(*(d._first_to("fetch") for d in daemons)))
            for clock in clocks:
                clock.at = clock.at.replace(day=18)  # the next day's fire
            return first + list(await asyncio.gather(*(d._first_to("fetch") for d in daemons)))
        finally:
            for d in daemons:
                assert d.ledger is not None
                d.ledger.close()
                d.ledger_thread.shutdown()

    done = asyncio.run(both())
    assert sorted(done[:2]) == [False, True] and sorted(done[2:]) == [False, True]
    with PostgresLedger.open(pg_url) as ledger:
        assert ledger.current_pass() is None  # a fetch fire is no pass of deliveries


@pytest.mark.asyncio
async def test_daemon_postgres_two_hosts_down_over_a_fire_catch_it_up_once(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str
) -> None:
    """Two hosts on one ledger, both down over Monday's 07:00 (Europe/Berlin), start
    together at 07:30 with clocks a second apart: the missed pass runs, and the
    subscriber gets one email, not one per host."""
    from tests.indaemon import in_daemon
    from tests.memsender import MemoryTransport

    cfg = write_config(
        tmp_path, 9, EXAMPLE_SUBSCRIBERS[:1], state=pg_url, schedule={"cron": "0 7 * * *", "timezone": "Europe/Berlin"}
    )
    with PostgresLedger.open(pg_url) as ledger:  # Sunday's 07:00 pass, the last before the hosts went down
        ledger.finish_run(ledger.start_run(None), 0, 0, 0)
        ledger.conn.execute("UPDATE runs SET started_at = %s", (datetime(2026, 11, 15, 6, tzinfo=UTC).timestamp(),))
    settled_copy(seeds["000"], tmp_path / "digests")
    transports = [MemoryTransport(), MemoryTransport()]
    starts = [datetime(2026, 11, 16, 6, 30, tzinfo=UTC), datetime(2026, 11, 16, 6, 30, 1, tzinfo=UTC)]

    async def host(n: int) -> str:
        async with in_daemon(cfg, clock=FakeClock(starts[n]), transport=transports[n]) as rig:
            pass
        return rig.text()

    texts = await asyncio.gather(host(0), host(1))
    assert "came while the daemon was down" in "".join(texts)
    assert [m.recipient for t in transports for m in t.outbox] == [EXAMPLE_SUBSCRIBERS[0]["email"]]
