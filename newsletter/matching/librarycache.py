"""Parsed libraries on disk (SPEC 4 "A library as likes"): a cron ``send``, ``match`` or
``preview`` is a new process each time, and parsing a 17 MB BibTeX of 100,000 entries
takes about a minute; an unchanged library costs a read of its cache file instead.

One JSON file per library file, ``library-<sha256 of its resolved path>.json`` in the
cache directory (:func:`cache_dir_of`: ``<ledger>.cache/`` beside the SQLite ledger, else
``$XDG_CACHE_HOME/paper-digest/``). It holds what the parse gave (the entries and the
warnings, as text) and is used only while the library's resolved path, size,
modification time (ns) and inode are the ones recorded, and the record's
:data:`VERSION` and the package's version are this program's (a new parser never reads
an old parse).

Safe by construction: JSON only (nothing in the file is executed, whoever wrote it), at
most :data:`MAX_CACHE_BYTES` read, a symbolic link or anything but a regular file never
opened; a file that is not such a record (truncated, foreign, of an older version) is
ignored and written anew. Written through a temporary file renamed over the old one
(two processes writing at once leave one whole record). A directory that cannot be
written is one warning a process, and the run goes on without the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any

from newsletter import __version__
from newsletter.base.fsutil import atomic_write
from newsletter.config import Config

log = logging.getLogger("newsletter.likes")

__all__ = [
    "VERSION",
    "Stamp",
    "cache_dir_of",
    "cache_file",
    "load",
    "load_vectors",
    "store",
    "store_vectors",
    "vectors_file",
]

#: Bumped whenever the parser (newsletter.matching.library) or this record changes.
VERSION = 1
FORMAT = "paper-digest library cache"
MAX_CACHE_BYTES = 512 * 2**20  # a parse of a 64 MiB library is about as large; more is not ours

Stamp = tuple[int, int, int]  # size, mtime_ns, inode

_WARNED: set[Path] = set()
_WARNED_LOCK = threading.Lock()


def cache_dir_of(config: Config) -> Path | None:
    """Where the parsed libraries of ``config`` are kept: ``<ledger>.cache/`` beside the
    SQLite ledger (the state directory, writable by whoever runs ``send``); with a
    PostgreSQL ledger, which has no local directory, ``$XDG_CACHE_HOME/paper-digest``
    (``~/.cache/paper-digest``); None (nothing kept) without a home directory either."""
    if config.ledger_url is None:
        return config.ledger_path.with_name(config.ledger_path.name + ".cache")
    base = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(base):  # a relative one is to be ignored (the XDG spec)
        return Path(base) / "paper-digest"
    home = os.path.expanduser("~")
    return Path(home) / ".cache" / "paper-digest" if os.path.isabs(home) else None


def _resolved(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # a link loop: the path as given
        return str(path.absolute())


def cache_file(cache_dir: Path, path: Path) -> Path:
    """The cache file of the library file ``path``."""
    digest = hashlib.sha256(_resolved(path).encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir / f"library-{digest[:32]}.json"


def _key(path: Path, stamp: Stamp) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "package": __version__,
        "path": _resolved(path),
        "name": str(path),  # the warnings name the file as the configuration does
        "stamp": list(stamp),
    }


def _read_regular(file: Path) -> bytes | None:
    """The bytes of ``file`` if it is a regular file (never a link, FIFO or device) of at
    most :data:`MAX_CACHE_BYTES`; else None."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(file, flags)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_CACHE_BYTES:
            return None
        return fh.read(MAX_CACHE_BYTES + 1)


def load(cache_dir: Path, path: Path, stamp: Stamp) -> dict[str, Any] | None:
    """The payload stored for ``path`` as it is now (``stamp``), or None: no cache file,
    or one of another file, state, version or shape (never an error)."""
    try:
        data = _read_regular(cache_file(cache_dir, path))
        record = json.loads(data) if data is not None and len(data) <= MAX_CACHE_BYTES else None
    except (OSError, ValueError, RecursionError):  # unreadable, not JSON (UnicodeDecodeError is one)
        return None
    if not isinstance(record, dict) or not isinstance(record.get("payload"), dict):
        return None
    if any(record.get(k) != v for k, v in _key(path, stamp).items()):
        return None
    payload: dict[str, Any] = record["payload"]
    return payload


