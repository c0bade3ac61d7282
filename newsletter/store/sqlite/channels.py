"""Chat channel message parts (SPEC 2.5, :mod:`newsletter.delivery.channels`): recorded
``pending`` with their delivery (:meth:`~.outbox.Outbox.record`, one transaction: a
crash never leaves a delivery without its parts) before they are posted, then ``sent``
or ``failed``; a part is never posted again once ``sent`` (the outcome only ever moves
a ``pending`` row)."""

from __future__ import annotations

import time
from collections.abc import Callable

from newsletter.store.records import ChannelRow
from newsletter.store.sqlite.connection import SqliteStore, requires
from newsletter.store.sqlite.queries import load

Q = load("channels")


class Channels(SqliteStore):
    """The ``channel_parts`` table."""

    @requires(14, lambda *_, **__: [])
    def pending_channel_parts(self) -> list[ChannelRow]:
        """Every part still to post, in delivery, channel and part order."""
        return [ChannelRow(*row) for row in self.conn.execute(Q["pending"])]

    def channel_outcome(self, part_id: int, status: str, attempts: int, error: str | None) -> None:
        """Where a part stands after posting it (``pending`` again: it waits for the next pass)."""
        with self.transaction() as cur:
            cur.execute(Q["outcome"], (status, attempts, error, time.time(), part_id))

    @requires(14, lambda *_, **__: [])
    def channel_failures(self) -> list[ChannelRow]:
        """The parts a service refused, newest first (``status``)."""
        return [ChannelRow(*row) for row in self.conn.execute(Q["failures"])]

    @requires(14, lambda *_, **__: [])
    def give_up_channel_parts(
        self, lifetime: float, why: Callable[[str | None], str], now: float | None = None
    ) -> list[ChannelRow]:
        """Parts first recorded ``pending`` at least ``lifetime`` seconds before ``now``
        (default: this host's clock) become ``failed`` with the error ``why(last error)``;
        returns them as they now stand."""
        now = time.time() if now is None else now
        given: list[ChannelRow] = []
        with self.transaction() as cur:
            for row in cur.execute(Q["pending-since"], (now - lifetime,)).fetchall():
                part = ChannelRow(*row)
                given.append(part._replace(status="failed", error=why(part.error), updated_at=now))
                cur.execute(Q["give-up"], (given[-1].error, now, part.id))
        return given
