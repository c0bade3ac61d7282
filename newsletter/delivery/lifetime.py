"""The queue lifetime (``smtp.queue_lifetime_hours``, Postfix's ``maximal_queue_lifetime``):
a delivery that only ever met temporary trouble is given up, not retried forever.

A delivery (or a chat message part) still ``pending`` once the lifetime has passed since
it was first recorded ``pending`` becomes ``failed``, with an error that says why and
what its last try met (:meth:`QueueLifetime.why`): "gave up after 5 days of temporary
failures; last: 450 4.2.0 greylisted". A pass gives up what it finds past the lifetime
before it sends anything (so an outage of a week never ends in a week of stale digests at
once), and again after its attempts (a delivery whose lifetime ran out while this pass
tried it ends ``failed`` in this very pass). Unlike a delivery refused with a 5xx, its
papers are not final: the ledger marks it given up (``given_up_at``) and its papers are
carried into the subscriber's next delivery
(:func:`newsletter.delivery.plan.compute_deliveries`). Measured on the ledger's clock: the
host's for SQLite (the one that recorded the delivery), the database's for PostgreSQL
(every host shares it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from newsletter.base.wording import plural
from newsletter.config import Config
from newsletter.delivery.smtp.records import MAY_HAVE_ARRIVED
from newsletter.store import ChannelRow, FailedDelivery

log = logging.getLogger("newsletter.delivery.service")

Db = Callable[..., Awaitable[Any]]

NEVER_SENT = "never tried"
NEVER_POSTED = "never posted (an earlier part of its message did not get through)"


@dataclass(frozen=True, slots=True)
class QueueLifetime:
    """How long a delivery may stay pending (``seconds``; None: for ever)."""

    seconds: float | None

    @classmethod
    def of(cls, config: Config) -> QueueLifetime:
        return cls(config.smtp.queue_lifetime)

    @property
    def span(self) -> str:
        """The lifetime in words: ``5 days``, ``36 hours``."""
        hours = round((self.seconds or 0) / 3600)
        return plural(hours // 24, "day") if hours and hours % 24 == 0 else plural(hours, "hour")

    def why(self, last: str | None, *, never: str = NEVER_SENT) -> str:
        """The error of a delivery given up, from the last error it met (None: none yet)."""
        if not last:
            return f"gave up after {self.span} pending, {never}"
        if last.endswith(MAY_HAVE_ARRIVED):
            return (
                f"gave up after {self.span} of temporary failures; the outcome of its last attempt is unknown "
                f"(it may have been delivered): {last.removesuffix(MAY_HAVE_ARRIVED)}"
            )
        return f"gave up after {self.span} of temporary failures; last: {last}"

    async def give_up(self, db: Db) -> list[FailedDelivery]:
        """Pending deliveries past the lifetime: failed, each said in one log line."""
        if self.seconds is None:
            return []
        seconds, why = self.seconds, self.why
        given: list[FailedDelivery] = await db(lambda lg: lg.give_up_pending(seconds, why))
        for failed in given:
            log.warning("%s: %s", failed.email, failed.error)  # (the log formatter escapes control characters)
        return given

    async def give_up_parts(self, db: Db) -> list[ChannelRow]:
        """Pending chat message parts past the lifetime: failed, each said in one log line."""
        if self.seconds is None:
            return []
        seconds = self.seconds

        def why(last: str | None) -> str:
            return self.why(last, never=NEVER_POSTED)

        given: list[ChannelRow] = await db(lambda lg: lg.give_up_channel_parts(seconds, why))
        for part in given:
            log.warning("%s %s (%d/%d): %s", part.email, part.channel, part.part, part.parts, part.error)
        return given
