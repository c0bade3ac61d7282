"""The store layer: the ledger, whichever its backend.

- :mod:`.protocol`: :class:`Ledger`, what its consumers ask of it (both backends satisfy it);
- :mod:`.records`: the typed records it hands out and takes;
- :mod:`.sqlite`: the SQLite ledger (the default, one machine);
- :mod:`.postgres`: the PostgreSQL one (SPEC 6d, several senders on several machines),
  with the claim API of :mod:`.claiming`;
- :mod:`.choose`: :func:`~newsletter.store.choose.open_ledger` opens the one the
  configuration's ``state:`` names.

Callers import the ledger type and its records from here, and open it through
:mod:`.choose`.
"""

from __future__ import annotations

from newsletter.base.errors import LedgerError
from newsletter.store.protocol import Ledger
from newsletter.store.records import (
    ChannelPart,
    ChannelRow,
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
from newsletter.store.sqlite import SCHEMA_VERSION, SqliteLedger

__all__ = [
    "SCHEMA_VERSION",
    "ChannelPart",
    "ChannelRow",
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
    "SqliteLedger",
    "SubscriberRow",
    "Suppression",
    "UnfinishedRun",
    "iso",
]
