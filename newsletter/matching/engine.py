"""Evaluate profiles against a :class:`PaperIndex` (SPEC 4): matches, scores, explanations."""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple
from weakref import WeakKeyDictionary

from newsletter.digest import Paper
from newsletter.matching.index import PaperIndex, iter_bits, spread, text_index
from newsletter.matching.profile import (
    FIELDS,
    META_FIELDS,
    CompiledEntry,
    CompiledProfile,
    Profile,
    clear_compiled,
    compile_entry,
    compile_profile,
)
from newsletter.matching.text import stem

__all__ = ["Hit", "Match", "clear_caches", "highlight_spans", "keyword_stats", "match_papers"]


class Hit(NamedTuple):
    """One matching entry of a match: the entry as written and the fields it occurs in."""

    keyword: str
    fields: tuple[str, ...]


class Match(NamedTuple):
    """A paper selected for a profile, with its score and why (``hits``)."""

    paper: Paper
    score: int
    hits: tuple[Hit, ...]
    position: int


# The speed fence. Records are NamedTuples (immutable, equal and hashed by value);
# the hot loop builds them with ``tuple.__new__(Match, (...))``, which skips the
# generated ``__new__``'s argument handling: 0.1 us a record, against 0.36 us for a
# frozen dataclass (100,000 profiles get up to 20 matches each). Only use it with
# every field, in order.
_new = tuple.__new__

_TITLE = ("title",)
_ABSTRACT = ("abstract",)
_BOTH = ("title", "abstract")
_FIELDS_OF: tuple[tuple[str, ...], ...] = ((), _TITLE, _ABSTRACT, _BOTH)  # by code: 1 title, 2 abstract, 3 both


def clear_caches() -> None:
    """Empty the module-level caches (compiled entries, text indexes, stems).

    They are bounded; this is for tests, benchmarks and long-lived processes that want
    the memory back. The answers per :class:`PaperIndex` go when the index goes.
    """
    clear_compiled()
    text_index.cache_clear()
    stem.cache_clear()


def _compiled(profile: Profile | CompiledProfile) -> CompiledProfile:
    return profile if isinstance(profile, CompiledProfile) else compile_profile(profile)


_BYTES = [bytes([i]) for i in range(256)]


def _select_many(scored: list[_Info], candidates: int, count: int) -> tuple[list[int], dict[int, int], int]:
    """For profiles of more than 63 entries (a score may not fit a byte): the bits of the
    ``count`` best candidates in order, their scores and their set."""
    by_bit: dict[int, int] = {}
    for title, abstract, *_ in scored:
        for bit in iter_bits(title & candidates):
            by_bit[bit] = by_bit.get(bit, 0) + 3
        for bit in iter_bits(abstract & candidates):
            by_bit[bit] = by_bit.get(bit, 0) + 1
    order = sorted(by_bit, key=lambda bit: (-by_bit[bit], bit))[:count]
    chosen = 0
    for bit in order:
        chosen |= 1 << bit
    return order, by_bit, chosen


class _Info(NamedTuple):
    """What matching needs of one entry text on one index: ``title``, ``abstract``,
    ``either`` and ``points`` as in :meth:`PaperIndex.entry_masks`; ``bits``, the bits of
    ``either`` ascending; and its hit in each of those papers, ready to be joined into
    :attr:`Match.hits`: ``same`` when the entry occurs in the same field(s) everywhere,
    else ``per_bit`` (one hit per bit of ``bits``; empty when ``same`` is set)."""

    title: int
    abstract: int
    either: int
    points: int
    bits: tuple[int, ...]
    same: tuple[Hit] | None
    per_bit: tuple[tuple[Hit], ...]


_InfoCache = tuple[dict[str, _Info], dict[str, _Info]]
#: The engine's answers per index, by entry text, stemming off and on: owned here,
#: dropped with their index.
_INFO: WeakKeyDictionary[PaperIndex, _InfoCache] = WeakKeyDictionary()


def _info_cache(index: PaperIndex) -> _InfoCache:
    found = _INFO.get(index)
    if found is None:
        found = _INFO[index] = ({}, {})
    return found


