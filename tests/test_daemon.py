"""The daemon (daemon/daemon.py) in this process, on a clock the test sets
(tests/indaemon.py): jobs fire when the test says, the poller runs one round at a time,
passes go to the in-memory transport. Nothing waits for a real cron minute; the real
process, its signals and its scheduler firing on its own are in test_daemon_process.py."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from newsletter.app.schedule import GLOBAL, jobs_for
from newsletter.config import load_config
from newsletter.daemon.daemon import Daemon
from newsletter.digest.scan import load_digests
from newsletter.matching.matcher import plan
from newsletter.render.latex import readable
from tests.conftest import NEVER_SOON, settled_copy, text_of
from tests.fakeclock import FakeClock
from tests.indaemon import Lines, in_daemon, until
from tests.memsender import MemoryTransport
from tests.smtpd import write_config

ALICE = {
    "email": "alice@example.org",
    "name": "Alice",
    "keywords": ["self-supervised", "contrastive learning", "augment*"],
}
WEEKLY = {
    "email": "chen@example.org",
    "name": "Chen",
    "keywords": ["self-supervised", "reasoning"],
    "schedule": NEVER_SOON,
}
WEEKDAYS_8 = "0 8 * * 1-5"
MONDAY_7 = datetime(2026, 11, 16, 7, 0, tzinfo=UTC)


@pytest.mark.asyncio
async def test_daemon_delivers_settled_digest_on_next_fire_not_weekly(tmp_path: Path, seeds: dict[str, Path]) -> None:
    cfg = write_config(tmp_path, 1, [ALICE, WEEKLY], settle_seconds=5, schedule={"cron": WEEKDAYS_8, "timezone": "UTC"})
    target = tmp_path / "digests" / "002.txt"
    data = seeds["002"].read_bytes()
    transport = MemoryTransport()
    async with in_daemon(cfg, clock=FakeClock(MONDAY_7), transport=transport) as rig:
        assert rig.next_run(GLOBAL) == datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
        assert rig.next_run(f"own:{NEVER_SOON}") == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
        # a half-written file that keeps growing (0.4 s between writes) is not picked up
        with target.open("wb") as out:
            for i in range(12):
                out.write(data[i * len(data) // 12 : (i + 1) * len(data) // 12])
                out.flush()
                os.utime(target, (rig.clock.time(), rig.clock.time()))
                await rig.poll()
                assert "pick-up" not in rig.text(), "picked up while still being written"
                rig.advance(0.4)
        rig.advance(4.5)  # 4.9 s unchanged: still not settled
        await rig.poll()
        assert "pick-up" not in rig.text()
        rig.advance(0.1)
        await rig.poll()
        assert rig.text().count("pick-up: ") == 1 and "(78 papers)" in rig.text()
        assert transport.outbox == []  # picked up, waiting for the fire (no on_arrival)
        rig.advance(3600)
        await rig.fire(GLOBAL)
        await rig.fire(GLOBAL)  # the next fire finds nothing new
        await rig.poll()
    log = rig.text()
    assert log.count("pick-up: ") == 1  # the pick-up, once
    assert "pick-up failed" not in log
    assert "pass global: subscribers=1 sent=1" in log and "pass global: subscribers=1 sent=0" in log
    assert [m.recipient for m in transport.outbox] == ["alice@example.org"]  # the weekly one waits for its day
    (msg,) = transport.outbox
    config = load_config(cfg)
    (_, expected), _ = plan(config.subscribers, load_digests([target]).papers)
    flat = text_of(msg.message)
    for m in expected:
        assert " ".join(readable(m.paper.title).split()) in flat  # TeX shown as text
    assert str(msg.message["Subject"]).startswith(f"{len(expected)} new paper")


@pytest.mark.asyncio
async def test_daemon_own_schedule_fire_serves_only_its_subscribers(tmp_path: Path, seeds: dict[str, Path]) -> None:
    cfg = write_config(tmp_path, 1, [ALICE, WEEKLY], schedule={"cron": WEEKDAYS_8, "timezone": "UTC"})
    settled_copy(seeds["002"], tmp_path / "digests")
    transport = MemoryTransport()
    async with in_daemon(cfg, clock=FakeClock(MONDAY_7), transport=transport) as rig:
        await rig.poll()
        await rig.fire(f"own:{NEVER_SOON}")
        assert [m.recipient for m in transport.outbox] == ["chen@example.org"]
        await rig.fire(GLOBAL)
    assert sorted(m.recipient for m in transport.outbox) == ["alice@example.org", "chen@example.org"]
    assert "pass own:0 0 1 1 *: subscribers=1 sent=1" in rig.text()


@pytest.mark.asyncio
async def test_daemon_on_arrival_delivers_at_the_poll_that_picks_it_up(tmp_path: Path, seeds: dict[str, Path]) -> None:
    cfg = write_config(tmp_path, 1, [ALICE], schedule={"cron": NEVER_SOON, "timezone": "UTC", "on_arrival": True})
    transport = MemoryTransport()
    async with in_daemon(cfg, transport=transport) as rig:
        await rig.poll()
        assert transport.outbox == []
        settled_copy(seeds["002"], tmp_path / "digests")
        await rig.poll()
        assert [m.recipient for m in transport.outbox] == ["alice@example.org"]
        await rig.poll()  # the same digest is not delivered twice
    assert len(transport.outbox) == 1
    assert rig.passes("on-arrival") == 1


@pytest.mark.asyncio
async def test_daemon_sighup_reload_bad_config_keeps_old(tmp_path: Path, seeds: dict[str, Path]) -> None:
    cfg = write_config(tmp_path, 1, [ALICE], schedule={"cron": WEEKDAYS_8, "timezone": "UTC", "on_arrival": True})
    good = cfg.read_text()
    transport = MemoryTransport()
    async with in_daemon(cfg, transport=transport) as rig:
        data = yaml.safe_load(good)
        data["smtp"]["conections"] = 3  # a problem of the configuration itself (a bad subscriber is only left out)
        cfg.write_text(yaml.safe_dump(data))
        await rig.daemon.reload_config()
        assert "reload refused" in rig.text() and "smtp.conections: unknown key" in rig.text()
        settled_copy(seeds["000"], tmp_path / "digests")
        await rig.poll()  # the old configuration (on arrival) still serves
    assert [m.recipient for m in transport.outbox] == ["alice@example.org"]


@pytest.mark.asyncio
async def test_daemon_reload_reschedules_and_registers_new_subscribers(tmp_path: Path, seeds: dict[str, Path]) -> None:
    cfg = write_config(tmp_path, 1, [ALICE], schedule={"cron": WEEKDAYS_8, "timezone": "UTC"})
    transport = MemoryTransport()
    async with in_daemon(cfg, clock=FakeClock(MONDAY_7), transport=transport) as rig:
        data = yaml.safe_load(cfg.read_text())
        data["schedule"]["cron"] = "30 9 * * *"
        data["subscribers"].append({"email": "dana@example.org", "keywords": ["learning"]})
        cfg.write_text(yaml.safe_dump(data))
        await rig.daemon.reload_config()
        assert "configuration reloaded: 2 subscribers" in rig.text()
        assert rig.next_run(GLOBAL) == datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
        settled_copy(seeds["000"], tmp_path / "digests")
        await rig.poll()
        await rig.fire(GLOBAL)
    assert sorted(m.recipient for m in transport.outbox) == ["alice@example.org", "dana@example.org"]


def test_daemon_jobs_for_groups_schedules(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "digests": {"directory": "d"},
                "subscribers": [
                    {"email": "a@example.org", "keywords": ["x"]},
                    {"email": "b@example.org", "keywords": ["x"], "schedule": "0 7 * * 1"},
                    {"email": "c@example.org", "keywords": ["x"], "schedule": "0  7 * * 1"},
                    {"email": "d@example.org", "keywords": ["x"]},
                ],
            }
        )
    )
    jobs = jobs_for(load_config(cfg))
    assert [(j.key, j.emails) for j in jobs] == [
        (GLOBAL, ("a@example.org", "d@example.org")),
        ("own:0 7 * * 1", ("b@example.org", "c@example.org")),
    ]


@pytest.mark.asyncio
async def test_daemon_archives_each_sent_issue(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """The daemon writes the archive after a pass (on its ledger thread): a second digest
    is picked up and delivered after the first was archived."""
    cfg = write_config(
        tmp_path,
        1,
        [ALICE],
        schedule={"cron": NEVER_SOON, "timezone": "UTC", "on_arrival": True},
        archive={"directory": "a"},
    )
    transport = MemoryTransport()
    pages = lambda: list((tmp_path / "a").glob("*/[0-9a-f]*.html"))  # noqa: E731
    async with in_daemon(cfg, transport=transport) as rig:
        settled_copy(seeds["001"], tmp_path / "digests")
        await rig.poll()
        assert len(pages()) == 1
        settled_copy(seeds["002"], tmp_path / "digests")
        await rig.poll()
        assert len(pages()) == 2
    assert len(transport.to("alice@example.org")) == 2
    [index] = (tmp_path / "a").glob("*/index.html")
    assert "2 issues" in index.read_text(encoding="utf-8")


class SteppedClock:
    """The real clocks, with the wall clock stepped by ``step`` seconds (what NTP or a
    resume from sleep does to a running daemon; stepping the machine's own clock would
    need root and shift every other process on it)."""

    def __init__(self, at: datetime) -> None:
        self.step = at.timestamp() - time.time()

    def time(self) -> float:
        return time.time() + self.step

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)


@pytest.mark.asyncio
async def test_daemon_wall_clock_step_forward_runs_the_fire_it_made_due_at_once(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the daemon starts at 06:00 (its scheduler arms a one-hour timer for the 07:00
    # pass), then the wall clock steps to 07:00:30. The pass is due now: it must run
    # now, not when the old timer runs out at 08:00.
    import apscheduler.executors.base
    import apscheduler.schedulers.base

    clock = SteppedClock(datetime(2026, 11, 16, 6, 0, tzinfo=UTC))

    class Stepped(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Stepped:  # type: ignore[override]
            return cls.fromtimestamp(clock.time(), tz)

    monkeypatch.setattr(apscheduler.schedulers.base, "datetime", Stepped)
    monkeypatch.setattr(apscheduler.executors.base, "datetime", Stepped)
    cfg = write_config(tmp_path, 1, [ALICE], schedule={"cron": "0 7 * * *", "timezone": "UTC"})
    settled_copy(seeds["002"], tmp_path / "digests")
    transport = MemoryTransport()
    lines = Lines(logging.INFO)
    logger = logging.getLogger("newsletter")
    monkeypatch.setattr(logger, "level", logging.INFO)
    logger.addHandler(lines)
    daemon = Daemon(load_config(cfg), config_path=cfg, clock=clock, sender=transport)
    try:
        await daemon.start(fire=True)
        watching = asyncio.create_task(daemon._watch())
        try:
            await until(lambda: "pick-up: " in "\n".join(lines.lines), 30, "the digest picked up")
            assert transport.outbox == []  # 06:00: nothing due
            clock.step += 3630
            await until(lambda: transport.outbox, 30, "the 07:00 pass after the clock step")
        finally:
            daemon.stopping.set()
            await watching
            await daemon.close()
    finally:
        logger.removeHandler(lines)
    assert [m.recipient for m in transport.outbox] == ["alice@example.org"]
    log = "\n".join(lines.lines)
    assert "the wall clock moved 3630 s forward" in log
    assert "pass global: subscribers=1 sent=1" in log


@pytest.mark.asyncio
async def test_daemon_start_runs_a_pass_whose_fire_came_while_it_was_down(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    """Monday 16 Nov 2026 in Europe/Berlin: Alice's 07:00 pass runs (nothing new yet); the
    daemon is down from 08:55 to 09:30 (a reboot), over Chen's weekly 09:00, and a digest
    comes meanwhile. Started again, it picks the digest up and runs Chen's pass at once
    (APScheduler alone armed next Monday's: a week late); Alice's is not run again (her
    fire was served), and a further restart runs nothing."""
    chen = {**WEEKLY, "schedule": "0 9 * * 1"}
    cfg = write_config(tmp_path, 1, [ALICE, chen], schedule={"cron": "0 7 * * *", "timezone": "Europe/Berlin"})
    transport = MemoryTransport()
    seven = datetime(2026, 11, 16, 6, 0, 1, tzinfo=UTC)  # 07:00:01 in Berlin
    async with in_daemon(cfg, clock=FakeClock(seven), transport=transport) as rig:
        await rig.fire(GLOBAL)
    with sqlite3.connect(load_config(cfg).ledger_path) as db:  # the pass as the daemon's clock saw it
        db.execute("UPDATE runs SET started_at = ?", (seven.timestamp(),))
    db.close()
    assert transport.outbox == []
    settled_copy(seeds["002"], tmp_path / "digests")  # while the daemon is down
    restart = datetime(2026, 11, 16, 8, 30, tzinfo=UTC)  # 09:30 in Berlin
    async with in_daemon(cfg, clock=FakeClock(restart), transport=transport) as rig:
        pass
    assert "pass own:0 9 * * 1: its fire at 2026-11-16T09:00:00+01:00 came while the daemon was down" in rig.text()
    assert [m.recipient for m in transport.outbox] == ["chen@example.org"]
    assert "pass global" not in rig.text()
    with sqlite3.connect(load_config(cfg).ledger_path) as db:
        db.execute("UPDATE runs SET started_at = ? WHERE started_at > ?", (restart.timestamp(), seven.timestamp()))
    db.close()
    async with in_daemon(cfg, clock=FakeClock(datetime(2026, 11, 16, 8, 45, tzinfo=UTC)), transport=transport) as rig:
        pass
    assert "came while the daemon was down" not in rig.text() and rig.passes() == 0
    assert len(transport.outbox) == 1


@pytest.mark.asyncio
async def test_daemon_poll_reads_a_settled_digest_once_until_it_changes(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The poller looks every second: it read and hashed every settled file each time (a
    year of fetched digests kept an idle daemon at a quarter of a core). A file is read
    again only once it changes; one it could not read is tried again."""
    import newsletter.digest.scan as scan

    reads: list[str] = []
    real_read = scan.read_limited

    def counted(path: Path) -> bytes:  # the real read, counted
        reads.append(Path(path).name)
        return real_read(path)

    monkeypatch.setattr(scan, "read_limited", counted)
    cfg = write_config(tmp_path, 1, [ALICE], schedule={"cron": NEVER_SOON, "timezone": "UTC"})
    for name in ("001", "002"):
        settled_copy(seeds[name], tmp_path / "digests")
    async with in_daemon(cfg, transport=MemoryTransport()) as rig:
        await rig.poll()
        assert sorted(reads) == sorted(p.name for p in (tmp_path / "digests").iterdir())
        reads.clear()
        for _ in range(3):
            rig.advance(5)
            await rig.poll()
        assert reads == []  # nothing changed: nothing read
        grown = next((tmp_path / "digests").iterdir())
        with grown.open("ab") as out:
            out.write(b"\n")
        rig.advance(5)
        await rig.poll()  # changed: seen again, settling
        rig.advance(5)
        await rig.poll()
        assert reads == [grown.name]
        assert "pick-up: " + str(grown) in rig.text()  # new content: a new digest, recorded
