"""The message spool of a large pass (issue 26): the bytes of rendered messages in plain
files beside the SQLite ledger, written by the render workers, so that neither the pipe
from a worker nor the ledger's write-ahead log carries every message of a pass.

A large ``send`` pass renders in worker processes (:mod:`newsletter.render.pool`). Each
worker appends the messages of a batch to a file of its own in the spool directory
(``<ledger file>-spool/``) and makes them durable (``fsync``) before it answers; the
answer names each message by file, offset and length (:class:`Spooled`). The pass
records the batch ``pending`` with those references instead of the bytes (one
transaction, as before), reads the bytes back from the page cache for the SMTP session,
and never writes them into the ledger. So the guarantee is the one of SPEC 6: a pending
delivery is durable, with its very bytes, before its SMTP transaction.

The spool lives only as long as a pass: :meth:`~newsletter.store.sqlite.SqliteLedger.settle_spool`,
at the start and at the end of every pass, moves the bytes of deliveries still
``pending`` into the ledger and deletes the spool. A ledger between passes is its SQLite
file alone (a backup needs nothing else); a spool survives only a pass that was killed,
and the next pass (or ``ledger copy``) reads it. Bytes that cannot be read back (a spool
file deleted by hand) make their delivery ``failed`` with the file named, never a
message re-sent with other bytes.

Pure file I/O: no SQLite here, so render workers use it without a ledger connection.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SpoolError", "SpoolWriter", "Spooled", "read_each", "read_spooled", "remove_spool", "spool_dir_for"]

SUFFIX = ".msgs"


class SpoolError(Exception):
    """A spooled message that cannot be read back (its file gone or cut short)."""


@dataclass(frozen=True, slots=True)
class Spooled:
    """Where one message's bytes are: ``file`` (a name in the spool directory), its
    ``offset`` and ``length``."""

    file: str
    offset: int
    length: int


def spool_dir_for(ledger: Path) -> Path:
    """The spool directory of the SQLite ledger at ``ledger`` (beside it, as its WAL is)."""
    return ledger.with_name(ledger.name + "-spool")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SpoolWriter:
    """Appends batches of messages to one new file of its own in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.name = ""
        self._fd = -1
        self._size = 0

    def _open(self) -> None:
        self.name = f"{os.getpid()}-{time.time_ns()}{SUFFIX}"
        self._fd = os.open(self.directory / self.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        _fsync_dir(self.directory)  # the new file's name is durable before anything refers to it

    def append(self, messages: Sequence[bytes]) -> list[Spooled]:
        """Write ``messages`` and make them durable; their references, in order."""
        if self._fd < 0:
            self._open()
        refs = []
        at = self._size
        for data in messages:
            refs.append(Spooled(self.name, at, len(data)))
            at += len(data)
        data = b"".join(messages)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)
        self._size = at
        return refs

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_spooled(directory: Path, refs: Sequence[Spooled]) -> list[bytes]:
    """The bytes of each reference, in order (:class:`SpoolError` naming the file when
    one cannot be read back whole)."""
    out: list[bytes] = []
    fds: dict[str, int] = {}
    try:
        for ref in refs:
            fd = fds.get(ref.file)
            if fd is None:
                if "/" in ref.file or ref.file.startswith("."):
                    raise SpoolError(f"{ref.file}: not a spool file name")
                try:
                    fd = fds[ref.file] = os.open(directory / ref.file, os.O_RDONLY)
                except OSError as exc:
                    raise SpoolError(f"{directory / ref.file}: {exc.strerror or exc}") from None
            data = os.pread(fd, ref.length, ref.offset)
            if len(data) != ref.length:
                raise SpoolError(
                    f"{directory / ref.file}: cut short ({ref.offset + len(data)} of {ref.offset + ref.length} bytes)"
                )
            out.append(data)
    finally:
        for fd in fds.values():
            os.close(fd)
    return out


def read_each(directory: Path, refs: Sequence[Spooled]) -> list[bytes | SpoolError]:
    """The bytes of each reference, or the :class:`SpoolError` of each one that cannot be
    read back (one file opened per file, as :func:`read_spooled`, when all can be)."""
    try:
        return list(read_spooled(directory, refs))
    except SpoolError:
        out: list[bytes | SpoolError] = []
        for ref in refs:
            try:
                out.append(read_spooled(directory, [ref])[0])
            except SpoolError as exc:
                out.append(exc)
        return out


def remove_spool(directory: Path, keep: Iterable[str] = ()) -> None:
    """Delete the spool files not in ``keep``, then the directory when it is empty."""
    kept = set(keep)
    try:
        names = os.listdir(directory)
    except OSError:  # gone, or not a folder: nothing of ours
        return
    for name in names:
        if name.endswith(SUFFIX) and name not in kept:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(directory / name)
    with contextlib.suppress(OSError):  # not empty (kept files, or something of the user's): left as it is
        directory.rmdir()
