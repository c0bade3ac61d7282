"""The ledger: what was picked up, what was sent to whom, what waits (SPEC 6).

One SQLite file per configuration (``state:``), in WAL mode with
``synchronous=FULL`` (SPEC 6b: WAL with ``NORMAL`` can lose a committed
transaction on power loss). The schema is versioned with ``PRAGMA user_version``
and migrated when the ledger is opened.

Schema (version 1):

``digests``        one row per digest content seen (``sha256`` unique: a changed
                   file is a new digest); ``status`` ok/failed, ``papers``, ``error``.
                   Row ids grow with pick-up order: they are the ledger's clock.
``digest_papers``  the papers of each digest (position, paper id, JSON record), so
                   that a delivery can be computed from the ledger alone.
``subscribers``    every address once seen, with ``horizon``: the last digest id
                   already considered for it (papers of later digests are new to it).
``deliveries``     one email: Message-ID, status pending/sent/failed, attempts, size,
                   last error, the paper ids, the envelope sender and the exact
                   message bytes (kept until the server accepts it, so a re-send
                   carries the identical message and Message-ID).
``sent_papers``    (email, paper key) of every accepted delivery: never again. A paper
                   is recorded under every identity it has (id, arXiv id, normalised
                   title), so it never comes again under another one.
``runs``           one row per ``send`` pass (start, end, counts) for ``status``.

Version 2 adds:

``suppressions``   addresses that unsubscribed (the one-click endpoint, ``newsletter
                   unsubscribe``) or paused: ``email`` lowercased, ``created_at``,
                   ``source`` (``one-click``, ``cli``, ``pause``) and ``until`` (NULL:
                   for good; else the UNIX time a pause ends). Every send and preview
                   skips an address while its row is active; ``resubscribe`` deletes it.

Version 3 adds the state of a pass to ``runs``: ``serving`` (JSON list of the
addresses it serves, NULL for all), ``upto`` (the last digest id it delivers) and
``resumed_by``. A run with ``finished_at`` NULL and no ``resumed_by`` was interrupted
(SIGTERM, a crash, a full disk); the next ``send`` or ``run`` finishes it.

Errors: every public method (and :meth:`Ledger.open`) turns ``sqlite3`` and OS errors
into a :class:`~newsletter.base.errors.LedgerError` naming the file and what to do
(:func:`ledger_error`, the one place); a full disk is
:class:`~newsletter.base.errors.LedgerFullError` (exit 1). Only a missing ledger is
created (atomically); an empty, foreign, damaged or newer one is refused.

Version 5 adds:

``fetch_sources``  one row per configured source of ``newsletter fetch`` (its key, e.g.
                   ``huggingface`` or ``arxiv-cs.CL+cs.LG``): the URL last asked, the
                   ``ETag`` / ``Last-Modified`` validators of its answer (sent back as
                   ``If-None-Match`` / ``If-Modified-Since`` when the same URL is asked
                   again), when it was last asked, the outcome (``written``,
                   ``unchanged``, ``empty``, ``failed``) with its detail (the file written,
                   or the error), the HTTP status and the time of the last success.
Version 6 adds:

``bounces``        one row per bounce tied to a delivery: ``email`` lowercased, the
                   ``delivery_id``, ``kind`` hard/soft, ``source`` (``smtp``: a 5xx to
                   RCPT/DATA; ``dsn``: a delivery status notification read from the
                   bounce mailbox), the enhanced ``status`` code and the ``diagnostic``,
                   ``report_id`` (the report's Message-ID or mailbox key: a report is
                   never counted twice) and ``cleared`` (set by ``resubscribe``: older
                   bounces no longer count). A bounced delivery keeps its status
                   (``failed`` for a 5xx at RCPT/DATA, ``sent`` for a later DSN):
                   "bounced" is this table joined to ``deliveries``, so the CHECK
                   constraint of ``deliveries`` needs no table rebuild.

Version 7 adds ``feedback`` (issue 17), version 8 ``ignored_files`` (issue 26), version 9
``mail_set_aside`` (issue 20). Version 10 adds:

``paper_vectors``  each paper's sentence embedding (issue 24), computed once when its
                   digest is picked up: ``model`` (the embedding model), ``text_key`` (a
                   hash of the model and the paper's title and abstract), ``vector``
                   (float32 bytes). Written and read by :func:`store_vectors` and
                   :func:`stored_vectors` only.

Version 11 adds ``digests.missing`` (issue 21): the paper ids a text dump links to that
the reader did not read, as a JSON list (NULL: none). A digest with missing ids is
``partial`` (:attr:`DigestRow.shown_status`): its status stays ``ok`` and the papers it
did read are delivered like any other.

Every method commits before it returns: a state change is durable before the
next SMTP step depends on it. Each connection sets ``secure_delete=FAST`` (the
Debian build of SQLite zeroes every freed page by default, which doubled the
writes of dropping a sent message's bytes) and a TEMP trigger that records the
papers of a delivery in ``sent_papers`` when it turns ``sent`` (so that
:meth:`Ledger.record` records a group of accepted messages in one statement).
The connection may be used from one worker thread at a time (the service runs
writes on a single-thread executor).
"""

from __future__ import annotations

import errno
import functools
import inspect
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from newsletter.base.addresses import Suppressions
from newsletter.base.addresses import address_key as address_key
from newsletter.base.errors import LedgerError as LedgerError
from newsletter.base.errors import LedgerFullError as LedgerFullError
from newsletter.base.urls import sqlite_only
from newsletter.digest import Paper, paper_id, unique_papers
from newsletter.store.records import (
    DeliveryRef,
    DigestRow,
    FailedDelivery,
    FeedbackRow,
    FetchState,
    LastDelivery,
    NewDelivery,
    Outcome,
    PendingDelivery,
    SentIssue,
    SubscriberRow,
    Suppression,
    UnfinishedRun,
    iso,
)

