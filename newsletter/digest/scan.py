"""Reading digest files: the one reader (SPEC 6).

:func:`scan_digests` reads, settles, hashes and parses each file: ``send`` and the
daemon record what it finds (:func:`newsletter.delivery.pickup.pick_up_digests`),
``send --dry-run`` shows it, and ``match``/``preview``/``parse`` read with it
(:func:`load_digests`, :func:`read_digest`). :func:`digest_files` lists the
configured folder; :func:`stray_files` names what in it is not a digest.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from newsletter.base.clock import latest_date
from newsletter.base.errors import DigestParseError
from newsletter.config import Config, fetched_file
from newsletter.digest import Digest, Paper, parse_digest, unique_papers
from newsletter.digest.guard import MAX_DIGEST_BYTES, file_sha256, one_line, read_limited

Status = Literal["ok", "failed", "unreadable", "unsettled"]


def _candidate(p: Path) -> bool:
    """Hidden files and temporary names (``*.tmp``, ``*.part``, ``*~``) are never digests."""
    return p.is_file() and _plain_name(p)


def _plain_name(p: Path) -> bool:
    return not p.name.startswith(".") and not p.name.endswith((".tmp", ".part", "~"))


def _not_regular(p: Path) -> str:
    """What a path that is no regular file is, in words."""
    if p.is_symlink() and not p.exists():
        return "a symbolic link that leads nowhere"
    return "a directory" if p.is_dir() else "not a regular file"


def digest_files(config: Config) -> list[Path]:
    """The digest files in the configured directory, in name order.

    ``digests.pattern`` (one glob or a list) and the names ``newsletter fetch`` writes;
    hidden files and temporary names (``*.tmp``, ``*.part``, ``*~``) are never digests.
    """
    directory = config.digests.directory
    found = {p for pattern in config.digests.patterns for p in directory.glob(pattern)}
    return sorted(p for p in found if _candidate(p))


# --------------------------------------------------------------------------- files that are not digests

# What people drop beside their digests (a paper's PDF, a screenshot, a spreadsheet), by
# extension, else by the first bytes of the file.
_KINDS_BY_EXTENSION = {
    **dict.fromkeys(("pdf",), "a PDF"),
    **dict.fromkeys(("png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff", "svg", "heic", "avif"), "an image"),
    **dict.fromkeys(("doc", "docx", "odt", "rtf", "pages"), "a text document"),
    **dict.fromkeys(("xls", "xlsx", "ods", "numbers"), "a spreadsheet"),
    **dict.fromkeys(("ppt", "pptx", "odp", "key"), "a presentation"),
    **dict.fromkeys(("epub", "mobi", "djvu", "ps"), "a document"),
    **dict.fromkeys(("zip", "gz", "tgz", "bz2", "xz", "tar", "7z", "rar"), "an archive"),
}
_KINDS_BY_MAGIC = (
    (b"%PDF-", "a PDF"),
    (b"\x89PNG\r\n\x1a\n", "an image"),
    (b"\xff\xd8\xff", "an image"),
    (b"GIF87a", "an image"),
    (b"GIF89a", "an image"),
    (b"{\\rtf", "a text document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an office document"),  # OLE2: .doc, .xls, .ppt
    (b"PK\x03\x04", "an office document or a zip archive"),  # .docx, .xlsx, .odt, .zip
    (b"\x1f\x8b", "an archive"),  # gzip
)


@dataclass(frozen=True, slots=True)
class Stray:
    """A file in the digests directory that is not a digest: ignored, and said so."""

    path: Path
    kind: str  # "a PDF", "an image", ...

    def line(self) -> str:
        return f"{one_line(str(self.path))}: not a digest ({self.kind}), ignored"


def file_kind(path: Path) -> str | None:
    """What a file that is not a digest is, by its extension, else its magic bytes; None
    for anything else (a text file, a file we cannot read)."""
    kind = _KINDS_BY_EXTENSION.get(path.suffix.lower().lstrip("."))
    if kind is not None:
        return kind
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "an image"
    return next((what for magic, what in _KINDS_BY_MAGIC if head.startswith(magic)), None)


def stray_files(config: Config) -> list[Stray]:
    """Files in the digests directory that no pattern takes and that are documents,
    images, office files or archives (by extension or magic bytes), and names a pattern
    takes that are no regular file (a dangling link, a directory, a FIFO: never read), in
    name order."""
    directory = config.digests.directory
    try:
        names = sorted(directory.iterdir())
    except OSError:
        return []
    digests = set(digest_files(config))
    named = {p for pattern in config.digests.patterns for p in directory.glob(pattern)}
    out = []
    for path in names:
        if path in named and not path.is_file() and _plain_name(path):
            out.append(Stray(path, _not_regular(path)))
        if path in digests or not _candidate(path) or fetched_file(path):
            continue
        kind = file_kind(path)
        if kind is not None:
            out.append(Stray(path, kind))
    return out


@dataclass(frozen=True, slots=True)
class Scanned:
    """One digest file as read: ``ok`` (with its digest), ``failed`` (a parse error or
    too large; with its content hash), ``unreadable`` (an OS error) or ``unsettled``
    (modified within ``settle_seconds``)."""

    path: Path
    status: Status
    sha256: str = ""
    digest: Digest | None = None
    error: DigestParseError | None = None


def scan_digests(
    paths: Iterable[Path],
    *,
    fmt: str = "auto",
    settle: float | None = None,
    now: float | None = None,
    known: Callable[[str], bool] | None = None,
) -> Iterator[Scanned]:
    """Read and parse each file. ``settle``: a file modified within that many seconds
    (and not written whole by ``fetch``) is ``unsettled``; ``known``: a content hash it
    answers true for was recorded before and is skipped (not yielded)."""
    clock = time.time() if now is None else now
    for path in paths:
        found = _scan_one(Path(path), fmt, settle, clock, known or _nothing_known)
        if found is not None:
            yield found


def _nothing_known(_sha: str) -> bool:
    return False


def _scan_one(
    path: Path, fmt: str, settle: float | None, clock: float, known: Callable[[str], bool], source: str | None = None
) -> Scanned | None:
    """One file read (see :func:`scan_digests`); ``source``: how to name it (default: the path)."""
    name = str(path) if source is None else source
    try:
        st = path.stat()
        if settle is not None and clock - st.st_mtime < settle and not fetched_file(path):  # fetched: renamed in whole
            return Scanned(path, "unsettled")
        data = read_limited(path)
    except DigestParseError as exc:  # too large: failed (by the hash of all of it), never read
        if not stat.S_ISREG(st.st_mode):  # a device or a pipe: its end may never come
            endless = f"not a regular file and more than {MAX_DIGEST_BYTES // 1048576} MiB long: not a digest"
            return Scanned(path, "unreadable", error=DigestParseError(endless, path=name))
        try:
            sha = file_sha256(path)
        except OSError as err:
            return _unreadable(path, err, name)
        return None if known(sha) else Scanned(path, "failed", sha, error=exc)
    except OSError as exc:
        return _unreadable(path, exc, name)
    sha = hashlib.sha256(data).hexdigest()
    if known(sha):
        return None
    reference = latest_date(st.st_mtime)  # anchors yearless dates
    try:
        digest = parse_digest(data, source=name, fmt=fmt, reference=reference)
    except DigestParseError as exc:  # whatever the file holds (SPEC 6: poison digests)
        return Scanned(path, "failed", sha, error=exc)
    return Scanned(path, "ok", sha, digest=digest)


def _unreadable(path: Path, exc: OSError, name: str) -> Scanned:
    return Scanned(path, "unreadable", error=DigestParseError(exc.strerror or str(exc), path=name))


def read_digest(path: str | os.PathLike[str], *, fmt: str = "auto") -> Digest:
    """Read and parse one digest file, as :func:`scan_digests` does (the one reader; the
    file's mtime anchors yearless dates); a :class:`DigestParseError` naming it when it
    cannot be read or parsed."""
    found = _scan_one(Path(path), fmt, None, time.time(), _nothing_known, source=str(path))
    assert found is not None  # nothing is "known": every file is read
    if found.digest is None:
        assert found.error is not None
        raise found.error
    return found.digest


@dataclass(frozen=True, slots=True)
class Loaded:
    """Digests read from files; ``papers`` in file then digest order, each paper once
    (records of one paper in several files merged, SPEC 2.4)."""

    digests: tuple[Digest, ...]
    errors: tuple[DigestParseError, ...]
    papers: tuple[Paper, ...]


def load_digests(paths: Sequence[str | Path], *, fmt: str = "auto") -> Loaded:
    """Parse every file (:func:`~newsletter.delivery.pickup.scan_digests`, the one reader);
    a bad file is recorded in ``errors`` and the rest go on."""
    digests: list[Digest] = []
    errors: list[DigestParseError] = []
    for found in scan_digests((Path(p) for p in paths), fmt=fmt):
        if found.digest is not None:
            digests.append(found.digest)
        elif found.error is not None:
            errors.append(found.error)
    papers = unique_papers(p for d in digests for p in d.papers)
    return Loaded(tuple(digests), tuple(errors), papers)
