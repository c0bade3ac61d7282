"""Digests, their papers, and subscribers with their horizon, in PostgreSQL.

Digest ids are the ledger's clock: a subscriber's horizon is the last digest id
considered for it. With several hosts picking up digests, an id must never become
visible after a larger one was (a pass planned in between would move horizons past
it and never deliver its papers): :meth:`record_digest` takes a transaction-level
advisory lock, so ids are handed out and committed in one order. The same content
(by SHA-256) recorded by two hosts is one digest: the second gets the first's id.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence

from newsletter.base.addresses import address_key, by_key
from newsletter.digest import Paper, unique_papers
from newsletter.store import DigestRow, SubscriberRow
from newsletter.store.postgres.base import PgStore
from newsletter.store.postgres.connection import DIGEST_LOCK, LOCK_SPACE

LAST_DIGEST = "SELECT COALESCE(MAX(id), 0) FROM digests"

# the papers of deliveries given up by the queue lifetime since a time (and picked up since
# then), of addresses with no delivery recorded since the give-up (the first one recorded
# after it took them); not when a chat part of it was posted (they were seen there)
_CARRIED = """
SELECT g.email_key, u.p FROM deliveries g CROSS JOIN LATERAL unnest(g.papers) WITH ORDINALITY AS u(p, n)
 WHERE g.given_up_at >= %(since)s AND g.email_key = ANY(%(keys)s)
   AND EXISTS (SELECT 1 FROM digest_papers dp JOIN digests dg ON dg.id = dp.digest_id
                WHERE dp.paper_id = u.p AND dg.seen_at >= %(since)s)
   AND NOT EXISTS (SELECT 1 FROM deliveries d
                    WHERE d.email_key = g.email_key AND d.id > g.id AND d.created_at >= g.given_up_at)
   AND NOT EXISTS (SELECT 1 FROM channel_parts c WHERE c.delivery_id = g.id AND c.status = 'sent')
 ORDER BY g.id, u.n
