"""Digests and their papers (the ledger's clock), and files that are not digests."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence

from newsletter.digest import Paper, unique_papers
from newsletter.store.records import DigestRow
from newsletter.store.sqlite.connection import LAST_DIGEST, SqliteStore, requires
from newsletter.store.sqlite.queries import load


def _json_list(values: Sequence[str]) -> str | None:
    return json.dumps(list(values)) if values else None


Q = load("digests")


class Digests(SqliteStore):
    """Digests and their papers (the ledger's clock), and files that are not digests."""

    def has_digest(self, sha256: str) -> bool:
        row = self.conn.execute(Q["has-digest"], (sha256,)).fetchone()
        return row is not None

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
        links to that were not read, a partial one); returns its id."""
        now = time.time()
        with self.transaction() as cur:
            cur.execute(
                Q["insert-digest"],
                (path, sha256, "failed" if error else "ok", len(papers), error, now, _json_list(missing)),
            )
            digest_id = cur.lastrowid
            assert digest_id is not None
            cur.executemany(
                Q["insert-digest-paper"],
                ((digest_id, i, p.id, json.dumps(p.to_json(), ensure_ascii=False)) for i, p in enumerate(papers)),
            )
        return digest_id

    def note_ignored(self, files: Sequence[tuple[str, str]]) -> set[str]:
        """Record files (path, kind) that are not digests; returns the paths not recorded
        before (said once, ever)."""
        now = time.time()
        new: set[str] = set()
        with self.transaction() as cur:
            for path, kind in files:
                cur.execute(Q["note-ignored"], (path, kind, now))
                if cur.rowcount:
                    new.add(path)
        return new

    @requires(11, lambda ledger: ledger.digests_before_11())
    def digests(self) -> list[DigestRow]:
        rows = self.conn.execute(Q["digests"])
        return [
            DigestRow(id_, path, sha, status, papers, error, seen, tuple(json.loads(missing)) if missing else ())
            for id_, path, sha, status, papers, error, seen, missing in rows
        ]

    def digests_before_11(self) -> list[DigestRow]:
        """:meth:`digests` of a ledger from before version 11 (no missing ids)."""
        rows = self.conn.execute(Q["digests-before-11"])
        return [DigestRow(*row) for row in rows]

    def last_digest_id(self) -> int:
        row = self.conn.execute(LAST_DIGEST).fetchone()
        return int(row[0])

    def papers_after(self, horizon: int, upto: int | None = None) -> list[Paper]:
        """Papers of the ok digests with ``horizon < id <= upto``, in pick-up then digest
        order, each paper once (at its first occurrence, merged with its later records:
        same arXiv id or same normalised title, SPEC 2.4)."""
        upto = self.last_digest_id() if upto is None else upto
        rows = self.conn.execute(
            Q["papers-after"],
            (horizon, upto),
        )
        return list(unique_papers(Paper.from_json(json.loads(record)) for _, record in rows))

    def papers_by_id(self, ids: Iterable[str]) -> dict[str, Paper]:
        """The paper of each id, for the archive: every record of it merged in pick-up
        order (the richest value of each field, SPEC 2.4), as the email was rendered
        from the records of its digests (a Hugging Face record and an arXiv record of
        one paper share its arXiv id)."""
        wanted = list(dict.fromkeys(ids))
        records: dict[str, list[Paper]] = {}
        for key, record in self.rows_in(
            Q["papers-by-id"],
            wanted,
        ):
            records.setdefault(key, []).append(Paper.from_json(json.loads(record)))
        out: dict[str, Paper] = {}
        for key, found in records.items():
            merged = unique_papers(found)
            out[key] = merged[0] if len(merged) == 1 else found[-1]
        return out
