"""The daemon's schedule policy (app/schedule.py) on a clock the test sets: which
passes a configuration asks for, when the next one fires, and whether a fetch was missed
while the daemon was down. No real minute is waited for (tests/fakeclock.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

from newsletter.app.schedule import GLOBAL, fetch_missed, fire_time, jobs_for, next_fire
from newsletter.base.cron import timezone
from newsletter.config import load_config
from newsletter.store import FetchState
from tests.fakeclock import FakeClock
from tests.smtpd import write_config

ANA = {"email": "ana@example.org", "keywords": ["x"]}
BO = {"email": "bo@example.org", "keywords": ["y"], "schedule": "0 9 * * 1"}  # Mondays 09:00
SOURCES = [{"type": "huggingface"}]


def _state(source: str, at: datetime) -> FetchState:
    return FetchState(source, "https://example.org", None, None, at.timestamp(), "written", None, 200, at.timestamp())


def test_schedule_own_schedules_are_jobs_of_their_own(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, 25, [ANA, BO], schedule={"cron": "0 7 * * *", "timezone": "UTC"}))
    jobs = jobs_for(config)
    assert [(j.key, j.cron, j.emails) for j in jobs] == [
        (GLOBAL, "0 7 * * *", ("ana@example.org",)),
        ("own:0 9 * * 1", "0 9 * * 1", ("bo@example.org",)),
    ]


def test_schedule_next_fire_is_the_earliest_after_the_clocks_now(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, 25, [ANA, BO], schedule={"cron": "0 7 * * *", "timezone": "UTC"}))
    sunday_evening = FakeClock(datetime(2026, 11, 15, 20, 0, tzinfo=UTC))  # a Sunday
    assert next_fire(config, clock=sunday_evening) == datetime(2026, 11, 16, 7, 0, tzinfo=UTC)
    monday_eight = FakeClock(datetime(2026, 11, 16, 8, 0, tzinfo=UTC))
    assert next_fire(config, clock=monday_eight) == datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # Bo's own


def test_schedule_fetch_missed_only_once_the_fire_after_the_last_fetch_passed(tmp_path: Path) -> None:
    config = load_config(
        write_config(
            tmp_path,
            25,
            [ANA],
            schedule={"cron": "0 7 * * *", "timezone": "UTC"},
            sources=SOURCES,
            fetch={"cron": "30 6 * * *"},
        )
    )
    fetched = {"huggingface": _state("huggingface", datetime(2026, 11, 16, 6, 30, 5, tzinfo=UTC))}
    assert not fetch_missed(config, fetched, clock=FakeClock(datetime(2026, 11, 17, 6, 29, tzinfo=UTC)))
    assert fetch_missed(config, fetched, clock=FakeClock(datetime(2026, 11, 17, 6, 30, tzinfo=UTC)))
    assert not fetch_missed(config, {}, clock=FakeClock(datetime(2026, 12, 1, tzinfo=UTC)))  # never fetched: wait


def test_daemon_schedule_fire_time_is_the_same_on_every_host() -> None:
    """Several daemons on one PostgreSQL ledger key a fire by its scheduled time: a host
    whose scheduler ran it late, or whose clock is a bit ahead or behind, gets the same."""
    tz = timezone("Europe/Berlin")
    seven = datetime(2026, 11, 17, 7, 0, tzinfo=tz)
    for late in (0.0, 0.3, 2.5, 3600.0):  # fired on time, a little late, an hour late (a misfire)
        assert fire_time("0 7 * * *", tz, seven + timedelta(seconds=late)) == seven
    assert fire_time("0 7 * * *", tz, seven - timedelta(seconds=0.2)) == seven  # a clock slightly behind
    assert fire_time("0 7 * * *", tz, seven - timedelta(seconds=5)) == seven - timedelta(days=1)
    assert fire_time("*/2 * * * * *", tz, seven + timedelta(seconds=3.1)) == seven + timedelta(seconds=2)
    assert fire_time("0 9 * * 1", tz, datetime(2026, 11, 20, 12, tzinfo=tz)) == datetime(2026, 11, 16, 9, tzinfo=tz)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _at(cron: str, tz: tzinfo, now: datetime) -> datetime:
    """fire_time in UTC: an aware time in the repeated hour never equals one in another zone."""
    return fire_time(cron, tz, now).astimezone(UTC)


def test_daemon_schedule_fire_time_on_the_night_the_clocks_go_back() -> None:
    """The fire a job belongs to, asked during the hour that happens twice (Europe/Berlin
    25 Oct 2026: 02:00-03:00 CEST, then again CET). Before, the search for it never ended
    (the daemon's pass hung there, every autumn, for every hourly schedule)."""
    berlin, new_york = timezone("Europe/Berlin"), timezone("America/New_York")
    first_0230 = _utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    assert _at("30 2 * * *", berlin, _utc(2026, 10, 25, 0, 45)) == first_0230
    assert _at("30 2 * * *", berlin, _utc(2026, 10, 25, 1, 45)) == first_0230  # 02:45 CET: the same day's fire
    assert _at("30 2 * * *", berlin, _utc(2026, 10, 25, 1, 10)) == first_0230  # 02:10 CET, after 02:30 CEST
    assert _at("0 * * * *", berlin, _utc(2026, 10, 25, 1, 0, 1)) == _utc(2026, 10, 25, 1, 0)  # 02:00 CET
    assert _at("0 * * * *", new_york, _utc(2026, 11, 1, 6, 0, 1)) == _utc(2026, 11, 1, 6, 0)  # 01:00 EST
    assert _at("*/20 * * * *", new_york, _utc(2026, 11, 1, 6, 50)) == _utc(2026, 11, 1, 6, 40)


def test_schedule_next_fire_on_the_day_the_clocks_skip_midnight(tmp_path: Path) -> None:
    """`status`'s "next run" for a midnight schedule in America/Santiago on the evening
    before summer time starts (at midnight, to 01:00): that night, at 01:00, not the next
    night; and the pass that runs then belongs to that fire on every host."""
    config = load_config(
        write_config(tmp_path, 25, [ANA], schedule={"cron": "0 0 * * *", "timezone": "America/Santiago"})
    )
    evening = _utc(2026, 9, 6, 2)  # 22:00 -04 on Saturday 5 September
    assert next_fire(config, clock=FakeClock(evening)) == _utc(2026, 9, 6, 4)  # 01:00 -03 Sunday
    santiago = timezone("America/Santiago")
    assert _at("0 0 * * *", santiago, _utc(2026, 9, 6, 4, 0, 0)) == _utc(2026, 9, 6, 4)
    assert _at("0 0 * * *", santiago, _utc(2026, 9, 6, 5)) == _utc(2026, 9, 6, 4)


def test_status_own_schedule_says_when_in_the_schedule_zone(tmp_path: Path) -> None:
    """`status` on Friday for Bo, whose own schedule is Mondays at 09:00 in Europe/Berlin:
    "delivers at 2026-11-23 09:00 CET (08:00 UTC)", the time the schedule names (UTC alone
    said 08:00 beside "at 09:00")."""
    from newsletter.app.why import status_reasons
    from newsletter.digest import Paper
    from newsletter.store import SqliteLedger

    config = load_config(
        write_config(tmp_path, 25, [ANA, BO], schedule={"cron": "0 7 * * *", "timezone": "Europe/Berlin"})
    )
    with SqliteLedger.open(config.ledger_path) as ledger:
        ledger.register_subscribers([ANA["email"], BO["email"]])
        paper = Paper(title="A paper on y", abstract="About y.", id="p1", source="d.json")
        ledger.record_digest(path="d.json", sha256="1" * 64, papers=[paper])
        reasons = {n.email: n.reason for n in status_reasons(config, ledger, now=_utc(2026, 11, 20, 12))}
    assert "`newsletter run` delivers at 2026-11-23 09:00 CET (08:00 UTC);" in reasons[BO["email"]]


def test_status_next_run_names_the_schedule_that_fires_first(tmp_path: Path) -> None:
    """`status`'s "next run" line named the global schedule whatever fired first, and its
    time in UTC only: "2026-11-16T08:00:00+00:00 (at 07:00 every day (Europe/Berlin))" when
    Bo's own Monday 09:00 came first. It now says the time in the schedule's zone, UTC
    beside it, and whose schedule it is."""
    from newsletter.app.status import next_run_text

    config = load_config(
        write_config(tmp_path, 25, [ANA, BO], schedule={"cron": "0 10 * * *", "timezone": "Europe/Berlin"})
    )
    monday_early = FakeClock(datetime(2026, 11, 16, 5, 0, tzinfo=UTC))  # 06:00 CET
    text = next_run_text(config, clock=monday_early)
    assert text.startswith("2026-11-16 09:00 CET (08:00 UTC): at 09:00")
    assert text.endswith("(Europe/Berlin), the own schedule of 1 subscriber")
    monday_noon = FakeClock(datetime(2026, 11, 16, 11, 0, tzinfo=UTC))  # 12:00 CET: Bo's is past
    assert next_run_text(config, clock=monday_noon) == (
        "2026-11-17 10:00 CET (09:00 UTC): at 10:00 every day (Europe/Berlin)"
    )
