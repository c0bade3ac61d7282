"""The bounce mailbox: a local Maildir, or an IMAP folder over TLS (stdlib
:mod:`imaplib`).

Both give ``(key, bytes)`` for every message waiting, and :meth:`done` moves a
processed message aside so that it is never read twice:

- Maildir: renamed into the Maildir++ subfolder ``.processed/cur`` (created on
  first use), flagged seen; a crash between recording and renaming leaves it in
  place, and the ledger's ``report_id`` counts it once when it is read again.
- IMAP: ``UID MOVE`` into ``bounces.imap.processed`` (created on first use) where
  the server has MOVE, else ``UID COPY`` + ``\\Deleted`` + ``EXPUNGE``; with
  ``processed: null`` the message is flagged ``\\Seen \\Deleted`` and expunged.
  Messages are fetched with ``BODY.PEEK[]``: reading a message the program leaves
  alone does not mark it seen for the human who shares the mailbox.

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
import ssl
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from newsletter.config import Imap
from newsletter.errors import NewsletterError

log = logging.getLogger("newsletter.bounces")

PROCESSED = "processed"


class MailboxError(NewsletterError):
    """The bounce mailbox cannot be read (exit 1: the work failed, the config is fine)."""


class MaildirBox:
    """A Maildir (``new/`` and ``cur/``); a processed message is renamed into the
    Maildir++ subfolder ``.processed/cur`` (flagged seen): one atomic rename on the
    same file system, the bytes untouched."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not (path / "new").is_dir() or not (path / "cur").is_dir():
            raise MailboxError("not a Maildir (no new/ and cur/ in it)", path=str(path))
        self._ready = False

    def __enter__(self) -> MaildirBox:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    @property
    def name(self) -> str:
        return str(self.path)

    def messages(self) -> Iterator[tuple[str, bytes]]:
        for sub in ("new", "cur"):
            try:
                names = sorted(os.listdir(self.path / sub))
            except OSError as exc:
                raise MailboxError(f"cannot read the Maildir: {exc.strerror or exc}", path=str(self.path)) from None
            for name in names:
                if name.startswith("."):
                    continue
                try:
                    data = (self.path / sub / name).read_bytes()
                except (FileNotFoundError, IsADirectoryError):
                    continue  # taken by another reader meanwhile
                yield f"{sub}/{name}", data

    def done(self, key: str, data: bytes) -> None:
        folder = self.path / f".{PROCESSED}"
        if not self._ready:
            for sub in ("tmp", "new", "cur"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            (folder / "maildirfolder").touch()
            self._ready = True
        name = key.partition("/")[2]
        base, _, info = name.partition(":2,")
        flags = "".join(sorted(set(info) | {"S"}))
        with contextlib.suppress(FileNotFoundError):  # moved by another reader meanwhile
            os.replace(self.path / key, folder / "cur" / f"{base}:2,{flags}")


class ImapBox:
    """An IMAP folder over TLS (or STARTTLS; ``none`` only for a loopback test box)."""

    def __init__(self, settings: Imap, password: str) -> None:
        self.settings = settings
        where = f"{settings.host}:{settings.effective_port}"
        self.where = where
        ctx = ssl.create_default_context()
        if settings.ca_file is not None:
            ctx.load_verify_locations(cafile=str(settings.ca_file))
        if not settings.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        try:
            if settings.security == "tls":
                self.client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    settings.host, settings.effective_port, ssl_context=ctx, timeout=settings.timeout
                )
            else:
                self.client = imaplib.IMAP4(settings.host, settings.effective_port, timeout=settings.timeout)
                if settings.security == "starttls":
                    self.client.starttls(ssl_context=ctx)
        except ssl.SSLError as exc:
            raise MailboxError(f"IMAP TLS with {where} failed: {exc}") from None
        except (TimeoutError, OSError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"cannot connect to the IMAP server {where}: {exc}") from None
        try:
            self.client.login(settings.username, password)
        except imaplib.IMAP4.error as exc:
            self._logout()
            raise MailboxError(f"IMAP login as {settings.username} refused by {where}: {_text(exc)}") from None
        status, _ = self.client.select(_quote(settings.folder))
        if status != "OK":
            self._logout()
            raise MailboxError(f"IMAP folder {settings.folder!r} cannot be opened on {where}")
        try:  # capabilities change after login (MOVE is often announced only then)
            _, caps = self.client.capability()
            announced = b" ".join(c for c in caps if isinstance(c, bytes)).upper().split()
        except (imaplib.IMAP4.error, OSError):
            announced = []
        self._move = b"MOVE" in announced or "MOVE" in self.client.capabilities
        self._created = False

    def __enter__(self) -> ImapBox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self.client.expunge()
            self.client.close()
        except (imaplib.IMAP4.error, OSError):
            pass
        self._logout()

    def _logout(self) -> None:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            self.client.logout()

    @property
    def name(self) -> str:
        return f"imap://{self.where}/{self.settings.folder}"

    def messages(self) -> Iterator[tuple[str, bytes]]:
        status, found = self.client.uid("SEARCH", "UNDELETED")
        if status != "OK":
            raise MailboxError(f"IMAP SEARCH failed on {self.where}")
        uids = found[0].split() if found and found[0] else []
        for uid in uids:
            status, parts = self.client.uid("FETCH", uid, "(BODY.PEEK[])")
            if status != "OK":
                continue
            data = next((p[1] for p in parts if isinstance(p, tuple) and len(p) == 2), None)
            if isinstance(data, bytes):
                yield uid.decode("ascii"), data

    def done(self, key: str, data: bytes) -> None:
        target = self.settings.processed
        if target is None:
            self.client.uid("STORE", key, "+FLAGS", r"(\Seen \Deleted)")
            return
        if not self._created:
            self.client.create(_quote(target))  # NO when it exists: fine
            self._created = True
        if self._move:
            status, _ = self.client.uid("MOVE", key, _quote(target))
            if status == "OK":
                return
        status, _ = self.client.uid("COPY", key, _quote(target))
        if status != "OK":
            raise MailboxError(f"IMAP cannot copy a processed message to {target!r} on {self.where}")
        self.client.uid("STORE", key, "+FLAGS", r"(\Seen \Deleted)")


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return " ".join(text.split())
