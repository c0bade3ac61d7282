"""Pick-up: digest files read one way (SPEC 6).

:func:`scan_digests` is the one reader of digest files: ``send`` and the daemon
record what it finds (:func:`pick_up_digests`), ``send --dry-run`` shows it
(:func:`preview_digests`), and ``match``/``preview`` parse with it
(:func:`newsletter.pipeline.load_digests`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from newsletter.config import Config, fetched_file
from newsletter.digest import Digest, Paper, parse_digest
from newsletter.digest.guard import file_sha256, one_line, read_limited
from newsletter.errors import DigestParseError
from newsletter.wording import plural

if TYPE_CHECKING:
    from newsletter.delivery.ledger import Ledger

log = logging.getLogger(__name__)

Status = Literal["ok", "failed", "unreadable", "unsettled"]


def _candidate(p: Path) -> bool:
    """Hidden files and temporary names (``*.tmp``, ``*.part``, ``*~``) are never digests."""
    return p.is_file() and not p.name.startswith(".") and not p.name.endswith((".tmp", ".part", "~"))


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
    images, office files or archives (by extension or magic bytes), in name order."""
    directory = config.digests.directory
    try:
        names = sorted(directory.iterdir())
    except OSError:
        return []
    digests = set(digest_files(config))
    out = []
    for path in names:
        if path in digests or not _candidate(path) or fetched_file(path):
            continue
        kind = file_kind(path)
        if kind is not None:
            out.append(Stray(path, kind))
    return out


def note_strays(config: Config, ledger: Ledger) -> list[Stray]:
    """The stray files not noted in the ledger before (each is said once, ever), now noted."""
    found = stray_files(config)
    if not found:
        return []
    new = ledger.note_ignored([(str(f.path), f.kind) for f in found])
    return [f for f in found if str(f.path) in new]


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


def _scan_one(path: Path, fmt: str, settle: float | None, clock: float, known: Callable[[str], bool]) -> Scanned | None:
    try:
        st = path.stat()
        if settle is not None and clock - st.st_mtime < settle and not fetched_file(path):  # fetched: renamed in whole
            return Scanned(path, "unsettled")
        data = read_limited(path)
    except DigestParseError as exc:  # too large: failed (by the hash of all of it), never read
        try:
            sha = file_sha256(path)
        except OSError as err:
            return _unreadable(path, err)
        return None if known(sha) else Scanned(path, "failed", sha, error=exc)
    except OSError as exc:
        return _unreadable(path, exc)
    sha = hashlib.sha256(data).hexdigest()
    if known(sha):
        return None
    reference = datetime.fromtimestamp(st.st_mtime).date()  # anchors yearless dates
    try:
        digest = parse_digest(data, source=str(path), fmt=fmt, reference=reference)
    except DigestParseError as exc:  # whatever the file holds (SPEC 6: poison digests)
        return Scanned(path, "failed", sha, error=exc)
    return Scanned(path, "ok", sha, digest=digest)


def _unreadable(path: Path, exc: OSError) -> Scanned:
    return Scanned(path, "unreadable", error=DigestParseError(exc.strerror or str(exc), path=str(path)))


@dataclass
class PickUp:
    """Digest files of one pass: recorded ok, recorded failed, not settled yet."""

    ok: list[tuple[str, int]] = field(default_factory=list)  # (path, papers)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, error)
    partial: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (path, ids linked, not read)
    unsettled: list[str] = field(default_factory=list)
    papers: list[Paper] = field(default_factory=list)  # of the ok files (a preview's new papers)

    def add(self, found: Scanned) -> None:
        if found.status == "unsettled":
            self.unsettled.append(str(found.path))
        elif found.status == "failed":
            self.failed.append((str(found.path), failure(found)))
        elif found.digest is not None:
            self.ok.append((str(found.path), len(found.digest.papers)))
            self.papers.extend(found.digest.papers)
            if found.digest.missing:
                self.partial.append((str(found.path), found.digest.missing))


