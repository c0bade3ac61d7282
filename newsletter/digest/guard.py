"""Poison digests (SPEC 6): whatever a digest file holds, parsing it ends in a
:class:`~newsletter.base.errors.DigestParseError` naming the file, never in another
exception, and never reads more than :data:`MAX_DIGEST_BYTES` into memory.

:func:`contained` wraps the one entry point of the parsers
(:func:`newsletter.digest.parse_digest`): a ``RecursionError`` (a JSON file nested
100,000 levels deep), a ``MemoryError``, a ``UnicodeError``, a ``ValueError`` or any
other exception of any parser becomes one ``DigestParseError`` line; only
``KeyboardInterrupt`` and ``SystemExit`` (and other non-``Exception`` signals) go
through. :func:`read_limited` reads a file, refusing one larger than the limit
before it is read.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from newsletter.base.errors import DigestParseError

MAX_DIGEST_BYTES = 64 * 1024 * 1024  # 64 MiB: far above any real digest (the seeds are ~100 KB)

P = ParamSpec("P")
R = TypeVar("R")

_WHY = {
    RecursionError: "nested too deeply to parse",
    MemoryError: "too large to parse (out of memory)",
}


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (control characters shown escaped), at most ``limit`` characters."""
    out = "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in " ".join(text.split()))
    return out if len(out) <= limit else out[: limit - 1] + "…"


def contained(parse: Callable[P, R]) -> Callable[P, R]:
    """``parse`` (with a ``source=`` keyword naming the file) raising only
    :class:`DigestParseError`."""

    @functools.wraps(parse)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return parse(*args, **kwargs)
        except DigestParseError:
            raise
        except Exception as exc:  # any parser bug or hostile input: one line, never a traceback
            source = str(kwargs.get("source", "digest"))
            why = next((text for kind, text in _WHY.items() if isinstance(exc, kind)), None)
            detail = one_line(str(exc), 200)
            message = why or f"cannot parse: {type(exc).__name__}" + (f": {detail}" if detail else "")
            raise DigestParseError(message, path=source) from None

    return guarded


def too_large(size: int, *, source: str) -> DigestParseError:
    return DigestParseError(
        f"too large for a digest ({size / 1048576:,.1f} MiB; the limit is {MAX_DIGEST_BYTES // 1048576} MiB)",
        path=source,
    )


def read_limited(path: str | os.PathLike[str], *, limit: int | None = None) -> bytes:
    """The bytes of a file of at most ``limit`` bytes (default :data:`MAX_DIGEST_BYTES`);
    a larger one is a :class:`DigestParseError` without being read (OSError as is)."""
    cap = MAX_DIGEST_BYTES if limit is None else limit
    with open(path, "rb") as f:
        data = f.read(cap + 1)
        if len(data) > cap:
            raise too_large(os.fstat(f.fileno()).st_size, source=str(path))
    return data


_HASHES: dict[tuple[str, int, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """SHA-256 of a (large) file read in chunks; remembered by (path, inode, size, mtime)
    so that a poison file is not hashed again on every poll of the daemon."""
    st = path.stat()
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    sha = _HASHES.get(key)
    if sha is None:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        sha = digest.hexdigest()
        if len(_HASHES) > 256:
            _HASHES.clear()
        _HASHES[key] = sha
    return sha
