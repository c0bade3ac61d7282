"""Small file-system helpers shared by the commands that write user files."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from newsletter.base.errors import OutputError


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``path`` through a temporary file in the same directory, fsync it, then
    rename it over the target: a reader sees the old content or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def writing(what: str, path: Path) -> Iterator[None]:
    """Writes to an output the user named: an :class:`OSError` becomes an
    :class:`OutputError` naming the path that failed (``path`` when that was a
    temporary file) and why. ``mkdir(exist_ok=True)`` on a file says "File exists":
    told here as what it is, not a directory."""
    try:
        yield
    except OSError as exc:
        failed = os.fspath(exc.filename) if isinstance(exc.filename, (str, os.PathLike)) else ""
        where = failed if failed and not str(failed).endswith(".tmp") else os.fspath(path)
        code = errno.ENOTDIR if exc.errno == errno.EEXIST else exc.errno
        reason = os.strerror(code) if code else str(exc)
        raise OutputError(f"cannot write {what} there ({reason})", path=str(where)) from None
