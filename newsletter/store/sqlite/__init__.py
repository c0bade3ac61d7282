"""The SQLite ledger (the default: one file per configuration, one machine); see
:mod:`newsletter.store.sqlite.ledger`."""

from newsletter.store.sqlite.ledger import SCHEMA_VERSION, SqliteLedger, ledger_error, migrations

__all__ = ["SCHEMA_VERSION", "SqliteLedger", "ledger_error", "migrations"]
