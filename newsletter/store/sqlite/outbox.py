"""Deliveries: the one write path (:meth:`Outbox.record`), what waits, what went out."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from newsletter.base.addresses import address_key
from newsletter.store.records import FailedDelivery, NewDelivery, Outcome, PendingDelivery, SentIssue
from newsletter.store.spool import Spooled, SpoolError, read_each, remove_spool, spool_dir_for
from newsletter.store.sqlite.connection import SqliteStore, requires
from newsletter.store.sqlite.queries import load

Q = load("outbox")
SETTLE_CHUNK = 64  # spooled messages moved into the ledger per transaction (memory stays bounded)


class Outbox(SqliteStore):
    """Deliveries: the one write path (:meth:`Outbox.record`), what waits, what went out."""

    def delivery_counts_by_email(self) -> dict[str, int]:
        """How many deliveries each address has had (numbers its next Message-ID)."""
        return {e: n for e, n in self.conn.execute(Q["delivery-counts-by-email"])}

    def record(
        self, new_batches: Sequence[tuple[Sequence[NewDelivery], int]] = (), outcomes: Sequence[Outcome] = ()
    ) -> list[list[int]]:
        """The one write path of deliveries, one transaction (one fsync): each of
        ``new_batches`` (deliveries, horizon) recorded ``pending`` with its chat message
        parts (and its subscribers' horizon moved), each of ``outcomes`` recorded (``sent``: papers recorded as sent,
        message bytes dropped; ``failed``/``pending``: the error kept). Returns the new
        delivery ids, per batch."""
        now = time.time()
        if not new_batches and all(o.status == "sent" for o in outcomes):
            self._record_sent(now, outcomes)
            return []
        with self.transaction() as cur:
            ids = [self._insert_pending(cur, now, items, horizon) for items, horizon in new_batches]
            self._record_outcomes(cur, now, outcomes)
        return ids

    def _record_sent(self, now: float, outcomes: Sequence[Outcome]) -> None:
        """The common case of a send: outcomes only, all accepted. One statement, its own
        transaction (the trigger records the papers in it): the ledger thread takes and
        gives back the GIL once rather than per statement."""
        if outcomes:
            self.conn.execute(
                Q["record-sent"],
                (now, json.dumps([(o.id, o.attempts) for o in outcomes])),
            )

    @staticmethod
    def _insert_pending(cur: sqlite3.Cursor, now: float, items: Sequence[NewDelivery], horizon: int) -> list[int]:
        ids: list[int] = []
        parts: list[tuple[Any, ...]] = []
        for item in items:
            spooled = item.spooled
            cur.execute(
                Q["insert-pending"],
                (
                    item.email,
                    address_key(item.email),
                    item.message_id,
                    now,
                    now,
                    horizon,
                    json.dumps(list(item.paper_ids)),
                    item.sender,
                    len(item.message),
                    None if spooled else item.message,  # spooled: the bytes stay in the spool file
                    spooled.file if spooled else None,
                    spooled.offset if spooled else None,
                ),
            )
            assert cur.lastrowid is not None
            ids.append(cur.lastrowid)
            parts.extend(
                (cur.lastrowid, item.email, p.channel, p.part, p.parts, p.payload, now, now) for p in item.channel_parts
            )
        if parts:
            cur.executemany(Q["insert-channel-part"], parts)
        cur.executemany(
            Q["advance-horizon"],
            ((horizon, item.email) for item in items),
        )
        return ids

    @staticmethod
    def _record_outcomes(cur: sqlite3.Cursor, now: float, outcomes: Sequence[Outcome]) -> None:
        unsent = [o for o in outcomes if o.status != "sent"]
        if unsent:
            cur.executemany(
                Q["record-unsent"],
                ((o.status, o.attempts, o.error, now, o.id) for o in unsent),
            )
        sent = [o for o in outcomes if o.status == "sent"]
        if sent:
            # the trigger records their papers in sent_papers
            cur.executemany(
                Q["record-sent-one"],
                ((o.attempts, now, now, o.id) for o in sent),
            )

    def spool_dir(self) -> Path | None:
        """Where render workers spool the messages of a large pass (:mod:`newsletter.store.spool`);
        None for a ledger in memory."""
        return None if str(self.path) == ":memory:" else spool_dir_for(Path(self.path))

    def settle_spool(self) -> list[FailedDelivery]:
        """Move the bytes of the deliveries still ``pending`` from the spool into the
        ledger, then delete the spool (the start and the end of every pass). A delivery
        whose bytes cannot be read back is ``failed`` with the file named; returns those
        (address, error) of each. Chunked: memory stays bounded after a killed large pass."""
        directory = self.spool_dir()
        if directory is None:
            return []
        rows = [(r[0], r[1], Spooled(r[2], r[3], r[4])) for r in self.conn.execute(Q["spooled-pending"])]
        lost: list[FailedDelivery] = []
        for start in range(0, len(rows), SETTLE_CHUNK):
            chunk = rows[start : start + SETTLE_CHUNK]
            found = read_each(directory, [ref for _, _, ref in chunk])  # read before the write lock
            with self.transaction() as cur:
                for (key, email, _), data in zip(chunk, found, strict=True):
                    if isinstance(data, SpoolError):
                        error = f"its message was lost before it was sent: {data}"
                        lost.append(FailedDelivery(email, error))
                        cur.execute(Q["spooled-lost"], (error, time.time(), key))
                    else:
                        cur.execute(Q["absorb-spooled"], (data, key))
        if rows or directory.exists():
            with self.transaction() as cur:
                cur.execute(Q["forget-spool"])
            remove_spool(directory)
        return lost

    def pending_ids(self) -> list[int]:
        return [r[0] for r in self.conn.execute(Q["pending-ids"])]

    def give_up_pending(
        self, lifetime: float, why: Callable[[str | None], str], now: float | None = None
    ) -> list[FailedDelivery]:
        """Deliveries first recorded ``pending`` at least ``lifetime`` seconds before
        ``now`` (default: this host's clock, the one that recorded them) become
        ``failed`` with the error ``why(last error)``, marked given up at ``now`` (their
        papers are carried: :meth:`~.subscribers.Subscribers.carried_papers`); returns
        (address, error) of each."""
        now = time.time() if now is None else now
        given: list[FailedDelivery] = []
        with self.transaction() as cur:
            for key, email, last in cur.execute(Q["pending-since"], (now - lifetime,)).fetchall():
                given.append(FailedDelivery(email, why(last)))
                cur.execute(Q["give-up"], (given[-1].error, now, key))
        return given

    def pendings(self, ids: Sequence[int]) -> list[PendingDelivery]:
        """The recorded pending deliveries with these ids, with their bytes (in the order
        given; ids no longer pending are left out)."""
        rows: dict[int, PendingDelivery] = {}
        for row in self.rows_in(
            Q["pendings"],
            ids,
        ):
            rows[row[0]] = PendingDelivery(row[0], row[1], row[2], row[3], bytes(row[4]), row[5])
        return [rows[i] for i in ids if i in rows]

    def delivery_counts(self) -> dict[str, int]:
        counts = {"sent": 0, "pending": 0, "failed": 0}
        for status, n in self.conn.execute(Q["delivery-counts"]):
            counts[status] = n
        return counts

    def failed(self) -> list[FailedDelivery]:
        """(email, error) of every failed delivery, oldest first."""
        return [FailedDelivery(e, err or "") for e, err in self.conn.execute(Q["failed"])]

    def deliveries(self, email: str | None = None) -> list[dict[str, Any]]:
        """Every delivery (without the message bytes), oldest first; for tests and tools."""
        rows = self.conn.execute(Q["deliveries"]) if email is None else self.conn.execute(Q["deliveries-of"], (email,))
        out = []
        for row in rows:
            out.append(
                {
                    "id": row[0],
                    "email": row[1],
                    "message_id": row[2],
                    "status": row[3],
                    "attempts": row[4],
                    "last_error": row[5],
                    "created_at": row[6],
                    "updated_at": row[7],
                    "sent_at": row[8],
                    "papers": json.loads(row[9]),
                    "size": row[10],
                }
            )
        return out

    def sent_issues(self) -> list[SentIssue]:
        """Every accepted delivery (address, Message-ID, when, paper ids), oldest first:
        what the archive is made of, read without the message bytes."""
        rows = self.conn.execute(Q["sent-issues"])
        return [SentIssue(e, mid, float(at), tuple(json.loads(papers))) for e, mid, at, papers in rows]

    @requires(13, lambda ledger, email: {r[0] for r in ledger.conn.execute(Q["sent-papers-before-13"], (email,))})
    def sent_papers(self, email: str) -> set[str]:
        """The papers ever sent to ``email`` (any spelling of it)."""
        return {r[0] for r in self.conn.execute(Q["sent-papers"], (address_key(email),))}
