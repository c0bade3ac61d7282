"""Passes: started, planned, finished, or interrupted (for the next start to finish)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from newsletter.store.records import UnfinishedRun
from newsletter.store.sqlite.connection import SqliteStore
from newsletter.store.sqlite.queries import load

Q = load("runs")


class Runs(SqliteStore):
    """Passes: started, planned, finished, or interrupted (for the next start to finish)."""

    def start_run(self, serving: Sequence[str] | None = None, resumes: Sequence[int] = ()) -> int:
        """A pass starts: recorded unfinished until :meth:`finish_run`. ``serving``: the
        addresses it serves (None: everybody); ``resumes``: unfinished runs it takes
        over (they count as finished once this one is recorded)."""
        with self.transaction() as cur:
            cur.execute(
                Q["insert-run"],
                (time.time(), None if serving is None else json.dumps(list(serving))),
            )
            run_id = cur.lastrowid
            assert run_id is not None
            cur.executemany(Q["mark-resumed"], ((run_id, r) for r in resumes))
            return run_id

    def plan_run(self, run_id: int, upto: int) -> None:
        """The pass delivers the digests up to ``upto``: a subscriber it serves whose
        horizon is below that has not been reached yet."""
        self.conn.execute(Q["plan-run"], (upto, run_id))

    def unfinished_runs(self) -> list[UnfinishedRun]:
        """Passes interrupted (SIGTERM, crash, a full disk) that no later pass took over."""
        rows = self.conn.execute(Q["unfinished-runs"])
        return [
            UnfinishedRun(i, started, None if serving is None else tuple(json.loads(serving)), upto)
            for i, started, serving, upto in rows
        ]

    def finish_run(self, run_id: int, sent: int, failed: int, pending: int, finished: bool = True) -> None:
        """The counts of a pass; ``finished`` False: it stopped before serving everyone
        it set out to (it stays unfinished, for the next start to finish)."""
        with self.transaction() as cur:
            cur.execute(
                Q["finish-run"],
                (time.time() if finished else None, sent, failed, pending, run_id),
            )

    def last_run(self) -> float | None:
        row = self.conn.execute(Q["last-run"]).fetchone()
        return None if row[0] is None else float(row[0])

    def runs_since(self, since: float) -> list[tuple[str, ...] | None]:
        """Whom each pass started at ``since`` or later served (None: everybody)."""
        rows = self.conn.execute(Q["runs-since"], (since,))
        return [None if serving is None else tuple(json.loads(serving)) for (serving,) in rows]
