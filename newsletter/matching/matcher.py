"""Matching subscribers against papers: the keyword engine for everyone, similarity for
those who like papers (:class:`Matcher`), and :func:`plan` over many subscribers.

``match``, ``preview``, ``send`` and the daemon all go through these functions,
so that what ``match`` explains is exactly what ``preview`` shows and ``send``
delivers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from newsletter.base.addresses import address_key
from newsletter.config import Subscriber
from newsletter.digest import Paper, unique_papers
from newsletter.matching import Match, PaperIndex, Profile, match_papers
from newsletter.matching.likes import LikeState, likes_anything, likes_of
from newsletter.matching.planmemo import KeywordMemo

if TYPE_CHECKING:
    from newsletter.matching.similarity import Mode, SimilarityModel

__all__ = ["Matcher", "plan", "plan_each", "profile_of", "revised_ids", "without_revisions"]


def profile_of(subscriber: Subscriber) -> Profile:
    """The matching profile of a subscriber: what :func:`newsletter.matching.match_papers` needs."""
    return Profile(
        email=subscriber.email,
        keywords=subscriber.keywords,
        require=subscriber.require,
        exclude=subscriber.exclude,
        max_papers=subscriber.max_papers,
        stemming=subscriber.stemming,
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
        self._keyword = KeywordMemo(self.index)  # keyword-only subscribers: once per distinct profile
        self.revised = revised_ids(self.papers)

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
            if likes_anything(sub) or address_key(sub.email) in self.state.feedback:
                mode = resolve_mode(sub.similarity)
                rows.setdefault(mode, set()).update(rated_rows(self.model(mode), likes_of(sub, self.state)))
        for wanted_mode, wanted in rows.items():
            self.model(wanted_mode).against(self.index).sims(sorted(wanted))

    def match(
        self, subscriber: Subscriber, *, exclude_ids: Collection[str] = frozenset(), limit: int | None = None
    ) -> list[Match]:
        profile = profile_of(subscriber)
        # revisions: false leaves out the revised papers (their bits, once per pass: 100,000
        # such subscribers cost what as many others do)
        also = self.revised if not subscriber.revisions else frozenset()
        if not likes_anything(subscriber) and address_key(subscriber.email) not in self.state.feedback:
            return self._keyword.match(profile, exclude_ids=exclude_ids, limit=limit, also=also)  # keyword-only
        likes = likes_of(subscriber, self.state)
        if not likes:
            return self._keyword.match(profile, exclude_ids=exclude_ids, limit=limit, also=also)
        from newsletter.matching.similarity import like_matches, resolve_mode

        exclude_ids = without_revisions(subscriber, exclude_ids, self.revised)

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


def revised_ids(papers: Iterable[Paper]) -> frozenset[str]:
    """The ids of the papers that are arXiv's revisions of older papers (SPEC 2.3:
    ``replace``, ``replace-cross``, a version 2 or later)."""
    return frozenset(p.id for p in papers if p.revised)


def without_revisions(subscriber: Subscriber, exclude_ids: Collection[str], revised: frozenset[str]) -> Collection[str]:
    """``exclude_ids``, and the ``revised`` papers for a subscriber with ``revisions: false``
    (a paper already sent is among ``exclude_ids`` anyway: this leaves out the revisions of
    papers they never got)."""
    if subscriber.revisions or not revised:
        return exclude_ids
    return revised.union(exclude_ids) if exclude_ids else revised


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
