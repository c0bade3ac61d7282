"""Chat channel message parts in PostgreSQL: the same public methods as the SQLite
ledger's :mod:`newsletter.store.sqlite.channels`."""

from __future__ import annotations

import time
from collections.abc import Sequence

from newsletter.store.postgres.base import Cursor, PgStore
from newsletter.store.records import ChannelRow, NewDelivery

_COLUMNS = "id, delivery_id, email, channel, part, parts, payload, status, attempts, error, updated_at"


def insert_channel_parts(cur: Cursor, items: Sequence[NewDelivery], ids: Sequence[int], now: float) -> None:
    """The chat message parts of deliveries just inserted with ``ids``, ``pending``, in
    the caller's transaction (the one that records the deliveries)."""
    rows = [
        (key, item.email, p.channel, p.part, p.parts, p.payload, now, now)
        for key, item in zip(ids, items, strict=True)
        for p in item.channel_parts
    ]
    if rows:
        cur.executemany(
            "INSERT INTO channel_parts(delivery_id, email, channel, part, parts, payload, status, created_at, "
            "updated_at) VALUES (%s,%s,%s,%s,%s,%s,'pending',%s,%s) "
            "ON CONFLICT (delivery_id, channel, part) DO NOTHING",
            rows,
        )


class Channels(PgStore):
    """The ``channel_parts`` table (its rows are written by
    :meth:`~newsletter.store.postgres.outbox.Outbox.record`, see :func:`insert_channel_parts`)."""

    def pending_channel_parts(self) -> list[ChannelRow]:
        """Every part still to post, in delivery, channel and part order."""
        rows = self._all(
            f"SELECT {_COLUMNS} FROM channel_parts WHERE status = 'pending' ORDER BY delivery_id, channel, part"
        )
        return [ChannelRow(*row) for row in rows]

    def channel_outcome(self, part_id: int, status: str, attempts: int, error: str | None) -> None:
        """Where a part stands after posting it (``pending`` again: it waits for the next pass)."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE channel_parts SET status = %s, attempts = %s, error = %s, updated_at = %s "
                "WHERE id = %s AND status = 'pending'",
                (status, attempts, error, time.time(), part_id),
            )

    def channel_failures(self) -> list[ChannelRow]:
        """The parts a service refused, newest first (``status``)."""
        rows = self._all(
            f"SELECT {_COLUMNS} FROM channel_parts WHERE status = 'failed' ORDER BY updated_at DESC, id DESC"
        )
        return [ChannelRow(*row) for row in rows]
