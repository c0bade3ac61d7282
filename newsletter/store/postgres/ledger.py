""":class:`PostgresLedger`: the ledger in PostgreSQL (SPEC 6d), with the public methods
and records of the SQLite :class:`~newsletter.store.Ledger`, plus the claim
API of :mod:`newsletter.store.postgres.claims` for several senders.

Differences a caller may notice (all deliberate):

- addresses are stored by their key (:func:`newsletter.base.addresses.address_key`):
  ``horizons(["Ana@Example.org"])`` finds the subscriber registered as
  ``ana@example.org`` (the configuration already refuses two spellings of one
  address);
- a digest content recorded twice (two hosts picking up the same file) is one
  digest: :meth:`record_digest` returns the existing id instead of failing;
- :meth:`checkpoint` does nothing (PostgreSQL manages its WAL);
- there is no ``transaction()`` or ``conn`` for other modules to write SQL through:
  everything goes through the methods;
- a call on a connection that broke raises
  :class:`~newsletter.base.errors.LedgerConnectionLost` (exit 1), and the next call
  connects again.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from newsletter.base.errors import LedgerError
from newsletter.base.urls import redact_url
from newsletter.store.claiming import ClaimLedger
from newsletter.store.keyfile import KeptSecret
from newsletter.store.postgres.base import guard_methods
from newsletter.store.postgres.channels import Channels
from newsletter.store.postgres.claims import Claims
from newsletter.store.postgres.connection import (
    check_version,
    connect,
    migrate,
    migrations,
    schema_version,
    translated,
)
from newsletter.store.postgres.digests import Digests
from newsletter.store.postgres.outbox import Outbox
from newsletter.store.postgres.secret import SECRET_VERSION, read_secret
from newsletter.store.postgres.suppress import Suppress

SCHEMA_VERSION = max(migrations())


class PostgresLedger(Digests, Outbox, Suppress, Claims, Channels):
    """The PostgreSQL ledger. Use :meth:`open` (or :meth:`open_readonly`), and the
    ledger as a context manager or :meth:`close` it."""

    @classmethod
    def open(cls, url: str, *, password: str | None = None) -> PostgresLedger:
        """Connect to the database ``url`` (a libpq URL) and migrate it: an empty
        database becomes a ledger. A database that cannot be reached, refuses us, holds
        another program's tables or a newer schema is a :class:`LedgerError` naming
        it (without the password) and what to do. ``password``: the one from
        ``state_password_env`` (else libpq's own: ``PGPASSWORD``, ``~/.pgpass``)."""
        where = redact_url(url)
        conn = connect(url, where, password=password)
        try:
            with translated(where, conn):
                version = migrate(conn, where)
        except BaseException:
            conn.close()
            raise
        ledger = cls(conn, url, where, password=password, readonly=False)
        ledger.version = version
        return ledger

    @classmethod
    def open_readonly(cls, url: str, *, password: str | None = None) -> PostgresLedger | None:
        """The ledger for reading only (``status``, ``--dry-run``): a read-only session
        that never creates or migrates anything; None when the database holds no
        ledger yet."""
        where = redact_url(url)
        conn = connect(url, where, password=password, readonly=True)
        try:
            with translated(where, conn):
                version = schema_version(conn)
                check_version(conn, where, version, SCHEMA_VERSION)
        except BaseException:
            conn.close()
            raise
        if not version:
            conn.close()
            return None
        ledger = cls(conn, url, where, password=password, readonly=True)
        ledger.version = version
        return ledger

    def __enter__(self) -> PostgresLedger:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


guard_methods(PostgresLedger)


def ledger_secret(url: str, *, password: str | None = None) -> KeptSecret | None:
    """The secret the ledger at ``url`` keeps (:mod:`newsletter.store.postgres.secret`);
    None when the database holds no ledger yet (nothing is written: a ``preview`` before
    the first ``send`` signs what goes nowhere). A ledger of an older schema is migrated
    first, as every process that reads the secret (``send``, ``serve``, ``run``,
    ``bounces``) would: it was there before, so its path-derived links stay accepted a while."""
    where = redact_url(url)
    conn = connect(url, where, password=password)
    try:
        with translated(where, conn):
            version = schema_version(conn)
            check_version(conn, where, version, SCHEMA_VERSION)
            if not version:
                return None
            if version < SECRET_VERSION:
                migrate(conn, where)
            return read_secret(conn, where)
    finally:
        conn.close()


if TYPE_CHECKING:

    def _conforms(ledger: PostgresLedger) -> ClaimLedger:
        return ledger  # mypy checks that PostgresLedger implements the claim API


__all__ = ["SCHEMA_VERSION", "LedgerError", "PostgresLedger", "ledger_secret"]
