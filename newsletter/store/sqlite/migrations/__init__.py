"""The SQLite ledger's schema, one numbered ``NNNN_name.sql`` file per version, each run
whole inside its own transaction (see :mod:`newsletter.store.sqlite.migrate`)."""
