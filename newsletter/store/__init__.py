"""The store layer: the ledger, whichever its backend.

- :mod:`.records`: the typed records the ledger hands out and takes;
- :mod:`.sqlite`: the SQLite ledger (the default, one machine);
- :mod:`.postgres`: the PostgreSQL one (SPEC 6d, several senders on several machines),
  with the claim API of :mod:`.claiming`;
- :mod:`.choose`: :func:`~newsletter.store.choose.open_ledger` opens the one the
  configuration's ``state:`` names.

Callers import the ledger type and its records from here.
"""

from __future__ import annotations

from newsletter.base.errors import LedgerError
from newsletter.store.records import (
    DeliveryRef,
    DigestRow,
    FailedDelivery,
    FeedbackRow,
    FetchState,
    LastDelivery,
    NewDelivery,
    Outcome,
    PendingDelivery,
    SentIssue,
    SubscriberRow,
    Suppression,
    UnfinishedRun,
    iso,
)
from newsletter.store.sqlite.ledger import (
    SCHEMA_VERSION,
    Ledger,
    feedback_rows,
    forget_feedback,
    record_feedback,
    store_vectors,
    stored_vectors,
)

__all__ = [
    "SCHEMA_VERSION",
    "DeliveryRef",
    "DigestRow",
    "FailedDelivery",
    "FeedbackRow",
    "FetchState",
    "LastDelivery",
    "Ledger",
    "LedgerError",
    "NewDelivery",
    "Outcome",
    "PendingDelivery",
    "SentIssue",
    "SubscriberRow",
    "Suppression",
    "UnfinishedRun",
    "feedback_rows",
    "forget_feedback",
    "iso",
    "record_feedback",
    "store_vectors",
    "stored_vectors",
]
