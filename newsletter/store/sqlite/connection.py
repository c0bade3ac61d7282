"""The SQLite ledger's connection and durability: opening (only a missing ledger is
created, atomically; an empty, foreign, damaged or newer one is refused), the PRAGMAs,
transactions, schema age, and the one place where ``sqlite3`` and OS errors become a
:class:`~newsletter.base.errors.LedgerError` naming the file and what to do.

Durability (SPEC 6b): WAL with ``synchronous=FULL`` (WAL with ``NORMAL`` can lose a
committed transaction on power loss); every method commits before it returns, so a
state change is durable before the next SMTP step depends on it. ``secure_delete=FAST``
(the Debian build of SQLite zeroes every freed page by default, which doubled the writes
of dropping a sent message's bytes). The WAL is checkpointed every :data:`WAL_PAGES`
pages and cut back to :data:`WAL_LIMIT` bytes, so a pass fits on a small disk. The
connection may be used from one worker thread at a time (the service runs writes on a
single-thread executor).

Schema age: a method that reads a table or column a read-only ledger of an older
version lacks says so with :func:`requires` (the one idiom), and answers as the older
ledger would (nothing recorded).
"""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar, cast

from newsletter.base.addresses import address_key
from newsletter.base.errors import LedgerError, LedgerFullError
from newsletter.base.urls import sqlite_only
from newsletter.digest import paper_id
from newsletter.store.guard import wrap_public_methods
from newsletter.store.keyfile import kept_secret
from newsletter.store.sqlite.migrate import SCHEMA_VERSION, migrate, user_version
from newsletter.store.sqlite.queries import load

T = TypeVar("T")
P = ParamSpec("P")
S = TypeVar("S", bound="SqliteStore")
F = TypeVar("F", bound=Callable[..., Any])

BUSY_TIMEOUT = 30.0  # seconds a statement waits for another connection's write lock
PROBE_TIMEOUT = 3.0  # at open: how long a lock held by another program may delay us
WAL_PAGES = 256  # checkpoint the WAL every 256 pages (1 MiB)...
WAL_LIMIT = 1 << 20  # ...and cut it back to 1 MiB after each checkpoint
CHUNK = 500  # values per ``IN (...)``: well under SQLite's limit of bound parameters


_Q = load("connection")
LAST_DIGEST = _Q["last-digest"]
# Per connection (TEMP: nothing in the file): a delivery turning ``sent`` records its
# papers in ``sent_papers`` within the same statement, so that recording the outcomes
# of a group of SMTP transactions is one autocommit UPDATE (see Outbox.record).
SENT_TRIGGER = _Q["sent-trigger"]

# ------------------------------------------------------------------ errors: the one place

_FIX_READONLY = "make the file, its -wal/-shm files and its directory writable for this user"

# (SQLite error name prefixes, a phrase of the message, the error class, what to say): the
# first that matches says what an sqlite3 error means ({text}: SQLite's own message)
_SQLITE_ERRORS: tuple[tuple[tuple[str, ...], str, type[LedgerError], str], ...] = (
    (
        ("SQLITE_FULL",),
        "disk is full",
        LedgerFullError,
        "no space left on its disk; free some and run again (nothing is lost: what was not "
        "recorded sent is sent by the next run, with the same Message-ID)",
    ),
    (
        ("SQLITE_NOTADB",),
        "not a database",
        LedgerError,
        "not a paper-digest ledger (not a SQLite database); restore the ledger from a backup, or point "
        "state: at another file",
    ),
    (
        ("SQLITE_CORRUPT",),
        "malformed",
        LedgerError,
        "the ledger is damaged ({text}; truncated?); restore it from a backup (it is never replaced "
        "by a new one: everything would be sent again)",
    ),
    (("SQLITE_READONLY",), "readonly", LedgerError, "cannot write the ledger ({text}): " + _FIX_READONLY),
    (
        ("SQLITE_CANTOPEN",),
        "unable to open",
        LedgerError,
        "cannot open the ledger ({text}): check that it and its directory are writable",
    ),
    (
        ("SQLITE_BUSY", "SQLITE_LOCKED"),
        "locked",
        LedgerError,
        "the ledger is locked by another program (database is locked); close it (a sqlite3 shell, "
        "a backup tool) and run again",
    ),
    (("SQLITE_IOERR",), "disk I/O error", LedgerError, "I/O error on the ledger ({text}); check the disk"),
)