_INFO_LIMIT = 1 << 17


def _entry_info(index: PaperIndex, entry: CompiledEntry) -> _Info:
    """The :class:`_Info` of ``entry`` on ``index``, cached per index by the entry's text
    (entries are compiled from their text and stemming alone)."""
    cache = _info_cache(index)[entry.stemming]
    info = cache.get(entry.raw)
    if info is None:
        title, abstract, either, points = index.entry_cache.get(entry.key) or index.entry_masks(entry)
        found: list[int] = []
        rest = either
        while rest:
            low = rest & -rest
            found.append(low.bit_length() - 1)
            rest ^= low
        bits = tuple(found)
        same: tuple[Hit] | None = None
        per_bit: tuple[tuple[Hit], ...] = ()
        if entry.field in META_FIELDS:
            same = (Hit(entry.raw, (entry.field,)),)
        elif not abstract or not title:
            same = (Hit(entry.raw, _ABSTRACT if title == 0 else _TITLE),)
        else:
            codes = [(title >> bit & 1) | (abstract >> bit & 1) << 1 for bit in bits]
            made = {code: (Hit(entry.raw, _FIELDS_OF[code]),) for code in set(codes)}
            per_bit = tuple([made[code] for code in codes])
        info = _Info(title, abstract, either, points, bits, same, per_bit)
        if len(cache) >= _INFO_LIMIT:
            cache.clear()
        cache[entry.raw] = info
    return info


def _text_info(index: PaperIndex, raw: str, stemming: bool) -> _Info:
    return _entry_info(index, compile_entry(raw, stemming))


def match_papers(  # noqa: C901  (the hot loop, inlined on purpose: bench/bench_matching.py)
    index: PaperIndex,
    profile: Profile | CompiledProfile,
    *,
    exclude_ids: Collection[str] = frozenset(),
    limit: int | None = None,
) -> list[Match]:
    """The papers of ``index`` that match ``profile``, best first.

    Papers whose id is in ``exclude_ids`` are left out. Order: score descending, then
    upvotes descending (missing as 0), then digest order; at most ``limit`` papers, or
    ``max_papers`` of the profile when ``limit`` is None.
    """
    # Each entry's info, by its text. A plain Profile goes without a compiled profile.
    keywords: list[_Info]
    require: list[_Info] | tuple[()] = ()
    exclude: list[_Info] | tuple[()] = ()
    if type(profile) is Profile:
        max_papers = profile.max_papers
        stemming = bool(profile.stemming)
        get = _info_cache(index)[stemming].get
        try:
            keywords = [get(raw) or _text_info(index, raw, stemming) for raw in profile.keywords]
            if profile.require:
                require = [get(raw) or _text_info(index, raw, stemming) for raw in profile.require]
            if profile.exclude:
                exclude = [get(raw) or _text_info(index, raw, stemming) for raw in profile.exclude]
        except ValueError:
            compile_profile(profile)  # raises, naming the entry
            raise
    else:
        cp = _compiled(profile)
        max_papers = cp.profile.max_papers
        caches = _info_cache(index)
        keywords = [caches[e.stemming].get(e.raw) or _entry_info(index, e) for e in cp.keywords]
        require = [caches[e.stemming].get(e.raw) or _entry_info(index, e) for e in cp.require]
        exclude = [caches[e.stemming].get(e.raw) or _entry_info(index, e) for e in cp.exclude]
    count = max_papers if limit is None else limit
    if count <= 0 or not (keywords or require):
        return []
    scored: list[_Info] = []  # the keywords that occur somewhere, then require
    total = 0  # the sum of their points
    union = 0  # the papers where they occur
    if keywords:
        candidates = 0
        for info in keywords:
            either = info.either
            if either:
                candidates |= either
                total += info.points
                scored.append(info)
        union = candidates
    else:
        candidates = index.all
    for info in require:
        if not candidates:
            return []
        candidates &= info.either
        union |= info.either
        total += info.points
        scored.append(info)
    for info in exclude:
        if not candidates:
            return []
        candidates &= ~info.either
    if candidates and exclude_ids:
        candidates &= ~index.id_mask(exclude_ids)
    if not candidates:
        return []

    # Scores: with up to 63 entries a paper's score fits in its byte, so the packed
    # points of the entries sum to every paper's score at once. ``order``: the bits of
    # the papers to deliver, score descending then bit ascending (bits ascend in tie order).
    score_of: bytes | dict[int, int]
    if len(scored) <= 63:
        if union != candidates:  # zero the papers a require/exclude entry ruled out
            total &= spread(candidates) * 255
        score_of = scores = total.to_bytes(len(index.papers), "little")
        order: list[int] = []
        add = order.append
        find = scores.find
        if candidates.bit_count() <= count:
            chosen = candidates  # every candidate
            for level in sorted(set(scores.translate(None, b"\0")), reverse=True):
                needle = _BYTES[level]
                bit = find(needle)
                while bit >= 0:
                    add(bit)
                    bit = find(needle, bit + 1)
        else:
            chosen = 0
            for level in sorted(set(scores.translate(None, b"\0")), reverse=True):
                needle = _BYTES[level]
                bit = find(needle)
                while bit >= 0:
                    add(bit)
                    chosen |= 1 << bit
                    if len(order) == count:
                        break
                    bit = find(needle, bit + 1)
                else:
                    continue
                break
    else:
        order, score_of, chosen = _select_many(scored, candidates, count)

    # Explanations, entry by entry (profile order), for the chosen papers only.
    hits: list[tuple[Hit, ...]] = [()] * len(index.papers)
    for _, _, either, _, bits, same, per_bit in scored:
        common = either & chosen
        if common == either:  # usually: every paper of the entry is chosen
            if same is not None:
                for bit in bits:
                    hits[bit] += same
            else:
                for bit, hit in zip(bits, per_bit, strict=True):
                    hits[bit] += hit
        elif common:
            if same is not None:
                for bit in bits:
                    if common >> bit & 1:
                        hits[bit] += same
            else:
                for bit, hit in zip(bits, per_bit, strict=True):
                    if common >> bit & 1:
                        hits[bit] += hit

    papers = index.by_bit
    positions = index.position_of_bit
    out: list[Match] = []
    append = out.append
    new = _new
    for bit in order:
        append(new(Match, (papers[bit], score_of[bit], hits[bit], positions[bit])))
    return out


