"""What the separate processes of the claim tests (and the claims benchmark) run: each
opens its own connection to the PostgreSQL ledger, waits at a barrier so that they
all start at once, and reports through a queue. Module-level functions, so that a
``spawn``ed process can import them (no connection or lock inherited by ``fork``)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from newsletter.store import NewDelivery
from newsletter.store.postgres import FencedOutcome, PassPlan, PostgresLedger


def planned_deliveries(n: int, *, prefix: str = "s", data: bytes = b"") -> list[NewDelivery]:
    """``n`` deliveries to ``{prefix}{i}@example.org`` (bytes empty: rendered at claim)."""
    return [
        NewDelivery(
            f"{prefix}{i}@example.org", f"<{i}.{prefix}@digest.test>", (f"p{i % 7}",), "digest@example.org", data
        )
        for i in range(n)
    ]


def plan(ledger: PostgresLedger, n: int, *, key: str = "0 7 * * *", fire_at: datetime | None, owner: str) -> Any:
    """Plan (or join) the pass of ``(key, fire_at)`` with ``n`` deliveries."""
    return ledger.plan_pass(key, fire_at, lambda lg: PassPlan(planned_deliveries(n), lg.last_digest_id()), owner=owner)


def plan_worker(url: str, n: int, fire_at: datetime, owner: str, barrier: Any, queue: Any) -> None:
    with PostgresLedger.open(url) as ledger:
        barrier.wait()
        ref = plan(ledger, n, fire_at=fire_at, owner=owner)
        queue.put((owner, ref.id, ref.planned_here))


def claim_worker(url: str, pass_id: int, owner: str, batch: int, barrier: Any, queue: Any) -> None:
    """Claim and record ``sent`` until the pass is finished; report every id claimed,
    and the refused writes (there must be none: every claim stays current)."""
    claimed: list[int] = []
    refused = 0
    with PostgresLedger.open(url) as ledger:
        barrier.wait()
        while True:
            claims = ledger.claim(pass_id, owner, batch, 60)
            if not claims:
                if ledger.pass_finished(pass_id):
                    break
                time.sleep(0.01)  # another process is recording its last claims
                continue
            claimed.extend(c.id for c in claims)
            done = ledger.record_claimed(pass_id, owner, [FencedOutcome.of(c, "sent", 1) for c in claims])
            refused += len(done.refused)
    queue.put((owner, claimed, refused))


def bench_worker(url: str, pass_id: int, owner: str, batch: int, barrier: Any, queue: Any) -> None:
    """As :func:`claim_worker`, reporting (claimed, seconds) for the benchmark."""
    count = 0
    with PostgresLedger.open(url) as ledger:
        barrier.wait()
        started = time.perf_counter()
        while claims := ledger.claim(pass_id, owner, batch, 60):
            count += len(claims)
            ledger.record_claimed(pass_id, owner, [FencedOutcome.of(c, "sent", 1) for c in claims])
        queue.put((count, time.perf_counter() - started))


def migrate_worker(url: str, barrier: Any, queue: Any) -> None:
    barrier.wait()
    try:
        with PostgresLedger.open(url) as ledger:
            queue.put(("ok", ledger.version))
    except Exception as exc:  # reported to the test, which shows it
        queue.put(("error", str(exc)))


def secret_worker(url: str, barrier: Any, queue: Any) -> None:
    """Open the ledger at ``url`` (an empty database: made by whichever host wins) and
    report the secret it keeps."""
    from newsletter.store.postgres import ledger_secret

    barrier.wait()
    try:
        with PostgresLedger.open(url):
            kept = ledger_secret(url)
        queue.put(("ok", kept.value if kept else None))
    except Exception as exc:  # reported to the test, which shows it
        queue.put(("error", str(exc)))
