"""A clock the test sets (:class:`newsletter.base.clock.Clock`): "now" is what the test
says, so schedules are checked at any hour without waiting for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass
class FakeClock:
    at: datetime
    ticks: float = 0.0  # the monotonic clock

    def time(self) -> float:
        return self.at.timestamp()

    def monotonic(self) -> float:
        return self.ticks

    def now(self) -> datetime:
        return self.at.astimezone(UTC)
