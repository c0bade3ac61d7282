"""Connecting to the PostgreSQL ledger, its migrations, and its errors in plain words.

Connections are autocommit: a statement outside :func:`transaction` commits alone
(one round trip, one WAL flush). Each carries libpq's TCP keepalives and a
``tcp_user_timeout`` (:data:`CALL_TIMEOUT`), so that a call on a network that was
cut fails within seconds (:class:`~newsletter.base.errors.LedgerConnectionLost`) instead
of hanging for the kernel's 15 minutes: a sender cut off from the database stops
sending (SPEC 6d). Values given in the URL (``?connect_timeout=30``) win over these
defaults.

Migrations: ``migrations/NNNN_name.sql``, each run whole in its own transaction
(all of them in one on an empty database) that first takes a transaction-level
advisory lock (:data:`MIGRATE_LOCK`), so two hosts starting at once migrate one after
the other (the second finds the work done); a ``schema_version`` table records the versions applied. A database of
another program (tables, no ``schema_version``) is refused, never written to; a
newer schema is refused with "upgrade paper-digest".

Errors: :func:`pg_error` is the one place where psycopg's errors become a
:class:`~newsletter.base.errors.LedgerError` naming the database (its URL without the
password) and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.conninfo import conninfo_to_dict

from newsletter.base.errors import LedgerConnectionLost, LedgerError, LedgerFullError
from newsletter.store.postgres.secret import SECRET_VERSION, make_secret

Connection = psycopg.Connection[tuple[Any, ...]]

CONNECT_TIMEOUT = 10  # seconds to reach the server at open
CALL_TIMEOUT = 5  # seconds without an acknowledgement before a connection counts as lost
# Advisory locks (transaction-level, two int keys): (LOCK_SPACE, n) for the fixed ones,
# (a key space, hashtext(name)) for those taken per schedule or address
LOCK_SPACE = 7023  # issue 23
MIGRATE_LOCK = 1  # (LOCK_SPACE, MIGRATE_LOCK): migrations, one host at a time
DIGEST_LOCK = 2  # (LOCK_SPACE, DIGEST_LOCK): digest ids are handed out in commit order
CHANNEL_LOCK = 3  # (LOCK_SPACE, CHANNEL_LOCK): chat messages are claimed one host at a time
PLAN_LOCKS = 70231  # (PLAN_LOCKS, 0): one planner at a time, whatever the schedule
BOUNCE_LOCKS = 70232  # (BOUNCE_LOCKS, hashtext(address)): one bounce policy decision at a time

_MIGRATION_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


# ------------------------------------------------------------------ errors


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return " ".join(text[0].split()) if text else type(exc).__name__


def _connect_error(where: str, exc: psycopg.OperationalError) -> LedgerError:
    text = _first_line(exc)
    low = str(exc).lower()
    if "password authentication failed" in low or "authentication failed" in low:
        return LedgerError(
            f"the database refused the password ({text}); set the right one in the variable named by "
            "state_password_env (or PGPASSWORD, ~/.pgpass)",
            path=where,
        )
    if "no password supplied" in low or "password is required" in low:
        return LedgerError(
            "the database asks for a password and none was given: name an environment variable holding it "
            "in state_password_env (or use PGPASSWORD, ~/.pgpass)",
            path=where,
        )
    if "does not exist" in low and "database" in low:
        return LedgerError(
            f"{text}: create it (createdb, or CREATE DATABASE); an empty database becomes a ledger", path=where
        )
    if "timeout" in low or "timed out" in low:
        return LedgerError(
            f"no answer from the database server within {CONNECT_TIMEOUT} s ({text}); check the host, the "
            "network and that the server runs",
            path=where,
        )
    return LedgerError(
        f"cannot connect to the ledger database ({text}); check that the server runs and that state: names "
        "its host, port and database",
        path=where,
    )


_LOST = (
    "lost the connection to the ledger database ({text}); what this call wrote may not be recorded: nothing "
    "is lost (a delivery not recorded sent is sent again, with the same Message-ID)"
)


def pg_error(where: str, exc: BaseException, conn: Connection | None = None) -> LedgerError:
    """What a psycopg error on the ledger means to its operator: one line naming the
    database and what to do. A connection that broke during a call is
    :class:`LedgerConnectionLost`; a full disk is :class:`LedgerFullError`."""
    if isinstance(exc, LedgerError):
        return exc
    text = _first_line(exc)
    if isinstance(exc, pgerrors.DiskFull):
        return LedgerFullError(f"the database server is out of space ({text}); free some and run again", path=where)
    if isinstance(exc, pgerrors.ReadOnlySqlTransaction):
        return LedgerError(
            f"cannot write the ledger ({text}): state: names a read-only server (a standby?); point it at the primary",
            path=where,
        )
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        return LedgerError(
            f"permission denied ({text}): grant this user the right to create and write tables in the database",
            path=where,
        )
    if isinstance(exc, pgerrors.QueryCanceled):
        return LedgerError(f"a ledger call was cancelled ({text}); run again", path=where)
    lost = isinstance(exc, pgerrors.AdminShutdown | pgerrors.CrashShutdown | pgerrors.CannotConnectNow)
    if lost or (isinstance(exc, psycopg.OperationalError) and (conn is None or conn.broken or conn.closed)):
        return LedgerConnectionLost(_LOST.format(text=text), path=where)
    if isinstance(exc, psycopg.InterfaceError) and conn is not None and (conn.broken or conn.closed):
        return LedgerConnectionLost(_LOST.format(text=text), path=where)
    return LedgerError(f"ledger error: {text}", path=where)


@contextmanager
def translated(where: str, conn: Connection | None = None) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        raise pg_error(where, exc, conn) from None


# ------------------------------------------------------------------ connecting


def connect(url: str, where: str, *, password: str | None = None, readonly: bool = False) -> Connection:
    """An autocommit connection to ``url`` (see the module doc for its timeouts)."""
    try:
        params: dict[str, Any] = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise LedgerError(f"state: is not a valid PostgreSQL URL ({_first_line(exc)})", path=where) from None
    defaults = {
        "connect_timeout": CONNECT_TIMEOUT,
        "application_name": "paper-digest",
        "keepalives": 1,
        "keepalives_idle": CALL_TIMEOUT,
        "keepalives_interval": 1,
        "keepalives_count": CALL_TIMEOUT,
        "tcp_user_timeout": CALL_TIMEOUT * 1000,
    }
    for key, value in defaults.items():
        params.setdefault(key, value)
    if password is not None:
        params["password"] = password
    if readonly:
        params["options"] = (str(params.get("options", "")) + " -c default_transaction_read_only=on").strip()
    try:
        conn: Connection = psycopg.connect(autocommit=True, **params)
    except psycopg.OperationalError as exc:
        raise _connect_error(where, exc) from None
    except psycopg.Error as exc:
        raise pg_error(where, exc) from None
    return conn


@contextmanager
def transaction(conn: Connection) -> Iterator[psycopg.Cursor[tuple[Any, ...]]]:
    """BEGIN ... COMMIT (ROLLBACK on error) on ``conn``; nested: a savepoint."""
    with conn.transaction(), conn.cursor() as cur:
        yield cur


# ------------------------------------------------------------------ migrations


def migrations() -> dict[int, str]:
    """Every shipped migration by version: the text of ``NNNN_name.sql``."""
    found: dict[int, str] = {}
    for entry in resources.files("newsletter.store.postgres.migrations").iterdir():
        m = _MIGRATION_NAME.fullmatch(entry.name)
        if m:
            found[int(m.group(1))] = entry.read_text(encoding="utf-8")
    return found


def schema_version(conn: Connection) -> int | None:
    """The version of the ledger schema in the database; None when it holds none."""
    # pg_tables, read with the statement's snapshot (to_regclass would consult a catalog
    # cache that may not yet know of a table another host has just committed)
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_version')"
    ).fetchone()
    if row is None or not row[0]:
        return None
    found = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(found[0]) if found is not None else 0


def _foreign_tables(conn: Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'schema_version'"
    ).fetchone()
    return int(row[0]) if row is not None else 0


def check_version(conn: Connection, where: str, version: int | None, latest: int) -> None:
    """Refuse a database this program must not write: a newer schema, or another
    program's tables."""
    if version is not None and version > latest:
        raise LedgerError(
            f"ledger schema {version} is newer than this program ({latest}); upgrade paper-digest (or run the "
            "version that wrote it)",
            path=where,
        )
    if not version and (tables := _foreign_tables(conn)):
        raise LedgerError(
            f"not a paper-digest ledger (a database with {tables} other table{'s' if tables != 1 else ''}); "
            "point state: at an empty database (or at the ledger)",
            path=where,
        )


