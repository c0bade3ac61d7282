"""Claims of the PostgreSQL ledger alone (SPEC 6d, 9): how many deliveries per second
one throwaway PostgreSQL (Debian's, fsync on, on this machine) hands out and records
when each message costs one claim commit (``FOR UPDATE SKIP LOCKED``, new fence,
lease on the database's clock) and one fenced outcome commit, by claim batch size
(1, 32, 64) and number of claiming processes (1, 2, 4), each with its own connection.
No SMTP, no rendering: the ledger's ceiling, to set beside the senders' own rate.
Prints figures; asserts nothing."""

from __future__ import annotations

import multiprocessing
import os
import time
from datetime import UTC, datetime

from newsletter.store.postgres import PostgresLedger
from tests.claimworkers import bench_worker, plan
from tests.pgserver import TEMPLATE, PgServer

BATCHES = (1, 32, 64)
WORKERS = (1, 2, 4)
DELIVERIES = {1: 1500, 32: 20000, 64: 20000}  # per run: a batch of 1 is fsync-bound, ~2 ms a commit


def _one_run(pg: PgServer, batch: int, workers: int) -> tuple[int, float, float]:
    """(deliveries claimed and recorded, seconds, seconds to plan them)."""
    name = pg.create_database(template=TEMPLATE)
    url = pg.url(name)
    try:
        with PostgresLedger.open(url) as ledger:
            started = time.perf_counter()
            ref = plan(ledger, DELIVERIES[batch], fire_at=datetime(2026, 3, 2, 7, tzinfo=UTC), owner="planner")
            planning = time.perf_counter() - started
        ctx = multiprocessing.get_context("spawn")
        barrier, queue = ctx.Barrier(workers), ctx.Queue()
        procs = [
            ctx.Process(target=bench_worker, args=(url, ref.id, f"w{i}", batch, barrier, queue)) for i in range(workers)
        ]
        for p in procs:
            p.start()
        reports = [queue.get(timeout=600) for _ in procs]
        for p in procs:
            p.join()
        return sum(n for n, _ in reports), max(s for _, s in reports), planning
    finally:
        pg.drop_database(name)


def run() -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"== ledger claims: PostgreSQL, one claim + one fenced outcome commit per message (load {load}) ==")
    with PgServer() as pg:
        pg.make_template()
        print(f"{'batch':>6} {'workers':>8} {'messages':>9} {'seconds':>8} {'messages/s':>11}   planning")
        for batch in BATCHES:
            for workers in WORKERS:
                count, seconds, planning = _one_run(pg, batch, workers)
                print(
                    f"{batch:>6} {workers:>8} {count:>9,} {seconds:>8.2f} {count / seconds:>11,.0f}   "
                    f"{DELIVERIES[batch]:,} rows in {planning:.2f} s"
                )


if __name__ == "__main__":
    run()