def ledger_error(path: Path | str, exc: BaseException) -> LedgerError:
    """What an :mod:`sqlite3` or OS error on the ledger means to its operator: one line
    naming the file and what to do (:class:`LedgerFullError` for a full disk)."""
    where = str(path)
    if isinstance(exc, LedgerError):
        return exc
    if isinstance(exc, OSError):
        return _os_error(where, exc)
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    for prefixes, phrase, kind, message in _SQLITE_ERRORS:
        if name.startswith(prefixes) or phrase in text:
            return kind(message.replace("{text}", text), path=where)
    return LedgerError(f"ledger error: {text}", path=where)


def _os_error(where: str, exc: OSError) -> LedgerError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return LedgerFullError(f"{reason}; free space there and run again", path=where)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return LedgerError(f"cannot write the ledger ({reason}): {_FIX_READONLY}", path=where)
    return LedgerError(f"cannot use the ledger ({reason})", path=where)


@contextmanager
def translated(path: Path | str) -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise ledger_error(path, exc) from None


def _guarded(fn: Callable[Concatenate[S, P], T]) -> Callable[Concatenate[S, P], T]:
    @functools.wraps(fn)
    def method(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(self, *args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            raise ledger_error(self.path, exc) from None

    return method


_UNGUARDED = {"transaction", "open", "open_readonly"}


def guard_methods(cls: type[T]) -> type[T]:
    """Every public method of ``cls`` and of its bases (the repositories) turns sqlite3
    and OS errors into a :class:`LedgerError` (see :func:`ledger_error`): the one place
    where they do."""
    return wrap_public_methods(cls, _guarded, skip=_UNGUARDED)


def requires(version: int, older: Callable[..., Any]) -> Callable[[F], F]:
    """The method reads a table or a column of schema ``version``: on a ledger of an
    older version (opened read-only, never migrated) it answers ``older(ledger)``
    instead (called with the method's arguments): what that ledger holds, read the way
    it can be (mostly: nothing of it)."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def method(self: SqliteStore, /, *args: Any, **kwargs: Any) -> Any:
            if self.version < version:
                return older(self, *args, **kwargs)
            return fn(self, *args, **kwargs)

        return cast(F, method)

    return wrap


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# ------------------------------------------------------------------ the connection


def _paper_key(title: object) -> str | None:
    return paper_id(title) if isinstance(title, str) else None


def _nonempty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _unlink_db(path: Path) -> None:
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with suppress(FileNotFoundError):
            name.unlink()


class SqliteStore:
    """The connection of a SQLite ledger and what every repository of it shares."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self.version = SCHEMA_VERSION

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | Path) -> Self:
        """Open (and migrate) the ledger; a missing file is created, fully migrated, under
        its name at once (never a half-made ledger). Anything else that is not a
        usable ledger of this version is a :class:`LedgerError` naming the file and
        what to do: an empty (0-byte) file, garbage, a truncated file, a newer schema,
        a read-only file or directory, a lock held by another program."""
        sqlite_only(path)  # a postgresql:// state: newsletter.store.choose.open_ledger opens it
        if str(path) == ":memory:":
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            ledger = cls(conn, Path(":memory:"))
            ledger._configure()
            ledger._migrate()
            conn.execute(SENT_TRIGGER)
            return ledger
        p = Path(path)
        with translated(p):
            _check_file(p, creating=True)
            conn = sqlite3.connect(p, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT)
            try:
                ledger = cls(conn, p)
                ledger._check_version(creating=False)  # before anything is written (WAL mode included)
                ledger._configure()
                ledger._probe_write()
                ledger._migrate()
                conn.execute(SENT_TRIGGER)
            except BaseException:
                conn.close()
                raise
        return ledger

    @classmethod
    def open_readonly(cls, path: str | Path) -> Self | None:
        """The ledger for reading only (``status``, ``--dry-run``); None when it does not
        exist yet. Never creates or migrates anything: an older schema reads as far as
        it goes (see :func:`requires`)."""
        sqlite_only(path)
        p = Path(path)
        with translated(p):
            if not p.exists() and not p.is_symlink():  # a dangling link: said by _check_file
                return None
            _check_file(p, creating=False)
            conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            conn.create_function("paper_key", 1, _paper_key, deterministic=True)
            conn.create_function("address_key", 1, address_key, deterministic=True)
            try:
                ledger = cls(conn, p)
                ledger.version = ledger._check_version(creating=False)
            except BaseException:
                conn.close()
                raise
        return ledger

    @classmethod
    def create(cls, p: Path) -> None:
        """A new ledger at ``p``: made and migrated under a temporary name, then linked
        into place (an existing file at ``p`` by then wins: it is opened instead)."""
        p.parent.mkdir(parents=True, exist_ok=True)
        kept_secret(p)  # a new ledger's secret: made before the ledger, so it accepts no path-derived links
        tmp = p.with_name(f".{p.name}.new-{os.getpid()}")
        _unlink_db(tmp)
        try:
            conn = sqlite3.connect(tmp, isolation_level=None, timeout=BUSY_TIMEOUT)
            try:
                ledger = cls(conn, tmp)
                ledger._configure()
                ledger._migrate()
            finally:
                conn.close()  # the last connection: the WAL is checkpointed into the file
            _link_into_place(tmp, p)
        finally:
            _unlink_db(tmp)

    def _configure(self) -> None:
        conn = self.conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        # Debian-built SQLite zeroes every freed page (SECURE_DELETE): dropping a sent
        # message's bytes would write its ~10 overflow pages again, in the commit an
        # SMTP session waits on. FAST still scrubs b-tree pages, not freelist pages.
        conn.execute("PRAGMA secure_delete=FAST")
        conn.create_function("paper_key", 1, _paper_key, deterministic=True)
        conn.create_function("address_key", 1, address_key, deterministic=True)
        # A pass fits on a small disk: the WAL is checkpointed every WAL_PAGES pages (in
        # the commit that crosses it) and cut back to WAL_LIMIT bytes after each one;
        # :meth:`checkpoint` empties it at the end of a pass.
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")

    def _check_version(self, *, creating: bool) -> int:
        version = user_version(self.conn)
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"ledger schema {version} is newer than this program ({SCHEMA_VERSION}); "
                "upgrade paper-digest (or run the version that wrote it)",
                path=str(self.path),
            )
        if version == 0 and not creating:
            tables = self.conn.execute(_Q["tables"]).fetchone()[0]
            what = "a SQLite database of something else" if tables else "an empty SQLite database"
            raise LedgerError(
                f"not a paper-digest ledger ({what}); point state: at the ledger, or move this file away "
                "to start a new one",
                path=str(self.path),
            )
        return version

    def _probe_write(self) -> None:
        """Fail at open, not at the first write, when the ledger cannot be written:
        read-only, or locked by another program (within PROBE_TIMEOUT seconds)."""
        self.conn.execute(f"PRAGMA busy_timeout={int(PROBE_TIMEOUT * 1000)}")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("ROLLBACK")
        finally:
            self.conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")

    def _migrate(self) -> None:
        self._check_version(creating=True)
        migrate(self.conn)

    # ------------------------------------------------------------------ using

    def close(self) -> None:
        self.conn.close()

    def checkpoint(self) -> None:
        """Move the WAL into the database file and truncate it (the end of a pass)."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error). A failed COMMIT (a full disk)
        is rolled back too; the rollback never hides the error that caused it (SQLite
        may already have rolled back by itself)."""
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                with suppress(sqlite3.Error):
                    cur.execute("ROLLBACK")
            raise

    def rows_in(self, sql: str, values: Sequence[Any], *before: Any) -> Iterator[Any]:
        """The rows of ``sql`` whose ``{marks}`` is the placeholders of ``values``, queried
        in chunks of :data:`CHUNK` (the one spelling of a look-up of many keys);
        ``before``: parameters that come before them."""
        for chunk in chunks(values):
            yield from self.conn.execute(sql.format(marks=",".join("?" * len(chunk))), (*before, *chunk))


