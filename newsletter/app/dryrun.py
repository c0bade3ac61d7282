"""``send --dry-run``: what a pass would do, computed here so the CLI only prints it:
the digests it would pick up, the pending deliveries it would send again, who is
skipped (suppressed) and why, each subscriber's planned papers, and why someone gets
nothing."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.app.why import nothing_reasons, suppressed_reason
from newsletter.config import Config
from newsletter.delivery.pickup import PickUp, preview_digests
from newsletter.delivery.plan import Planned, compute_deliveries
from newsletter.digest.scan import stray_files
from newsletter.store import Ledger


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


__all__ = ["DryRun", "dry_run"]
