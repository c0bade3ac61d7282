"""Open the ledger the configuration names (SPEC 6d): ``state:`` a path is the SQLite
ledger (the default, one machine), a ``postgresql://`` URL the PostgreSQL one (any
number of senders on any hosts). The PostgreSQL password comes from the variable named
by ``state_password_env``, else from libpq's own ``PGPASSWORD`` or ``~/.pgpass``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from newsletter.base.errors import LedgerError
from newsletter.base.urls import redact_url
from newsletter.config import Config, ledger_password_missing
from newsletter.store.keyfile import KeptSecret
from newsletter.store.protocol import Ledger
from newsletter.store.sqlite import SqliteLedger

if TYPE_CHECKING:
    from newsletter.store.postgres import PostgresLedger

    def _sqlite_conforms(ledger: SqliteLedger) -> Ledger:
        return ledger  # mypy checks that the SQLite ledger implements the protocol

    def _postgres_conforms(ledger: PostgresLedger) -> Ledger:
        return ledger  # ... and the PostgreSQL one


def ledger_password(config: Config) -> str | None:
    """The PostgreSQL password from ``state_password_env`` (None: libpq finds its own)."""
    problem = ledger_password_missing(config)
    if problem is not None:
        raise problem
    return os.environ[config.ledger_password_env] if config.ledger_password_env else None


def postgres_ledger_class(where: str) -> type[PostgresLedger]:
    """:class:`PostgresLedger`, or one line saying how to install its driver."""
    try:
        from newsletter.store.postgres import PostgresLedger
    except ImportError as exc:
        raise LedgerError(
            f"state: is a PostgreSQL URL but its driver is missing ({exc}); install it with "
            "pip install 'paper-digest[postgresql]'",
            path=where,
        ) from None
    return PostgresLedger


def open_ledger(config: Config) -> Ledger:
    """The configured ledger, opened (created or migrated when needed)."""
    if config.ledger_url is None:
        return SqliteLedger.open(config.ledger_path)
    password = ledger_password(config)
    return postgres_ledger_class(redact_url(config.ledger_url)).open(config.ledger_url, password=password)


def open_ledger_readonly(config: Config) -> Ledger | None:
    """The configured ledger for reading only; None when it holds nothing yet."""
    if config.ledger_url is None:
        return SqliteLedger.open_readonly(config.ledger_path)
    password = ledger_password(config)
    return postgres_ledger_class(str(config.ledger_path)).open_readonly(config.ledger_url, password=password)


def postgres_secret(config: Config) -> KeptSecret | None:
    """The secret the configured PostgreSQL ledger keeps (None: the database holds no
    ledger yet); :func:`newsletter.store.postgres.ledger_secret`."""
    url = config.ledger_url
    if url is None:
        raise ValueError("postgres_secret: the configured ledger is SQLite")
    postgres_ledger_class(redact_url(url))  # the driver is there, or one line saying how to install it
    from newsletter.store.postgres import ledger_secret

    return ledger_secret(url, password=ledger_password(config))


def scratch_ledger(ledger: Ledger | None) -> Ledger:
    """A ledger in memory to try things on (``send --dry-run --backfill``): a copy of
    ``ledger``, or an empty one when there is none yet."""
    if ledger is None:
        return SqliteLedger.open(":memory:")
    if isinstance(ledger, SqliteLedger):
        return ledger.scratch_copy()
    raise LedgerError("send --dry-run --backfill needs a copy of the ledger: the PostgreSQL ledger has none yet")