_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version "
    "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
)


def migrate(conn: Connection, where: str) -> int:
    """Bring the schema up to the newest shipped version; returns it. Everything is
    decided under the migration lock (what a database holds can change until then:
    another host may be migrating it). An empty database gets every version in one
    transaction: any other host sees no ledger or the whole of it, so a version that
    finds the one before it applied knows the ledger was there before (the secret it
    keeps then accepts the path-derived links of mail already sent a while:
    :mod:`newsletter.store.postgres.secret`)."""
    shipped = migrations()
    latest = max(shipped)
    if schema_version(conn) == latest:
        return latest  # the usual case, no lock needed: a committed version never goes back
    for target in sorted(shipped):
        with transaction(conn) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, MIGRATE_LOCK))
            current = schema_version(conn)
            check_version(conn, where, current, latest)
            if (current or 0) >= target:
                continue  # done meanwhile by another host, or earlier
            new = not current
            cur.execute(_VERSION_TABLE)
            for version in sorted(v for v in shipped if v > (current or 0)) if new else [target]:
                cur.execute(shipped[version].encode())  # the whole file: several statements, no parameters
                cur.execute("INSERT INTO schema_version(version) VALUES (%s)", (version,))
                if version == SECRET_VERSION:
                    make_secret(cur, legacy=not new)
    return latest
