"""``send --dry-run``: what a pass would do, computed here so the CLI only prints it:
the digests it would pick up, the pending deliveries it would send again, who is
skipped (suppressed) and why, each subscriber's planned papers, and why someone gets
nothing."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.app.why import nothing_reasons, suppressed_reason
from newsletter.base.cron import timezone
from newsletter.config import Config
from newsletter.delivery.pickup import PickUp, preview_digests
from newsletter.delivery.plan import Planned, compute_deliveries
from newsletter.digest.scan import stray_files
from newsletter.matching.librarycache import cache_dir_of
from newsletter.store import Ledger
from newsletter.store.choose import open_ledger_readonly, scratch_ledger


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
    tz = timezone(config.schedule.timezone)
    skipped = []
    for sub in config.subscribers:
        if suppressions.active(sub.email):
            found = suppressed_reason(ledger, sub, tz)
            skipped.append((sub.email, found.reason if found else "unsubscribed, skipped"))
    cache = cache_dir_of(config)
    serve = suppressions.filter(config.subscribers)
    planned = tuple(compute_deliveries(ledger, serve, upto=upto, extra=papers, library_cache=cache))
    empty = [p.subscriber for p in planned if not p.wanted]
    reasons = nothing_reasons(ledger, empty, upto=upto, extra=papers, library_cache=cache, tz=tz)
    return DryRun(
        picked=picked,
        pending=len(ledger.pending_ids()),
        suppressed=tuple(skipped),
        planned=planned,
        nothing={email: found.reason for email, found in reasons.items()},
        ignored=tuple(s.line() for s in stray_files(config)),
    )


@dataclass(frozen=True, slots=True)
class DryRunPass:
    """``send --dry-run``: who ``--backfill`` would give the latest digest, and the pass."""

    backfilled: tuple[str, ...]
    found: DryRun


def dry_run_pass(config: Config, *, backfill: bool = False) -> DryRunPass:
    """The dry run of a pass on the configured ledger, read only; with ``backfill``, on a
    copy in memory after what ``--backfill`` would do (nothing written anywhere)."""
    ledger = open_ledger_readonly(config)
    scratch = scratch_ledger(ledger) if backfill or ledger is None else None
    try:
        view = scratch if scratch is not None else ledger
        assert view is not None
        backfilled: list[str] = []
        if backfill:
            view.register_subscribers(s.email for s in config.subscribers)
            backfilled = view.backfill(s.email for s in config.subscribers)
        return DryRunPass(tuple(backfilled), dry_run(config, view, readonly=ledger))
    finally:
        for opened in (scratch, ledger):
            if opened is not None:
                opened.close()


__all__ = ["DryRun", "DryRunPass", "dry_run", "dry_run_pass"]
