"""Pacing: at most ``smtp.max_per_second`` message starts across all sessions, and the
pool-wide pause on rate-limit replies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

log = logging.getLogger("newsletter.delivery.smtp")  # one logger for the whole sender (as before)


class RateLimiter:
    """At most ``rate`` message starts per second across all workers (evenly spaced)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        slot = max(now, self.next)
        self.next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class Throttle:
    """Pool-wide backoff on rate-limit replies: every session waits until ``until``.
    Each rate-limit reply without an accepted message since doubles the pause
    (``backoff`` .. ``cap``, times a jitter in [1, 1.5)); an accepted message resets it."""

    def __init__(self, backoff: float, cap: float, rng: random.Random) -> None:
        self.backoff, self.cap, self.rng = backoff, cap, rng
        self.until = 0.0
        self.streak = 0
        self.events = 0

    def hit(self, reason: str) -> float:
        loop = asyncio.get_running_loop()
        delay = min(self.backoff * 2.0**self.streak, self.cap) * (1.0 + 0.5 * self.rng.random())
        self.streak += 1
        self.events += 1
        self.until = max(self.until, loop.time() + delay)
        log.warning("rate limited (%s): all sessions pause %.2f s", reason, delay)
        return delay

    def ok(self) -> None:
        self.streak = 0

    async def wait(self, stop: asyncio.Event | None) -> None:
        loop = asyncio.get_running_loop()
        while (left := self.until - loop.time()) > 0:
            if stop is None:
                await asyncio.sleep(left)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), left)
                if stop.is_set():
                    return
