"""The clock, as a seam: what "now" is wherever it decides behaviour (the daemon's
catch-up of a missed fetch, the bounce mailbox's interval, the next fire of a
schedule). :data:`SYSTEM` is the real one; tests pass their own to decide what time it
is instead of waiting for it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
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
