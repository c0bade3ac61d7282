"""Every address seen, with its horizon (the last digest already considered for it)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from newsletter.store.records import LastDelivery, SubscriberRow
from newsletter.store.sqlite.connection import LAST_DIGEST, SqliteStore


class Subscribers(SqliteStore):
    """Every address seen, with its horizon (the last digest already considered for it)."""

    def register_subscribers(self, emails: Iterable[str]) -> int:
        """Addresses not seen before start at the current digest horizon (papers of
        digests picked up from now on are new to them). Returns how many were new."""
        now = time.time()
        with self.transaction() as cur:
            horizon = cur.execute(LAST_DIGEST).fetchone()[0]
            before = self.conn.total_changes
            cur.executemany(
                "INSERT OR IGNORE INTO subscribers(email, first_seen, horizon) VALUES (?,?,?)",
                ((e, now, horizon) for e in emails),
            )
            return self.conn.total_changes - before

    def horizons(self, emails: Iterable[str]) -> dict[str, int]:
        wanted = list(emails)
        out: dict[str, int] = {}
        for email, horizon in self.rows_in("SELECT email, horizon FROM subscribers WHERE email IN ({marks})", wanted):
            out[email] = horizon
        return out

    def excluded_papers(self, emails: Iterable[str]) -> dict[str, set[str]]:
        """Per address: papers already sent, plus papers of its pending deliveries
        (they will go out with those, never in a second email)."""
        wanted = list(emails)
        out: dict[str, set[str]] = {e: set() for e in wanted}
        for email, key in self.rows_in("SELECT email, paper_id FROM sent_papers WHERE email IN ({marks})", wanted):
            out[email].add(key)
        pending = "SELECT email, papers FROM deliveries WHERE status = 'pending' AND email IN ({marks})"
        for email, papers in self.rows_in(pending, wanted):
            out[email].update(json.loads(papers))
        return out

    def advance(self, emails: Iterable[str], horizon: int) -> None:
        """Mark digests up to ``horizon`` as considered for addresses that get nothing."""
        with self.transaction() as cur:
            cur.executemany(
                "UPDATE subscribers SET horizon = MAX(horizon, ?) WHERE email = ?", ((horizon, e) for e in emails)
            )

    def subscriber_rows(self, emails: Iterable[str]) -> dict[str, SubscriberRow]:
        """Per known address: (first seen, horizon)."""
        wanted = list(emails)
        out: dict[str, SubscriberRow] = {}
        for email, first, horizon in self.rows_in(
            "SELECT email, first_seen, horizon FROM subscribers WHERE email IN ({marks})", wanted
        ):
            out[email] = SubscriberRow(float(first), int(horizon))
        return out

    def backfill(self, emails: Iterable[str]) -> list[str]:
        """Give addresses that never had a delivery the latest ok digest: their horizon
        moves back to just before it (registering them when new). Returns the addresses
        whose horizon moved. Papers already sent stay excluded as always."""
        now = time.time()
        moved = []
        with self.transaction() as cur:
            row = cur.execute("SELECT MAX(id) FROM digests WHERE status = 'ok'").fetchone()
            if row[0] is None:
                return []
            start = int(row[0]) - 1
            last = cur.execute(LAST_DIGEST).fetchone()[0]
            for email in emails:
                if cur.execute("SELECT 1 FROM deliveries WHERE email = ? LIMIT 1", (email,)).fetchone():
                    continue
                cur.execute(
                    "INSERT OR IGNORE INTO subscribers(email, first_seen, horizon) VALUES (?,?,?)", (email, now, last)
                )
                cur.execute("UPDATE subscribers SET horizon = ? WHERE email = ? AND horizon > ?", (start, email, start))
                if cur.rowcount:
                    moved.append(email)
        return moved

    def last_deliveries(self) -> dict[str, LastDelivery]:
        """Per address (as the ledger spells it): the status and time of its latest delivery."""
        rows = self.conn.execute(
            "SELECT email, status, COALESCE(sent_at, updated_at) FROM deliveries "
            "WHERE id IN (SELECT MAX(id) FROM deliveries GROUP BY email)"
        )
        return {email: LastDelivery(status, float(at)) for email, status, at in rows}
