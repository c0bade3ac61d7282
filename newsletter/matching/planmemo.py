"""Keyword matching once per distinct profile of a plan (issue 26, a speed trick).

A large list of subscribers holds few distinct profiles (lists copied from one
example, a handful of topics): :func:`~newsletter.matching.match_papers` of one set of
papers depends on the profile's entries, ``max_papers`` and ``stemming`` (never on the
address) and on the papers left out only through their bits in the index
(:meth:`~newsletter.matching.PaperIndex.id_mask`). :class:`KeywordMemo` keeps its
answer per such key for the plan; each subscriber gets its own list of the same
(immutable) matches. Bounded: at most :data:`MAX_PROFILES` keys are kept, the others
are matched as they come. tests/test_matching_planmemo.py: the very matches of
``match_papers`` for every profile and exclusion.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable

from newsletter.matching import Match, PaperIndex, Profile, match_papers

MAX_PROFILES = 4096


class KeywordMemo:
    """:func:`match_papers` over one index, its answers kept per distinct profile."""

    def __init__(self, index: PaperIndex) -> None:
        self.index = index
        self._seen: dict[Hashable, tuple[Match, ...]] = {}
        self._also: tuple[frozenset[str], int] = (frozenset(), 0)  # the last ``also`` and its bits

    def match(
        self,
        profile: Profile,
        *,
        exclude_ids: Collection[str] = frozenset(),
        limit: int | None = None,
        also: frozenset[str] = frozenset(),
    ) -> list[Match]:
        """``match_papers(index, profile, exclude_ids=exclude_ids | also, limit=...)``;
        ``also``: ids left out for many subscribers alike (the pass's arXiv revisions), whose
        bits are computed once, not per subscriber."""
        mask = self.index.id_mask(exclude_ids) if exclude_ids else 0
        if also:
            if self._also[0] is not also:
                self._also = (also, self.index.id_mask(also))
            mask |= self._also[1]
        p = profile
        key = (p.keywords, p.require, p.exclude, p.max_papers, p.stemming, mask, limit)
        found = self._seen.get(key)
        if found is None:
            left_out = also.union(exclude_ids) if also else exclude_ids
            found = tuple(match_papers(self.index, profile, exclude_ids=left_out, limit=limit))
            if len(self._seen) < MAX_PROFILES:
                self._seen[key] = found
        return list(found)