T = TypeVar("T")

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE digests (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        path     TEXT NOT NULL,
        sha256   TEXT NOT NULL UNIQUE,
        status   TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
        papers   INTEGER NOT NULL DEFAULT 0,
        error    TEXT,
        seen_at  REAL NOT NULL
    );
    CREATE TABLE digest_papers (
        digest_id INTEGER NOT NULL REFERENCES digests(id),
        position  INTEGER NOT NULL,
        paper_id  TEXT NOT NULL,
        record    TEXT NOT NULL,
        PRIMARY KEY (digest_id, position)
    );
    CREATE INDEX digest_papers_paper ON digest_papers(paper_id);
    CREATE TABLE subscribers (
        email      TEXT PRIMARY KEY,
        first_seen REAL NOT NULL,
        horizon    INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE deliveries (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        email      TEXT NOT NULL,
        message_id TEXT NOT NULL,
        status     TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
        attempts   INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        sent_at    REAL,
        horizon    INTEGER NOT NULL,
        papers     TEXT NOT NULL,
        sender     TEXT NOT NULL,
        size       INTEGER NOT NULL DEFAULT 0,
        message    BLOB
    );
    CREATE INDEX deliveries_status ON deliveries(status);
    CREATE INDEX deliveries_email ON deliveries(email);
    CREATE TABLE sent_papers (
        email       TEXT NOT NULL,
        paper_id    TEXT NOT NULL,
        delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
        PRIMARY KEY (email, paper_id)
    ) WITHOUT ROWID;
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at  REAL NOT NULL,
        finished_at REAL,
        sent        INTEGER NOT NULL DEFAULT 0,
        failed      INTEGER NOT NULL DEFAULT 0,
        pending     INTEGER NOT NULL DEFAULT 0
    );
    """,
    2: """
    CREATE TABLE suppressions (
        email      TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        source     TEXT NOT NULL,
        until      REAL
    ) WITHOUT ROWID;
    """,
    # 3 (reliability): the state of a pass, so that an interrupted one is finished at the
    # next start. A run with finished_at NULL was interrupted (SIGTERM, crash) unless a
    # later run took it over (resumed_by). serving: JSON list of the addresses it served,
    # NULL for all; upto: the last digest id it delivers. Runs left unfinished by older
    # versions say nothing of what they served: they are closed here.
    3: """
    ALTER TABLE runs ADD COLUMN serving TEXT;
    ALTER TABLE runs ADD COLUMN upto INTEGER;
    ALTER TABLE runs ADD COLUMN resumed_by INTEGER;
    UPDATE runs SET finished_at = started_at WHERE finished_at IS NULL;
    """,
    # 4 (issue 12): one paper, one identity. Papers sent before are recorded under their
    # normalised title too, so that they never come again under another id (paper_key is
    # newsletter.digest.paper_id, registered on the connection).
    4: """
    INSERT OR IGNORE INTO sent_papers(email, paper_id, delivery_id)
    SELECT sp.email, paper_key(json_extract(dp.record, '$.title')), sp.delivery_id
    FROM sent_papers sp JOIN digest_papers dp ON dp.paper_id = sp.paper_id
    WHERE json_extract(dp.record, '$.title') IS NOT NULL
    """,
    5: """
    CREATE TABLE fetch_sources (
        source        TEXT PRIMARY KEY,
        url           TEXT NOT NULL,
        etag          TEXT,
        last_modified TEXT,
        checked_at    REAL NOT NULL,
        outcome       TEXT NOT NULL CHECK (outcome IN ('written', 'unchanged', 'empty', 'failed')),
        detail        TEXT,
        http_status   INTEGER,
        ok_at         REAL
    ) WITHOUT ROWID;
    """,
    # 6 (issue 14): bounces, from SMTP replies and from delivery status notifications
    6: """
    CREATE TABLE bounces (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        email       TEXT NOT NULL,
        delivery_id INTEGER REFERENCES deliveries(id),
        kind        TEXT NOT NULL CHECK (kind IN ('hard', 'soft')),
        source      TEXT NOT NULL,
        status      TEXT,
        diagnostic  TEXT,
        report_id   TEXT UNIQUE,
        cleared     INTEGER NOT NULL DEFAULT 0,
        created_at  REAL NOT NULL
    );
    CREATE INDEX bounces_email ON bounces(email, id);
    CREATE INDEX deliveries_sender ON deliveries(sender);
    """,
    # 7 (issue 17): "more/fewer like this" from the email (or `newsletter feedback`), per
    # subscriber (lowercased address) and paper; the latest action wins
    7: """
    CREATE TABLE feedback (
        email      TEXT NOT NULL,
        paper_id   TEXT NOT NULL,
        action     TEXT NOT NULL CHECK (action IN ('like', 'dislike')),
        title      TEXT NOT NULL,
        source     TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (email, paper_id)
    ) WITHOUT ROWID;
    """,
    # 8 (issue 26): files in the digests directory that are not digests (a PDF, an image),
    # named once by `send` and the daemon ("not a digest, ignored"), never again
    8: """
    CREATE TABLE ignored_files (
        path     TEXT PRIMARY KEY,
        kind     TEXT NOT NULL,
        seen_at  REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    # 9 (issue 20, SPEC 6c): mail of the bounce mailbox set aside, for `status`: a report
    # ignored (forged, or about nobody we mailed) with why, a message quarantined (it cannot
    # be read) with why; once per message (a report's id, or the mailbox entry)
    9: """
    CREATE TABLE mail_set_aside (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        message    TEXT NOT NULL UNIQUE,
        kind       TEXT NOT NULL CHECK (kind IN ('ignored', 'quarantined')),
        reason     TEXT NOT NULL,
        detail     TEXT,
        created_at REAL NOT NULL
    );
    """,
    # 10 (issue 24): each paper's sentence embedding, computed once at pick-up, keyed by
    # the model and the paper's text (newsletter.matching.semantic.text_key): float32 bytes
    10: """
    CREATE TABLE paper_vectors (
        model      TEXT NOT NULL,
        text_key   TEXT NOT NULL,
        vector     BLOB NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (model, text_key)
    ) WITHOUT ROWID;
    """,
    # 11 (issue 21): a text dump that links to papers its reader did not read is partial
    11: """
    ALTER TABLE digests ADD COLUMN missing TEXT;
    """,
}
SCHEMA_VERSION = max(_MIGRATIONS)


# Per connection (TEMP: nothing in the file): a delivery turning ``sent`` records its
# papers in ``sent_papers`` within the same statement, so that recording the outcomes
# of a group of SMTP transactions is one autocommit UPDATE (see Ledger.record).
_SENT_TRIGGER = """
CREATE TEMP TRIGGER IF NOT EXISTS deliveries_sent_papers AFTER UPDATE OF status ON main.deliveries
WHEN NEW.status = 'sent' AND OLD.status != 'sent'
BEGIN
    INSERT OR IGNORE INTO sent_papers(email, paper_id, delivery_id)
    SELECT NEW.email, p.value, NEW.id FROM json_each(NEW.papers) p;
END
"""


