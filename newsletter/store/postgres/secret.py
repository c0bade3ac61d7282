"""The secret a PostgreSQL ledger keeps (version 6, ``ledger_secret``): the PostgreSQL
side of :mod:`newsletter.store.keyfile`, for hosts whose environment names no secret.

One row, made once: with the schema by the host that migrates (under the migration
lock, :func:`~newsletter.store.postgres.connection.migrate`), or on first need when the
row is gone, by ``INSERT ... ON CONFLICT DO NOTHING`` then ``SELECT``: any number of
processes on any hosts starting together all read the one secret that won. A ledger
that was there before version 6 (mail carrying links under the path-derived secret)
accepts those links for :data:`~newsletter.store.keyfile.LEGACY_DAYS` days; a new one
never does. ``ledger copy`` carries the row to and from the SQLite keyfile
(:func:`write_secret`), so the links of mail already sent stay valid after a move.
"""

from __future__ import annotations

import secrets
from typing import Any

import psycopg

from newsletter.base.errors import LedgerError
from newsletter.store.keyfile import LEGACY_DAYS, KeptSecret

__all__ = ["SECRET_TABLE", "SECRET_VERSION", "make_secret", "read_secret", "write_secret"]

SECRET_VERSION = 6  # the schema version that made ledger_secret
SECRET_TABLE = "ledger_secret"

Executor = psycopg.Connection[tuple[Any, ...]] | psycopg.Cursor[tuple[Any, ...]]

_MAKE = (
    "INSERT INTO ledger_secret (secret, created, path_secret_until) "
    "VALUES (%(secret)s, current_date, CASE WHEN %(legacy)s THEN current_date + %(days)s END) "
    "ON CONFLICT (one) DO NOTHING"
)
_READ = "SELECT secret, created, path_secret_until FROM ledger_secret"


def make_secret(db: Executor, *, legacy: bool) -> None:
    """Make the ledger's secret unless it has one (then nothing changes). ``legacy``:
    the ledger was there before it, its path-derived links accepted LEGACY_DAYS more days."""
    db.execute(_MAKE, {"secret": secrets.token_hex(32), "legacy": legacy, "days": LEGACY_DAYS})


def read_secret(db: Executor, where: str) -> KeptSecret:
    """The ledger's secret, made now when its row is gone (as a lost keyfile is made
    again: the ledger was there before it, so path-derived links are accepted a while)."""
    row = db.execute(_READ).fetchone()
    if row is None:
        make_secret(db, legacy=True)
        row = db.execute(_READ).fetchone()
    if row is None:  # pragma: no cover - the row was just made, and is never deleted by us
        raise LedgerError("the ledger keeps no secret and none could be made", path=where)
    value, created, until = row
    return KeptSecret(str(value), created, f"{where} (table {SECRET_TABLE})", until)


def write_secret(db: Executor, kept: KeptSecret) -> None:
    """Replace the ledger's secret with ``kept`` (``ledger copy`` into an empty ledger:
    the links of the mail sent from the source stay valid)."""
    db.execute(
        "INSERT INTO ledger_secret (secret, created, path_secret_until) VALUES (%s, %s, %s) "
        "ON CONFLICT (one) DO UPDATE SET secret = EXCLUDED.secret, created = EXCLUDED.created, "
        "path_secret_until = EXCLUDED.path_secret_until",
        (kept.value, kept.created, kept.legacy_until),
    )
