"""Pick-up (SPEC 6): the digest files read by :mod:`newsletter.digest.scan` (the one
reader), recorded in the ledger once each (:func:`pick_up_digests`: ``send`` and the
daemon), or only shown (:func:`preview_digests`: ``send --dry-run``); the papers
embedded once, at pick-up (:func:`embed_new`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.base.addresses import address_key
from newsletter.base.wording import plural
from newsletter.config import Config
from newsletter.digest import Paper, not_read
from newsletter.digest.guard import one_line
from newsletter.digest.scan import Scanned, Stray, digest_files, scan_digests, stray_files

if TYPE_CHECKING:
    from newsletter.store import Ledger

log = logging.getLogger(__name__)


def note_strays(config: Config, ledger: Ledger) -> list[Stray]:
    """The stray files not noted in the ledger before (each is said once, ever), now noted."""
    found = stray_files(config)
    if not found:
        return []
    new = ledger.note_ignored([(str(f.path), f.kind) for f in found])
    return [f for f in found if str(f.path) in new]


@dataclass
class PickUp:
    """Digest files of one pass: recorded ok, recorded failed, not settled yet, not readable."""

    ok: list[tuple[str, int]] = field(default_factory=list)  # (path, papers)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, error)
    partial: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (path, ids linked, not read)
    unsettled: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # said in one warning each; tried again next time
    papers: list[Paper] = field(default_factory=list)  # of the ok files (a preview's new papers)

    def add(self, found: Scanned) -> None:
        if found.status == "unsettled":
            self.unsettled.append(str(found.path))
        elif found.status == "unreadable":
            self.unreadable.append(str(found.path))
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
            out.add(found)
            continue
        if found.status == "failed":
            ledger.record_digest(path=str(found.path), sha256=found.sha256, error=failure(found))
            log.debug("digest failed: %s", failure(found))  # the caller reports it (once): PickUp.failed
        elif found.digest is not None:
            digest = found.digest
            ledger.record_digest(
                path=str(found.path), sha256=found.sha256, papers=digest.papers, missing=digest.missing
            )
            partial = f", partial: {not_read(digest.missing, short=True)}" if digest.missing else ""
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
    from newsletter.matching import semantic

    if not _semantic_wanted(config, ledger) or not semantic.available():
        return 0
    todo = _not_embedded(config, ledger)
    if not todo:
        return 0
    try:
        vectors = semantic.embedder().embed([(p.title, p.abstract) for _, p in todo])
    except Exception as exc:  # a broken model install: matching embeds what it needs itself
        log.error("cannot embed %d paper(s): %s", len(todo), one_line(str(exc), 300))
        return 0
    ledger.store_vectors(
        semantic.MODEL_ID, {k: v.astype("<f4").tobytes() for (k, _), v in zip(todo, vectors, strict=True)}
    )
    log.info("embedded %d paper(s)", len(todo))
    return len(todo)


def _not_embedded(config: Config, ledger: Ledger) -> list[tuple[str, Paper]]:
    """The papers of the ledger and the libraries without a stored vector (text key, paper),
    once those ``match`` embedded into the libraries' vector files are stored."""
    from newsletter.matching import semantic
    from newsletter.matching.library import read_library
    from newsletter.matching.librarycache import cache_dir_of

    cache = cache_dir_of(config)
    libraries = {s.library for s in config.subscribers if s.library is not None}
    papers = [*ledger.papers_after(0), *(p for path in libraries for p in read_library(path, cache).papers)]
    keys = {semantic.text_key(p.title, p.abstract): p for p in papers}
    have = ledger.stored_vectors(semantic.MODEL_ID, keys)
    todo = [(k, p) for k, p in keys.items() if k not in have]
    known = _library_vectors(cache, libraries, {k for k, _ in todo}) if todo and cache is not None else {}
    if known:
        ledger.store_vectors(semantic.MODEL_ID, known)
    return [(k, p) for k, p in todo if k not in known]


def _library_vectors(cache: Path, libraries: Iterable[Path], wanted: set[str]) -> dict[str, bytes]:
    """The vectors of ``wanted`` (text keys) in the libraries' vector files (written by
    ``match`` or ``preview``, :func:`newsletter.matching.likes.library_vectors`)."""
    from newsletter.matching import semantic
    from newsletter.matching.librarycache import load_vectors

    out: dict[str, bytes] = {}
    for path in libraries:
        found = load_vectors(cache, path, semantic.MODEL_ID, semantic.DIM)
        out.update((k, v) for k, v in found.items() if k in wanted)
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


def _semantic_wanted(config: Config, ledger: Ledger) -> bool:
    """Someone would match by meaning: a subscriber not set to ``lexical`` who likes,
    dislikes or has a library, or who gave feedback from the email."""
    semantic_users = [s for s in config.subscribers if s.similarity != "lexical"]
    if any(s.like or s.dislike or s.library is not None for s in semantic_users):
        return True
    emails = {address_key(s.email) for s in semantic_users}
    return any(row.email in emails for row in ledger.feedback_rows())
