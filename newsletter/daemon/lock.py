"""One process per ledger: an advisory ``flock`` on ``<ledger>.lock``.

The kernel releases the lock when the process dies, however it dies, so there is
never a stale lock to clean up (unlike a PID file). ``run`` holds it for its
lifetime; ``send`` holds it for its pass, so a ``send`` while the daemon runs is
refused, and so is a second daemon. On a PostgreSQL ledger (SPEC 6d) the lock is a
no-op: several senders work together there, coordinated by the ledger's claims.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path
from types import TracebackType

from newsletter.base.errors import LedgerBusyError, LedgerError
from newsletter.base.urls import is_database_url


class LedgerLock:
    """Context manager; raises LedgerBusyError (exit 2) when another process holds the lock."""

    def __init__(self, ledger: Path, *, purpose: str) -> None:
        self.path = ledger.with_name(ledger.name + ".lock")
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> None:
        ledger = str(self.path.with_name(self.path.name.removesuffix(".lock")))
        if is_database_url(ledger):
            return  # PostgreSQL: any number of processes on any hosts (SPEC 6d); no lock file
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LedgerError(
                f"cannot create the lock file {self.path.name} ({exc.strerror or exc}): make the ledger's "
                "directory writable for this user",
                path=ledger,
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = _live_holder(os.read(fd, 200).decode("utf-8", "replace"))
            finally:
                os.close(fd)
            raise LedgerBusyError(
                f"another newsletter process is using this ledger ({holder}); refusing to {self.purpose}",
                path=ledger,
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {self.purpose}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> LedgerLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _live_holder(text: str) -> str:
    """What the lock file says about its holder (``pid N: purpose``), only when that
    process is alive: the text is written by the holder after it got the lock, so it
    can be a dead predecessor's (a holder that has not written yet, a lock held
    through an inherited descriptor). Otherwise: "process unknown"."""
    m = re.fullmatch(r"pid (\d+): ([^\x00-\x1f\x7f]{1,100})\s*", text)
    if m:
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            return "process unknown"
        except PermissionError:
            pass  # alive, another user's
        return f"pid {m.group(1)}: {m.group(2)}"
    return "process unknown"