def failure(found: Scanned) -> str:
    """The one line a failed digest is recorded and shown with."""
    return one_line(str(found.error), 500)


def pick_up_digests(
    config: Config, ledger: Ledger, *, now: float | None = None, paths: Sequence[Path] | None = None
) -> PickUp:
    """Record every new, settled digest file (``paths``: the daemon's own list of
    settled files; default: the directory, skipping files modified within
    ``settle_seconds``): ``ok`` with its papers, or ``failed`` with its error, once
    (by its content hash); one INFO line per digest picked up (``send`` and the daemon
    report the failures, once)."""
    out = PickUp()
    settle = config.digests.settle_seconds if paths is None else None
    files = digest_files(config) if paths is None else paths
    for found in scan_digests(files, fmt=config.digests.format, settle=settle, now=now, known=ledger.has_digest):
        if found.status == "unreadable":
            log.warning("%s: cannot read: %s", one_line(str(found.path)), found.error.message if found.error else "")
            continue
        if found.status == "failed":
            ledger.record_digest(path=str(found.path), sha256=found.sha256, error=failure(found))
            log.debug("digest failed: %s", failure(found))  # the caller reports it (once): PickUp.failed
        elif found.digest is not None:
            digest = found.digest
            ledger.record_digest(
                path=str(found.path), sha256=found.sha256, papers=digest.papers, missing=digest.missing
            )
            partial = f", partial: {len(digest.missing)} linked not read" if digest.missing else ""
            log.info("pick-up: %s (%s%s)", found.path, plural(len(digest.papers), "paper"), partial)
        out.add(found)
    embed_new(config, ledger)
    return out


def embed_new(config: Config, ledger: Ledger) -> int:
    """Embed every paper of the ledger and of the subscribers' libraries that has no
    stored vector yet (issue 24): once, at pick-up, never on the sending path. Only with
    the ``semantic`` extra installed and someone to use it: a subscriber not set to
    ``lexical`` who likes, dislikes or has a library, or feedback from the email (papers
    of earlier digests are embedded then). A failure is one log line (matching then
    embeds what it misses). Returns how many."""
    from newsletter.delivery.ledger import feedback_rows, store_vectors, stored_vectors

    semantic_users = [s for s in config.subscribers if s.similarity != "lexical"]
    if not any(s.like or s.dislike or s.library is not None for s in semantic_users):
        emails = {s.email.lower() for s in semantic_users}
        if not any(row.email in emails for row in feedback_rows(ledger)):
            return 0
    from newsletter.matching import semantic

    if not semantic.available():
        return 0
    from newsletter.library import read_library

    libraries = {s.library for s in config.subscribers if s.library is not None}
    papers = [*ledger.papers_after(0), *(p for path in libraries for p in read_library(path).papers)]
    keys = {semantic.text_key(p.title, p.abstract): p for p in papers}
    have = stored_vectors(ledger, semantic.MODEL_ID, keys)
    todo = [(k, p) for k, p in keys.items() if k not in have]
    if not todo:
        return 0
    try:
        vectors = semantic.embedder().embed([(p.title, p.abstract) for _, p in todo])
    except Exception as exc:  # a broken model install: matching embeds what it needs itself
        log.error("cannot embed %d paper(s): %s", len(todo), one_line(str(exc), 300))
        return 0
    store_vectors(
        ledger, semantic.MODEL_ID, {k: v.astype("<f4").tobytes() for (k, _), v in zip(todo, vectors, strict=True)}
    )
    log.info("embedded %d paper(s)", len(todo))
    return len(todo)


def preview_digests(config: Config, ledger: Ledger | None, *, now: float | None = None) -> tuple[list[Paper], PickUp]:
    """What :func:`pick_up_digests` would record, without recording: the papers of
    the new, settled, parseable files (for ``--dry-run``)."""
    out = PickUp()
    known = ledger.has_digest if ledger is not None else None
    for found in scan_digests(
        digest_files(config), fmt=config.digests.format, settle=config.digests.settle_seconds, now=now, known=known
    ):
        out.add(found)
    return out.papers, out
