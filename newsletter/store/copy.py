"""``newsletter ledger copy``: a ledger copied between SQLite and PostgreSQL (SPEC 6d),
into an EMPTY ledger, with every row's id kept (digest ids are the ledger's clock,
horizons point at them; sent papers and bounces point at delivery ids), so that
nothing is sent again after a move: the papers sent, the horizons, the pending
deliveries with their bytes and Message-IDs, suppressions, bounces, feedback, fetch
states, and what the bounce reader remembers of the mailbox (its mark, the mail it left)
all come along.

Per table the rows of the columns both backends have are copied, with the few
differences of representation translated:

- addresses: PostgreSQL keeps the address key where SQLite keeps the address as
  written beside its key (``subscribers``); ``sent_papers`` is keyed by the address
  key on both (column ``email_key`` in SQLite, ``email`` in PostgreSQL);
- ``deliveries.papers``: a JSON list in SQLite, a ``text[]`` in PostgreSQL; a
  delivery ``claimed`` on PostgreSQL becomes ``pending`` in SQLite (a copy taken
  mid-pass: the claim is gone, the delivery is sent again with its Message-ID);
- ``bounces.cleared``: 0/1 in SQLite, a boolean in PostgreSQL;
- a pending delivery whose bytes are still in the SQLite ledger's spool (a large pass
  killed, :mod:`newsletter.store.spool`) is copied with its bytes read from there;
- the secret the ledger keeps (unsubscribe tokens, feedback links, VERP addresses,
  archive paths and Message-IDs are HMACs under it, when no variable names one): the
  SQLite keyfile (:mod:`newsletter.store.keyfile`) becomes the PostgreSQL row
  (:mod:`newsletter.store.postgres.secret`) and back, with the day until which
  path-derived links are accepted, so the links of mail already sent stay valid;
- the PostgreSQL-only tables of several senders (``passes``, ``claim_events``) are
  not copied to SQLite (said in the report); copying from SQLite, deliveries belong
  to no pass.

Everything is written in one transaction on the target; the counts of each table are
then compared with the source's (one line per table): a difference is an error
(exit 1) and the transaction is rolled back. The target must be empty (a ledger
with anything recorded is refused: exit 2, never merged)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from newsletter.base.addresses import address_key
from newsletter.base.errors import LedgerError, NewsletterError
from newsletter.base.urls import is_database_url, redact_url
from newsletter.store import keyfile
from newsletter.store.keyfile import KeptSecret, kept_secret
from newsletter.store.spool import Spooled, SpoolError, read_spooled

# in the order of their references (ids kept: digests before their papers, deliveries
# before the sent papers and bounces that point at them)
TABLES = (
    "digests",
    "digest_papers",
    "subscribers",
    "runs",
    "deliveries",
    "sent_papers",
    "channel_parts",
    "suppressions",
    "fetch_sources",
    "bounces",
    "feedback",
    "ignored_files",
    "mail_set_aside",
    "mailbox_marks",
    "mailbox_known",
    "paper_vectors",
)
POSTGRES_ONLY = ("passes", "claim_events")
SERIAL = ("digests", "runs", "deliveries", "channel_parts", "bounces", "mail_set_aside")  # ids from a sequence

Row = dict[str, Any]


def shown(where: str) -> str:
    """A ledger as shown: a URL without its password, a path as it is."""
    return redact_url(where) if is_database_url(where) else where


class CopyError(NewsletterError):
    """The copy does not match its source (exit 1): nothing was written."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class TableCopy:
    table: str
    source: int
    copied: int
    note: str = ""

    def line(self) -> str:
        text = f"{self.table}: {self.copied:,} of {self.source:,} rows"
        return f"{text} ({self.note})" if self.note else text


# ------------------------------------------------------------------ the two sides


class Side:
    """One ledger, read or written by table (its own connection, its own dialect)."""

    kind = ""

    def columns(self, table: str) -> list[str]:
        raise NotImplementedError

    def count(self, table: str) -> int:
        raise NotImplementedError

    def rows(self, table: str, columns: list[str]) -> Iterator[Row]:
        raise NotImplementedError

    def secret(self) -> KeptSecret | None:
        """The secret the ledger keeps (None: it keeps none)."""
        raise NotImplementedError

    def keep_secret(self, kept: KeptSecret) -> None:
        """Keep ``kept`` as the ledger's secret from now on."""
        raise NotImplementedError


