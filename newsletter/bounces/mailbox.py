"""The bounce mailbox: a local Maildir, or an IMAP folder over TLS (stdlib
:mod:`imaplib`).

Both give a :class:`Mail` for every message waiting: its header block (at most
:data:`~newsletter.bounces.dsn.MAX_HEADER_BYTES`), its size, and a reader for the
rest that the caller uses for a delivery report only; nothing reads a whole message
it does not need (SPEC 6c: memory stays bounded whatever the message size).
:meth:`done` moves a processed message aside so that it is never read twice, and
:meth:`quarantine` one that cannot be read (into ``.quarantine/cur`` of the Maildir,
or the IMAP folder ``bounces.imap.quarantine``), never read again either:

- Maildir: renamed into the Maildir++ subfolder ``.processed/cur`` (created on
  first use), flagged seen; a crash between recording and renaming leaves it in
  place, and the ledger's ``report_id`` counts it once when it is read again. An
  entry is opened with ``O_NONBLOCK | O_NOFOLLOW`` and checked to be a regular file
  before anything is read: a FIFO, a directory, a device or a symbolic link in
  ``new/`` is quarantined, never waited on.
- IMAP: ``UID MOVE`` into ``bounces.imap.processed`` (created on first use) where
  the server has MOVE, else ``UID COPY`` + ``\\Deleted`` + ``EXPUNGE``; with
  ``processed: null`` the message is flagged ``\\Seen \\Deleted`` and expunged.
  Only our own messages are expunged (``UID EXPUNGE``, UIDPLUS) and the folder is left
  with UNSELECT, never CLOSE: a message a human sharing the mailbox marked deleted
  (and may still undelete) is not ours to remove. A server without UIDPLUS has only
  the plain EXPUNGE, used only when we flagged something.
  Messages are fetched with ``BODY.PEEK[HEADER]`` (and ``BODY.PEEK[TEXT]`` for a
  report), partial fetches capped at the limits: reading a message the program
  leaves alone does not mark it seen for the human who shares the mailbox. Every
  error of the connection (refused, TLS, a timeout, a disconnect in the middle of a
  FETCH) is one :class:`MailboxError` line; what was recorded before it stays.

Mail that is not ours stays where it is; the caller remembers it (see
:mod:`newsletter.bounces.process`) and asks for the rest only: ``messages(after)`` of
an IMAP folder searches the UIDs above ``after`` (its :attr:`ImapBox.uidvalidity` says
how they are numbered, :attr:`ImapBox.finished` how far the caller got),
``messages(known)`` of a Maildir skips the names in ``known`` (:func:`mail_name`).

:mod:`imaplib` is the standard library's client: it does implicit TLS and STARTTLS
with an :class:`ssl.SSLContext` (certificates verified, the system store plus
``ca_file``), UID commands and MOVE through ``uid()``, which is all this needs; a
third-party client (``imapclient``) would add a dependency for no feature used here.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import os
import re
import socket
import ssl
import stat
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from newsletter.base.cutoff import SocketDeadline
from newsletter.base.errors import NewsletterError
from newsletter.base.tls import tls_context
from newsletter.bounces.dsn import MAX_HEADER_BYTES, MAX_REPORT_BYTES
from newsletter.config import Imap

log = logging.getLogger("newsletter.bounces")

PROCESSED = "processed"
QUARANTINE = "quarantine"
_CHUNK = 64 * 1024
MAX_LITERAL = MAX_REPORT_BYTES + 64 * 1024  # more than any partial fetch of ours asks for
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_ESEARCH_COUNT = re.compile(rb"\bCOUNT (\d+)", re.IGNORECASE)


class MailboxError(NewsletterError):
    """The bounce mailbox cannot be read (exit 1: the work failed, the config is fine)."""


class MessageUnreadable(MailboxError):
    """One message of the mailbox cannot be read past its headers (an I/O error on its
    file): that message is quarantined, the others are read (SPEC 6c)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _no_body(limit: int) -> bytes:
    return b""


