"""Cron validation without APScheduler (newsletter/base/cron.py, check_cron) against
APScheduler's own answer (cron_trigger): a plain expression it passes is one APScheduler
accepts; every other expression, and every error, is APScheduler's."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.base.cron import check_cron, cron_trigger, just_after, plain_cron
from tests.conftest import run_cli

UTC = ZoneInfo("UTC")
_numbers = st.integers(0, 99).map(str)
_items = st.one_of(_numbers, st.tuples(_numbers, _numbers).map("-".join))
_fields = st.one_of(
    st.just("*"),
    st.integers(0, 99).map(lambda n: f"*/{n}"),
    st.lists(_items, min_size=1, max_size=4).map(",".join),
    st.sampled_from(["mon-fri", "jan", "last", "1-5/2", "*/", "-1", "", "7-0", "0-7"]),
)
_expressions = st.one_of(st.lists(_fields, min_size=5, max_size=5), st.lists(_fields, min_size=4, max_size=7)).map(
    " ".join
)


def _apscheduler(expr: str) -> str | None:
    """None when APScheduler accepts ``expr``, else the reason cron_trigger gives."""
    try:
        cron_trigger(expr, UTC)
    except ValueError as exc:
        return str(exc)
    return None


@settings(max_examples=6000, deadline=None)
@given(_expressions)
def test_check_cron_accepts_and_refuses_as_apscheduler(expr: str) -> None:
    expected = _apscheduler(expr)
    if plain_cron(expr):
        assert expected is None, f"plain but refused by APScheduler: {expr!r}"
    if expected is None:
        check_cron(expr)
    else:
        with pytest.raises(ValueError) as caught:
            check_cron(expr)
        assert str(caught.value) == expected


@pytest.mark.parametrize("expr", ["0 7 * * *", "*/5 * * * * *", "30 6 1,15 * 1-5", "0 0 * * 0,7", "0 12 31 12 *"])
def test_plain_cron_common_expressions(expr: str) -> None:
    assert plain_cron(expr) and _apscheduler(expr) is None


@pytest.mark.parametrize("expr", ["0 24 * * *", "0 7 * * 8", "0 7 0 * *", "*/60 * * * *", "5-1 * * * *", "0 7 * *"])
def test_check_cron_names_the_bad_field_as_before(expr: str) -> None:
    assert not plain_cron(expr)
    with pytest.raises(ValueError, match="invalid cron expression"):
        check_cron(expr)


def test_checking_the_starter_configuration_does_not_import_apscheduler(tmp_path: Path) -> None:
    """`check` on the configuration `newsletter init` writes validates its cron
    expressions without APScheduler (nor asyncio, which it brings along)."""
    subprocess.run([sys.executable, "-m", "newsletter", "init", str(tmp_path)], capture_output=True, check=True)
    code = (
        "import sys\n"
        "from newsletter.config import load_config\n"
        f"load_config({str(tmp_path / 'config.yaml')!r})\n"
        "print(sorted(m for m in sys.modules if m.startswith(('apscheduler', 'asyncio'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _fires(expr: str, tz_name: str, start: datetime, end: datetime) -> list[datetime]:
    """Every fire of ``expr`` from ``start`` to ``end``, asked as APScheduler's scheduler
    asks (the previous fire, and its own clock just after it), in UTC."""
    tz = ZoneInfo(tz_name)
    trigger = cron_trigger(expr, tz)
    fires: list[datetime] = []
    fire = trigger.get_next_fire_time(None, start.astimezone(tz))
    while fire is not None and fire <= end:
        fires.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(fire, just_after(fire))
    return fires


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_cron_trigger_a_fixed_hour_fires_once_on_the_night_the_clocks_go_back() -> None:
    """ "30 2 * * *" in Europe/Berlin: 02:30 happens twice on 25 Oct 2026 (CEST, then
    CET); the subscribers get one digest that morning, as cron(8) runs such a job once.
    APScheduler alone fired twice. The other days, and the spring night whose 02:30
    never happens (it fires at 03:30 CEST), fire once."""
    autumn = _fires("30 2 * * *", "Europe/Berlin", _utc(2026, 10, 23, 12), _utc(2026, 10, 27, 12))
    assert autumn == [
        _utc(2026, 10, 24, 0, 30),
        _utc(2026, 10, 25, 0, 30),
        _utc(2026, 10, 26, 1, 30),
        _utc(2026, 10, 27, 1, 30),
    ]
    spring = _fires("30 2 * * *", "Europe/Berlin", _utc(2026, 3, 28, 12), _utc(2026, 3, 30, 12))
    assert spring == [_utc(2026, 3, 29, 1, 30), _utc(2026, 3, 30, 0, 30)]  # 03:30 CEST, then 02:30 CEST
    weekly = _fires("0 1-3 * * sun", "America/New_York", _utc(2026, 10, 31), _utc(2026, 11, 2))
    assert weekly == [_utc(2026, 11, 1, 5), _utc(2026, 11, 1, 7), _utc(2026, 11, 1, 8)]  # 1:00 EDT, 2:00 and 3:00 EST


def test_cron_trigger_a_wildcard_hour_fires_every_real_hour_when_the_clocks_change() -> None:
    """ "0 * * * *" fires in both 02:00s of the long night (25 fires) and 23 times on the
    short one; "*/30 * * * *" 50 times."""
    day = ("Europe/Berlin", _utc(2026, 10, 24, 22), _utc(2026, 10, 25, 22, 59))  # 25 Oct, local midnight to midnight
    assert len(_fires("0 * * * *", *day)) == 25
    assert len(_fires("*/30 * * * *", *day)) == 50
    assert len(_fires("0 * * * *", "Europe/Berlin", _utc(2026, 3, 28, 23), _utc(2026, 3, 29, 21, 59))) == 23


def test_cron_trigger_a_time_the_clocks_skip_at_midnight_fires_when_they_jump() -> None:
    """Where summer time starts at midnight (America/Santiago 6 Sep 2026, Africa/Cairo
    24 Apr 2026, America/Havana 8 Mar 2026: 23:59:59, then 01:00), "0 0 * * *" fires at
    the jump, 01:00 by the new clock, as "30 2 * * *" fires at 03:30 CEST in Europe.
    APScheduler alone skipped that day: nobody got that day's digest."""
    santiago = _fires("0 0 * * *", "America/Santiago", _utc(2026, 9, 4, 12), _utc(2026, 9, 7, 12))
    assert santiago == [_utc(2026, 9, 5, 4), _utc(2026, 9, 6, 4), _utc(2026, 9, 7, 3)]  # 00:00 -04, 01:00 -03, 00:00
    half_past = _fires("30 0 * * *", "America/Santiago", _utc(2026, 9, 5, 12), _utc(2026, 9, 6, 12))
    assert half_past == [_utc(2026, 9, 6, 4, 30)]  # 01:30 -03
    cairo = _fires("0 0 * * *", "Africa/Cairo", _utc(2026, 4, 22, 12), _utc(2026, 4, 25, 12))
    assert cairo == [_utc(2026, 4, 22, 22), _utc(2026, 4, 23, 22), _utc(2026, 4, 24, 21)]
    havana = _fires("0 0 * * *", "America/Havana", _utc(2026, 3, 7, 12), _utc(2026, 3, 9, 12))
    assert havana == [_utc(2026, 3, 8, 5), _utc(2026, 3, 9, 4)]
    # the trigger gives the time the clock shows, never the wall time that did not happen
    fire = cron_trigger("0 0 * * *", ZoneInfo("America/Santiago")).get_next_fire_time(
        None, _utc(2026, 9, 5, 12).astimezone(ZoneInfo("America/Santiago"))
    )
    assert fire is not None and (fire.hour, fire.utcoffset()) == (1, timedelta(hours=-3))