class SqliteSide(Side):
    """A SQLite ledger; ``spool``: its spool directory, read for the pending deliveries of a
    killed pass whose bytes are still there (:mod:`newsletter.store.spool`): the copy
    carries every pending message's bytes."""

    kind = "sqlite"

    def __init__(self, conn: Any, spool: Path | None = None, path: Path | None = None) -> None:
        self.conn = conn
        self.spool = spool
        self.path = path  # the ledger file, beside which its secret is kept

    def secret(self) -> KeptSecret | None:
        return None if self.path is None else kept_secret(self.path)

    def keep_secret(self, kept: KeptSecret) -> None:
        if self.path is not None:
            keyfile.write_secret(self.path, kept)

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")]

    def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def rows(self, table: str, columns: list[str]) -> Iterator[Row]:
        cur = self.conn.execute(f"SELECT {', '.join(columns)} FROM {table}")
        spooled = table == "deliveries" and "spool" in columns
        for row in cur:
            got = dict(zip(columns, row, strict=True))
            yield self._unspooled(got) if spooled and got["spool"] and got["message"] is None else got

    def _unspooled(self, row: Row) -> Row:
        ref = Spooled(row["spool"], row["spool_at"], row["size"])
        try:
            if self.spool is None:
                raise SpoolError("no spool directory")
            row["message"] = read_spooled(self.spool, [ref])[0]
        except SpoolError as exc:
            raise CopyError(
                f"pending delivery {row['id']}: its message cannot be read from the spool ({exc})"
            ) from None
        row["spool"] = row["spool_at"] = None
        return row

    def write(self, table: str, columns: list[str], rows: Iterator[Row]) -> None:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        self.conn.executemany(sql, ([r[c] for c in columns] for r in rows))


class PostgresSide(Side):
    kind = "postgresql"

    def __init__(self, conn: Any, where: str = "") -> None:
        self.conn = conn
        self.where = where

    def secret(self) -> KeptSecret | None:
        from newsletter.store.postgres.secret import read_secret

        return read_secret(self.conn, self.where)

    def keep_secret(self, kept: KeptSecret) -> None:
        from newsletter.store.postgres.secret import write_secret

        write_secret(self.conn, kept)

    def columns(self, table: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND table_schema = "
            "current_schema() ORDER BY ordinal_position",
            (table,),
        ).fetchall()
        return [r[0] for r in rows]

    def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def rows(self, table: str, columns: list[str]) -> Iterator[Row]:
        with self.conn.cursor(name=f"copy_{table}") as cur:  # server-side: any size
            cur.execute(f"SELECT {', '.join(columns)} FROM {table}")
            for row in cur:
                yield dict(zip(columns, row, strict=True))

    def write(self, table: str, columns: list[str], rows: Iterator[Row]) -> None:
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row([r[c] for c in columns])
        if table in SERIAL:
            self.conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT MAX(id) FROM {table}), 1))"
            )


# ------------------------------------------------------------------ translations


def _to_postgres(table: str, row: Row) -> Row:
    if table == "subscribers":
        row["email"] = row.pop("email_key", None) or address_key(row["email"])
    elif table == "deliveries":
        row["papers"] = list(json.loads(row["papers"]))
        row["email_key"] = row.get("email_key") or address_key(row["email"])
    elif table == "sent_papers":
        row["email"] = row.pop("email_key", None) or address_key(row["email"])
    elif table in ("suppressions", "feedback", "bounces"):
        row["email"] = address_key(row["email"])
        if table == "bounces":
            row["cleared"] = bool(row["cleared"])
    return row


def _to_sqlite(table: str, row: Row) -> Row:
    if table == "subscribers":
        row["email_key"] = row["email"]
    elif table == "deliveries":
        row["papers"] = json.dumps(list(row["papers"]))
        row["status"] = "pending" if row["status"] == "claimed" else row["status"]
        row["message"] = None if row["message"] is None else bytes(row["message"])
    elif table == "sent_papers":
        row["email_key"] = row["email"]  # both key sent papers by the address key (SQLite from version 13)
    elif table == "bounces":
        row["cleared"] = int(bool(row["cleared"]))
    elif table == "paper_vectors":
        row["vector"] = bytes(row["vector"])
    return row


def _translate(source: Side, target: Side) -> Callable[[str, Row], Row]:
    if source.kind == target.kind:
        return lambda _table, row: row
    if target.kind == "postgresql":
        return _to_postgres
    return _to_sqlite