@dataclass(frozen=True, slots=True)
class Mail:
    """One message of the mailbox: its header block and size, ``body(limit)`` for the
    rest (at most ``limit`` bytes), or ``error``: why it cannot be read at all."""

    key: str
    head: bytes = b""
    size: int | None = None
    error: str | None = None
    body: Callable[[int], bytes] = _no_body


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"


def _read(fd: int, limit: int) -> bytes:
    out = bytearray()
    while len(out) < limit:
        chunk = os.read(fd, min(_CHUNK, limit - len(out)))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def _read_head(fd: int) -> tuple[bytes, bytes]:
    """(the header block, the bytes read past it), reading at most a little more than
    MAX_HEADER_BYTES (a longer header block comes back whole-too-long, and is refused)."""
    buffer = bytearray()
    while len(buffer) <= MAX_HEADER_BYTES:
        chunk = os.read(fd, _CHUNK)
        if not chunk:
            break
        buffer += chunk
        m = _HEAD_END.search(buffer, max(0, len(buffer) - len(chunk) - 3))
        if m is not None:
            return bytes(buffer[: m.end()]), bytes(buffer[m.end() :])
    return bytes(buffer), b""


def mail_name(key: str) -> str:
    """A Maildir message's lasting name: its file name without the folder and the
    ``:2,flags`` a mail reader changes (``cur/1764.M1.host:2,S`` is ``1764.M1.host``)."""
    return key.rpartition("/")[2].partition(":2,")[0]