BUSY_TIMEOUT = 30.0  # seconds a statement waits for another connection's write lock
PROBE_TIMEOUT = 3.0  # at open: how long a lock held by another program may delay us
WAL_PAGES = 256  # checkpoint the WAL every 256 pages (1 MiB)...
WAL_LIMIT = 1 << 20  # ...and cut it back to 1 MiB after each checkpoint


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
def _translated(path: Path | str) -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise ledger_error(path, exc) from None


def _guarded(fn: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(fn)
    def method(self: Ledger, *args: Any, **kwargs: Any) -> T:
        try:
            return fn(self, *args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            raise ledger_error(self.path, exc) from None

    return method


def _nonempty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _unlink_db(path: Path) -> None:
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with suppress(FileNotFoundError):
            name.unlink()


def _paper_key(title: object) -> str | None:
    return paper_id(title) if isinstance(title, str) else None


def paper_from_json(record: dict[str, Any]) -> Paper:
    """The inverse of :meth:`Paper.to_json`."""
    return Paper.from_json(record)


_LAST_DIGEST = "SELECT COALESCE(MAX(id), 0) FROM digests"


suppression_key = address_key  # the older name: how the suppression table spells an address


def _json_list(values: Sequence[str]) -> str | None:
    return json.dumps(list(values)) if values else None


class Ledger:
    """The SQLite ledger. Use :meth:`open` (or the class as a context manager)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self.version = SCHEMA_VERSION

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, path: str | Path) -> Ledger:
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
            conn.execute(_SENT_TRIGGER)
            return ledger
        p = Path(path)
        with _translated(p):
            try:
                size = p.stat().st_size
            except FileNotFoundError:
                cls._create(p)
            else:
                if size == 0 and not _nonempty(p.with_name(p.name + "-wal")):
                    raise LedgerError(
                        "the ledger file is empty (0 bytes): it is not a ledger and is never taken for a new "
                        "one (everything would be sent again); restore it from a backup, or delete it to "
                        "start over",
                        path=str(p),
                    )
            conn = sqlite3.connect(p, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT)
            try:
                ledger = cls(conn, p)
                ledger._check_version(creating=False)  # before anything is written (WAL mode included)
                ledger._configure()
                ledger._probe_write()
                ledger._migrate()
                conn.execute(_SENT_TRIGGER)
            except BaseException:
                conn.close()
                raise
        return ledger

    @classmethod
    def _create(cls, p: Path) -> None:
        """A new ledger at ``p``: made and migrated under a temporary name, then linked
        into place (an existing file at ``p`` by then wins: it is opened instead)."""
        p.parent.mkdir(parents=True, exist_ok=True)
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
            try:
                os.link(tmp, p)
            except FileExistsError:
                pass  # another process created it meanwhile: theirs is the ledger
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
                    raise
                if not p.exists():  # no hard links on this file system
                    os.rename(tmp, p)
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
        # A pass fits on a small disk: the WAL is checkpointed every WAL_PAGES pages (in
        # the commit that crosses it) and cut back to WAL_LIMIT bytes after each one;
        # :meth:`checkpoint` empties it at the end of a pass.
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")

    def _check_version(self, *, creating: bool) -> int:
        version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"ledger schema {version} is newer than this program ({SCHEMA_VERSION}); "
                "upgrade paper-digest (or run the version that wrote it)",
                path=str(self.path),
            )
        if version == 0 and not creating:
            tables = self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
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

    @classmethod
    def open_readonly(cls, path: str | Path) -> Ledger | None:
        """The ledger for reading only (``status``, ``--dry-run``); None when it does not
        exist yet. Never creates or migrates anything."""
        sqlite_only(path)
        p = Path(path)
        with _translated(p):
            if not p.exists():
                return None
            if p.stat().st_size == 0 and not _nonempty(p.with_name(p.name + "-wal")):
                raise LedgerError(
                    "the ledger file is empty (0 bytes), not a ledger; restore it from a backup", path=str(p)
                )
            conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            conn.create_function("paper_key", 1, _paper_key, deterministic=True)
            try:
                ledger = cls(conn, p)
                ledger.version = ledger._check_version(creating=False)
            except BaseException:
                conn.close()
                raise
        return ledger  # an older schema reads as far as it goes (no suppressions in 1)

    def _migrate(self) -> None:
        version = self._check_version(creating=True)
        for target in sorted(t for t in _MIGRATIONS if t > version):
            with self.transaction() as cur:
                # another process may have migrated since we looked (two opening at once)
                if cur.execute("PRAGMA user_version").fetchone()[0] >= target:
                    continue
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        cur.execute(statement)
                cur.execute(f"PRAGMA user_version={target}")

    def close(self) -> None:
        self.conn.close()

    def checkpoint(self) -> None:
        """Move the WAL into the database file and truncate it (the end of a pass)."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def __enter__(self) -> Ledger:
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

    def _rows_in(self, sql: str, values: Sequence[Any]) -> Iterator[Any]:
        """The rows of ``sql`` whose ``{marks}`` is the placeholders of ``values``, queried
        in chunks of :data:`_CHUNK` (the one spelling of a look-up of many keys)."""
        for chunk in _chunks(values):
            yield from self.conn.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)

    # ------------------------------------------------------------------ digests

    def has_digest(self, sha256: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM digests WHERE sha256 = ?", (sha256,)).fetchone()
        return row is not None

    def record_digest(
        self,
        *,
        path: str,
        sha256: str,
        papers: Sequence[Paper] = (),
        error: str | None = None,
        missing: Sequence[str] = (),
    ) -> int:
        """Record a digest picked up (``error`` set: a failed one; ``missing``: the ids it
        links to that were not read, a partial one); returns its id."""
        now = time.time()
        with self.transaction() as cur:
            cur.execute(
                "INSERT INTO digests(path, sha256, status, papers, error, seen_at, missing) VALUES (?,?,?,?,?,?,?)",
                (path, sha256, "failed" if error else "ok", len(papers), error, now, _json_list(missing)),
            )
            digest_id = cur.lastrowid
            assert digest_id is not None
            cur.executemany(
                "INSERT INTO digest_papers(digest_id, position, paper_id, record) VALUES (?,?,?,?)",
                ((digest_id, i, p.id, json.dumps(p.to_json(), ensure_ascii=False)) for i, p in enumerate(papers)),
            )
        return digest_id

    def note_ignored(self, files: Sequence[tuple[str, str]]) -> set[str]:
        """Record files (path, kind) that are not digests; returns the paths not recorded
        before (said once, ever)."""
        now = time.time()
        new: set[str] = set()
        with self.transaction() as cur:
            for path, kind in files:
                cur.execute(
                    "INSERT OR IGNORE INTO ignored_files(path, kind, seen_at) VALUES (?,?,?)", (path, kind, now)
                )
                if cur.rowcount:
                    new.add(path)
        return new

    def digests(self) -> list[DigestRow]:
        if self.version < 11:
            rows = self.conn.execute("SELECT id, path, sha256, status, papers, error, seen_at FROM digests ORDER BY id")
            return [DigestRow(*row) for row in rows]
        rows = self.conn.execute(
            "SELECT id, path, sha256, status, papers, error, seen_at, missing FROM digests ORDER BY id"
        )
        return [
            DigestRow(id_, path, sha, status, papers, error, seen, tuple(json.loads(missing)) if missing else ())
            for id_, path, sha, status, papers, error, seen, missing in rows
        ]

    def last_digest_id(self) -> int:
        row = self.conn.execute(_LAST_DIGEST).fetchone()
        return int(row[0])

    def papers_after(self, horizon: int, upto: int | None = None) -> list[Paper]:
        """Papers of the ok digests with ``horizon < id <= upto``, in pick-up then digest
        order, each paper once (at its first occurrence, merged with its later records:
        same arXiv id or same normalised title, SPEC 2.4)."""
        upto = self.last_digest_id() if upto is None else upto
        rows = self.conn.execute(
            "SELECT dp.paper_id, dp.record FROM digest_papers dp JOIN digests d ON d.id = dp.digest_id "
            "WHERE d.status = 'ok' AND d.id > ? AND d.id <= ? ORDER BY d.id, dp.position",
            (horizon, upto),
        )
        return list(unique_papers(Paper.from_json(json.loads(record)) for _, record in rows))

    # ------------------------------------------------------------------ subscribers

    def register_subscribers(self, emails: Iterable[str]) -> int:
        """Addresses not seen before start at the current digest horizon (papers of
        digests picked up from now on are new to them). Returns how many were new."""
        now = time.time()
        with self.transaction() as cur:
            horizon = cur.execute(_LAST_DIGEST).fetchone()[0]
            before = self.conn.total_changes
            cur.executemany(
                "INSERT OR IGNORE INTO subscribers(email, first_seen, horizon) VALUES (?,?,?)",
                ((e, now, horizon) for e in emails),
            )
            return self.conn.total_changes - before

    def horizons(self, emails: Iterable[str]) -> dict[str, int]:
        wanted = list(emails)
        out: dict[str, int] = {}
        for email, horizon in self._rows_in("SELECT email, horizon FROM subscribers WHERE email IN ({marks})", wanted):
            out[email] = horizon
        return out

    def excluded_papers(self, emails: Iterable[str]) -> dict[str, set[str]]:
        """Per address: papers already sent, plus papers of its pending deliveries
        (they will go out with those, never in a second email)."""
        wanted = list(emails)
        out: dict[str, set[str]] = {e: set() for e in wanted}
        for email, key in self._rows_in("SELECT email, paper_id FROM sent_papers WHERE email IN ({marks})", wanted):
            out[email].add(key)
        pending = "SELECT email, papers FROM deliveries WHERE status = 'pending' AND email IN ({marks})"
        for email, papers in self._rows_in(pending, wanted):
            out[email].update(json.loads(papers))
        return out

    def advance(self, emails: Iterable[str], horizon: int) -> None:
        """Mark digests up to ``horizon`` as considered for addresses that get nothing."""
        with self.transaction() as cur:
            cur.executemany(
                "UPDATE subscribers SET horizon = MAX(horizon, ?) WHERE email = ?", ((horizon, e) for e in emails)
            )

    # ------------------------------------------------------------------ deliveries

    def delivery_counts_by_email(self) -> dict[str, int]:
        """How many deliveries each address has had (numbers its next Message-ID)."""
        return {e: n for e, n in self.conn.execute("SELECT email, COUNT(*) FROM deliveries GROUP BY email")}

    def record(
        self, new_batches: Sequence[tuple[Sequence[NewDelivery], int]] = (), outcomes: Sequence[Outcome] = ()
    ) -> list[list[int]]:
        """The one write path of deliveries, one transaction (one fsync): each of
        ``new_batches`` (deliveries, horizon) recorded ``pending`` (and its subscribers'
        horizon moved), each of ``outcomes`` recorded (``sent``: papers recorded as sent,
        message bytes dropped; ``failed``/``pending``: the error kept). Returns the new
        delivery ids, per batch."""
        now = time.time()
        if not new_batches and all(o.status == "sent" for o in outcomes):
            self._record_sent(now, outcomes)
            return []
        with self.transaction() as cur:
            ids = [self._insert_pending(cur, now, items, horizon) for items, horizon in new_batches]
            self._record_outcomes(cur, now, outcomes)
        return ids

    def _record_sent(self, now: float, outcomes: Sequence[Outcome]) -> None:
        """The common case of a send: outcomes only, all accepted. One statement, its own
        transaction (the trigger records the papers in it): the ledger thread takes and
        gives back the GIL once rather than per statement."""
        if outcomes:
            self.conn.execute(
                "UPDATE deliveries SET status = 'sent', attempts = attempts + json_extract(p.value, '$[1]'), "
                "updated_at = ?1, sent_at = ?1, last_error = NULL, message = NULL "
                "FROM json_each(?2) p WHERE deliveries.id = json_extract(p.value, '$[0]')",
                (now, json.dumps([(o.id, o.attempts) for o in outcomes])),
            )

    @staticmethod
    def _insert_pending(cur: sqlite3.Cursor, now: float, items: Sequence[NewDelivery], horizon: int) -> list[int]:
        ids: list[int] = []
        for item in items:
            cur.execute(
                "INSERT INTO deliveries(email, message_id, status, attempts, created_at, "
                "updated_at, horizon, papers, sender, size, message) "
                "VALUES (?,?,'pending',0,?,?,?,?,?,?,?)",
                (
                    item.email,
                    item.message_id,
                    now,
                    now,
                    horizon,
                    json.dumps(list(item.paper_ids)),
                    item.sender,
                    len(item.message),
                    item.message,
                ),
            )
            assert cur.lastrowid is not None
            ids.append(cur.lastrowid)
        cur.executemany(
            "UPDATE subscribers SET horizon = MAX(horizon, ?) WHERE email = ?",
            ((horizon, item.email) for item in items),
        )
        return ids

    @staticmethod
    def _record_outcomes(cur: sqlite3.Cursor, now: float, outcomes: Sequence[Outcome]) -> None:
        unsent = [o for o in outcomes if o.status != "sent"]
        if unsent:
            cur.executemany(
                "UPDATE deliveries SET status = ?, attempts = attempts + ?, last_error = ?, updated_at = ? "
                "WHERE id = ?",
                ((o.status, o.attempts, o.error, now, o.id) for o in unsent),
            )
        sent = [o for o in outcomes if o.status == "sent"]
        if sent:
            # the trigger records their papers in sent_papers
            cur.executemany(
                "UPDATE deliveries SET status = 'sent', attempts = attempts + ?, updated_at = ?, "
                "sent_at = ?, last_error = NULL, message = NULL WHERE id = ?",
                ((o.attempts, now, now, o.id) for o in sent),
            )

    def pending_ids(self) -> list[int]:
        return [r[0] for r in self.conn.execute("SELECT id FROM deliveries WHERE status = 'pending' ORDER BY id")]

    def pendings(self, ids: Sequence[int]) -> list[PendingDelivery]:
        """The recorded pending deliveries with these ids, with their bytes (in the order
        given; ids no longer pending are left out)."""
        rows: dict[int, PendingDelivery] = {}
        for row in self._rows_in(
            "SELECT id, email, message_id, sender, message, attempts FROM deliveries "
            "WHERE status = 'pending' AND message IS NOT NULL AND id IN ({marks})",
            ids,
        ):
            rows[row[0]] = PendingDelivery(row[0], row[1], row[2], row[3], bytes(row[4]), row[5])
        return [rows[i] for i in ids if i in rows]

    def delivery_counts(self) -> dict[str, int]:
        counts = {"sent": 0, "pending": 0, "failed": 0}
        for status, n in self.conn.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status"):
            counts[status] = n
        return counts

    def failed(self) -> list[FailedDelivery]:
        """(email, error) of every failed delivery, oldest first."""
        return [
            FailedDelivery(e, err or "")
            for e, err in self.conn.execute(
                "SELECT email, last_error FROM deliveries WHERE status = 'failed' ORDER BY id"
            )
        ]

    def deliveries(self, email: str | None = None) -> list[dict[str, Any]]:
        """Every delivery (without the message bytes), oldest first; for tests and tools."""
        sql = (
            "SELECT id, email, message_id, status, attempts, last_error, created_at, updated_at, "
            "sent_at, papers, size FROM deliveries"
        )
        args: tuple[str, ...] = ()
        if email is not None:
            sql += " WHERE email = ?"
            args = (email,)
        out = []
        for row in self.conn.execute(sql + " ORDER BY id", args):
            out.append(
                {
                    "id": row[0],
                    "email": row[1],
                    "message_id": row[2],
                    "status": row[3],
                    "attempts": row[4],
                    "last_error": row[5],
                    "created_at": row[6],
                    "updated_at": row[7],
                    "sent_at": row[8],
                    "papers": json.loads(row[9]),
                    "size": row[10],
                }
            )
        return out

    def sent_issues(self) -> list[SentIssue]:
        """Every accepted delivery (address, Message-ID, when, paper ids), oldest first:
        what the archive is made of, read without the message bytes."""
        rows = self.conn.execute(
            "SELECT email, message_id, COALESCE(sent_at, updated_at), papers FROM deliveries "
            "WHERE status = 'sent' ORDER BY id"
        )
        return [SentIssue(e, mid, float(at), tuple(json.loads(papers))) for e, mid, at, papers in rows]

    def sent_papers(self, email: str) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT paper_id FROM sent_papers WHERE email = ?", (email,))}

    # ------------------------------------------------------------------ suppressions

    def suppress(self, email: str, *, source: str, until: float | None = None) -> bool:
        """Suppress ``email`` (for good, or until ``until`` for a pause). A pause never
        shortens an active unsubscribe for good. Returns True when the address was
        not suppressed before (idempotent otherwise)."""
        key = suppression_key(email)
        now = time.time()
        with self.transaction() as cur:
            row = cur.execute("SELECT until FROM suppressions WHERE email = ?", (key,)).fetchone()
            active = row is not None and (row[0] is None or row[0] > now)
            if active and row is not None and row[0] is None and until is not None:
                return False  # unsubscribed for good: a pause does not lift that
            cur.execute(
                "INSERT INTO suppressions(email, created_at, source, until) VALUES (?,?,?,?) "
                "ON CONFLICT(email) DO UPDATE SET created_at = excluded.created_at, "
                "source = excluded.source, until = excluded.until",
                (key, now, source, until),
            )
            return not active

    def unsuppress(self, email: str, *, horizon: bool = True) -> bool:
        """Lift an active suppression; True when there was one. With ``horizon`` the
        address starts again from the digests picked up from now on (no backlog)."""
        key = suppression_key(email)
        now = time.time()
        with self.transaction() as cur:
            row = cur.execute("SELECT until FROM suppressions WHERE email = ?", (key,)).fetchone()
            cur.execute("DELETE FROM suppressions WHERE email = ?", (key,))
            cur.execute("UPDATE bounces SET cleared = 1 WHERE email = ?", (key,))  # a fresh start
            active = row is not None and (row[0] is None or row[0] > now)
            if active and horizon:
                last = cur.execute(_LAST_DIGEST).fetchone()[0]
                cur.execute("UPDATE subscribers SET horizon = MAX(horizon, ?) WHERE lower(email) = ?", (last, key))
            return active

    def suppression(self, email: str, *, now: float | None = None) -> Suppression | None:
        """The active suppression of ``email``, if any."""
        if self.version < 2:
            return None
        clock = time.time() if now is None else now
        row = self.conn.execute(
            "SELECT email, created_at, source, until FROM suppressions WHERE email = ? "
            "AND (until IS NULL OR until > ?)",
            (suppression_key(email), clock),
        ).fetchone()
        return None if row is None else Suppression(*row)

    def suppressions(self, *, now: float | None = None) -> Suppressions:
        """The actively suppressed addresses as one value (``.active(email)``, ``.filter(subs)``)."""
        return Suppressions(frozenset(self.suppressed(now=now)))

    def suppressed(self, *, now: float | None = None) -> set[str]:
        """Every actively suppressed address (lowercased; compare with :func:`suppression_key`)."""
        if self.version < 2:
            return set()
        clock = time.time() if now is None else now
        return {
            r[0] for r in self.conn.execute("SELECT email FROM suppressions WHERE until IS NULL OR until > ?", (clock,))
        }

    def suppression_counts(self, *, now: float | None = None) -> dict[str, int]:
        """``{"suppressed": active suppressions, "paused": those of them that end}``."""
        if self.version < 2:
            return {"suppressed": 0, "paused": 0}
        clock = time.time() if now is None else now
        total, paused = self.conn.execute(
            "SELECT COUNT(*), COUNT(until) FROM suppressions WHERE until IS NULL OR until > ?", (clock,)
        ).fetchone()
        return {"suppressed": int(total), "paused": int(paused)}

    def cancel_suppressed(self, ids: Iterable[int] | None = None) -> list[DeliveryRef]:
        """Mark pending deliveries to suppressed addresses ``failed`` with the error
        ``unsubscribed`` (``bounced`` for an address suppressed for bouncing; never
        re-sent); ``ids``: only these. Returns (id, email)."""
        now = time.time()
        with self.transaction() as cur:
            rows = cur.execute(
                "SELECT d.id, d.email, s.source FROM deliveries d JOIN suppressions s ON s.email = lower(d.email) "
                "WHERE d.status = 'pending' AND (s.until IS NULL OR s.until > ?) ORDER BY d.id",
                (now,),
            ).fetchall()
            wanted = None if ids is None else set(ids)
            chosen = [(i, e, src) for i, e, src in rows if wanted is None or i in wanted]
            cur.executemany(
                "UPDATE deliveries SET status = 'failed', last_error = ?, updated_at = ?, "
                "message = NULL WHERE id = ? AND status = 'pending'",
                (("bounced" if src == "bounced" else "unsubscribed", now, i) for i, _, src in chosen),
            )
        return [DeliveryRef(i, e) for i, e, _ in chosen]

    # ------------------------------------------------------------------ bounces (issue 14)

    def delivery_for(self, message_id: str) -> DeliveryRef | None:
        """(delivery id, email) of the delivery with this Message-ID (angle brackets optional)."""
        mid = message_id.strip()
        if not mid.startswith("<"):
            mid = f"<{mid}>"
        row = self.conn.execute(
            "SELECT id, email FROM deliveries WHERE message_id = ? ORDER BY id DESC LIMIT 1", (mid,)
        ).fetchone()
        return None if row is None else DeliveryRef(int(row[0]), str(row[1]))

    def delivery_by_sender(self, sender: str) -> DeliveryRef | None:
        """(delivery id, email) of the delivery sent with this envelope sender (a VERP
        return path is unique per delivery)."""
        row = self.conn.execute(
            "SELECT id, email FROM deliveries WHERE sender = ? ORDER BY id DESC LIMIT 1", (sender.lower(),)
        ).fetchone()
        return None if row is None else DeliveryRef(int(row[0]), str(row[1]))

    def last_delivery_to(self, email: str) -> int | None:
        """The newest delivery sent (or refused) to ``email``: a report naming only the
        recipient is tied to it."""
        row = self.conn.execute(
            "SELECT MAX(id) FROM deliveries WHERE lower(email) = ? AND status IN ('sent', 'failed')",
            (suppression_key(email),),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def has_report(self, report_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM bounces WHERE report_id = ?", (report_id,)).fetchone() is not None

    def record_bounce(
        self,
        email: str,
        *,
        kind: str,
        source: str,
        delivery_id: int | None,
        status: str | None = None,
        diagnostic: str | None = None,
        report_id: str | None = None,
        hard_limit: int = 1,
        soft_limit: int = 5,
    ) -> str | None:
        """Record a bounce and apply the suppression policy in one commit: the address is
        suppressed (source ``bounced``) after ``hard_limit`` hard bounces or
        ``soft_limit`` consecutive soft ones. Returns why it was suppressed now, or None
        (also for a report already recorded)."""
        key = suppression_key(email)
        with self.transaction() as cur:
            if (
                report_id is not None
                and cur.execute("SELECT 1 FROM bounces WHERE report_id = ?", (report_id,)).fetchone()
            ):
                return None
            cur.execute(
                "INSERT INTO bounces(email, delivery_id, kind, source, status, diagnostic, report_id, created_at) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (key, delivery_id, kind, source, status, diagnostic, report_id, time.time()),
            )
            hard, soft = self._bounce_counts(cur, key)
            reason = None
            if hard >= hard_limit:
                reason = f"{hard} hard bounce{'s' if hard != 1 else ''}"
            elif soft >= soft_limit:
                reason = f"{soft} consecutive soft bounces"
            if reason is None:
                return None
            now = time.time()
            row = cur.execute("SELECT until FROM suppressions WHERE email = ?", (key,)).fetchone()
            if row is not None and (row[0] is None or row[0] > now):
                return None  # unsubscribed already: keep the user's own reason
            cur.execute(
                "INSERT INTO suppressions(email, created_at, source, until) VALUES (?,?,'bounced',NULL) "
                "ON CONFLICT(email) DO UPDATE SET created_at = excluded.created_at, source = 'bounced', until = NULL",
                (key, now),
            )
            return reason

    @staticmethod
    def _bounce_counts(cur: sqlite3.Cursor, key: str) -> tuple[int, int]:
        """(hard bounces, consecutive soft bounces) of an address since its last resubscribe.
        Soft bounces are consecutive when no delivery between them went through without
        bouncing; they count once per delivery."""
        rows = cur.execute(
            "SELECT delivery_id, kind FROM bounces WHERE email = ? AND cleared = 0 ORDER BY id", (key,)
        ).fetchall()
        hard = sum(1 for _, kind in rows if kind == "hard")
        kinds: dict[int, str] = {}
        for delivery, kind in rows:
            if delivery is not None and kinds.get(delivery) != "hard":
                kinds[delivery] = kind
        soft = 0
        if kinds:
            for (delivery,) in cur.execute(
                "SELECT id FROM deliveries WHERE lower(email) = ? AND id <= ? AND status IN ('sent', 'failed') "
                "ORDER BY id DESC",
                (key, max(kinds)),
            ):
                if kinds.get(delivery) != "soft":
                    break
                soft += 1
        return hard, soft

    def bounced(self) -> list[dict[str, Any]]:
        """Addresses suppressed for bouncing, with why: ``{email, reason, hard, soft,
        status, diagnostic, since}`` (``status``/``diagnostic`` of the last bounce)."""
        if self.version < 6:
            return []
        out: list[dict[str, Any]] = []
        rows = self.conn.execute(
            "SELECT email, created_at FROM suppressions WHERE source = 'bounced' AND until IS NULL ORDER BY email"
        ).fetchall()
        cur = self.conn.cursor()
        for email, since in rows:
            hard, soft = self._bounce_counts(cur, email)
            last = cur.execute(
                "SELECT kind, source, status, diagnostic FROM bounces WHERE email = ? AND cleared = 0 "
                "ORDER BY id DESC LIMIT 1",
                (email,),
            ).fetchone()
            kind, source, status, diagnostic = last if last is not None else (None, None, None, None)
            reason = f"{hard} hard bounce{'s' if hard != 1 else ''}" if hard else f"{soft} consecutive soft bounces"
            if status or diagnostic:
                reason += f" (last: {' '.join(x for x in (status, diagnostic) if x)})"
            out.append(
                {
                    "email": email,
                    "reason": reason,
                    "kind": kind,
                    "source": source,
                    "hard": hard,
                    "soft": soft,
                    "status": status,
                    "diagnostic": diagnostic,
                    "since": iso(since),
                }
            )
        return out

    # ------------------------------------------------------------------ mail set aside (migration 9)

    def record_set_aside(self, message: str, *, kind: str, reason: str, detail: str | None = None) -> bool:
        """Record a bounce report ignored (``kind`` ``ignored``) or a message quarantined
        (``quarantined``), once per ``message``; True when it was not recorded before."""
        with self.transaction() as cur:
            cur.execute(
                "INSERT OR IGNORE INTO mail_set_aside(message, kind, reason, detail, created_at) VALUES (?,?,?,?,?)",
                (message, kind, reason, detail, time.time()),
            )
            return cur.rowcount > 0

    def set_aside(self, kind: str) -> list[dict[str, Any]]:
        """The mail recorded by :meth:`record_set_aside` of one ``kind``, oldest first:
        ``{message, reason, detail, at}``."""
        if self.version < 9:
            return []
        rows = self.conn.execute(
            "SELECT message, reason, detail, created_at FROM mail_set_aside WHERE kind = ? ORDER BY id", (kind,)
        )
        return [{"message": m, "reason": r, "detail": d, "at": iso(t)} for m, r, d, t in rows]

    # ------------------------------------------------------------------ fetch sources (migration 5)

    def fetch_states(self) -> dict[str, FetchState]:
        """Every source's fetch state by source key (empty on a ledger from before fetch)."""
        has = self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fetch_sources'")
        if has.fetchone() is None:
            return {}
        rows = self.conn.execute(
            "SELECT source, url, etag, last_modified, checked_at, outcome, detail, http_status, ok_at "
            "FROM fetch_sources ORDER BY source"
        )
        return {row[0]: FetchState(*row) for row in rows}

    def record_fetch(self, state: FetchState) -> None:
        """Store a source's latest fetch (replacing the previous one)."""
        with self.transaction() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO fetch_sources(source, url, etag, last_modified, checked_at, outcome, "
                "detail, http_status, ok_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    state.source,
                    state.url,
                    state.etag,
                    state.last_modified,
                    state.checked_at,
                    state.outcome,
                    state.detail,
                    state.http_status,
                    state.ok_at,
                ),
            )

    def bounce_count(self) -> int:
        """How many deliveries bounced (a 5xx at RCPT/DATA or a report afterwards)."""
        if self.version < 6:
            return 0
        row = self.conn.execute("SELECT COUNT(DISTINCT delivery_id) FROM bounces").fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ runs

    def start_run(self, serving: Sequence[str] | None = None, resumes: Sequence[int] = ()) -> int:
        """A pass starts: recorded unfinished until :meth:`finish_run`. ``serving``: the
        addresses it serves (None: everybody); ``resumes``: unfinished runs it takes
        over (they count as finished once this one is recorded)."""
        with self.transaction() as cur:
            cur.execute(
                "INSERT INTO runs(started_at, serving) VALUES (?, ?)",
                (time.time(), None if serving is None else json.dumps(list(serving))),
            )
            run_id = cur.lastrowid
            assert run_id is not None
            cur.executemany(
                "UPDATE runs SET resumed_by = ? WHERE id = ? AND finished_at IS NULL", ((run_id, r) for r in resumes)
            )
            return run_id

    def plan_run(self, run_id: int, upto: int) -> None:
        """The pass delivers the digests up to ``upto``: a subscriber it serves whose
        horizon is below that has not been reached yet."""
        self.conn.execute("UPDATE runs SET upto = ? WHERE id = ?", (upto, run_id))

    def unfinished_runs(self) -> list[UnfinishedRun]:
        """Passes interrupted (SIGTERM, crash, a full disk) that no later pass took over."""
        rows = self.conn.execute(
            "SELECT id, started_at, serving, upto FROM runs WHERE finished_at IS NULL AND resumed_by IS NULL "
            "ORDER BY id"
        )
        return [
            UnfinishedRun(i, started, None if serving is None else tuple(json.loads(serving)), upto)
            for i, started, serving, upto in rows
        ]

    def finish_run(self, run_id: int, sent: int, failed: int, pending: int, finished: bool = True) -> None:
        """The counts of a pass; ``finished`` False: it stopped before serving everyone
        it set out to (it stays unfinished, for the next start to finish)."""
        with self.transaction() as cur:
            cur.execute(
                "UPDATE runs SET finished_at = ?, sent = ?, failed = ?, pending = ? WHERE id = ?",
                (time.time() if finished else None, sent, failed, pending, run_id),
            )

    def last_run(self) -> float | None:
        row = self.conn.execute("SELECT MAX(started_at) FROM runs").fetchone()
        return None if row[0] is None else float(row[0])

    # ------------------------------------------------------------------ onboarding (issue 15)

    def last_deliveries(self) -> dict[str, LastDelivery]:
        """Per address (as the ledger spells it): the status and time of its latest delivery."""
        rows = self.conn.execute(
            "SELECT email, status, COALESCE(sent_at, updated_at) FROM deliveries "
            "WHERE id IN (SELECT MAX(id) FROM deliveries GROUP BY email)"
        )
        return {email: LastDelivery(status, float(at)) for email, status, at in rows}

    def subscriber_rows(self, emails: Iterable[str]) -> dict[str, SubscriberRow]:
        """Per known address: (first seen, horizon)."""
        wanted = list(emails)
        out: dict[str, SubscriberRow] = {}
        for email, first, horizon in self._rows_in(
            "SELECT email, first_seen, horizon FROM subscribers WHERE email IN ({marks})", wanted
        ):
            out[email] = SubscriberRow(float(first), int(horizon))
        return out

    def papers_by_id(self, ids: Iterable[str]) -> dict[str, Paper]:
        """The paper of each id, for the archive: every record of it merged in pick-up
        order (the richest value of each field, SPEC 2.4), as the email was rendered
        from the records of its digests (a Hugging Face record and an arXiv record of
        one paper share its arXiv id)."""
        wanted = list(dict.fromkeys(ids))
        records: dict[str, list[Paper]] = {}
        for key, record in self._rows_in(
            "SELECT paper_id, record FROM digest_papers WHERE paper_id IN ({marks}) ORDER BY digest_id, position",
            wanted,
        ):
            records.setdefault(key, []).append(paper_from_json(json.loads(record)))
        out: dict[str, Paper] = {}
        for key, found in records.items():
            merged = unique_papers(found)
            out[key] = merged[0] if len(merged) == 1 else found[-1]
        return out

    def backfill(self, emails: Iterable[str]) -> list[str]:
        """Give addresses that never had a delivery the latest ok digest: their horizon
        moves back to just before it (registering them when new). Returns the addresses
        whose horizon moved. Papers already sent stay excluded as always."""
        now = time.time()
        moved = []
        with self.transaction() as cur:
            row = cur.execute("SELECT MAX(id) FROM digests WHERE status = 'ok'").fetchone()
            if row[0] is None:
                return []
            start = int(row[0]) - 1
            last = cur.execute(_LAST_DIGEST).fetchone()[0]
            for email in emails:
                if cur.execute("SELECT 1 FROM deliveries WHERE email = ? LIMIT 1", (email,)).fetchone():
                    continue
                cur.execute(
                    "INSERT OR IGNORE INTO subscribers(email, first_seen, horizon) VALUES (?,?,?)", (email, now, last)
                )
                cur.execute("UPDATE subscribers SET horizon = ? WHERE email = ? AND horizon > ?", (start, email, start))
                if cur.rowcount:
                    moved.append(email)
        return moved

    # ------------------------------------------------------------------ feedback (issue 17), as methods

    def record_feedback(self, email: str, paper_id: str, action: str, *, title: str, source: str) -> bool:
        """:func:`record_feedback` as a method (the PostgreSQL ledger's spelling)."""
        return record_feedback(self, email, paper_id, action, title=title, source=source)

    def forget_feedback(self, email: str, paper_id: str) -> bool:
        """:func:`forget_feedback` as a method."""
        return forget_feedback(self, email, paper_id)

    def feedback_rows(self, email: str | None = None) -> list[FeedbackRow]:
        """:func:`feedback_rows` as a method."""
        return feedback_rows(self, email)


def record_feedback(ledger: Ledger, email: str, paper_id: str, action: str, *, title: str, source: str) -> bool:
    """Record ``action`` ("like"/"dislike") of ``paper_id`` for ``email``; True when it changed."""
    if action not in ("like", "dislike"):
        raise ValueError(f"action must be like or dislike, not {action!r}")
    key = email.strip().lower()
    with ledger.transaction() as cur:
        row = cur.execute("SELECT action FROM feedback WHERE email = ? AND paper_id = ?", (key, paper_id)).fetchone()
        if row is not None and row[0] == action:
            return False
        cur.execute(
            "INSERT OR REPLACE INTO feedback(email, paper_id, action, title, source, created_at) VALUES (?,?,?,?,?,?)",
            (key, paper_id, action, title, source, time.time()),
        )
    return True


def forget_feedback(ledger: Ledger, email: str, paper_id: str) -> bool:
    """Drop the like/dislike of ``paper_id`` for ``email``; True when there was one."""
    with ledger.transaction() as cur:
        done = cur.execute(
            "DELETE FROM feedback WHERE email = ? AND paper_id = ?", (email.strip().lower(), paper_id)
        ).rowcount
    return bool(done)


def feedback_rows(ledger: Ledger, email: str | None = None) -> list[FeedbackRow]:
    """Every recorded like/dislike (of ``email`` only, when given), oldest first."""
    sql = "SELECT email, paper_id, action, title, source, created_at FROM feedback"
    args: tuple[str, ...] = ()
    if email is not None:
        sql += " WHERE email = ?"
        args = (email.strip().lower(),)
    try:
        rows = ledger.conn.execute(sql + " ORDER BY created_at, paper_id", args).fetchall()
    except sqlite3.OperationalError:  # a read-only ledger from before migration 7: nothing recorded
        return []
    return [FeedbackRow(*row) for row in rows]


def store_vectors(ledger: Ledger, model: str, vectors: Mapping[str, bytes]) -> None:
    """Keep the embedding of each text key (issue 24; an existing one stays)."""
    now = time.time()
    with ledger.transaction() as cur:
        cur.executemany(
            "INSERT OR IGNORE INTO paper_vectors(model, text_key, vector, created_at) VALUES (?,?,?,?)",
            ((model, key, blob, now) for key, blob in vectors.items()),
        )


def stored_vectors(ledger: Ledger, model: str, keys: Iterable[str] | None = None) -> dict[str, bytes]:
    """The stored embeddings of ``model`` (of ``keys`` only, when given): text key -> bytes."""
    if ledger.version < 10:  # a read-only ledger from before migration 10: none yet
        return {}
    if keys is None:
        rows = ledger.conn.execute("SELECT text_key, vector FROM paper_vectors WHERE model = ?", (model,))
        return dict(rows.fetchall())
    sql = "SELECT text_key, vector FROM paper_vectors WHERE model = ? AND text_key IN ({marks})"
    out: dict[str, bytes] = {}
    for chunk in _chunks(list(keys)):
        marks = ",".join("?" * len(chunk))
        out.update(ledger.conn.execute(sql.format(marks=marks), (model, *chunk)).fetchall())
    return out


_CHUNK = 500  # values per ``IN (...)``: well under SQLite's limit of bound parameters


def _guard_methods(cls: type[Ledger]) -> None:
    """Every public method of the ledger turns sqlite3 and OS errors into a
    :class:`LedgerError` (see :func:`ledger_error`): the one place where they do."""
    for name, value in list(vars(cls).items()):
        if name.startswith("_") or name == "transaction" or not inspect.isfunction(value):
            continue
        setattr(cls, name, _guarded(value))


_guard_methods(Ledger)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