# ------------------------------------------------------------------ the copy


def refuse_non_empty(target: Side, where: str) -> None:
    """A target ledger with anything recorded is refused (exit 2): a copy never merges."""
    tables = [t for t in (*TABLES, *POSTGRES_ONLY) if t in _tables_of(target)]
    busy = [t for t in tables if target.count(t)]
    if busy:
        raise LedgerError(
            f"the target ledger is not empty ({', '.join(busy)} hold rows); copy into a new, empty ledger",
            path=where,
        )


def _tables_of(side: Side) -> set[str]:
    return {t for t in (*TABLES, *POSTGRES_ONLY) if side.columns(t)}


def _copy_table(source: Side, target: SqliteSide | PostgresSide, table: str, translate: Any) -> TableCopy | None:
    """One table: the rows of the columns both have, translated; None when one side lacks it."""
    have = source.columns(table)
    if not have or not target.columns(table):
        return None
    rows = (translate(table, row) for row in source.rows(table, have))
    first = next(rows, None)
    if first is not None:
        target.write(table, [c for c in target.columns(table) if c in first], chain([first], rows))
    return TableCopy(table, source.count(table), target.count(table))


def copy_tables(source: Side, target: SqliteSide | PostgresSide) -> list[TableCopy]:
    """Copy every table (the target's transaction is the caller's); one
    :class:`TableCopy` per table, counts compared (:class:`CopyError` on a difference)."""
    translate = _translate(source, target)
    report = [done for table in TABLES if (done := _copy_table(source, target, table, translate)) is not None]
    for table in POSTGRES_ONLY:
        if source.columns(table) and not target.columns(table):
            report.append(TableCopy(table, source.count(table), 0, "several senders only: not in a SQLite ledger"))
    wrong = [r for r in report if r.copied != r.source and not r.note]
    if wrong:
        raise CopyError("the copy does not match its source: " + "; ".join(r.line() for r in wrong))
    return report


@contextmanager
def _side(where: str, password: str | None, *, target: bool) -> Iterator[SqliteSide | PostgresSide]:
    """A ledger opened (the target created or migrated) as a :class:`Side`, inside one
    transaction: a consistent snapshot to read, or everything written or nothing."""
    if is_database_url(where):
        from newsletter.store.postgres import PostgresLedger

        pg = PostgresLedger.open(where, password=password)
        try:
            with pg.conn.transaction():
                if not target:
                    pg.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield PostgresSide(pg.conn, pg.path)
        finally:
            pg.close()
        return
    from newsletter.store.sqlite import SqliteLedger

    lite = SqliteLedger.open(Path(where))
    try:
        lite.conn.execute("BEGIN IMMEDIATE" if target else "BEGIN")
        try:
            yield SqliteSide(lite.conn, lite.spool_dir(), Path(where))
        except BaseException:
            lite.conn.execute("ROLLBACK")
            raise
        lite.conn.execute("COMMIT")
    finally:
        lite.close()


def copy_ledger(
    source: str, target: str, *, source_password: str | None, target_password: str | None
) -> list[TableCopy]:
    """Copy the ledger at ``source`` (a SQLite path or a PostgreSQL URL) into the
    empty ledger at ``target`` (created when missing), between the two backends."""
    if is_database_url(source) == is_database_url(target):
        raise LedgerError(
            "ledger copy moves a ledger between SQLite and PostgreSQL: --to must be the other kind "
            "(copy a SQLite file with sqlite3 .backup, a PostgreSQL database with pg_dump)",
            path=shown(target),
        )
    with _side(source, source_password, target=False) as src, _side(target, target_password, target=True) as dst:
        refuse_non_empty(dst, shown(target))
        report = copy_tables(src, dst)
        return [*report, carry_secret(src, dst)]


def carry_secret(source: Side, target: Side) -> TableCopy:
    """The secret the source keeps becomes the target's (an empty ledger: its own secret
    signed nothing yet), with the day until which path-derived links are accepted: the
    links of the mail already sent stay valid after the move."""
    kept = source.secret()
    if kept is None:
        return TableCopy("secret", 0, 0, "the source keeps none: the target keeps its own")
    target.keep_secret(kept)
    return TableCopy("secret", 1, 1, "the kept secret: links in mail already sent stay valid")