class MaildirBox:
    """A Maildir (``new/`` and ``cur/``); a processed message is renamed into the
    Maildir++ subfolder ``.processed/cur`` (flagged seen), one that cannot be read into
    ``.quarantine/cur``: one atomic rename on the same file system, the bytes untouched."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not (path / "new").is_dir() or not (path / "cur").is_dir():
            raise MailboxError("not a Maildir (no new/ and cur/ in it)", path=str(path))
        self._ready: set[str] = set()
        self.present: set[str] = set()  # the names (see mail_name) in new/ and cur/ at the last listing
        self.complete = False  # the last messages() listed both new/ and cur/ to the end
        self.known = 0  # messages skipped by the last messages(): judged and left in an earlier pass

    def __enter__(self) -> MaildirBox:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def identity(self) -> str:
        """The Maildir as the ledger remembers it: this host's path (hosts sharing a
        PostgreSQL ledger have a Maildir each, or read a shared one each on their own)."""
        return f"maildir://{socket.gethostname()}{self.path.resolve()}"

    def messages(self, known: Collection[str] = frozenset()) -> Iterator[Mail]:
        """Every message in ``new/`` and ``cur/`` but those whose name (:func:`mail_name`)
        is in ``known``: judged and left there in an earlier pass, not opened again."""
        self.present, self.complete, self.known = set(), False, 0
        for sub in ("new", "cur"):
            try:
                names = sorted(os.listdir(self.path / sub))
            except OSError as exc:
                raise MailboxError(f"cannot read the Maildir: {exc.strerror or exc}", path=str(self.path)) from None
            for name in names:
                if name.startswith("."):
                    continue
                self.present.add(mail_name(name))
                if mail_name(name) in known:
                    self.known += 1
                else:
                    yield from self._open(f"{sub}/{name}")
        self.complete = True

    def _open(self, key: str) -> Iterator[Mail]:
        try:
            fd = os.open(self.path / key, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # taken by another reader meanwhile
        except OSError as exc:  # a symbolic link (ELOOP), a socket (ENXIO), no permission
            what = "a symbolic link" if os.path.islink(self.path / key) else exc.strerror or str(exc)
            yield Mail(key, error=f"cannot be opened: {what}")
            return
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                yield Mail(key, error=f"not a regular file ({_kind(mode)})")
                return
            size = os.fstat(fd).st_size
            try:
                head, extra = _read_head(fd)
            except OSError as exc:  # an I/O error on this one file: it cannot be read
                yield Mail(key, error=f"cannot be read: {exc.strerror or exc}")
                return

            def body(limit: int) -> bytes:
                try:
                    return (extra + _read(fd, max(0, limit - len(extra))))[:limit]
                except OSError as exc:  # this one file, not the mailbox
                    raise MessageUnreadable(f"cannot be read: {exc.strerror or exc}") from None

            yield Mail(key, head=head, size=size, body=body)
        finally:
            os.close(fd)

    def done(self, key: str) -> None:
        self._aside(key, PROCESSED)

    def quarantine(self, key: str) -> None:
        self._aside(key, QUARANTINE)

    def _aside(self, key: str, folder_name: str) -> None:
        folder = self.path / f".{folder_name}"
        if folder_name not in self._ready:
            for sub in ("tmp", "new", "cur"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            (folder / "maildirfolder").touch()
            self._ready.add(folder_name)
        name = key.partition("/")[2]
        base, _, info = name.partition(":2,")
        flags = "".join(sorted(set(info) | {"S"}))
        try:
            os.replace(self.path / key, folder / "cur" / f"{base}:2,{flags}")
        except FileNotFoundError:
            pass  # moved by another reader meanwhile
        except OSError as exc:
            raise MailboxError(
                f"cannot move {key} into .{folder_name}: {exc.strerror or exc}", path=str(self.path)
            ) from None


class ImapBox:
    """An IMAP folder over TLS (or STARTTLS; ``none`` only for a loopback test box)."""

    def __init__(self, settings: Imap, password: str) -> None:
        self.settings = settings
        self.where = f"{settings.host}:{settings.effective_port}"
        self.client = self._connect(settings)
        try:
            self.client.login(settings.username, password)
        except imaplib.IMAP4.abort as exc:
            self._logout()
            raise MailboxError(f"IMAP connection to {self.where} lost at login: {_text(exc)}") from None
        except imaplib.IMAP4.error as exc:
            self._logout()
            raise MailboxError(f"IMAP login as {settings.username} refused by {self.where}: {_text(exc)}") from None
        except OSError as exc:
            self._logout()
            raise MailboxError(f"IMAP connection to {self.where} lost at login: {_text(exc)}") from None
        with self._errors("SELECT"):
            status, _ = self.client.select(_quote(settings.folder))
        if status != "OK":
            self._logout()
            raise MailboxError(f"IMAP folder {settings.folder!r} cannot be opened on {self.where}")
        try:  # capabilities change after login (MOVE is often announced only then)
            _, caps = self.client.capability()
            announced = b" ".join(c for c in caps if isinstance(c, bytes)).upper().split()
        except (imaplib.IMAP4.error, OSError):
            announced = []
        self._move = b"MOVE" in announced or "MOVE" in self.client.capabilities
        self._uidplus = b"UIDPLUS" in announced or "UIDPLUS" in self.client.capabilities
        self._esearch = b"ESEARCH" in announced or "ESEARCH" in self.client.capabilities
        self.uidvalidity = _uidvalidity(self.client)
        self.finished = 0  # every message up to this UID was judged (and moved aside, or left) this pass
        self.known: int | None = None  # messages below the mark left in the folder (not fetched again)
        self._created: set[str] = set()
        self._deleted: list[str] = []  # UIDs we flagged \Deleted: expunged at the end, no others

    def _connect(self, settings: Imap) -> imaplib.IMAP4:
        ctx = tls_context(settings)  # the system's CAs plus ca_file, as for SMTP
        try:
            if settings.security == "tls":
                return _bounded(
                    imaplib.IMAP4_SSL(settings.host, settings.effective_port, ssl_context=ctx, timeout=settings.timeout)
                )
            client = _bounded(imaplib.IMAP4(settings.host, settings.effective_port, timeout=settings.timeout))
            if settings.security == "starttls":
                client.starttls(ssl_context=ctx)
            return client
        except ssl.SSLError as exc:
            raise MailboxError(f"IMAP TLS with {self.where} failed: {exc}") from None
        except (OSError, EOFError, imaplib.IMAP4.error) as exc:  # TimeoutError is an OSError
            raise MailboxError(f"cannot connect to the IMAP server {self.where}: {_text(exc)}") from None

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Every failure of the connection during ``doing`` as one MailboxError line; the
        whole command within ``bounces.imap.timeout`` (the socket's timeout is per read: a
        server dripping its answer a byte at a time would hold the pass for as long as
        it liked, and the daemon's deliveries wait for the mailbox to be read)."""
        late = MailboxError(
            f"IMAP {self.where}: no answer to {doing} within {self.settings.timeout:g} s (bounces.imap.timeout)"
        )
        cutoff = SocketDeadline(self.settings.timeout, self.client.sock)
        try:
            with cutoff:
                yield
        except MailboxError:
            raise
        except ssl.SSLError as exc:
            if cutoff.expired:
                raise late from None
            raise MailboxError(f"IMAP {self.where}: TLS error during {doing}: {_text(exc)}") from None
        except TimeoutError:
            raise late from None
        except (imaplib.IMAP4.error, OSError, EOFError) as exc:  # imaplib's abort: a disconnect mid-command
            if cutoff.expired:
                raise late from None
            raise MailboxError(f"IMAP {self.where}: connection lost during {doing}: {_text(exc)}") from None

    def __enter__(self) -> ImapBox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None and self._deleted:
                self._expunge()
            if "UNSELECT" in self.client.capabilities:
                self.client.unselect()  # not CLOSE: it would expunge what a human marked deleted
        except (MailboxError, imaplib.IMAP4.error, OSError, EOFError):
            pass  # ours stay flagged deleted (already recorded): a human's client expunges them
        self._logout()

    def _expunge(self) -> None:
        """Remove the messages we flagged deleted: with UIDPLUS only those (``UID
        EXPUNGE``); a server without it has only the EXPUNGE of every deleted message."""
        with self._errors("EXPUNGE"):
            if self._uidplus:
                self.client.uid("EXPUNGE", ",".join(self._deleted))
            else:
                self.client.expunge()

    def _logout(self) -> None:
        with contextlib.suppress(imaplib.IMAP4.error, OSError, EOFError):
            self.client.logout()

    @property
    def name(self) -> str:
        return f"imap://{self.where}/{self.settings.folder}"

    @property
    def identity(self) -> str:
        """The folder as the ledger remembers it (with the user: two accounts on one
        server are two mailboxes); its messages are numbered by :attr:`uidvalidity`."""
        return f"imap://{self.settings.username}@{self.where}/{self.settings.folder}"

    def messages(self, after: int = 0) -> Iterator[Mail]:
        """Every message with a UID above ``after`` (those up to it were judged in an
        earlier pass: see :mod:`newsletter.bounces.process`), in UID order; :attr:`finished`
        follows the caller: the UID of the last message it was done with (moved aside or
        left) when it asked for the next one.

        Also a message a human flagged ``\\Deleted`` and has not expunged: the mark passes
        it, so skipping it would lose it for good if it were undeleted later (a report of
        ours among them: the bounce never counted). It is judged like any other: ours is
        recorded and moved aside (with its flag), other mail left exactly as it is."""
        self.finished = after
        uids = self._search(after)
        self.known = self._count_below(after) if after else 0
        for uid in uids:
            yield self._fetch(str(uid))
            self.finished = uid

    def _search(self, after: int) -> list[int]:
        with self._errors("SEARCH"):
            status, found = self.client.uid("SEARCH", f"UID {after + 1}:*" if after else "ALL")
        if status != "OK":
            raise MailboxError(f"IMAP SEARCH failed on {self.where}")
        words = found[0].split() if found and isinstance(found[0], bytes) else []
        # "n:*" always holds the highest UID, even when it is below n (RFC 3501 6.4.8)
        return sorted(uid for uid in (int(w) for w in words if w.isdigit()) if uid > after)

    def _count_below(self, after: int) -> int | None:
        """How many messages up to ``after`` are still there, in one line of answer
        (ESEARCH ``RETURN (COUNT)``, RFC 4731); None from a server without it."""
        if not self._esearch:
            return None
        with self._errors("SEARCH"):
            status, _ = self.client.uid("SEARCH", "RETURN", "(COUNT)", f"UID 1:{after}")
            _, answer = self.client.response("ESEARCH")
        last = answer[-1] if status == "OK" and answer else None
        count = _ESEARCH_COUNT.search(last) if isinstance(last, bytes) else None
        return int(count.group(1)) if count else None

    def _fetch(self, key: str) -> Mail:
        with self._errors("FETCH"):
            status, parts = self.client.uid("FETCH", key, f"(RFC822.SIZE BODY.PEEK[HEADER]<0.{MAX_HEADER_BYTES + 1}>)")
        literal = next((p for p in parts if isinstance(p, tuple) and len(p) == 2), None)
        if status != "OK" or literal is None or not isinstance(literal[1], bytes):
            return Mail(key, error="the server did not return its headers")
        size = _SIZE.search(literal[0]) if isinstance(literal[0], bytes) else None
        return Mail(key, head=literal[1], size=int(size.group(1)) if size else None, body=self._text_of(key))

    def _text_of(self, uid: str) -> Callable[[int], bytes]:
        def body(limit: int) -> bytes:
            with self._errors("FETCH"):
                status, parts = self.client.uid("FETCH", uid, f"(BODY.PEEK[TEXT]<0.{limit}>)")
            literal = next((p for p in parts if isinstance(p, tuple) and len(p) == 2), None)
            if status != "OK" or literal is None or not isinstance(literal[1], bytes):
                return b""
            return literal[1]

        return body

    def done(self, key: str) -> None:
        target = self.settings.processed
        if target is None:
            with self._errors("STORE"):
                status, _ = self.client.uid("STORE", key, "+FLAGS", r"(\Seen \Deleted)")
            if status != "OK":  # it would stay, below the mark, never read again
                raise MailboxError(f"IMAP cannot flag a processed message deleted on {self.where}")
            self._deleted.append(key)
            return
        self._move_to(key, target)

    def quarantine(self, key: str) -> None:
        self._move_to(key, self.settings.quarantine)

    def _move_to(self, key: str, target: str) -> None:
        with self._errors(f"moving a message to {target!r}"):
            if target not in self._created:
                self.client.create(_quote(target))  # NO when it exists: fine
                self._created.add(target)
            if self._move:
                status, _ = self.client.uid("MOVE", key, _quote(target))
                if status == "OK":
                    return
            status, _ = self.client.uid("COPY", key, _quote(target))
            if status != "OK":
                raise MailboxError(f"IMAP cannot copy a message to {target!r} on {self.where}")
            status, _ = self.client.uid("STORE", key, "+FLAGS", r"(\Seen \Deleted)")
            if status != "OK":
                raise MailboxError(f"IMAP cannot flag a message copied to {target!r} deleted on {self.where}")
            self._deleted.append(key)


def _uidvalidity(client: imaplib.IMAP4) -> int | None:
    """The folder's UIDVALIDITY from the answer to SELECT (None when the server sent
    none: then nothing is remembered between passes)."""
    _, values = client.response("UIDVALIDITY")
    value = values[-1] if values else None
    return int(value) if isinstance(value, bytes) and value.isdigit() else None


def _bounded(client: imaplib.IMAP4) -> imaplib.IMAP4:
    """``client`` refusing a literal larger than :data:`MAX_LITERAL`: imaplib reads a
    ``{N}`` literal whole into memory, and every fetch of ours is a partial one capped
    far below; a server that ignores the cap (or lies) must not fill the memory of the
    daemon that delivers the mail."""
    read = client.read

    def bounded_read(size: int) -> bytes:
        if size > MAX_LITERAL:
            raise imaplib.IMAP4.abort(
                f"the server sent a literal of {size:,} bytes (more than the {MAX_LITERAL:,} asked)"
            )
        return read(size)

    setattr(client, "read", bounded_read)  # noqa: B010 (an instance's method replaced)
    return client


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return " ".join(text.split())
