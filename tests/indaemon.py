"""The daemon in this process, its time on a :class:`~tests.fakeclock.FakeClock`: the
same :class:`~newsletter.daemon.daemon.Daemon` that ``newsletter run`` runs, started
with its scheduler paused, so a test decides when a job fires (:meth:`InDaemon.fire`)
and when the poller looks at the digest directory (:meth:`InDaemon.poll`) instead of
waiting for a real cron minute. The passes go to a :class:`~tests.memsender.MemoryTransport`
unless the test is about SMTP (``transport=None``: the configured server).

A few real-process tests (``tests/test_daemon_process.py``) prove the wiring this skips:
signals, the lock, the scheduler firing on its own."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from newsletter.config import load_config
from newsletter.daemon.daemon import Daemon
from tests.fakeclock import FakeClock
from tests.memsender import MemoryTransport


class Lines(logging.Handler):
    """The daemon's log lines, as ``newsletter run`` would write them (message only)."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


@dataclass
class InDaemon:
    daemon: Daemon
    clock: FakeClock
    transport: MemoryTransport | None
    log: Lines

    def text(self) -> str:
        return "\n".join(self.log.lines)

    def passes(self, reason: str = "") -> int:
        return sum(1 for line in self.log.lines if f"pass {reason}" in line and "subscribers=" in line)

    def advance(self, seconds: float) -> None:
        """Move the clock on (wall and monotonic)."""
        self.clock.at += timedelta(seconds=seconds)
        self.clock.ticks += seconds

    async def fire(self, job_id: str) -> None:
        """The scheduled job ``job_id`` fires now."""
        await self.daemon.fire(job_id)

    async def poll(self) -> None:
        """One round of the directory poller (the daemon's every-second loop)."""
        await self.daemon.watch_once()

    def next_run(self, job_id: str) -> datetime:
        """When the scheduler would fire ``job_id`` next, seen from the fake clock."""
        assert self.daemon.scheduler is not None
        job = self.daemon.scheduler.get_job(job_id)
        assert job is not None, job_id
        fire: datetime | None = job.trigger.get_next_fire_time(None, self.clock.now())
        assert fire is not None
        return fire


@asynccontextmanager
async def in_daemon(
    config: Path,
    *,
    clock: FakeClock | None = None,
    transport: MemoryTransport | None = None,
    level: int = logging.INFO,
) -> AsyncIterator[InDaemon]:
    """The daemon of ``config`` started in this event loop (scheduler paused), closed at
    the end as SIGTERM would close it; its log lines from ``level`` on (``run``'s default
    ``--log-level info``) in :meth:`InDaemon.text`."""
    clock = clock or FakeClock(datetime.now(UTC))
    rig = InDaemon(
        Daemon(load_config(config, strict=False), config_path=config, clock=clock, sender=transport),
        clock,
        transport,
        Lines(level),
    )
    logger = logging.getLogger("newsletter")
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(rig.log)
    try:
        await rig.daemon.start(fire=False)
        try:
            yield rig
        finally:
            await rig.daemon.close()
    finally:
        logger.removeHandler(rig.log)
        logger.setLevel(old_level)


async def until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Wait on the event loop (the daemon's tasks go on) until ``predicate()`` holds: the
    positive event a test waits for, never a bare sleep."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)
