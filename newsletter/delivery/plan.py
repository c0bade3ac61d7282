"""Planning (SPEC 6): each subscriber's delivery from the ledger's horizons (the dry
run of a pass is :mod:`newsletter.app.dryrun`)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from newsletter.base.addresses import Suppressions
from newsletter.config import Subscriber
from newsletter.digest import Paper, unique_papers
from newsletter.matching import Match
from newsletter.matching.likes import LikeState, like_state_of
from newsletter.matching.matcher import Matcher, plan
from newsletter.store import Ledger


@dataclass(frozen=True, slots=True)
class Planned:
    """A subscriber's delivery as computed (not rendered)."""

    subscriber: Subscriber
    matches: list[Match]

    @property
    def wanted(self) -> bool:
        """An email goes out: papers matched, or ``send_empty``."""
        return bool(self.matches) or self.subscriber.send_empty


#: The bound of the carry: only papers of digests picked up in the last 30 days (on the
#: ledger's clock) are carried. A subscriber unreachable for longer (an abandoned mailbox,
#: a relay down for a month) is not sent month-old news when it comes back, and a chain of
#: deliveries given up one after the other (each carrying the last one's papers) ends:
#: a paper is carried at most 30 days after it arrived, whatever happens to its deliveries.
CARRY_DAYS = 30


def compute_deliveries(
    ledger: Ledger,
    subscribers: Sequence[Subscriber],
    *,
    upto: int,
    extra: Sequence[Paper] = (),
    library_cache: Path | None = None,
) -> Iterator[Planned]:
    """Each subscriber's delivery per SPEC 6, grouped by ledger horizon so that the
    papers are indexed once per group. ``extra``: papers of digests not yet
    recorded (dry run), new to everybody. Subscribers unknown to the ledger count
    as appearing now (horizon ``upto``). ``library_cache``: where parsed libraries are kept.

    Carried papers: the papers of a subscriber's deliveries given up by the queue lifetime
    (:mod:`newsletter.delivery.lifetime`; not those refused for good, a 5xx), when no
    delivery of theirs was recorded since the give-up, from the digests picked up in the
    last :data:`CARRY_DAYS` days, join that subscriber's candidates: matched like the
    others (a paper its profile no longer matches stays out), best first, ``max_papers``,
    never one already sent or pending. The delivery recorded holds them, so they are
    carried once: what it leaves out (past ``max_papers``) is left for good, as for any
    delivery. Those subscribers are planned apart from the others of their horizon
    (:func:`_plan_carrying`): everybody else is planned as before."""
    horizons = ledger.horizons(s.email for s in subscribers)
    carried = ledger.carried_papers((s.email for s in subscribers), CARRY_DAYS * 86400.0)
    groups: dict[tuple[int, bool], list[Subscriber]] = {}
    for sub in subscribers:
        groups.setdefault((horizons.get(sub.email, upto), sub.email in carried), []).append(sub)
    order = {s.email: i for i, s in enumerate(subscribers)}
    planned: list[Planned] = []
    likes = like_state_of(ledger, subscribers, cache=library_cache)  # issue 17: the ledger's papers and feedback
    for (horizon, carrying), members in groups.items():
        papers = unique_papers([*ledger.papers_after(horizon, upto), *extra])
        excluded = ledger.excluded_papers(s.email for s in members)
        if carrying:
            found = list(_plan_carrying(ledger, members, papers, carried, excluded, likes))
        else:
            found = plan(members, papers, already_sent=excluded, likes=likes)
        planned.extend(Planned(sub, matches) for sub, matches in found)
    planned.sort(key=lambda p: order[p.subscriber.email])
    yield from planned


def _plan_carrying(
    ledger: Ledger,
    members: Sequence[Subscriber],
    fresh: Sequence[Paper],
    carried: Mapping[str, Sequence[str]],
    excluded: Mapping[str, Collection[str]],
    likes: LikeState,
) -> Iterator[tuple[Subscriber, list[Match]]]:
    """The subscribers of one horizon who have carried papers, on one index: the papers of
    the digests since (``fresh``) and every member's carried papers (first: they arrived
    first). Each member's matches keep the fresh papers and its own carried ones (never
    another member's), best first, at most ``max_papers``. One index for all of them: after
    an outage that gave up everybody's delivery, a pass costs about what it does without
    carried papers, not an index per subscriber."""
    wanted = list(dict.fromkeys(k for sub in members for k in carried[sub.email]))
    found = ledger.papers_by_id(wanted)
    papers = unique_papers([*(found[k] for k in wanted if k in found), *fresh])
    new = {k for paper in fresh for k in paper.keys}
    whose: dict[str, str] = {}  # every key of a paper -> its id (as the index holds it)
    shared: set[str] = set()  # the ids of the fresh papers: everybody's
    for paper in papers:
        keys = paper.keys
        whose.update((k, paper.id) for k in keys)
        if not new.isdisjoint(keys):
            shared.add(paper.id)
    matcher = Matcher(papers, likes)
    matcher.prepare(members)
    for sub in members:
        own = {whose[k] for k in carried[sub.email] if k in whose}
        yield sub, _best(matcher, sub, excluded.get(sub.email, frozenset()), shared, own)


def _best(matcher: Matcher, sub: Subscriber, excluded: Collection[str], shared: set[str], own: set[str]) -> list[Match]:
    """``sub``'s best ``max_papers`` matches among the papers ``shared`` and ``own`` (by
    id): asked for a few more than that, more only when others' papers took their places."""
    limit = 2 * sub.max_papers
    while True:
        every = matcher.match(sub, exclude_ids=excluded, limit=limit)
        kept = [m for m in every if m.paper.id in shared or m.paper.id in own]
        if len(kept) >= sub.max_papers or len(every) < limit:
            return kept[: sub.max_papers]
        limit *= 4


__all__ = ["CARRY_DAYS", "Planned", "Suppressions", "compute_deliveries"]
