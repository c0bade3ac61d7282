"""One process per ledger: an advisory ``flock`` on ``<ledger>.lock``.

The kernel releases the lock when the process dies, however it dies, so there is
never a stale lock to clean up (unlike a PID file). ``run`` holds it for its
lifetime; ``send`` holds it for its pass, so a ``send`` while the daemon runs is
refused, and so is a second daemon.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from newsletter.errors import ConfigError


class LedgerLock:
    """Context manager; raises ConfigError (exit 2) when another process holds the lock."""

    def __init__(self, ledger: Path, *, purpose: str) -> None:
        self.path = ledger.with_name(ledger.name + ".lock")
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.read(fd, 200).decode("utf-8", "replace").strip()
            finally:
                os.close(fd)
            raise ConfigError(
                f"another newsletter process is using this ledger ({holder or 'unknown'}); refusing to {self.purpose}",
                path=str(self.path.with_name(self.path.name.removesuffix(".lock"))),
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
