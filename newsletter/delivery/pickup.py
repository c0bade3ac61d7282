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

if TYPE_CHECKING:
    from newsletter.delivery.ledger import Ledger

log = logging.getLogger(__name__)

Status = Literal["ok", "failed", "unreadable", "unsettled"]


def digest_files(config: Config) -> list[Path]:
    """The digest files in the configured directory, in name order.

    ``digests.pattern`` (one glob or a list) and the names ``newsletter fetch`` writes;
    hidden files and temporary names (``*.tmp``, ``*.part``, ``*~``) are never digests.
    """
    directory = config.digests.directory
    found = {p for pattern in config.digests.patterns for p in directory.glob(pattern)}
    return sorted(
        p for p in found if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".tmp", ".part", "~"))
    )


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
    (by its content hash); one log line each."""
    out = PickUp()
    settle = config.digests.settle_seconds if paths is None else None
    files = digest_files(config) if paths is None else paths
    for found in scan_digests(files, fmt=config.digests.format, settle=settle, now=now, known=ledger.has_digest):
        if found.status == "unreadable":
            log.warning("%s: cannot read: %s", one_line(str(found.path)), found.error.message if found.error else "")
            continue
        if found.status == "failed":
            ledger.record_digest(path=str(found.path), sha256=found.sha256, error=failure(found))
            log.error("digest failed: %s", failure(found))
        elif found.digest is not None:
            digest = found.digest
            ledger.record_digest(
                path=str(found.path), sha256=found.sha256, papers=digest.papers, missing=digest.missing
            )
            partial = f", partial: {len(digest.missing)} linked not read" if digest.missing else ""
            log.info("digest picked up: %s (%d papers%s)", found.path, len(digest.papers), partial)
        out.add(found)
    return out


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