def store(cache_dir: Path, path: Path, stamp: Stamp, payload: dict[str, Any]) -> bool:
    """Record ``payload`` for ``path`` in state ``stamp`` (atomically); False, and one
    warning a process for that directory, when it cannot be written."""
    text = json.dumps({**_key(path, stamp), "payload": payload}, separators=(",", ":"))
    return _write(cache_dir, cache_file(cache_dir, path), text.encode("utf-8"))


def _write(cache_dir: Path, file: Path, data: bytes) -> bool:
    try:
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(file, data)
    except OSError as exc:
        with _WARNED_LOCK:
            first = cache_dir not in _WARNED
            _WARNED.add(cache_dir)
        if first:
            reason = exc.strerror or str(exc)
            log.warning("library cache %s cannot be written (%s): libraries are parsed at every run", cache_dir, reason)
        return False
    return True


# --------------------------------------------------------------------------- the entries' embeddings
# The `semantic` extra embeds every library entry (about 7 to 15 a second on a loaded
# machine: a 100,000-entry library is hours). The ledger keeps the vectors of what
# `send` picked up; `match` and `preview` never write the ledger, and before the first
# `send` (or with a new library) the ledger has none. So the vectors of a library's
# entries are kept beside its parse: one binary file, a JSON header line, then the text
# keys (40 hex digits each) and the float32 rows (little-endian): no pickle, sizes checked.

VECTORS = "paper-digest library vectors"
_KEY_BYTES = 40


def vectors_file(cache_dir: Path, path: Path) -> Path:
    return cache_file(cache_dir, path).with_suffix(".vectors")


def _vectors_head(path: Path, model: str, dim: int, count: int) -> dict[str, Any]:
    return {"format": VECTORS, "version": VERSION, "model": model, "dim": dim, "path": _resolved(path), "count": count}


def load_vectors(cache_dir: Path, path: Path, model: str, dim: int) -> dict[str, bytes]:
    """The stored vectors (text key -> ``dim`` float32, little-endian) of the entries of
    the library ``path`` in ``model``; empty for no file or one of another shape."""
    try:
        data = _read_regular(vectors_file(cache_dir, path))
        if data is None or b"\n" not in data[:4096]:
            return {}
        head_end = data.index(b"\n")
        head = json.loads(data[:head_end])
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(head, dict) or type(head.get("count")) is not int:
        return {}
    count, row = head["count"], dim * 4
    if head != _vectors_head(path, model, dim, count) or len(data) != head_end + 1 + count * (_KEY_BYTES + row):
        return {}
    keys = data[head_end + 1 : head_end + 1 + count * _KEY_BYTES]
    rows = memoryview(data)[head_end + 1 + count * _KEY_BYTES :]
    try:
        names = [keys[i : i + _KEY_BYTES].decode("ascii") for i in range(0, len(keys), _KEY_BYTES)]
    except UnicodeDecodeError:
        return {}
    return {name: bytes(rows[i * row : (i + 1) * row]) for i, name in enumerate(names)}


def store_vectors(cache_dir: Path, path: Path, model: str, dim: int, vectors: dict[str, bytes]) -> bool:
    """Record ``vectors`` (all of one library's entries) for ``path`` (atomically); False,
    and one warning a process for that directory, when it cannot be written."""
    good = {k: v for k, v in vectors.items() if len(k) == _KEY_BYTES and k.isascii() and len(v) == dim * 4}
    head = json.dumps(_vectors_head(path, model, dim, len(good)), separators=(",", ":")).encode()
    data = b"".join([head, b"\n", "".join(good).encode("ascii"), *good.values()])
    return _write(cache_dir, vectors_file(cache_dir, path), data)
