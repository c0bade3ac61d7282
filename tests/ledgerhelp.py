"""Ledger writes only tests make (the pass writes through :meth:`Ledger.record`)."""

from __future__ import annotations

from collections.abc import Sequence

from newsletter.store import Ledger, NewDelivery, Outcome, PendingDelivery


def add_pending(ledger: Ledger, items: Sequence[NewDelivery], horizon: int) -> list[int]:
    """Record deliveries ``pending`` (and their subscribers' horizon) in one commit."""
    return ledger.record([(items, horizon)])[0]


def mark_sent(ledger: Ledger, results: Sequence[tuple[int, int]]) -> None:
    """``(delivery id, attempts)`` accepted by the server."""
    ledger.record(outcomes=[Outcome(key, "sent", attempts) for key, attempts in results])


def mark_unsent(ledger: Ledger, results: Sequence[tuple[int, str, int, str]]) -> None:
    """``(delivery id, status 'failed'|'pending', attempts, error)``."""
    ledger.record(outcomes=[Outcome(key, status, attempts, error) for key, status, attempts, error in results])


def pending(ledger: Ledger, delivery_id: int) -> PendingDelivery | None:
    """The pending delivery ``delivery_id`` with its bytes, or None."""
    found = ledger.pendings([delivery_id])
    return found[0] if found else None
