"""Deliveries (the outbox) and runs, in PostgreSQL: the same public methods as the
SQLite ledger's, on the same records.

:meth:`Outbox.record` is the write path of one process that owns its deliveries (the
SQLite model: one pass at a time). Several senders record through the fenced
:meth:`~newsletter.store.postgres.claims.Claims.record_claimed` instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from newsletter.base.addresses import address_key
from newsletter.store import (
    DeliveryRef,
    FailedDelivery,
    LastDelivery,
    NewDelivery,
    Outcome,
    PendingDelivery,
    SentIssue,
    UnfinishedRun,
)
from newsletter.store.postgres.base import DB_NOW, Cursor, PgStore
from newsletter.store.postgres.channels import insert_channel_parts

INSERT_DELIVERY = (
    "INSERT INTO deliveries(pass_id, email, email_key, message_id, status, attempts, created_at, updated_at, "
    "horizon, papers, sender, size, message) VALUES (%s,%s,%s,%s,'pending',0,%s,%s,%s,%s,%s,%s,%s)"
)

# the outcomes of one process's deliveries (unfenced): accepted ones drop their bytes and
# record their papers as sent, in the same statement
_SENT = """
WITH o AS (SELECT * FROM unnest(%(ids)s::bigint[], %(attempts)s::int[]) AS o(id, attempts)),
s AS (
    UPDATE deliveries d SET status = 'sent', attempts = d.attempts + o.attempts, updated_at = %(now)s,
           sent_at = %(now)s, last_error = NULL, message = NULL, lease_until = NULL
      FROM o WHERE d.id = o.id
    RETURNING d.id, d.email_key, d.papers
)
INSERT INTO sent_papers(email, paper_id, delivery_id)
SELECT s.email_key, p, s.id FROM s, unnest(s.papers) AS p ON CONFLICT DO NOTHING
"""
_UNSENT = """
UPDATE deliveries d SET status = o.status, attempts = d.attempts + o.attempts, last_error = o.error,
       updated_at = %(now)s, lease_until = NULL
  FROM unnest(%(ids)s::bigint[], %(statuses)s::text[], %(attempts)s::int[], %(errors)s::text[])
       AS o(id, status, attempts, error)
 WHERE d.id = o.id
"""

# pending (not claimed: a claim's holder decides) since the lifetime's start
_OLD_PENDING = f"""
SELECT id, email, last_error FROM deliveries
 WHERE status = 'pending' AND created_at <= {DB_NOW} - %(lifetime)s
 ORDER BY id FOR UPDATE SKIP LOCKED
"""
_GIVE_UP = """
UPDATE deliveries d SET status = 'failed', last_error = o.error, updated_at = %(at)s, given_up_at = %(at)s,
       lease_until = NULL
  FROM unnest(%(ids)s::bigint[], %(errors)s::text[]) AS o(id, error)
 WHERE d.id = o.id AND d.status = 'pending'