def highlight_spans(text: str, profile: Profile | CompiledProfile, *, field: str) -> list[tuple[int, int]]:
    """Character spans in ``text`` of every word of an occurrence of a ``keywords`` or
    ``require`` entry that applies to ``field`` ("title" or "abstract").

    Sorted; overlapping or touching spans are merged.
    """
    if field not in FIELDS:
        raise ValueError(f"field must be one of {', '.join(FIELDS)}, not {field!r}")
    cp = _compiled(profile)
    ti = text_index(text)
    starts = ti.starts
    marked: list[int] = []  # indexes of the words to highlight
    for entries in (cp.keywords, cp.require):
        for entry in entries:
            if entry.field is not None and entry.field != field:
                continue
            found = starts(entry)
            if found:
                width = len(entry.terms)
                if width == 1:
                    marked.extend(found)
                else:
                    for start in found:
                        marked.extend(range(start, start + width))
    if not marked:
        return []
    tokens = ti.tokens
    spans: list[tuple[int, int]] = []
    last_end = -1
    for i in sorted(set(marked)):
        _, start, end = tokens[i]
        if start <= last_end:  # touching or overlapping (words of one NFKC expansion)
            if end > last_end:
                spans[-1] = (spans[-1][0], end)
                last_end = end
        else:
            spans.append((start, end))
            last_end = end
    return spans


def keyword_stats(index: PaperIndex, profile: Profile | CompiledProfile) -> list[tuple[str, int]]:
    """For each entry (keywords, then require, then exclude, in profile order): the number
    of papers of ``index`` it occurs in, on its own."""
    cp = _compiled(profile)
    return [(entry.raw, index.entry_masks(entry)[2].bit_count()) for entry in (*cp.keywords, *cp.require, *cp.exclude)]
