"""Likes and dislikes from the email's links or ``newsletter feedback`` (issue 17), and
the papers' sentence embeddings (issue 24): what similarity matching reads."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from newsletter.base.addresses import address_key
from newsletter.store.records import FeedbackRow
from newsletter.store.sqlite.connection import SqliteStore, requires
from newsletter.store.sqlite.queries import load

Q = load("feedback")


class Feedback(SqliteStore):
    """Likes and dislikes per subscriber and paper (the latest wins), and embeddings."""

    def record_feedback(self, email: str, paper_id: str, action: str, *, title: str, source: str) -> bool:
        """Record ``action`` ("like"/"dislike") of ``paper_id`` for ``email``; True when it changed."""
        if action not in ("like", "dislike"):
            raise ValueError(f"action must be like or dislike, not {action!r}")
        key = address_key(email)
        with self.transaction() as cur:
            row = cur.execute(Q["feedback-action"], (key, paper_id)).fetchone()
            if row is not None and row[0] == action:
                return False
            cur.execute(
                Q["upsert-feedback"],
                (key, paper_id, action, title, source, time.time()),
            )
        return True

    def forget_feedback(self, email: str, paper_id: str) -> bool:
        """Drop the like/dislike of ``paper_id`` for ``email``; True when there was one."""
        with self.transaction() as cur:
            done = cur.execute(Q["forget-feedback"], (address_key(email), paper_id)).rowcount
        return bool(done)

    @requires(7, lambda *_, **__: [])
    def feedback_rows(self, email: str | None = None) -> list[FeedbackRow]:
        """Every recorded like/dislike (of ``email`` only, when given), oldest first."""
        if email is None:
            rows = self.conn.execute(Q["feedback-rows"]).fetchall()
        else:
            rows = self.conn.execute(Q["feedback-rows-of"], (address_key(email),)).fetchall()
        return [FeedbackRow(*row) for row in rows]

    def store_vectors(self, model: str, vectors: Mapping[str, bytes]) -> None:
        """Keep the embedding of each text key (an existing one stays)."""
        now = time.time()
        with self.transaction() as cur:
            cur.executemany(
                Q["store-vectors"],
                ((model, key, blob, now) for key, blob in vectors.items()),
            )

    @requires(10, lambda *_, **__: {})
    def stored_vectors(self, model: str, keys: Iterable[str] | None = None) -> dict[str, bytes]:
        """The stored embeddings of ``model`` (of ``keys`` only, when given): text key -> bytes."""
        if keys is None:
            rows = self.conn.execute(Q["vectors-of-model"], (model,))
            return dict(rows.fetchall())
        sql = Q["vectors-of-keys"]
        return dict(self.rows_in(sql, list(keys), model))
