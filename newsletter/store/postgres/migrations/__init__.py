"""The PostgreSQL ledger's schema, one numbered ``NNNN_name.sql`` file per version,
each run whole in its own transaction (see :mod:`newsletter.store.postgres.connection`)."""
