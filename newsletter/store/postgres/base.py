"""What every part of the PostgreSQL ledger shares: the connection (reconnected at
the next call after it broke), transactions, and the guard that turns psycopg's
errors into :class:`~newsletter.base.errors.LedgerError` at every public method."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg

from newsletter.base.errors import LedgerConnectionLost, LedgerError
from newsletter.store.guard import wrap_public_methods
from newsletter.store.postgres.connection import Connection, connect, pg_error, transaction

T = TypeVar("T")
Cursor = psycopg.Cursor[tuple[Any, ...]]
Params = Sequence[Any] | Mapping[str, Any]
# UNIX seconds on the database's clock, the one every host shares (as the leases use it);
# a ``now`` parameter given instead: the caller's
DB_NOW = "COALESCE(%(now)s::float8, EXTRACT(EPOCH FROM now())::float8)"


class PgStore:
    """The connection of a PostgreSQL ledger and the helpers its parts use.

    ``path`` is the database as shown to the operator (its URL without the password:
    errors name it); ``version`` its schema version. The ledger may be used from one
    thread at a time (as the SQLite one)."""

    def __init__(self, conn: Connection, url: str, where: str, *, password: str | None, readonly: bool) -> None:
        self.conn = conn
        self.url = url
        self.path = where
        self.version = 0
        self._password = password
        self._readonly = readonly
        self._depth = 0  # guarded calls under way (a call from inside another one is nested)
        self._closed = False

    # ------------------------------------------------------------------ connection

    def _ensure_connected(self) -> None:
        """A connection that broke (the server restarted, the network was cut) is
        replaced at the next call, never inside one: what a transaction had done
        died with it. When it cannot be made again, the ledger is still lost (exit 1:
        work was under way), not a configuration to fix (exit 2): it connected before."""
        if self._depth == 0 and not self._closed and (self.conn.closed or self.conn.broken):
            try:
                self.conn = connect(self.url, self.path, password=self._password, readonly=self._readonly)
            except LedgerConnectionLost:
                raise
            except LedgerError as exc:
                raise LedgerConnectionLost(
                    f"lost the connection to the ledger database, and connecting again failed: {exc.message}",
                    path=self.path,
                ) from None

    def close(self) -> None:
        self._closed = True
        self.conn.close()

    @contextmanager
    def _tx(self) -> Iterator[Cursor]:
        """One transaction (a savepoint inside another one)."""
        with transaction(self.conn) as cur:
            yield cur

    def _one(self, sql: str, args: Params = ()) -> tuple[Any, ...] | None:
        return self.conn.execute(sql, args).fetchone()

    def _all(self, sql: str, args: Params = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, args).fetchall()

    def _scalar(self, sql: str, args: Params = ()) -> Any:
        row = self._one(sql, args)
        return None if row is None else row[0]


def _guarded(fn: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(fn)
    def method(self: PgStore, *args: Any, **kwargs: Any) -> T:
        self._ensure_connected()
        self._depth += 1
        try:
            return fn(self, *args, **kwargs)
        except psycopg.Error as exc:
            raise pg_error(self.path, exc, self.conn) from None
        finally:
            self._depth -= 1

    return method


_UNGUARDED = frozenset({"close"})


def guard_methods(cls: type[T]) -> type[T]:
    """Every public method of ``cls`` and its bases (up to :class:`PgStore`) turns
    psycopg's errors into a :class:`LedgerError` naming the database: the one place."""
    return wrap_public_methods(cls, _guarded, skip=_UNGUARDED, stop=PgStore)
