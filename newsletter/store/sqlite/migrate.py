"""Migrations of the SQLite ledger: one numbered ``NNNN_name.sql`` file per schema
version (``newsletter/store/sqlite/migrations/``), recorded in ``PRAGMA user_version``.

Each file runs whole, by :meth:`sqlite3.Connection.executescript` (SQLite's own parser
finds the statements: a trigger body or a string holding ``;`` is safe), inside one
``BEGIN IMMEDIATE`` ... ``COMMIT`` that also sets the version: a migration is all or
nothing. Two processes opening a ledger at once: the second waits for the first's
lock; its own attempt then fails (the table exists) and is rolled back, and it goes on
when the version shows the first did the work.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import suppress
from functools import cache
from importlib import resources

_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


@cache
def migrations() -> dict[int, str]:
    """Every shipped migration by version: the text of ``NNNN_name.sql``."""
    found: dict[int, str] = {}
    for entry in resources.files("newsletter.store.sqlite.migrations").iterdir():
        m = _NAME.fullmatch(entry.name)
        if m:
            found[int(m.group(1))] = entry.read_text(encoding="utf-8")
    return dict(sorted(found.items()))


SCHEMA_VERSION = max(migrations())


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the ledger of ``conn`` (an autocommit connection) to :data:`SCHEMA_VERSION`;
    returns the version it had."""
    before = user_version(conn)
    for target, script in migrations().items():
        if target <= user_version(conn):
            continue
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{script}\n;PRAGMA user_version = {target};\nCOMMIT;")
        except sqlite3.Error:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if user_version(conn) >= target:
                continue  # another process migrated it meanwhile
            raise
    return before
