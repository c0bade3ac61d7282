"""Cron expressions -> APScheduler triggers (pure: no configuration here; which
subscribers a schedule serves is :mod:`newsletter.app.schedule`).

Five fields are standard crontab (``minute hour day month day-of-week``); six fields
add a leading ``second`` field, which tests and impatient operators use
(``*/5 * * * * *`` fires every five seconds).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:  # APScheduler is imported when a trigger is made (~60 ms at start otherwise)
    from apscheduler.triggers.cron import CronTrigger


def timezone(name: str) -> tzinfo:
    """A ZoneInfo for an IANA name; ValueError names the problem."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} ({_zone_hint(name)})") from None


_OFFSET = re.compile(r"(?:UTC|GMT)?([+-])(\d{1,2})(?::?00)?", re.IGNORECASE)


def _zone_hint(name: str) -> str:
    """What a refused zone name probably meant: the Etc zone of a fixed offset (whose
    sign POSIX inverts: UTC+05:00 is Etc/GMT-5), the IANA spelling of a name in the
    wrong case; else an example."""
    offset = _OFFSET.fullmatch(name.strip())
    if offset and int(offset[2]) <= (14 if offset[1] == "+" else 12):
        hours = int(offset[2])
        etc = f"Etc/GMT{'-' if offset[1] == '+' else '+'}{hours}"
        return f"for UTC{offset[1]}{hours:02d}:00 write {etc}: the Etc names invert the sign" if hours else "write UTC"
    from zoneinfo import available_timezones

    spelled = {zone.casefold(): zone for zone in available_timezones()}.get(name.strip().casefold())
    return f"did you mean {spelled}?" if spelled else "use an IANA name such as UTC or Europe/Paris"


def just_after(moment: datetime) -> datetime:
    """One microsecond after ``moment``, counted on the real time line. Adding to an
    aware datetime adds wall-clock time and forgets ``fold``: one microsecond after the
    second 02:30 of a night the clocks go back would be the *first* 02:30 again, an hour
    earlier, and a loop asking "the next fire after this one" would never end."""
    return (moment.astimezone(UTC) + timedelta(microseconds=1)).astimezone(moment.tzinfo)


def repeated_wall_time(moment: datetime) -> bool:
    """True for the second occurrence of a wall-clock time the clocks went back over
    (02:30 on the night summer time ends in Europe: 02:30 CEST, then 02:30 CET)."""
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def skipped_wall_time(moment: datetime) -> bool:
    """True for a wall-clock time the clocks jumped over (00:00 on the night summer time
    starts in America/Santiago: 23:59:59, then 01:00)."""
    return moment.astimezone(UTC).astimezone(moment.tzinfo).replace(tzinfo=None) != moment.replace(tzinfo=None)


def real_time(moment: datetime) -> datetime:
    """``moment`` as the clock on the wall shows it: a skipped wall time is the moment it
    stands for (fold 0: the offset before the jump; 02:30 on Europe's spring night is
    03:30 CEST), any other time itself."""
    return moment.astimezone(UTC).astimezone(moment.tzinfo) if skipped_wall_time(moment) else moment


def _wall_step(start: datetime, stepped: datetime) -> datetime:
    """APScheduler's step from ``start`` to ``stepped`` (a next day, hour or minute: the
    wall-clock difference added on the real time line), as the wall time it aimed at when
    that time was skipped. APScheduler lands after the gap (01:00 for a skipped 00:00), whose
    hour then fails "0 0 * * *": the day's fire was lost. The same instant, kept as the
    wall time aimed at, matches the fields as on any other day."""
    aimed = start.replace(tzinfo=None) + (stepped.astimezone(UTC) - start.astimezone(UTC))
    wall = aimed.replace(tzinfo=start.tzinfo)
    return wall if skipped_wall_time(wall) else stepped


def _fixed_hour(hour_field: str) -> bool:
    """A job with a fixed hour ("30 2 * * *", "0 1-3 * * *") runs once per wall-clock
    time, as cron(8) runs such jobs once when the clocks go back; a job whose hour field
    is a wildcard ("0 * * * *", "*/20 */2 * * *") runs every real hour, both 02:00s."""
    return not hour_field.startswith("*")


@functools.cache
def _trigger_class() -> Any:
    """APScheduler's CronTrigger, asked for a fixed-hour job's repeated wall time only
    once (made on first use: APScheduler is imported only when a trigger is made)."""
    from apscheduler.triggers.cron import CronTrigger

    class WallClockCronTrigger(CronTrigger):  # type: ignore[misc]
        """Fires a fixed-hour expression once on the night the clocks go back: APScheduler
        alone fires "30 2 * * *" at 02:30 CEST and again at 02:30 CET, two digests. And
        fires a time the clocks skip when they jump (APScheduler skipped a midnight
        schedule's day where summer time starts at midnight: Santiago, Cairo, Havana)."""

        def __init__(self, *, once_per_wall_time: bool, **fields: Any) -> None:
            super().__init__(**fields)
            self.once_per_wall_time = once_per_wall_time

        def _increment_field_value(self, dateval: datetime, fieldnum: int) -> tuple[datetime, int]:
            stepped, field = super()._increment_field_value(dateval, fieldnum)
            return _wall_step(dateval, stepped), field

        def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
            fire: datetime | None = super().get_next_fire_time(previous_fire_time, now)
            while fire is not None and self.once_per_wall_time and repeated_wall_time(fire):
                fire = super().get_next_fire_time(fire, just_after(fire))
            return None if fire is None else real_time(fire)

    return WallClockCronTrigger


def _make_trigger(fields: dict[str, str], tz: tzinfo) -> CronTrigger:
    named = {("day_of_week" if k == "weekday" else k): v for k, v in fields.items()}
    return _trigger_class()(once_per_wall_time=_fixed_hour(fields["hour"]), timezone=tz, **named)


