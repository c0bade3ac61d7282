"""Chat channel message parts in PostgreSQL: the same public methods as the SQLite
ledger's :mod:`newsletter.store.sqlite.channels`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from newsletter.store.postgres.base import DB_NOW, Cursor, PgStore
from newsletter.store.postgres.connection import CHANNEL_LOCK, LOCK_SPACE
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


# pending since the lifetime's start, and held by no sender (no claim, or its lease ended)
_OLD_PARTS = f"""
SELECT {_COLUMNS} FROM channel_parts
 WHERE status = 'pending' AND created_at <= {DB_NOW} - %(lifetime)s
   AND (lease_until IS NULL OR lease_until < {DB_NOW})
 ORDER BY delivery_id, channel, part FOR UPDATE SKIP LOCKED
"""
_GIVE_UP = """
UPDATE channel_parts p SET status = 'failed', error = o.error, updated_at = %(at)s, owner = NULL, lease_until = NULL
  FROM unnest(%(ids)s::bigint[], %(errors)s::text[]) AS o(id, error)
 WHERE p.id = o.id AND p.status = 'pending'
"""


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

    def claim_channel_message(
        self, owner: str, lease_seconds: float, skip: Sequence[tuple[int, str]] = ()
    ) -> list[ChannelRow]:
        """Claim the pending parts of ONE message (a delivery's parts on one channel, not
        one of ``skip``) that nobody holds (no claim, or its lease ended), for
        ``lease_seconds`` a part; ``[]`` when there is none. Claims are taken one host at
        a time (an advisory lock): a message is never split between two hosts nor posted
        by both."""
        now = time.time()
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, CHANNEL_LOCK))
            cur.execute(
                "SELECT delivery_id, channel FROM channel_parts p WHERE status = 'pending' "
                "AND (lease_until IS NULL OR lease_until < %s) AND NOT EXISTS (SELECT 1 FROM "
                "unnest(%s::bigint[], %s::text[]) AS s(d, c) WHERE s.d = p.delivery_id AND s.c = p.channel) "
                "ORDER BY delivery_id, channel, part LIMIT 1",
                (now, [d for d, _ in skip], [c for _, c in skip]),
            )
            found = cur.fetchone()
            if found is None:
                return []
            cur.execute(
                f"UPDATE channel_parts SET owner = %s, lease_until = %s + %s * parts WHERE delivery_id = %s "
                f"AND channel = %s AND status = 'pending' RETURNING {_COLUMNS}",
                (owner, now, lease_seconds, found[0], found[1]),
            )
            rows = sorted(cur.fetchall(), key=lambda r: r[4])
        return [ChannelRow(*row) for row in rows]

    def claimed_channel_outcome(self, part_id: int, owner: str, status: str, attempts: int, error: str | None) -> bool:
        """:meth:`channel_outcome` of a part ``owner`` holds (False: not held any more,
        nothing written). A part not ``sent`` gives its message's claim back: the later
        parts wait, and any host may take the message at its next pass."""
        now = time.time()
        with self._tx() as cur:
            cur.execute(
                "UPDATE channel_parts SET status = %s, attempts = %s, error = %s, updated_at = %s, owner = NULL, "
                "lease_until = NULL WHERE id = %s AND status = 'pending' AND owner = %s "
                "RETURNING delivery_id, channel",
                (status, attempts, error, now, part_id, owner),
            )
            done = cur.fetchone()
            if done is not None and status != "sent":
                cur.execute(
                    "UPDATE channel_parts SET owner = NULL, lease_until = NULL WHERE delivery_id = %s "
                    "AND channel = %s AND owner = %s AND status = 'pending'",
                    (done[0], done[1], owner),
                )
        return done is not None

    def give_up_channel_parts(
        self, lifetime: float, why: Callable[[str | None], str], now: float | None = None
    ) -> list[ChannelRow]:
        """Parts first recorded ``pending`` at least ``lifetime`` seconds before ``now``
        (default: the database's clock) and held by no sender become ``failed`` with the
        error ``why(last error)``; returns them as they now stand."""
        at = time.time()
        with self._tx() as cur:
            rows = [ChannelRow(*r) for r in cur.execute(_OLD_PARTS, {"now": now, "lifetime": lifetime}).fetchall()]
            given = [r._replace(status="failed", error=why(r.error), updated_at=at) for r in rows]
            if given:
                ids, errors = [r.id for r in given], [r.error for r in given]
                cur.execute(_GIVE_UP, {"at": at, "ids": ids, "errors": errors})
        return given
