"""Where the ledger lives: today's SQLite ledger (:mod:`newsletter.delivery.ledger`)
and the PostgreSQL one (:mod:`newsletter.store.postgres`, SPEC 6d, for several
senders on several machines). :func:`newsletter.store.choose.open_ledger` opens the
one the configuration's ``state:`` names."""
