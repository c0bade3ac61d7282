"""SqliteLedger writes only tests make (the pass writes through :meth:`SqliteLedger.record`)."""

from __future__ import annotations

from collections.abc import Sequence

from newsletter.store import NewDelivery, Outcome, PendingDelivery, SqliteLedger


def add_pending(ledger: SqliteLedger, items: Sequence[NewDelivery], horizon: int) -> list[int]:
    """Record deliveries ``pending`` (and their subscribers' horizon) in one commit."""
    return ledger.record([(items, horizon)])[0]


def mark_sent(ledger: SqliteLedger, results: Sequence[tuple[int, int]]) -> None:
    """``(delivery id, attempts)`` accepted by the server."""
    ledger.record(outcomes=[Outcome(key, "sent", attempts) for key, attempts in results])


def mark_unsent(ledger: SqliteLedger, results: Sequence[tuple[int, str, int, str]]) -> None:
    """``(delivery id, status 'failed'|'pending', attempts, error)``."""
    ledger.record(outcomes=[Outcome(key, status, attempts, error) for key, status, attempts, error in results])


def pending(ledger: SqliteLedger, delivery_id: int) -> PendingDelivery | None:
    """The pending delivery ``delivery_id`` with its bytes, or None."""
    found = ledger.pendings([delivery_id])
    return found[0] if found else None
