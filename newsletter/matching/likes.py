"""More like these (SPEC 4): what similarity matching needs from the ledger and the
subscribers' libraries (:class:`LikeState`), and a subscriber's likes, dislikes and
library as one :class:`~newsletter.matching.refs.Likes` (:func:`likes_of`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.base.addresses import address_key
from newsletter.config import Config, Subscriber
from newsletter.digest import Paper
from newsletter.store.choose import open_ledger_readonly

if TYPE_CHECKING:
    from newsletter.matching.library import Library
    from newsletter.matching.refs import Likes
    from newsletter.store import Ledger

log = logging.getLogger("newsletter.likes")

__all__ = [
    "LikeState",
    "library_papers",
    "library_vectors",
    "like_state_of",
    "likes_anything",
    "likes_of",
    "read_like_state",
]


@dataclass(frozen=True, slots=True)
class LikeState:
    """What similarity matching needs from the ledger: every paper it holds (the corpus
    the model is fitted on, with the digests at hand and the subscribers' libraries),
    the likes/dislikes recorded from the email or ``newsletter feedback``, by lowercased
    address: (likes, dislikes), and the stored embeddings (text key -> bytes, issue 24);
    ``library_cache``: where the parsed libraries are kept between runs (None: not kept)."""

    papers: tuple[Paper, ...] = ()
    feedback: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    vectors: Mapping[str, bytes] = field(default_factory=dict)
    library: tuple[Paper, ...] = ()
    library_cache: Path | None = None


def likes_anything(sub: Subscriber) -> bool:
    return bool(sub.like or sub.dislike or sub.library is not None)


def _libraries(subscribers: Iterable[Subscriber], cache: Path | None) -> dict[Path, Library]:
    """Every subscriber's library (issue 24), each file read once, its warnings logged."""
    from newsletter.matching.library import read_library

    out: dict[Path, Library] = {}
    for path in dict.fromkeys(s.library for s in subscribers if s.library is not None):
        if path is not None:
            out[path] = library = read_library(path, cache)
            for warning in library.warnings:  # one line per broken entry, the rest is used
                log.warning("library %s", warning)
    return out


def library_papers(subscribers: Iterable[Subscriber], cache: Path | None = None) -> tuple[Paper, ...]:
    """The papers of every subscriber's library (issue 24), each file read once (its parse
    kept in the directory ``cache``: :mod:`newsletter.matching.librarycache`)."""
    return tuple(p for library in _libraries(subscribers, cache).values() for p in library.papers)


def library_vectors(libraries: Iterable[Library], stored: Mapping[str, bytes], cache: Path) -> dict[str, bytes]:
    """The embeddings (text key -> bytes) of the entries of ``libraries`` that ``stored``
    (the ledger's) lacks: from each library's vector file in ``cache``, the rest embedded
    now and that file written, so that no later run embeds them again (``match`` and
    ``preview`` never write the ledger). An embedding failure is one log line: matching
    then embeds what it misses, as before."""
    from newsletter.matching import semantic
    from newsletter.matching.librarycache import load_vectors, store_vectors

    out: dict[str, bytes] = {}
    for library in libraries:
        keys = {semantic.text_key(p.title, p.abstract): p for p in library.papers}
        if all(k in stored for k in keys):
            continue
        have = load_vectors(cache, library.path, semantic.MODEL_ID, semantic.DIM)
        todo = [(k, p) for k, p in keys.items() if k not in stored and k not in have]
        if todo:
            log.info("library %s: embedding %d entries (once: kept in %s)", library.path, len(todo), cache)
            embedded = _embedded(library, todo)
            if embedded is None:
                continue
            have.update(embedded)
        current = {k: have[k] if k in have else stored[k] for k in keys}
        if todo or have.keys() != keys.keys():
            store_vectors(cache, library.path, semantic.MODEL_ID, semantic.DIM, current)
        out.update(current)
    return out


def _embedded(library: Library, todo: list[tuple[str, Paper]]) -> dict[str, bytes] | None:
    from newsletter.matching import semantic

    try:
        rows = semantic.embedder().embed([(p.title, p.abstract) for _, p in todo])
    except Exception as exc:  # a broken model install: matching embeds what it needs itself
        from newsletter.digest.guard import one_line

        log.error("library %s: cannot embed %d entries: %s", library.path, len(todo), one_line(str(exc), 300))
        return None
    return {k: row.astype("<f4").tobytes() for (k, _), row in zip(todo, rows, strict=True)}


def _vectors(
    ledger: Ledger | None, subscribers: Sequence[Subscriber], libraries: Mapping[Path, Library], cache: Path | None
) -> Mapping[str, bytes]:
    """The stored embeddings: the ledger's, and those of the libraries of the subscribers
    who match by meaning (:func:`library_vectors`); none unless the extra is installed."""
    if not any(s.similarity != "lexical" for s in subscribers):
        return {}
    from newsletter.matching import semantic

    if not semantic.available():
        return {}
    vectors = ledger.stored_vectors(semantic.MODEL_ID) if ledger is not None else {}
    wanted = [s.library for s in subscribers if s.library is not None and s.similarity != "lexical"]
    chosen = [libraries[p] for p in dict.fromkeys(wanted) if p in libraries]
    if cache is None or not chosen:
        return vectors
    return {**vectors, **library_vectors(chosen, vectors, cache)}


def like_state_of(
    ledger: Ledger | None, subscribers: Sequence[Subscriber] = (), *, cache: Path | None = None
) -> LikeState:
    """The :class:`LikeState` of an open ledger (or none: the libraries only); empty, and no
    paper read, when neither the ledger's feedback nor any of ``subscribers`` likes,
    dislikes or has a library. ``cache``: the directory of the parsed libraries and of
    their entries' embeddings (:func:`~newsletter.matching.librarycache.cache_dir_of`)."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for row in ledger.feedback_rows() if ledger is not None else ():
        likes, dislikes = found.setdefault(row.email, ([], []))
        (likes if row.action == "like" else dislikes).append(row.paper_id)
    if not found and not any(likes_anything(s) for s in subscribers):
        return LikeState()
    libraries = _libraries(subscribers, cache)
    return LikeState(
        papers=tuple(ledger.papers_after(0)) if ledger is not None else (),
        feedback={email: (tuple(a), tuple(b)) for email, (a, b) in found.items()},
        vectors=_vectors(ledger, subscribers, libraries, cache),
        library=tuple(p for library in libraries.values() for p in library.papers),
        library_cache=cache,
    )


def read_like_state(config: Config) -> LikeState:
    """The :class:`LikeState` of the configured ledger, read only (empty without one, or
    when nobody likes anything)."""
    from newsletter.matching.librarycache import cache_dir_of

    cache = cache_dir_of(config)
    ledger = open_ledger_readonly(config) if config.ledger_path.exists() else None
    if ledger is None:
        return like_state_of(None, config.subscribers, cache=cache)
    with ledger:
        return like_state_of(ledger, config.subscribers, cache=cache)


def likes_of(subscriber: Subscriber, state: LikeState | None = None) -> Likes:
    """The similarity preferences of a subscriber: the YAML ``like``/``dislike`` and the
    ledger's feedback (a paper liked in one and disliked in the other: the ledger wins)."""
    from newsletter.matching.library import read_library
    from newsletter.matching.refs import Likes, ref_keys

    fb_like, fb_dislike = state.feedback.get(address_key(subscriber.email), ((), ())) if state else ((), ())
    overridden = set(fb_like) | set(fb_dislike)

    def keep(refs: tuple[str, ...]) -> tuple[str, ...]:
        if not overridden:
            return refs
        return tuple(r for r in refs if not overridden.intersection(ref_keys(r)))

    cache = state.library_cache if state else None
    library = read_library(subscriber.library, cache) if subscriber.library is not None else None
    return Likes(
        like=(*keep(subscriber.like), *fb_like),
        dislike=(*keep(subscriber.dislike), *fb_dislike),
        threshold=subscriber.like_threshold,
        top=subscriber.like_top,
        library=library.papers if library else (),
        library_weights=library.weights if library else (),
    )