"""


def _json_list(values: Sequence[str]) -> str | None:
    return json.dumps(list(values)) if values else None


class Digests(PgStore):
    """Items 4 and 5 of the ledger: digests and papers, subscribers and horizons."""

    # ------------------------------------------------------------------ digests

    def has_digest(self, sha256: str) -> bool:
        return self._one("SELECT 1 FROM digests WHERE sha256 = %s", (sha256,)) is not None

    def record_digest(
        self,
        *,
        path: str,
        sha256: str,
        papers: Sequence[Paper] = (),
        error: str | None = None,
        missing: Sequence[str] = (),
    ) -> int:
        """Record a digest picked up (``error`` set: a failed one; ``missing``: the ids it
        links to that were not read, a partial one); returns its id (the existing one
        when another host recorded the same content first)."""
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, DIGEST_LOCK))
            cur.execute(
                "INSERT INTO digests(path, sha256, status, papers, error, seen_at, missing) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (sha256) DO NOTHING RETURNING id",
                (path, sha256, "failed" if error else "ok", len(papers), error, time.time(), _json_list(missing)),
            )
            row = cur.fetchone()
            if row is None:
                cur.execute("SELECT id FROM digests WHERE sha256 = %s", (sha256,))
                found = cur.fetchone()
                assert found is not None
                return int(found[0])
            digest_id = int(row[0])
            cur.executemany(
                "INSERT INTO digest_papers(digest_id, position, paper_id, record) VALUES (%s,%s,%s,%s)",
                [(digest_id, i, p.id, json.dumps(p.to_json(), ensure_ascii=False)) for i, p in enumerate(papers)],
            )
        return digest_id

    def digests(self) -> list[DigestRow]:
        rows = self._all("SELECT id, path, sha256, status, papers, error, seen_at, missing FROM digests ORDER BY id")
        return [
            DigestRow(
                int(r[0]), r[1], r[2], r[3], int(r[4]), r[5], float(r[6]), tuple(json.loads(r[7]) if r[7] else ())
            )
            for r in rows
        ]

    def note_ignored(self, files: Sequence[tuple[str, str]]) -> set[str]:
        """Record files (path, kind) that are not digests; returns the paths not recorded
        before (said once, ever, by whichever host saw them first)."""
        now = time.time()
        new: set[str] = set()
        with self._tx() as cur:
            for path, kind in files:
                cur.execute(
                    "INSERT INTO ignored_files(path, kind, seen_at) VALUES (%s,%s,%s) ON CONFLICT (path) DO NOTHING",
                    (path, kind, now),
                )
                if cur.rowcount:
                    new.add(path)
        return new

    def store_vectors(self, model: str, vectors: Mapping[str, bytes]) -> None:
        """Keep the embedding of each text key (an existing one stays)."""
        now = time.time()
        with self._tx() as cur:
            cur.executemany(
                "INSERT INTO paper_vectors(model, text_key, vector, created_at) VALUES (%s,%s,%s,%s) "
                "ON CONFLICT (model, text_key) DO NOTHING",
                [(model, key, blob, now) for key, blob in vectors.items()],
            )

    def stored_vectors(self, model: str, keys: Iterable[str] | None = None) -> dict[str, bytes]:
        """The stored embeddings of ``model`` (of ``keys`` only, when given): text key -> bytes."""
        if keys is None:
            rows = self._all("SELECT text_key, vector FROM paper_vectors WHERE model = %s", (model,))
        else:
            rows = self._all(
                "SELECT text_key, vector FROM paper_vectors WHERE model = %s AND text_key = ANY(%s)",
                (model, list(keys)),
            )
        return {key: bytes(blob) for key, blob in rows}

    def last_digest_id(self) -> int:
        return int(self._scalar(LAST_DIGEST))

    def papers_after(self, horizon: int, upto: int | None = None) -> list[Paper]:
        """Papers of the ok digests with ``horizon < id <= upto``, in pick-up then digest
        order, each paper once (merged with its later records, SPEC 2.4)."""
        upto = self.last_digest_id() if upto is None else upto
        rows = self._all(
            "SELECT dp.record FROM digest_papers dp JOIN digests d ON d.id = dp.digest_id "
            "WHERE d.status = 'ok' AND d.id > %s AND d.id <= %s ORDER BY d.id, dp.position",
            (horizon, upto),
        )
        return list(unique_papers(Paper.from_json(json.loads(r[0])) for r in rows))

    def papers_by_id(self, ids: Iterable[str]) -> dict[str, Paper]:
        """The recorded paper of each id (its latest record), for the archive."""
        wanted = list(dict.fromkeys(ids))
        out: dict[str, Paper] = {}
        for key, record in self._all(
            "SELECT paper_id, record FROM digest_papers WHERE paper_id = ANY(%s) ORDER BY digest_id, position",
            (wanted,),
        ):
            out[key] = Paper.from_json(json.loads(record))
        return out

    # ------------------------------------------------------------------ subscribers

    def register_subscribers(self, emails: Iterable[str]) -> int:
        """Addresses not seen before start at the current digest horizon. Returns how
        many were new."""
        keys = list(by_key(emails))
        with self._tx() as cur:
            cur.execute(
                f"INSERT INTO subscribers(email, first_seen, horizon) SELECT k, %s, ({LAST_DIGEST}) "
                "FROM unnest(%s::text[]) k ON CONFLICT (email) DO NOTHING",
                (time.time(), keys),
            )
            return cur.rowcount

    def horizons(self, emails: Iterable[str]) -> dict[str, int]:
        return {e: int(row[1]) for e, row in self._subscribers(emails)}

    def subscriber_rows(self, emails: Iterable[str]) -> dict[str, SubscriberRow]:
        """Per known address: (first seen, horizon)."""
        return {e: SubscriberRow(float(row[0]), int(row[1])) for e, row in self._subscribers(emails)}

    def _subscribers(self, emails: Iterable[str]) -> list[tuple[str, tuple[float, int]]]:
        keyed = by_key(emails)
        rows = self._all("SELECT email, first_seen, horizon FROM subscribers WHERE email = ANY(%s)", (list(keyed),))
        return [(e, (first, horizon)) for key, first, horizon in rows for e in keyed[key]]

    def advance(self, emails: Iterable[str], horizon: int) -> None:
        """Mark digests up to ``horizon`` as considered for addresses that get nothing."""
        self.conn.execute(
            "UPDATE subscribers SET horizon = GREATEST(horizon, %s) WHERE email = ANY(%s)",
            (horizon, list(by_key(emails))),
        )

    def excluded_papers(self, emails: Iterable[str]) -> dict[str, set[str]]:
        """Per address: papers already sent, plus papers of its deliveries waiting or in
        flight (pending or claimed: they go out with those, never in a second email)."""
        keyed = by_key(emails)
        found: dict[str, set[str]] = {k: set() for k in keyed}
        for key, paper in self._all("SELECT email, paper_id FROM sent_papers WHERE email = ANY(%s)", (list(keyed),)):
            found[key].add(paper)
        for key, papers in self._all(
            "SELECT email_key, papers FROM deliveries WHERE status IN ('pending', 'claimed') AND email_key = ANY(%s)",
            (list(keyed),),
        ):
            found[key].update(papers)
        return {e: set(found[k]) for k, spellings in keyed.items() for e in spellings}

    def carried_papers(self, emails: Iterable[str], within: float, now: float | None = None) -> dict[str, list[str]]:
        """Per address (those with any): the papers of its deliveries given up by the queue
        lifetime, with no delivery of it recorded since (what its next delivery carries),
        of the digests picked up at most ``within`` seconds before ``now`` (default: this
        host's clock, as every ``created_at``, ``seen_at`` and give-up). Oldest delivery
        first, each paper once. Not a delivery one of whose chat message parts was posted:
        its papers were seen there (carried, they would be posted to that channel again)."""
        since = (time.time() if now is None else now) - within
        if self._one("SELECT 1 FROM deliveries WHERE given_up_at >= %s LIMIT 1", (since,)) is None:
            return {}  # (most passes: nobody's delivery given up lately; the partial index says so)
        keyed = by_key(emails)
        found: dict[str, list[str]] = {}
        for key, paper in self._all(_CARRIED, {"since": since, "keys": list(keyed)}):
            found.setdefault(key, []).append(paper)
        return {e: list(dict.fromkeys(found[k])) for k, spellings in keyed.items() if k in found for e in spellings}

    def backfill(self, emails: Iterable[str]) -> list[str]:
        """Give addresses that never had a delivery the latest ok digest: their horizon
        moves back to just before it (registering them when new). Returns the
        addresses whose horizon moved."""
        now = time.time()
        moved: list[str] = []
        with self._tx() as cur:
            cur.execute("SELECT MAX(id) FROM digests WHERE status = 'ok'")
            row = cur.fetchone()
            if row is None or row[0] is None:
                return []
            start = int(row[0]) - 1
            for email in emails:
                key = address_key(email)
                cur.execute("SELECT 1 FROM deliveries WHERE email_key = %s LIMIT 1", (key,))
                if cur.fetchone():
                    continue
                cur.execute(
                    f"INSERT INTO subscribers(email, first_seen, horizon) VALUES (%s, %s, ({LAST_DIGEST})) "
                    "ON CONFLICT (email) DO NOTHING",
                    (key, now),
                )
                cur.execute(
                    "UPDATE subscribers SET horizon = %s WHERE email = %s AND horizon > %s", (start, key, start)
                )
                if cur.rowcount:
                    moved.append(email)
        return moved
