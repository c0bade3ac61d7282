"""Unsubscribed, paused and bounced addresses."""

from __future__ import annotations

import time
from collections.abc import Iterable

from newsletter.base.addresses import Suppressions, address_key
from newsletter.store.records import DeliveryRef, Suppression
from newsletter.store.sqlite.connection import LAST_DIGEST, SqliteStore, requires
from newsletter.store.sqlite.queries import load

Q = load("suppressions")


class SuppressionList(SqliteStore):
    """Unsubscribed, paused and bounced addresses."""

    def suppress(self, email: str, *, source: str, until: float | None = None) -> bool:
        """Suppress ``email`` (for good, or until ``until`` for a pause). A pause never
        shortens an active unsubscribe for good. Returns True when the address was
        not suppressed before (idempotent otherwise)."""
        key = address_key(email)
        now = time.time()
        with self.transaction() as cur:
            row = cur.execute(Q["suppression-until"], (key,)).fetchone()
            active = row is not None and (row[0] is None or row[0] > now)
            if active and row is not None and row[0] is None and until is not None:
                return False  # unsubscribed for good: a pause does not lift that
            cur.execute(
                Q["upsert-suppression"],
                (key, now, source, until),
            )
            return not active

    def unsuppress(self, email: str, *, horizon: bool = True) -> bool:
        """Lift an active suppression; True when there was one. With ``horizon`` the
        address starts again from the digests picked up from now on (no backlog)."""
        key = address_key(email)
        now = time.time()
        with self.transaction() as cur:
            row = cur.execute(Q["suppression-until"], (key,)).fetchone()
            cur.execute(Q["delete-suppression"], (key,))
            cur.execute(Q["clear-bounces"], (key,))  # a fresh start
            active = row is not None and (row[0] is None or row[0] > now)
            if active and horizon:
                last = cur.execute(LAST_DIGEST).fetchone()[0]
                cur.execute(Q["advance-horizon-of-key"], (last, key))
            return active

    @requires(2, lambda *_, **__: None)
    def suppression(self, email: str, *, now: float | None = None) -> Suppression | None:
        """The active suppression of ``email``, if any."""
        clock = time.time() if now is None else now
        row = self.conn.execute(
            Q["suppression"],
            (address_key(email), clock),
        ).fetchone()
        return None if row is None else Suppression(*row)

    def suppressions(self, *, now: float | None = None) -> Suppressions:
        """The actively suppressed addresses as one value (``.active(email)``, ``.filter(subs)``)."""
        return Suppressions(frozenset(self.suppressed(now=now)))

    @requires(2, lambda *_, **__: set())
    def suppressed(self, *, now: float | None = None) -> set[str]:
        """Every actively suppressed address, by its key
        (:func:`~newsletter.base.addresses.address_key`)."""
        clock = time.time() if now is None else now
        return {r[0] for r in self.conn.execute(Q["suppressed"], (clock,))}

    @requires(2, lambda *_, **__: {"suppressed": 0, "paused": 0})
    def suppression_counts(self, *, now: float | None = None) -> dict[str, int]:
        """``{"suppressed": active suppressions, "paused": those of them that end}``."""
        clock = time.time() if now is None else now
        total, paused = self.conn.execute(Q["suppression-counts"], (clock,)).fetchone()
        return {"suppressed": int(total), "paused": int(paused)}

    def cancel_suppressed(self, ids: Iterable[int] | None = None) -> list[DeliveryRef]:
        """Mark pending deliveries to suppressed addresses ``failed`` with the error
        ``unsubscribed`` (``bounced`` for an address suppressed for bouncing; never
        re-sent); ``ids``: only these. Returns (id, email)."""
        now = time.time()
        with self.transaction() as cur:
            rows = cur.execute(
                Q["pending-to-suppressed"],
                (now,),
            ).fetchall()
            wanted = None if ids is None else set(ids)
            chosen = [(i, e, src) for i, e, src in rows if wanted is None or i in wanted]
            cur.executemany(
                Q["cancel-delivery"],
                (("bounced" if src == "bounced" else "unsubscribed", now, i) for i, _, src in chosen),
            )
        return [DeliveryRef(i, e) for i, e, _ in chosen]
