"""The shared core steps that commands wire together: digests -> papers -> matches.

``match``, ``preview``, ``send`` and the daemon all go through these functions,
so that what ``match`` explains is exactly what ``preview`` shows and ``send``
delivers.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.config import Config, Subscriber
from newsletter.delivery.pickup import digest_files, scan_digests
from newsletter.digest import Digest, Paper, unique_papers
from newsletter.errors import DigestParseError
from newsletter.matching import Match, PaperIndex, match_papers

if TYPE_CHECKING:
    from newsletter.delivery.ledger import Ledger
    from newsletter.matching.refs import Likes
    from newsletter.matching.similarity import Mode, SimilarityModel

log = logging.getLogger("newsletter.likes")

__all__ = [
    "LikeState",
    "Loaded",
    "Matcher",
    "digest_files",
    "library_papers",
    "like_state_of",
    "likes_of",
    "load_digests",
    "plan",
    "plan_each",
    "read_like_state",
    "select_subscribers",
]


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


# --------------------------------------------------------------------------- issue 17: more like these


@dataclass(frozen=True, slots=True)
class LikeState:
    """What similarity matching needs from the ledger: every paper it holds (the corpus
    the model is fitted on, with the digests at hand and the subscribers' libraries),
    the likes/dislikes recorded from the email or ``newsletter feedback``, by lowercased
    address: (likes, dislikes), and the stored embeddings (text key -> bytes, issue 24)."""

    papers: tuple[Paper, ...] = ()
    feedback: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    vectors: Mapping[str, bytes] = field(default_factory=dict)
    library: tuple[Paper, ...] = ()


def _likes_anything(sub: Subscriber) -> bool:
    return bool(sub.like or sub.dislike or sub.library is not None)


def library_papers(subscribers: Iterable[Subscriber]) -> tuple[Paper, ...]:
    """The papers of every subscriber's library (issue 24), each file read once."""
    from newsletter.library import read_library

    paths = dict.fromkeys(s.library for s in subscribers if s.library is not None)
    out: list[Paper] = []
    for path in paths:
        if path is not None:
            library = read_library(path)
            for warning in library.warnings:  # one line per broken entry, the rest is used
                log.warning("library %s", warning)
            out.extend(library.papers)
    return tuple(out)


def like_state_of(ledger: Ledger | None, subscribers: Sequence[Subscriber] = ()) -> LikeState:
    """The :class:`LikeState` of an open ledger (or none: the libraries only); empty, and no
    paper read, when neither the ledger's feedback nor any of ``subscribers`` likes,
    dislikes or has a library."""
    from newsletter.delivery.ledger import feedback_rows, stored_vectors

    found: dict[str, tuple[list[str], list[str]]] = {}
    for row in feedback_rows(ledger) if ledger is not None else ():
        likes, dislikes = found.setdefault(row.email, ([], []))
        (likes if row.action == "like" else dislikes).append(row.paper_id)
    if not found and not any(_likes_anything(s) for s in subscribers):
        return LikeState()
    vectors: Mapping[str, bytes] = {}
    if ledger is not None and any(s.similarity != "lexical" for s in subscribers):
        from newsletter.matching import semantic

        if semantic.available():
            vectors = stored_vectors(ledger, semantic.MODEL_ID)
    return LikeState(
        papers=tuple(ledger.papers_after(0)) if ledger is not None else (),
        feedback={email: (tuple(a), tuple(b)) for email, (a, b) in found.items()},
        vectors=vectors,
        library=library_papers(subscribers),
    )


def read_like_state(config: Config) -> LikeState:
    """The :class:`LikeState` of the configured ledger, read only (empty without one, or
    when nobody likes anything)."""
    from newsletter.delivery.ledger import Ledger

    ledger = Ledger.open_readonly(config.ledger_path) if config.ledger_path.exists() else None
    if ledger is None:
        return like_state_of(None, config.subscribers)
    with ledger:
        return like_state_of(ledger, config.subscribers)


def likes_of(subscriber: Subscriber, state: LikeState | None = None) -> Likes:
    """The similarity preferences of a subscriber: the YAML ``like``/``dislike`` and the
    ledger's feedback (a paper liked in one and disliked in the other: the ledger wins)."""
    from newsletter.library import read_library
    from newsletter.matching.refs import Likes, ref_keys

    fb_like, fb_dislike = state.feedback.get(subscriber.email.lower(), ((), ())) if state else ((), ())
    overridden = set(fb_like) | set(fb_dislike)

    def keep(refs: tuple[str, ...]) -> tuple[str, ...]:
        if not overridden:
            return refs
        return tuple(r for r in refs if not overridden.intersection(ref_keys(r)))

    library = read_library(subscriber.library) if subscriber.library is not None else None
    return Likes(
        like=(*keep(subscriber.like), *fb_like),
        dislike=(*keep(subscriber.dislike), *fb_dislike),
        threshold=subscriber.like_threshold,
        top=subscriber.like_top,
        library=library.papers if library else (),
        library_weights=library.weights if library else (),
    )


class Matcher:
    """Matches subscribers against one set of papers: the keyword engine for everyone,
    plus similarity (one model per mode, fitted on first need) for subscribers with likes."""

    def __init__(
        self, papers: Sequence[Paper], state: LikeState | None = None, *, index: PaperIndex | None = None
    ) -> None:
        self.papers = tuple(papers)
        self.index = index if index is not None else PaperIndex(self.papers)
        self.state = state or LikeState()
        self._models: dict[str, SimilarityModel] = {}

    def model(self, mode: Mode = "lexical") -> SimilarityModel:
        """The similarity model of the corpus (the ledger's papers, the libraries, the
        papers at hand) in ``mode``."""
        found = self._models.get(mode)
        if found is None:
            from newsletter.matching.similarity import fit

            corpus = unique_papers([*self.state.papers, *self.state.library, *self.papers])
            found = self._models[mode] = fit(corpus, mode, self.state.vectors)
        return found

    def prepare(self, subscribers: Iterable[Subscriber]) -> None:
        """Compute the similarities of every paper ``subscribers`` like with the papers at
        hand in one go (many small matrix products cost far more than one large one)."""
        from newsletter.matching.similarity import rated_rows, resolve_mode

        rows: dict[Mode, set[int]] = {}
        for sub in subscribers:
            if _likes_anything(sub) or sub.email.lower() in self.state.feedback:
                mode = resolve_mode(sub.similarity)
                rows.setdefault(mode, set()).update(rated_rows(self.model(mode), likes_of(sub, self.state)))
        for wanted_mode, wanted in rows.items():
            self.model(wanted_mode).against(self.index).sims(sorted(wanted))

    def match(
        self, subscriber: Subscriber, *, exclude_ids: Collection[str] = frozenset(), limit: int | None = None
    ) -> list[Match]:
        profile = subscriber.profile
        if not _likes_anything(subscriber) and subscriber.email.lower() not in self.state.feedback:
            return match_papers(self.index, profile, exclude_ids=exclude_ids, limit=limit)  # keyword-only: as fast
        likes = likes_of(subscriber, self.state)
        if not likes:
            return match_papers(self.index, profile, exclude_ids=exclude_ids, limit=limit)
        from newsletter.matching.similarity import like_matches, resolve_mode

        keyword = (
            match_papers(self.index, profile, exclude_ids=exclude_ids, limit=len(self.papers))
            if subscriber.keywords or subscriber.require
            else []
        )
        return like_matches(
            self.index,
            self.model(resolve_mode(subscriber.similarity)),
            keyword,
            likes,
            require=subscriber.require,
            exclude=subscriber.exclude,
            stemming=subscriber.stemming,
            exclude_ids=exclude_ids,
            limit=subscriber.max_papers if limit is None else limit,
        )


def plan(
    subscribers: Sequence[Subscriber],
    papers: Sequence[Paper],
    *,
    already_sent: Mapping[str, Collection[str]] | None = None,
    likes: LikeState | None = None,
) -> list[tuple[Subscriber, list[Match]]]:
    """Each subscriber with the papers they get, best first, at most ``max_papers``.

    ``already_sent`` maps an address to the paper ids it was sent before; those
    are never matched again. ``likes``: the ledger's papers and feedback, for the
    subscribers with liked papers (SPEC 4 "More like these").
    """
    return list(plan_each(subscribers, papers, already_sent=already_sent, likes=likes))


def plan_each(
    subscribers: Iterable[Subscriber],
    papers: Sequence[Paper],
    *,
    already_sent: Mapping[str, Collection[str]] | None = None,
    likes: LikeState | None = None,
) -> Iterator[tuple[Subscriber, list[Match]]]:
    """:func:`plan`, one subscriber at a time (``match --json`` streams 100,000 of them)."""
    matcher = Matcher(papers, likes)
    if isinstance(subscribers, Sequence):  # a stream (match --json of 100,000) is matched as it comes
        matcher.prepare(subscribers)
    sent = already_sent or {}
    for sub in subscribers:
        yield sub, matcher.match(sub, exclude_ids=sent.get(sub.email, frozenset()))


def select_subscribers(config: Config, emails: Sequence[str] = ()) -> tuple[Subscriber, ...]:
    """All subscribers, or the ones named (ConfigError for an unknown address)."""
    if not emails:
        return config.subscribers
    return tuple(config.subscriber(e) for e in emails)
