"""Schedule policy: which passes a configuration asks for, and when the next one fires.

A configuration has one global schedule and any number of per-subscriber ones
(``schedule:`` on a subscriber); each distinct expression is one :class:`Job`. The
expressions themselves are parsed in :mod:`newsletter.base.cron`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from newsletter.base.cron import cron_trigger, timezone
from newsletter.config import Config

GLOBAL = "global"


@dataclass(frozen=True, slots=True)
class Job:
    """One scheduled pass: a cron expression and the subscribers it serves."""

    key: str
    cron: str
    emails: tuple[str, ...]


def jobs_for(config: Config) -> list[Job]:
    """The jobs of a configuration: the global schedule first, then each own schedule."""
    own: dict[str, list[str]] = {}
    general: list[str] = []
    for sub in config.subscribers:
        if sub.schedule:
            own.setdefault(" ".join(sub.schedule.split()), []).append(sub.email)
        else:
            general.append(sub.email)
    jobs = [Job(GLOBAL, config.schedule.cron, tuple(general))] if general else []
    jobs.extend(Job(f"own:{cron}", cron, tuple(emails)) for cron, emails in own.items())
    return jobs


def next_fire(config: Config, now: datetime | None = None) -> datetime | None:
    """The earliest next fire time over every job of the configuration."""
    tz = timezone(config.schedule.timezone)
    start = now or datetime.now(tz)
    fires = [cron_trigger(job.cron, tz).get_next_fire_time(None, start) for job in jobs_for(config)]
    return min((f for f in fires if f is not None), default=None)
