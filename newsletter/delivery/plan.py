"""Planning (SPEC 6): each subscriber's delivery from the ledger's horizons, and the
dry run of a pass (``send --dry-run``) computed here so the CLI only prints it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from newsletter.addresses import Suppressions
from newsletter.config import Config, Subscriber
from newsletter.delivery.ledger import Ledger
from newsletter.delivery.pickup import PickUp, preview_digests, stray_files
from newsletter.digest import Paper, unique_papers
from newsletter.matching import Match
from newsletter.pipeline import like_state_of, plan


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
    ledger: Ledger, subscribers: Sequence[Subscriber], *, upto: int, extra: Sequence[Paper] = ()
) -> Iterator[Planned]:
    """Each subscriber's delivery per SPEC 6, grouped by ledger horizon so that the
    papers are indexed once per group. ``extra``: papers of digests not yet
    recorded (dry run), new to everybody. Subscribers unknown to the ledger count
    as appearing now (horizon ``upto``)."""
    horizons = ledger.horizons(s.email for s in subscribers)
    groups: dict[int, list[Subscriber]] = {}
    for sub in subscribers:
        groups.setdefault(horizons.get(sub.email, upto), []).append(sub)
    order = {s.email: i for i, s in enumerate(subscribers)}
    planned: list[Planned] = []
    likes = like_state_of(ledger, subscribers)  # issue 17: the ledger's papers and feedback
    for horizon, members in groups.items():
        papers = unique_papers([*ledger.papers_after(horizon, upto), *extra])
        excluded = ledger.excluded_papers(s.email for s in members)
        for sub, matches in plan(members, papers, already_sent=excluded, likes=likes):
            planned.append(Planned(sub, matches))
    planned.sort(key=lambda p: order[p.subscriber.email])
    yield from planned


@dataclass(frozen=True, slots=True)
class DryRun:
    """What a pass would do, computed on the ledger (or a copy of it) without writing."""

    picked: PickUp
    pending: int  # pending deliveries that would be re-sent first
    suppressed: tuple[tuple[str, str], ...]  # (email, why) skipped
    planned: tuple[Planned, ...]  # everybody else, in configuration order
    nothing: dict[str, str]  # email -> why nothing goes out
    ignored: tuple[str, ...] = ()  # "PATH: not a digest (a PDF), ignored": files in the digests folder


def dry_run(config: Config, ledger: Ledger, *, readonly: Ledger | None) -> DryRun:
    """A pass's pick-up, re-sends and deliveries on ``ledger`` (nothing written to it
    beyond what the caller did on its copy); ``readonly``: the real ledger, for the
    digests it already holds (None: no ledger yet)."""
    from newsletter.why import nothing_reasons, suppressed_reason

    papers, picked = preview_digests(config, readonly)
    upto = ledger.last_digest_id()
    suppressions = ledger.suppressions()
    skipped = []
    for sub in config.subscribers:
        if suppressions.active(sub.email):
            found = suppressed_reason(ledger, sub)
            skipped.append((sub.email, found.reason if found else "unsubscribed, skipped"))
    planned = tuple(compute_deliveries(ledger, suppressions.filter(config.subscribers), upto=upto, extra=papers))
    empty = [p.subscriber for p in planned if not p.wanted]
    reasons = nothing_reasons(ledger, empty, upto=upto, extra=papers)
    return DryRun(
        picked=picked,
        pending=len(ledger.pending_ids()),
        suppressed=tuple(skipped),
        planned=planned,
        nothing={email: found.reason for email, found in reasons.items()},
        ignored=tuple(s.line() for s in stray_files(config)),
    )


__all__ = ["DryRun", "Planned", "Suppressions", "compute_deliveries", "dry_run"]
