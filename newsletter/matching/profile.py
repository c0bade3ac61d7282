"""Subscriber profiles and their compiled keyword entries (SPEC 4).

An entry such as ``title:contrast* learning`` is parsed once into a field restriction
and a sequence of :class:`Term` (a stem or word to compare, or a prefix). Compiled
entries are cached by their text, so the same keyword across many profiles costs one
parse, and entries that compile alike share one :attr:`CompiledEntry.key`, under which
a :class:`~newsletter.matching.PaperIndex` caches its answer.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

from newsletter.base.keywords import entry_problem as _problem
from newsletter.base.keywords import parse_entry as _parse
from newsletter.base.keywords import validate_keyword
from newsletter.matching.text import stem

__all__ = [
    "FIELDS",
    "META_FIELDS",
    "CompiledEntry",
    "CompiledProfile",
    "Profile",
    "Term",
    "compile_entry",
    "compile_profile",
    "validate_keyword",
]

FIELDS = ("title", "abstract")
#: Fields named by the source, matched only with their qualifier (SPEC 4): ``author:``
#: within one author's name, ``org:`` the organisation. A hit scores like a title hit.
META_FIELDS = ("author", "org")


@dataclass(frozen=True, slots=True)
class Profile:
    """What one subscriber wants: keyword entries and how many papers at most."""

    email: str
    keywords: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_papers: int = 20
    stemming: bool = True


class Term(NamedTuple):
    """One word of an entry: ``text`` is the stem (stemming on), the word, or a prefix."""

    text: str
    prefix: bool


class CompiledEntry(NamedTuple):
    """One parsed keyword entry (built with ``tuple.__new__``: see :func:`_compile_entry`).

    ``raw`` is the entry as written; ``field`` is ``"title"``, ``"abstract"``, ``"author"``,
    ``"org"`` or ``None`` (title and abstract); ``words`` are its normalised words (prefixes without ``*``).
    ``key`` is the same int for every entry with the same field, terms and stemming.
    """

    raw: str
    field: str | None
    words: tuple[str, ...]
    terms: tuple[Term, ...]
    stemming: bool
    key: int


# The speed fence: records are NamedTuples, built in the hot paths with
# ``tuple.__new__(Record, (every field, in order))``, which skips the generated
# ``__new__`` (a run compiles a profile per subscriber; see matching/engine.py).
_new = tuple.__new__

_KEYS: dict[tuple[str | None, tuple[Term, ...], bool], int] = {}
_KEY_COUNTER = itertools.count()


_CACHE_SIZE = 1 << 17
# Compiled entries by text, one cache for stemming off and one for on (index False/True).
_COMPILED: tuple[dict[str, CompiledEntry], dict[str, CompiledEntry]] = ({}, {})


def compile_entry(entry: str, stemming: bool = True) -> CompiledEntry:
    """Parse one entry (cached); ``ValueError`` (with the reason) when it has no word at all."""
    cache = _COMPILED[stemming]
    found = cache.get(entry)
    if found is None:
        found = _compile_entry(entry, stemming)
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[entry] = found
    return found


def _compile_entry(entry: str, stemming: bool) -> CompiledEntry:
    if not isinstance(entry, str):
        raise ValueError(f"{entry!r}: {validate_keyword(entry)}")
    field, words, prefixes = _parse(entry)
    reason = _problem(field, words)
    if reason is not None:
        raise ValueError(f"{entry!r}: {reason}")
    terms = tuple(
        Term(w, True) if is_prefix else Term(stem(w) if stemming else w, False)
        for w, is_prefix in zip(words, prefixes, strict=True)
    )
    ident = (field, terms, stemming)
    key = _KEYS.get(ident)
    if key is None:
        if len(_KEYS) >= 2 * _CACHE_SIZE:
            _KEYS.clear()  # keys are never reused: entries compiled before keep theirs
        key = _KEYS.setdefault(ident, next(_KEY_COUNTER))
    return _new(CompiledEntry, (entry, field, words, terms, stemming, key))


class CompiledProfile(NamedTuple):
    """A profile with every entry parsed; pass it to the engine instead of the profile."""

    profile: Profile
    keywords: tuple[CompiledEntry, ...]
    require: tuple[CompiledEntry, ...]
    exclude: tuple[CompiledEntry, ...]

    @property
    def email(self) -> str:
        return self.profile.email

    @property
    def max_papers(self) -> int:
        return self.profile.max_papers

    @property
    def stemming(self) -> bool:
        return self.profile.stemming


def _compile_all(name: str, entries: tuple[str, ...], stemming: bool) -> tuple[CompiledEntry, ...]:
    if not entries:
        return ()
    get = _COMPILED[stemming].get
    try:
        return tuple([get(entry) or compile_entry(entry, stemming) for entry in entries])
    except ValueError:
        for i, entry in enumerate(entries):
            try:
                compile_entry(entry, stemming)
            except ValueError as exc:
                raise ValueError(f"{name}[{i}]: {exc}") from None
        raise


def compile_profile(profile: Profile | CompiledProfile) -> CompiledProfile:
    """Parse every entry of ``profile`` once. ``ValueError`` names a bad entry."""
    if isinstance(profile, CompiledProfile):
        return profile
    stemming = bool(profile.stemming)
    get = _COMPILED[stemming].get
    keywords = profile.keywords
    require = profile.require
    exclude = profile.exclude
    try:  # every entry usually compiled before: one dict look-up each
        kw = tuple([get(e) or compile_entry(e, stemming) for e in keywords]) if keywords else ()
        req = tuple([get(e) or compile_entry(e, stemming) for e in require]) if require else ()
        exc = tuple([get(e) or compile_entry(e, stemming) for e in exclude]) if exclude else ()
    except ValueError:  # name the bad entry
        _compile_all("keywords", keywords, stemming)
        _compile_all("require", require, stemming)
        _compile_all("exclude", exclude, stemming)
        raise
    return _new(CompiledProfile, (profile, kw, req, exc))


def clear_compiled() -> None:
    """Forget every compiled entry (they are cached by text, up to a bound)."""
    for cache in _COMPILED:
        cache.clear()
    _KEYS.clear()
