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
    as appearing now (horizon ``upto``). ``library_cache``: where parsed libraries are kept."""
    horizons = ledger.horizons(s.email for s in subscribers)
    groups: dict[int, list[Subscriber]] = {}
    for sub in subscribers:
        groups.setdefault(horizons.get(sub.email, upto), []).append(sub)
    order = {s.email: i for i, s in enumerate(subscribers)}
    planned: list[Planned] = []
    likes = like_state_of(ledger, subscribers, cache=library_cache)  # issue 17: the ledger's papers and feedback
    for horizon, members in groups.items():
        papers = unique_papers([*ledger.papers_after(horizon, upto), *extra])
        excluded = ledger.excluded_papers(s.email for s in members)
        for sub, matches in plan(members, papers, already_sent=excluded, likes=likes):
            planned.append(Planned(sub, matches))
    planned.sort(key=lambda p: order[p.subscriber.email])
    yield from planned


__all__ = ["Planned", "Suppressions", "compute_deliveries"]
