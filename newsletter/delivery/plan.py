"""Planning (SPEC 6): each subscriber's delivery from the ledger's horizons (the dry
run of a pass is :mod:`newsletter.app.dryrun`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from newsletter.base.addresses import Suppressions
from newsletter.config import Subscriber
from newsletter.digest import Paper, unique_papers
from newsletter.matching import Match
from newsletter.matching.likes import like_state_of
from newsletter.matching.matcher import plan
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
    delivery. Those subscribers get a group of their own (with everyone whose horizon and
    carried papers are the same)."""
    horizons = ledger.horizons(s.email for s in subscribers)
    carried = ledger.carried_papers((s.email for s in subscribers), CARRY_DAYS * 86400.0)
    groups: dict[tuple[int, tuple[str, ...]], list[Subscriber]] = {}
    for sub in subscribers:
        key = (horizons.get(sub.email, upto), tuple(carried.get(sub.email, ())))
        groups.setdefault(key, []).append(sub)
    order = {s.email: i for i, s in enumerate(subscribers)}
    planned: list[Planned] = []
    likes = like_state_of(ledger, subscribers, cache=library_cache)  # issue 17: the ledger's papers and feedback
    for (horizon, keys), members in groups.items():
        papers = unique_papers([*_carried(ledger, keys), *ledger.papers_after(horizon, upto), *extra])
        excluded = ledger.excluded_papers(s.email for s in members)
        for sub, matches in plan(members, papers, already_sent=excluded, likes=likes):
            planned.append(Planned(sub, matches))
    planned.sort(key=lambda p: order[p.subscriber.email])
    yield from planned


def _carried(ledger: Ledger, keys: Sequence[str]) -> list[Paper]:
    """The recorded papers of these paper ids, in their order (before the papers of the
    digests since: they arrived first)."""
    if not keys:
        return []
    found = ledger.papers_by_id(keys)
    return [found[k] for k in keys if k in found]


__all__ = ["CARRY_DAYS", "Planned", "Suppressions", "compute_deliveries"]