"""


def delivery_row(item: NewDelivery, now: float, horizon: int, pass_id: int | None) -> tuple[Any, ...]:
    """The values of :data:`INSERT_DELIVERY` (no bytes yet: stored NULL, rendered later)."""
    return (
        pass_id,
        item.email,
        address_key(item.email),
        item.message_id,
        now,
        now,
        horizon,
        list(item.paper_ids),
        item.sender,
        len(item.message),
        item.message or None,
    )


def insert_deliveries(cur: Cursor, rows: Sequence[tuple[Any, ...]]) -> list[int]:
    """Insert delivery rows; returns their ids in order."""
    if not rows:
        return []
    cur.executemany(INSERT_DELIVERY + " RETURNING id", rows, returning=True)
    ids: list[int] = []
    while True:
        row = cur.fetchone()
        assert row is not None
        ids.append(int(row[0]))
        if not cur.nextset():
            return ids


def advance_horizons(cur: Cursor, keys: Sequence[str], horizon: int) -> None:
    cur.execute("UPDATE subscribers SET horizon = GREATEST(horizon, %s) WHERE email = ANY(%s)", (horizon, list(keys)))


def record_outcomes(cur: Cursor, now: float, outcomes: Sequence[Outcome]) -> None:
    """The outcomes of SMTP transactions: ``sent`` (papers recorded as sent, bytes dropped),
    or ``failed``/``pending`` with the error kept."""
    unsent = [o for o in outcomes if o.status != "sent"]
    if unsent:
        cur.execute(
            _UNSENT,
            {
                "now": now,
                "ids": [o.id for o in unsent],
                "statuses": [o.status for o in unsent],
                "attempts": [o.attempts for o in unsent],
                "errors": [o.error for o in unsent],
            },
        )
    sent = [o for o in outcomes if o.status == "sent"]
    if sent:
        cur.execute(_SENT, {"now": now, "ids": [o.id for o in sent], "attempts": [o.attempts for o in sent]})


class Outbox(PgStore):
    """Item 6 of the ledger (deliveries), 10 (runs) and 11 (onboarding)."""

    def record(
        self, new_batches: Sequence[tuple[Sequence[NewDelivery], int]] = (), outcomes: Sequence[Outcome] = ()
    ) -> list[list[int]]:
        """The write path of deliveries of one process, one transaction: each of
        ``new_batches`` (deliveries, horizon) recorded ``pending`` with its chat message
        parts (and its subscribers' horizon moved), each of ``outcomes`` recorded (``sent``: papers recorded as
        sent, bytes dropped; ``failed``/``pending``: the error kept). Returns the new
        delivery ids, per batch."""
        now = time.time()
        with self._tx() as cur:
            ids = []
            for items, horizon in new_batches:
                ids.append(insert_deliveries(cur, [delivery_row(item, now, horizon, None) for item in items]))
                insert_channel_parts(cur, items, ids[-1], now)
                advance_horizons(cur, [address_key(item.email) for item in items], horizon)
            record_outcomes(cur, now, outcomes)
        return ids

    def spool_dir(self) -> Path | None:
        """None: a shared ledger keeps every message's bytes in the database (each host
        renders what it claims, in its own process)."""
        return None

    def settle_spool(self) -> list[FailedDelivery]:
        return []

    def pending_ids(self) -> list[int]:
        return [int(r[0]) for r in self._all("SELECT id FROM deliveries WHERE status = 'pending' ORDER BY id")]

    def give_up_pending(
        self, lifetime: float, why: Callable[[str | None], str], now: float | None = None
    ) -> list[FailedDelivery]:
        """Deliveries first recorded ``pending`` at least ``lifetime`` seconds before
        ``now`` (default: the database's clock, the one every host shares) become
        ``failed`` with the error ``why(last error)``, marked given up (their papers are
        carried: :meth:`~.digests.Digests.carried_papers`); returns (address, error) of
        each. A delivery claimed by a sender is left to it."""
        with self._tx() as cur:
            rows = cur.execute(_OLD_PENDING, {"now": now, "lifetime": lifetime}).fetchall()
            given = [FailedDelivery(email, why(last)) for _, email, last in rows]
            if rows:
                errors = [g.error for g in given]
                cur.execute(_GIVE_UP, {"at": time.time(), "ids": [int(r[0]) for r in rows], "errors": errors})
        return given

    def pendings(self, ids: Sequence[int]) -> list[PendingDelivery]:
        """The recorded pending deliveries with these ids, with their bytes (in the order
        given; ids no longer pending are left out)."""
        rows: dict[int, PendingDelivery] = {}
        for r in self._all(
            "SELECT id, email, message_id, sender, message, attempts FROM deliveries "
            "WHERE status = 'pending' AND message IS NOT NULL AND id = ANY(%s)",
            (list(ids),),
        ):
            rows[int(r[0])] = PendingDelivery(int(r[0]), r[1], r[2], r[3], bytes(r[4]), int(r[5]))
        return [rows[i] for i in ids if i in rows]

    def delivery_counts(self) -> dict[str, int]:
        counts = {"sent": 0, "pending": 0, "failed": 0}
        for status, n in self._all("SELECT status, COUNT(*) FROM deliveries GROUP BY status"):
            counts[status] = int(n)
        return counts

    def delivery_counts_by_email(self) -> dict[str, int]:
        """How many deliveries each address has had (numbers its next Message-ID), under
        every spelling it was delivered to."""
        out: dict[str, int] = {}
        for key, n, spellings in self._all(
            "SELECT email_key, COUNT(*), array_agg(DISTINCT email) FROM deliveries GROUP BY email_key"
        ):
            for email in {key, *spellings}:
                out[email] = int(n)
        return out

    def failed(self) -> list[FailedDelivery]:
        """(email, error) of every failed delivery, oldest first."""
        rows = self._all("SELECT email, last_error FROM deliveries WHERE status = 'failed' ORDER BY id")
        return [FailedDelivery(e, err or "") for e, err in rows]

    def deliveries(self, email: str | None = None) -> list[dict[str, Any]]:
        """Every delivery (without the message bytes), oldest first; for tests and tools."""
        sql = (
            "SELECT id, email, message_id, status, attempts, last_error, created_at, updated_at, sent_at, papers, "
            "size FROM deliveries"
        )
        args: tuple[str, ...] = ()
        if email is not None:
            sql += " WHERE email_key = %s"
            args = (address_key(email),)
        names = ("id", "email", "message_id", "status", "attempts", "last_error", "created_at", "updated_at")
        out = []
        for row in self._all(sql + " ORDER BY id", args):
            item = dict(zip(names, row[:8], strict=True))
            item.update(sent_at=row[8], papers=list(row[9]), size=row[10])
            out.append(item)
        return out

    def sent_issues(self) -> list[SentIssue]:
        """Every accepted delivery (address, Message-ID, when, paper ids), oldest first:
        what the archive is made of, read without the message bytes."""
        rows = self._all(
            "SELECT email, message_id, COALESCE(sent_at, updated_at), papers FROM deliveries "
            "WHERE status = 'sent' ORDER BY id"
        )
        return [SentIssue(e, mid, float(at), tuple(papers)) for e, mid, at, papers in rows]

    def sent_papers(self, email: str) -> set[str]:
        return {r[0] for r in self._all("SELECT paper_id FROM sent_papers WHERE email = %s", (address_key(email),))}

    def last_deliveries(self) -> dict[str, LastDelivery]:
        """Per address (as its latest delivery spells it): the status and time of its
        latest delivery."""
        rows = self._all(
            "SELECT DISTINCT ON (email_key) email, status, COALESCE(sent_at, updated_at) FROM deliveries "
            "ORDER BY email_key, id DESC"
        )
        return {email: LastDelivery(status, float(at)) for email, status, at in rows}

    # ------------------------------------------------------------------ looked up by bounces

    def delivery_for(self, message_id: str) -> DeliveryRef | None:
        """(delivery id, email) of the delivery with this Message-ID (angle brackets optional)."""
        mid = message_id.strip()
        if not mid.startswith("<"):
            mid = f"<{mid}>"
        row = self._one("SELECT id, email FROM deliveries WHERE message_id = %s ORDER BY id DESC LIMIT 1", (mid,))
        return None if row is None else DeliveryRef(int(row[0]), str(row[1]))

    def delivery_by_sender(self, sender: str) -> DeliveryRef | None:
        """(delivery id, email) of the delivery sent with this envelope sender (VERP)."""
        row = self._one(
            "SELECT id, email FROM deliveries WHERE sender = %s ORDER BY id DESC LIMIT 1", (address_key(sender),)
        )
        return None if row is None else DeliveryRef(int(row[0]), str(row[1]))

    def last_delivery_to(self, email: str) -> int | None:
        """The newest delivery sent (or refused) to ``email``."""
        found = self._scalar(
            "SELECT MAX(id) FROM deliveries WHERE email_key = %s AND status IN ('sent', 'failed')",
            (address_key(email),),
        )
        return None if found is None else int(found)

    def cancel_suppressed(self, ids: Iterable[int] | None = None) -> list[DeliveryRef]:
        """Mark pending deliveries to suppressed addresses ``failed`` with the error
        ``unsubscribed`` (``bounced`` for an address suppressed for bouncing); ``ids``:
        only these. Returns (id, email)."""
        now = time.time()
        wanted = None if ids is None else set(ids)
        with self._tx() as cur:
            cur.execute(
                "SELECT d.id, d.email, s.source FROM deliveries d JOIN suppressions s ON s.email = d.email_key "
                "WHERE d.status = 'pending' AND (s.until IS NULL OR s.until > %s) ORDER BY d.id FOR UPDATE OF d",
                (now,),
            )
            chosen = [(int(i), e, src) for i, e, src in cur.fetchall() if wanted is None or i in wanted]
            cur.execute(
                "UPDATE deliveries d SET status = 'failed', last_error = o.error, updated_at = %s, message = NULL "
                "FROM unnest(%s::bigint[], %s::text[]) AS o(id, error) WHERE d.id = o.id AND d.status = 'pending'",
                (
                    now,
                    [i for i, _, _ in chosen],
                    ["bounced" if src == "bounced" else "unsubscribed" for _, _, src in chosen],
                ),
            )
        return [DeliveryRef(i, e) for i, e, _ in chosen]

    # ------------------------------------------------------------------ runs

    def start_run(self, serving: Sequence[str] | None = None, resumes: Sequence[int] = ()) -> int:
        """A pass starts: recorded unfinished until :meth:`finish_run`. ``serving``: the
        addresses it serves (None: everybody); ``resumes``: unfinished runs it takes over."""
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO runs(started_at, serving) VALUES (%s, %s) RETURNING id",
                (time.time(), None if serving is None else json.dumps(list(serving))),
            )
            row = cur.fetchone()
            assert row is not None
            run_id = int(row[0])
            cur.execute(
                "UPDATE runs SET resumed_by = %s WHERE id = ANY(%s) AND finished_at IS NULL", (run_id, list(resumes))
            )
        return run_id

    def plan_run(self, run_id: int, upto: int) -> None:
        """The pass delivers the digests up to ``upto``."""
        self.conn.execute("UPDATE runs SET upto = %s WHERE id = %s", (upto, run_id))

    def unfinished_runs(self) -> list[UnfinishedRun]:
        """Passes interrupted that no later pass took over."""
        rows = self._all(
            "SELECT id, started_at, serving, upto FROM runs WHERE finished_at IS NULL AND resumed_by IS NULL "
            "ORDER BY id"
        )
        return [
            UnfinishedRun(
                int(i), float(started), None if serving is None else tuple(json.loads(serving)), upto and int(upto)
            )
            for i, started, serving, upto in rows
        ]

    def finish_run(self, run_id: int, sent: int, failed: int, pending: int, finished: bool = True) -> None:
        """The counts of a pass; ``finished`` False: it stays unfinished, for the next start."""
        self.conn.execute(
            "UPDATE runs SET finished_at = %s, sent = %s, failed = %s, pending = %s WHERE id = %s",
            (time.time() if finished else None, sent, failed, pending, run_id),
        )

    def last_run(self) -> float | None:
        found = self._scalar("SELECT MAX(started_at) FROM runs")
        return None if found is None else float(found)

    def runs_since(self, since: float) -> list[tuple[str, ...] | None]:
        """Whom each pass started at ``since`` or later served (None: everybody)."""
        rows = self._all("SELECT serving FROM runs WHERE started_at >= %s ORDER BY id", (since,))
        return [None if serving is None else tuple(json.loads(serving)) for (serving,) in rows]

    def checkpoint(self) -> None:
        """Nothing to do: PostgreSQL checkpoints its WAL itself (the SQLite ledger cuts
        its WAL back at the end of a pass)."""
