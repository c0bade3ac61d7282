"""The SQLite ledger (SPEC 6): what was picked up, what was sent to whom, what waits.

One SQLite file per configuration (``state:``), in WAL mode with ``synchronous=FULL``;
the schema is versioned with ``PRAGMA user_version`` and migrated when the ledger is
opened (one ``.sql`` file per version: :mod:`newsletter.store.sqlite.migrate`, whose
files say what each version adds).

:class:`SqliteLedger` is the façade: one class made of a repository per table family,
each over the one connection (:mod:`.connection`: opening, durability, transactions,
the error translation of every public method, schema age):

- :mod:`.digests`: digests and their papers (row ids grow with pick-up order: they are
  the ledger's clock), files that are not digests;
- :mod:`.subscribers`: every address seen, with its horizon;
- :mod:`.outbox`: deliveries, the one write path :meth:`~.outbox.Outbox.record`;
- :mod:`.suppressions`: unsubscribed, paused and bounced addresses;
- :mod:`.bounces`: bounces tied to deliveries, mail of the bounce mailbox set aside;
- :mod:`.runs`: passes, and the interrupted ones the next start finishes;
- :mod:`.fetches`: what ``newsletter fetch`` remembers of each source;
- :mod:`.feedback`: likes and dislikes, and the papers' embeddings;
- :mod:`.channels`: the message parts of deliveries to chat channels.

Errors: every public method (and :meth:`open`) turns ``sqlite3`` and OS errors into a
:class:`~newsletter.base.errors.LedgerError` naming the file and what to do; a full
disk is :class:`~newsletter.base.errors.LedgerFullError` (exit 1). Only a missing ledger
is created (atomically); an empty, foreign, damaged or newer one is refused.
"""

from __future__ import annotations

from newsletter.store.sqlite.bounces import Bounces
from newsletter.store.sqlite.channels import Channels
from newsletter.store.sqlite.connection import guard_methods, ledger_error
from newsletter.store.sqlite.digests import Digests
from newsletter.store.sqlite.feedback import Feedback
from newsletter.store.sqlite.fetches import Fetches
from newsletter.store.sqlite.migrate import SCHEMA_VERSION, migrations
from newsletter.store.sqlite.outbox import Outbox
from newsletter.store.sqlite.runs import Runs
from newsletter.store.sqlite.subscribers import Subscribers
from newsletter.store.sqlite.suppressions import SuppressionList


class SqliteLedger(Digests, Subscribers, Outbox, SuppressionList, Bounces, Runs, Fetches, Feedback, Channels):
    """The SQLite ledger. Use :meth:`open` (or :meth:`open_readonly`), and the ledger as
    a context manager or :meth:`close` it."""

    def scratch_copy(self) -> SqliteLedger:
        """A copy of this ledger in memory, for a what-if (``send --dry-run --backfill``):
        whatever is written to it never reaches the file."""
        copy = SqliteLedger.open(":memory:")
        self.conn.backup(copy.conn)
        copy.version = self.version
        return copy


guard_methods(SqliteLedger)

__all__ = ["SCHEMA_VERSION", "SqliteLedger", "ledger_error", "migrations"]
