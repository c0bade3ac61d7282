"""Evaluate profiles against a :class:`PaperIndex` (SPEC 4): matches, scores, explanations."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from newsletter.digest import Paper
from newsletter.matching.index import EntryMasks, PaperIndex, iter_bits, text_index
from newsletter.matching.profile import (
    FIELDS,
    CompiledEntry,
    CompiledProfile,
    Profile,
    clear_compiled,
    compile_profile,
)
from newsletter.matching.text import stem

__all__ = ["Hit", "Match", "clear_caches", "highlight_spans", "keyword_stats", "match_papers"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One matching entry of a match: the entry as written and the fields it occurs in."""

    keyword: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Match:
    """A paper selected for a profile, with its score and why (``hits``)."""

    paper: Paper
    score: int
    hits: tuple[Hit, ...]
    position: int


# Building a frozen dataclass goes through object.__setattr__ for each field; setting
# the slots directly is twice as fast, and matters when a profile gets 20 papers.
_new = object.__new__
_set_paper = vars(Match)["paper"].__set__
_set_score = vars(Match)["score"].__set__
_set_hits = vars(Match)["hits"].__set__
_set_position = vars(Match)["position"].__set__


def _match(paper: Paper, score: int, hits: tuple[Hit, ...], position: int) -> Match:
    """``Match(paper, score, hits, position)``, faster (equal, and as immutable)."""
    match = _new(Match)
    _set_paper(match, paper)
    _set_score(match, score)
    _set_hits(match, hits)
    _set_position(match, position)
    return match


_HitSet = tuple[tuple[Hit, ...], tuple[Hit], tuple[Hit], tuple[Hit]]
_HITS: dict[str, _HitSet] = {}


def _hits_of(keyword: str) -> _HitSet:
    """The (shared, immutable) hits of ``keyword`` by where it occurs (1 title,
    2 abstract, 3 both), each as a 1-tuple ready to be joined into :attr:`Match.hits`."""
    hits = _HITS.get(keyword)
    if hits is None:
        if len(_HITS) >= 1 << 17:
            _HITS.clear()
        hits = _HITS.setdefault(keyword, (
            (),
            (Hit(keyword, ("title",)),),
            (Hit(keyword, ("abstract",)),),
            (Hit(keyword, ("title", "abstract")),),
        ))
    return hits


def clear_caches() -> None:
    """Empty the module-level caches (compiled entries, text indexes, stems, hits).

    They are bounded; this is for tests, benchmarks and long-lived processes that want
    the memory back. A :class:`PaperIndex` keeps its own per-entry answers until dropped.
    """
    clear_compiled()
    text_index.cache_clear()
    stem.cache_clear()
    _HITS.clear()


def _compiled(profile: Profile | CompiledProfile) -> CompiledProfile:
    return profile if isinstance(profile, CompiledProfile) else compile_profile(profile)


_BYTES = [bytes([i]) for i in range(256)]


def _best(
    scored: list[tuple[CompiledEntry, EntryMasks]], candidates: int, size: int, count: int
) -> tuple[list[tuple[int, int]], int]:
    """The ``count`` best ``candidates`` as (score, bit): score descending, then bit
    ascending (bits ascend in tie order); and their set. Every candidate occurs for a
    ``scored`` entry."""
    selected: list[tuple[int, int]] = []
    chosen = 0
    if len(scored) <= 63:  # a paper's score fits in its byte: sum the packed points
        total = 0
        union = 0
        for _, (_, _, either, points) in scored:
            total += points
            union |= either
        scores = bytearray(total.to_bytes(size, "little"))
        removed = union & ~candidates
        while removed:
            low = removed & -removed
            removed ^= low
            scores[low.bit_length() - 1] = 0
        for level in sorted(set(scores), reverse=True):
            if not level:
                break
            needle = _BYTES[level]
            at = scores.find(needle)
            while at >= 0:
                selected.append((level, at))
                chosen |= 1 << at
                if len(selected) == count:
                    return selected, chosen
                at = scores.find(needle, at + 1)
        return selected, chosen
    by_bit: dict[int, int] = {}
    for _, (title, abstract, _, _) in scored:
        for bit in iter_bits(title & candidates):
            by_bit[bit] = by_bit.get(bit, 0) + 3
        for bit in iter_bits(abstract & candidates):
            by_bit[bit] = by_bit.get(bit, 0) + 1
    ranked = sorted(by_bit.items(), key=lambda item: (-item[1], item[0]))[:count]
    for bit, _ in ranked:
        chosen |= 1 << bit
    return [(score, bit) for bit, score in ranked], chosen


def match_papers(
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
    cp = _compiled(profile)
    count = cp.profile.max_papers if limit is None else limit
    if count <= 0 or not (cp.keywords or cp.require):
        return []
    cached = index.entry_cache.get
    masks = index.entry_masks
    scored: list[tuple[CompiledEntry, EntryMasks]] = []
    if cp.keywords:
        candidates = 0
        for entry in cp.keywords:
            found = cached(entry.key) or masks(entry)
            if found[2]:
                candidates |= found[2]
                scored.append((entry, found))
    else:
        candidates = index.all
    for entry in cp.require:
        if not candidates:
            return []
        found = cached(entry.key) or masks(entry)
        candidates &= found[2]
        scored.append((entry, found))
    for entry in cp.exclude:
        if not candidates:
            return []
        candidates &= ~(cached(entry.key) or masks(entry))[2]
    if candidates and exclude_ids:
        candidates &= ~index.id_mask(exclude_ids)
    if not candidates:
        return []
    selected, chosen = _best(scored, candidates, len(index.papers), count)

    # Explanations, entry by entry (profile order), for the chosen papers only.
    hits: list[tuple[Hit, ...]] = [()] * len(index.papers)
    for entry, (title, abstract, either, _) in scored:
        either &= chosen
        if not either:
            continue
        found_hits = _HITS.get(entry.raw) or _hits_of(entry.raw)
        while either:
            low = either & -either
            either ^= low
            bit = low.bit_length() - 1
            hits[bit] += found_hits[(1 if title & low else 0) | (2 if abstract & low else 0)]
    papers = index.by_bit
    positions = index.position_of_bit
    return [_match(papers[bit], score, hits[bit], positions[bit]) for score, bit in selected]


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
    return [
        (entry.raw, index.entry_masks(entry)[2].bit_count())
        for entry in (*cp.keywords, *cp.require, *cp.exclude)
    ]