def _check_file(p: Path, *, creating: bool) -> None:
    """A missing ledger is created (when ``creating``), never through a link that leads
    nowhere; an empty file is never taken for one."""
    try:
        st = p.stat()
    except FileNotFoundError:
        if p.is_symlink():  # its disk not mounted: a new ledger there would send everything again
            raise LedgerError(
                f"the ledger is a link to {os.readlink(p)}, which does not exist (a disk not mounted?); "
                "a new ledger is never made there: mount it, or point state: at the ledger",
                path=str(p),
            ) from None
        if creating:
            SqliteStore.create(p)
        return
    if stat.S_ISDIR(st.st_mode):
        raise LedgerError("the ledger is a directory, not a file; point state: at a file", path=str(p))
    size = st.st_size
    if size == 0 and not _nonempty(p.with_name(p.name + "-wal")):
        if not creating:
            raise LedgerError("the ledger file is empty (0 bytes), not a ledger; restore it from a backup", path=str(p))
        raise LedgerError(
            "the ledger file is empty (0 bytes): it is not a ledger and is never taken for a new "
            "one (everything would be sent again); restore it from a backup, or delete it to "
            "start over",
            path=str(p),
        )


def _link_into_place(tmp: Path, p: Path) -> None:
    try:
        os.link(tmp, p)
    except FileExistsError:
        pass  # another process created it meanwhile: theirs is the ledger
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
            raise
        if not p.exists():  # no hard links on this file system
            os.rename(tmp, p)