def test_cron_trigger_half_hour_shifts_and_a_skipped_day() -> None:
    """Australia/Lord_Howe moves its clocks by 30 minutes: 02:15 on its spring night
    (4 Oct 2026, 02:00 -> 02:30) fires at 02:45 by the new clock; 01:45 on its autumn
    night (5 Apr 2026, 02:00 -> 01:30) happens twice and fires once. Pacific/Apia skipped
    Friday 30 December 2011: a daily 07:00 fires on the 29th and the 31st, once each, and a
    Friday schedule fires on Saturday the 31st at the same instant as the lost Friday's."""
    spring = _fires("15 2 * * *", "Australia/Lord_Howe", _utc(2026, 10, 3), _utc(2026, 10, 4, 12))
    assert spring == [_utc(2026, 10, 3, 15, 45)]  # 02:45 +11:00
    autumn = _fires("45 1 * * *", "Australia/Lord_Howe", _utc(2026, 4, 4), _utc(2026, 4, 5, 12))
    assert autumn == [_utc(2026, 4, 4, 14, 45)]  # 01:45 +11:00, not again at 01:45 +10:30
    daily = _fires("0 7 * * *", "Pacific/Apia", _utc(2011, 12, 28, 20), _utc(2011, 12, 31, 12))
    assert daily == [_utc(2011, 12, 29, 17), _utc(2011, 12, 30, 17)]  # 07:00 -10:00 on the 29th, +14:00 on the 31st
    friday = _fires("0 9 * * 5", "Pacific/Apia", _utc(2011, 12, 24), _utc(2012, 1, 7))
    assert friday == [_utc(2011, 12, 30, 19), _utc(2012, 1, 5, 19)]  # Sat 31 Dec 09:00 +14, Fri 6 Jan


def test_time_zones_on_a_host_without_a_time_zone_database(tmp_path: Path) -> None:
    """Alpine, Windows and minimal containers have no /usr/share/zoneinfo: every
    `schedule.timezone` was refused there, the default UTC too ("unknown time zone 'UTC'
    (use an IANA name such as UTC ...)"), exit 2. The tzdata package is the database then."""
    subprocess.run([sys.executable, "-m", "newsletter", "init", str(tmp_path)], capture_output=True, check=True)
    config = tmp_path / "config.yaml"
    for zone in ("UTC", "Europe/Berlin"):
        config.write_text(config.read_text(encoding="utf-8").replace("timezone: UTC", f"timezone: {zone}"))
        empty = tmp_path / "no-zoneinfo"
        empty.mkdir(exist_ok=True)
        done = run_cli("check", "-c", str(config), env={"PYTHONTZPATH": str(empty), "TZ": "Europe/Berlin"})
        assert done.returncode == 0, done.stderr
        assert f"at 07:00 every day ({zone})" in done.stdout
