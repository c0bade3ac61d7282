"""What ``newsletter fetch`` remembers of each source (HTTP validators, outcomes)."""

from __future__ import annotations

from newsletter.store.records import FetchState
from newsletter.store.sqlite.connection import SqliteStore, requires
from newsletter.store.sqlite.queries import load

Q = load("fetches")


class Fetches(SqliteStore):
    """What ``newsletter fetch`` remembers of each source (HTTP validators, outcomes)."""

    @requires(5, lambda *_, **__: {})
    def fetch_states(self) -> dict[str, FetchState]:
        """Every source's fetch state by source key (empty on a ledger from before fetch)."""
        rows = self.conn.execute(Q["fetch-states"])
        return {row[0]: FetchState(*row) for row in rows}

    def record_fetch(self, state: FetchState) -> None:
        """Store a source's latest fetch (replacing the previous one)."""
        with self.transaction() as cur:
            cur.execute(
                Q["record-fetch"],
                (
                    state.source,
                    state.url,
                    state.etag,
                    state.last_modified,
                    state.checked_at,
                    state.outcome,
                    state.detail,
                    state.http_status,
                    state.ok_at,
                ),
            )
