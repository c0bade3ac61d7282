"""The SQLite ledger (the default: one file per configuration, one machine)."""
