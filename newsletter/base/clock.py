"""The clock, as a seam: what "now" is wherever it decides behaviour (the daemon's
catch-up of a missed fetch, the bounce mailbox's interval, the next fire of a
schedule). :data:`SYSTEM` is the real one; tests pass their own to decide what time it
is instead of waiting for it."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """UNIX time, in seconds."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (intervals)."""
        ...

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    """The machine's clock."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM: Clock = SystemClock()


_EARTH_AHEAD = timezone(timedelta(hours=14))  # Pacific/Kiritimati: where a day begins first


def latest_date(timestamp: float) -> date:
    """The calendar date at ``timestamp`` where it is latest on earth (UTC+14): no page
    written then is dated after it, whatever zone dated it or the host is in. It anchors a
    yearless date ("Oct 28") to its year: by the host's date, a page dated the 28th saved
    in Los Angeles on the evening of the 27th was taken for the 28th of the year before."""
    return datetime.fromtimestamp(timestamp, _EARTH_AHEAD).date()
