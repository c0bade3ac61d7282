"""Every address seen, with its horizon (the last digest already considered for it)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from newsletter.base.addresses import address_key, by_key
from newsletter.store.records import LastDelivery, SubscriberRow
from newsletter.store.sqlite.connection import LAST_DIGEST, SqliteStore, requires
from newsletter.store.sqlite.queries import load

Q = load("subscribers")


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
                Q["register-subscribers"],
                ((e, address_key(e), now, horizon) for e in emails),
            )
            return self.conn.total_changes - before

    def horizons(self, emails: Iterable[str]) -> dict[str, int]:
        wanted = list(emails)
        out: dict[str, int] = {}
        for email, horizon in self.rows_in(Q["horizons"], wanted):
            out[email] = horizon
        return out

    @requires(13, lambda ledger, emails: ledger.excluded_papers_before_13(list(emails)))
    def excluded_papers(self, emails: Iterable[str]) -> dict[str, set[str]]:
        """Per address: papers already sent, plus papers of its pending deliveries
        (they will go out with those, never in a second email); looked up by the address
        key, so any spelling of an address gets what was sent under another."""
        wanted = list(emails)
        keyed = by_key(wanted)
        out: dict[str, set[str]] = {e: set() for e in wanted}
        for key, paper in self.rows_in(Q["sent-papers-of"], list(keyed)):
            for email in keyed[key]:
                out[email].add(paper)
        for key, papers in self.rows_in(Q["pending-papers-of"], list(keyed)):
            for email in keyed[key]:
                out[email].update(json.loads(papers))
        return out

    def excluded_papers_before_13(self, wanted: list[str]) -> dict[str, set[str]]:
        """:meth:`excluded_papers` of a ledger older than 13 opened read-only (rows by spelling)."""
        out: dict[str, set[str]] = {e: set() for e in wanted}
        for email, paper in self.rows_in(Q["sent-papers-of-before-13"], wanted):
            out[email].add(paper)
        for email, papers in self.rows_in(Q["pending-papers-of-before-13"], wanted):
            out[email].update(json.loads(papers))
        return out

    @requires(17, lambda *_, **__: {})
    def carried_papers(self, emails: Iterable[str], within: float, now: float | None = None) -> dict[str, list[str]]:
        """Per address (those with any): the papers of its deliveries given up by the queue
        lifetime, with no delivery of it recorded since (what its next delivery carries,
        :func:`newsletter.delivery.plan.compute_deliveries`), of the digests picked up at
        most ``within`` seconds before ``now`` (default: this host's clock, the one that
        recorded them). Oldest delivery first, each paper once; a delivery refused for
        good is never here, nor one of whose chat message parts was posted (its papers
        were seen there; carried, they would be posted to that channel again)."""
        since = (time.time() if now is None else now) - within
        if self.conn.execute(Q["any-given-up"], (since,)).fetchone() is None:
            return {}  # (most passes: nobody's delivery given up lately)
        wanted = list(emails)
        keyed = by_key(wanted)
        out: dict[str, list[str]] = {}
        for key, paper in self.rows_in(Q["carried-papers-of"], list(keyed), since, since):
            for email in keyed[key]:
                out.setdefault(email, []).append(paper)
        return {email: list(dict.fromkeys(papers)) for email, papers in out.items()}

    def advance(self, emails: Iterable[str], horizon: int) -> None:
        """Mark digests up to ``horizon`` as considered for addresses that get nothing."""
        with self.transaction() as cur:
            cur.executemany(Q["advance"], ((horizon, e) for e in emails))

    def subscriber_rows(self, emails: Iterable[str]) -> dict[str, SubscriberRow]:
        """Per known address: (first seen, horizon)."""
        wanted = list(emails)
        out: dict[str, SubscriberRow] = {}
        for email, first, horizon in self.rows_in(Q["subscriber-rows"], wanted):
            out[email] = SubscriberRow(float(first), int(horizon))
        return out

    def backfill(self, emails: Iterable[str]) -> list[str]:
        """Give addresses that never had a delivery the latest ok digest: their horizon
        moves back to just before it (registering them when new). Returns the addresses
        whose horizon moved. Papers already sent stay excluded as always."""
        now = time.time()
        moved = []
        with self.transaction() as cur:
            row = cur.execute(Q["latest-ok-digest"]).fetchone()
            if row[0] is None:
                return []
            start = int(row[0]) - 1
            last = cur.execute(LAST_DIGEST).fetchone()[0]
            for email in emails:
                if cur.execute(Q["has-delivery"], (email,)).fetchone():
                    continue
                cur.execute(Q["register-one"], (email, address_key(email), now, last))
                cur.execute(Q["move-horizon-back"], (start, email, start))
                if cur.rowcount:
                    moved.append(email)
        return moved

    def last_deliveries(self) -> dict[str, LastDelivery]:
        """Per address (as the ledger spells it): the status and time of its latest delivery."""
        rows = self.conn.execute(Q["last-deliveries"])
        return {email: LastDelivery(status, float(at)) for email, status, at in rows}
