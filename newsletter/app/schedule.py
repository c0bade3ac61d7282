"""Schedule policy: which passes a configuration asks for, and when the next one fires.

A configuration has one global schedule and any number of per-subscriber ones
(``schedule:`` on a subscriber); each distinct expression is one :class:`Job`. The
expressions themselves are parsed in :mod:`newsletter.base.cron`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from newsletter.base.clock import SYSTEM, Clock
from newsletter.base.cron import cron_trigger, just_after, timezone
from newsletter.config import Config
from newsletter.store import FetchState

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


def fire_text(fire: datetime) -> str:
    """A fire as the schedule names it, in its zone, and in UTC beside it:
    ``2026-11-23 09:00 CET (08:00 UTC)`` for "0 9 * * 1" in Europe/Berlin (UTC alone said
    08:00 next to "at 09:00")."""
    local = fire.strftime("%Y-%m-%d %H:%M %Z")
    return local if not fire.utcoffset() else f"{local} ({fire.astimezone(UTC):%H:%M} UTC)"


def next_fire(config: Config, now: datetime | None = None, *, clock: Clock = SYSTEM) -> datetime | None:
    """The earliest next fire time over every job of the configuration, after ``now``
    (default: the ``clock``'s)."""
    found = next_job(config, now, clock=clock)
    return found[1] if found else None


def next_job(config: Config, now: datetime | None = None, *, clock: Clock = SYSTEM) -> tuple[Job, datetime] | None:
    """The job that fires first after ``now``, and when (in ``schedule.timezone``); the
    global schedule wins a tie."""
    tz = timezone(config.schedule.timezone)
    start = now or clock.now().astimezone(tz)
    fires = [(job, cron_trigger(job.cron, tz).get_next_fire_time(None, start)) for job in jobs_for(config)]
    timed = [(job, fire) for job, fire in fires if fire is not None]
    return min(timed, key=lambda item: item[1].astimezone(UTC), default=None)


_LOOK_BACK = (60, 3600, 86400, 7 * 86400, 366 * 86400)  # seconds: windows searched for the latest fire


def fire_time(cron: str, tz: tzinfo, now: datetime) -> datetime:
    """The fire of ``cron`` a job started at ``now`` belongs to: its latest scheduled
    time not after ``now`` (half a second of slack). Every host computes the same
    datetime for one fire, whatever its clock's offset or how late the scheduler ran
    it, so several daemons on one PostgreSQL ledger plan it once (SPEC 6d). ``now``
    itself when the expression never fired in the past year."""
    trigger = cron_trigger(cron, tz)
    until = now.astimezone(UTC) + timedelta(seconds=0.5)  # in UTC: local times repeat in autumn
    for back in _LOOK_BACK:
        fire: datetime | None = trigger.get_next_fire_time(None, (until - timedelta(seconds=back)).astimezone(tz))
        if fire is None or fire.astimezone(UTC) > until:
            continue
        after: datetime | None = fire
        while after is not None and after.astimezone(UTC) <= until:
            fire, after = after, trigger.get_next_fire_time(after, just_after(after))
        return fire
    return now


def missed_fires(config: Config, now: datetime, grace: float) -> list[tuple[Job, datetime]]:
    """Each job's latest fire that came less than ``grace`` seconds before ``now`` (more
    than a second before: one due now the scheduler runs itself). The daemon was perhaps
    not running then (a restart or a reboot over 07:00): :func:`served` tells."""
    tz = timezone(config.schedule.timezone)
    out = []
    for job in jobs_for(config):
        fire = fire_time(job.cron, tz, now)
        if 1.0 < now.timestamp() - fire.timestamp() <= grace:
            out.append((job, fire))
    return out


def served(job: Job, servings: Sequence[tuple[str, ...] | None]) -> bool:
    """True when one of the passes (whom each served, None: everybody) served ``job``'s subscribers."""
    emails = set(job.emails)
    return any(serving is None or emails.intersection(serving) for serving in servings)


def fetch_missed(config: Config, states: Mapping[str, FetchState], *, clock: Clock = SYSTEM) -> bool:
    """True when ``fetch.cron`` fired since the last fetch of every configured source
    (``states``: the ledger's fetch states): the daemon was down at that fire. A source
    never fetched means nothing was missed: the first fire is awaited."""
    keys = [s.key for s in config.sources]
    if not keys or any(k not in states for k in keys):
        return False
    last = min(states[k].checked_at for k in keys)
    tz = timezone(config.schedule.timezone)
    fire = cron_trigger(config.fetch.cron, tz).get_next_fire_time(None, datetime.fromtimestamp(last, tz))
    return fire is not None and fire.timestamp() <= clock.time()
