"""Cron expressions -> APScheduler triggers.

Five fields are standard crontab (``minute hour day month day-of-week``); six fields
add a leading ``second`` field, which tests and impatient operators use
(``*/5 * * * * *`` fires every five seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

if TYPE_CHECKING:
    from newsletter.config import Config

GLOBAL = "global"


def timezone(name: str) -> tzinfo:
    """A ZoneInfo for an IANA name; ValueError names the problem."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as UTC or Europe/Paris)") from None


def cron_trigger(expr: str, tz: tzinfo) -> CronTrigger:
    """Build the trigger, raising ValueError with a readable reason for a bad expression."""
    fields = expr.split()
    try:
        if len(fields) == 5:
            return CronTrigger.from_crontab(expr, timezone=tz)
        if len(fields) == 6:
            second, minute, hour, day, month, dow = fields
            return CronTrigger(
                second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=dow, timezone=tz
            )
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    raise ValueError(
        f"invalid cron expression {expr!r}: expected 5 fields "
        "(minute hour day month weekday) or 6 (with a leading second)"
    )


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