_FIELDS = ("minute", "hour", "day", "month", "weekday")
_RANGES = {
    "second": "0-59",
    "minute": "0-59",
    "hour": "0-23",
    "day": "1-31",
    "month": "1-12 or jan-dec",
    "weekday": "0-7 or mon-sun",
}
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekday_names(field: str) -> str:
    """Crontab weekday numbers (0 and 7 Sunday, 1 Monday) as names: APScheduler 3 reads
    ``1`` as Tuesday (its 0 is Monday), so numbers never reach it."""
    out = []
    for item in field.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?(?:/(\d+))?", item)
        if m is None:
            out.append(item)
            continue
        lo, hi, step = int(m.group(1)), m.group(2), m.group(3)
        if lo > 7 or (hi is not None and int(hi) > 7):
            out.append(item)  # out of range: APScheduler's own check says so, in our words below
            continue
        if hi is None and step is None:
            out.append(_DAYS[lo])
            continue
        end = int(hi) if hi is not None else 7
        out.extend(_DAYS[d] for d in range(lo, end + 1, int(step or 1)))
    return ",".join(dict.fromkeys(out))


def _bad_field(fields: dict[str, str], tz: tzinfo) -> tuple[str, str] | None:
    """The first field APScheduler refuses, as (name, value)."""
    from apscheduler.triggers.cron import CronTrigger

    for name, value in fields.items():
        try:
            CronTrigger(**{"day_of_week" if name == "weekday" else name: value}, timezone=tz)
        except ValueError:
            return name, value
    return None


def cron_trigger(expr: str, tz: tzinfo) -> CronTrigger:
    """Build the trigger, raising ValueError with a readable reason for a bad expression.

    Five fields are crontab (``minute hour day month weekday``; weekday 0 or 7 is
    Sunday); six add a leading second. The reason names the field that is wrong
    and what it accepts, never the scheduler's internals. A fixed-hour expression fires
    once on the night the clocks go back (:func:`_fixed_hour`)."""
    parts = expr.split()
    if len(parts) == 5:
        fields = dict(zip(_FIELDS, parts, strict=True))
    elif len(parts) == 6:
        fields = dict(zip(("second", *_FIELDS), parts, strict=True))
    else:
        raise ValueError(
            f"invalid cron expression {expr!r}: it has {len(parts)} field{'s' if len(parts) != 1 else ''}; "
            'expected 5 (minute hour day month weekday, e.g. "0 7 * * *") or 6 (with a leading second)'
        )
    fields["weekday"] = _weekday_names(fields["weekday"])
    try:
        return _make_trigger(fields, tz)
    except ValueError:
        pass
    bad = _bad_field(fields, tz)
    name, value = bad if bad else ("expression", expr)
    reason = f"the {name} field {value!r} is not valid ({name}: {_RANGES.get(name, '')})"
    if len(parts) == 6:
        reason += (
            "; 6 fields are read as second minute hour day month weekday: a crontab line has 5, is one field too many?"
        )
    raise ValueError(f"invalid cron expression {expr!r}: {reason}")


# The plain expressions every configuration writes ("0 7 * * *", "*/15 * * * mon-fri"
# aside): each field "*", "*/STEP", or a list of numbers and ascending ranges within
# the field's bounds. APScheduler accepts every one of them (tests/test_base_cron.py
# holds the two to it), so validating them need not import it (~30 ms at start: it
# brings asyncio and ssl along).
_BOUNDS = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day": (1, 31), "month": (1, 12), "weekday": (0, 7)}
_MAX_STEP = {"weekday": 6}  # "*/N" reaches APScheduler as is, whose weekdays are 0-6
_LIST = re.compile(r"\d{1,2}(?:-\d{1,2})?(?:,\d{1,2}(?:-\d{1,2})?)*")


def _plain_field(name: str, value: str) -> bool:
    lo, hi = _BOUNDS[name]
    if value == "*":
        return True
    if value.startswith("*/"):
        step = value[2:]
        return step.isdigit() and len(step) <= 2 and 1 <= int(step) <= _MAX_STEP.get(name, hi - lo)
    if not _LIST.fullmatch(value):
        return False
    for item in value.split(","):
        first, _, last = item.partition("-")
        if not lo <= int(first) <= int(last or first) <= hi:
            return False
    return True


def plain_cron(expr: str) -> bool:
    """True for an expression of the plain form above (valid, without asking APScheduler)."""
    parts = expr.split()
    names = _FIELDS if len(parts) == 5 else ("second", *_FIELDS) if len(parts) == 6 else None
    return names is not None and all(_plain_field(n, v) for n, v in zip(names, parts, strict=True))


def check_cron(expr: str) -> None:
    """ValueError with :func:`cron_trigger`'s reason for a bad expression; a plain one is
    valid as it stands (:func:`plain_cron`), any other is asked of APScheduler."""
    if not plain_cron(expr):
        cron_trigger(expr, ZoneInfo("UTC"))


def describe_cron(expr: str, tz_name: str) -> str:
    """A cron expression in plain words: ``at 07:00 every day (UTC)`` (cron-descriptor)."""
    from cron_descriptor import ExpressionDescriptor, Options

    options = Options()
    options.use_24hour_time_format = True
    options.day_of_week_start_index_zero = True
    parts = expr.split()
    try:
        text = ExpressionDescriptor(" ".join(parts), options).get_description()
    except Exception:  # a valid APScheduler expression cron-descriptor cannot word: show it as is
        return f"{expr} ({tz_name})"
    text = text[:1].lower() + text[1:]
    if parts[-3:] == ["*", "*", "*"] and not text.startswith("every"):
        text += " every day"
    return f"{text} ({tz_name})"
