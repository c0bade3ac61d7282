"""``newsletter status``: what the ledger knows, as the JSON shape of SPEC 7.

:func:`read_status` is the command's one core call (it opens the ledger read-only and
closes it); ``cli/status_cmd.py`` prints it, as JSON or as lines for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any, cast

from newsletter.app.schedule import GLOBAL, fire_text, next_fire, next_job
from newsletter.base.clock import SYSTEM, Clock
from newsletter.base.cron import describe_cron
from newsletter.base.wording import plural
from newsletter.config import Config
from newsletter.store import Ledger, iso
from newsletter.store.choose import open_ledger_readonly

if TYPE_CHECKING:
    from newsletter.store.claiming import ClaimLedger


@dataclass(frozen=True, slots=True)
class Status:
    """``data``: the ``status --json`` object; ``ran``: a ledger exists (a run happened)."""

    data: dict[str, Any]
    ran: bool


def read_status(config: Config) -> Status:
    """The status of ``config``'s ledger (none yet: every count zero, ``ran`` False). Changes nothing."""
    ledger = open_ledger_readonly(config)
    try:
        return Status(status_json(config, ledger), ran=ledger is not None)
    finally:
        if ledger is not None:
            ledger.close()


def next_run_text(config: Config, *, clock: Clock = SYSTEM) -> str:
    """``status``'s next run in words: when, in the schedule's zone and in UTC, and which
    schedule: ``2026-12-05 07:00 CET (06:00 UTC): at 07:00 every day (Europe/Berlin)``;
    an own schedule that fires first says so, with how many subscribers it serves."""
    found = next_job(config, clock=clock)
    if found is None:
        return "-"
    job, fire = found
    zone = config.schedule.timezone
    text = f"{fire_text(fire)}: {describe_cron(job.cron, zone)}"
    if job.key == GLOBAL:
        return text
    return f"{text}, the own schedule of {plural(len(job.emails), 'subscriber')}"


def status_json(config: Config, ledger: Ledger | None) -> dict[str, Any]:
    """The ``status --json`` shape of SPEC 7."""
    fire = next_fire(config)
    recorded = _recorded(ledger)
    from newsletter.app.why import status_reasons

    nothing = [] if ledger is None else status_reasons(config, ledger)
    from newsletter.digest.scan import stray_files

    return {
        "digests": recorded["digests"],
        "deliveries": recorded["deliveries"],
        "failed": recorded["failed"],
        "last_run": recorded["last_run"],
        "next_run": fire.astimezone(UTC).isoformat(timespec="seconds") if fire else None,
        # addresses that get nothing: unsubscribed (one-click or by hand) or paused; "paused" is
        # the part of "suppressed" that ends by itself
        "suppressed": recorded["suppressed"],
        "paused": recorded["paused"],
        "sources": sources_json(config, ledger),
        "channels": channels_json(ledger),  # issue 27: chat parts refused, and waiting
        # subscribers who get nothing in the next pass (or wait for their own schedule), and why
        "nothing": [{"email": n.email, "code": n.code, "reason": n.reason} for n in nothing],
        # addresses no longer mailed because they bounced (bounces.hard / bounces.soft), and why
        "bounced": recorded["bounced"],
        # issue 17: "more/fewer like this" recorded from the email or `newsletter feedback`
        "feedback": [] if ledger is None else feedback_json(ledger),
        # files in the digests folder that are not digests (a PDF, an image): ignored
        "ignored": [{"path": str(f.path), "kind": f.kind} for f in stray_files(config)],
        # SPEC 6c: subscribers whose entry or file does not validate, left out of every pass
        "left_out": [left.to_json() for left in config.left_out],
        # SPEC 6c: bounce reports that counted for nobody, and why (forged, or about nobody we mailed)
        "ignored_reports": [] if ledger is None else ignored_json(ledger),
        # SPEC 6c: messages of the bounce mailbox that cannot be read, moved into the quarantine
        "quarantined": []
        if ledger is None
        else [{"message": q["message"], "reason": q["reason"], "at": q["at"]} for q in ledger.set_aside("quarantined")],
        "pass": pass_json(config, ledger),  # SPEC 6d: several senders' current pass
    }


def _recorded(ledger: Ledger | None) -> dict[str, Any]:
    """The ledger's part of the status: digests, deliveries, failures, last run,
    suppressions and bounces (all empty before the first run)."""
    if ledger is None:
        return {
            "digests": [],
            "deliveries": {"sent": 0, "pending": 0, "failed": 0},
            "failed": [],
            "last_run": None,
            "suppressed": 0,
            "paused": 0,
            "bounced": [],
        }
    digests = [
        {
            "path": d.path,
            "sha256": d.sha256,
            "status": d.shown_status,  # ok, failed, or partial: linked papers not read (SPEC 2.1)
            "papers": d.papers,
            "error": d.error,
            "missing": list(d.missing),
        }
        for d in ledger.digests()
    ]
    suppression = ledger.suppression_counts()
    return {
        "digests": digests,
        "deliveries": ledger.delivery_counts(),
        "failed": [{"email": e, "error": err} for e, err in ledger.failed()],
        "last_run": iso(ledger.last_run()),
        "suppressed": suppression["suppressed"],
        "paused": suppression["paused"],
        "bounced": ledger.bounced(),
    }


def pass_json(config: Config, ledger: Ledger | None) -> dict[str, Any] | None:
    """The current pass on a ledger of several senders (None on SQLite, or before any)."""
    if config.ledger_url is None or ledger is None:
        return None
    status = cast("ClaimLedger", ledger).claim_status()
    ref = status.current
    if ref is None:
        return None
    return {
        "id": ref.id,
        "schedule_key": ref.schedule_key,
        "fire_at": ref.fire_at.isoformat(timespec="seconds"),
        "planned_by": ref.planned_by,
        "planned_at": ref.planned_at.isoformat(timespec="seconds"),
        "deliveries": ref.deliveries,
        "finished": status.finished,
        "counts": status.counts,
        "holders": [
            {"owner": h.owner, "claims": h.claims, "expired": h.expired, "until": h.until.isoformat(timespec="seconds")}
            for h in status.holders
        ],
        "takeovers": status.takeovers,  # expired claims taken over by another sender
        "refused": status.refused,  # late writes of a sender that had lost its claim
    }


def ignored_json(ledger: Ledger) -> list[dict[str, Any]]:
    return [
        {
            "report_id": row["message"],
            "reason": row["reason"],
            "names": row["detail"].split(", ") if row["detail"] else [],
            "at": row["at"],
        }
        for row in ledger.set_aside("ignored")
    ]


def feedback_json(ledger: Ledger) -> list[dict[str, Any]]:
    return [
        {
            "email": r.email,
            "action": r.action,
            "paper_id": r.paper_id,
            "title": r.title,
            "source": r.source,
            "at": iso(r.created_at),
        }
        for r in ledger.feedback_rows()
    ]


def channels_json(ledger: Ledger | None) -> dict[str, Any]:
    """Chat channel parts that failed (each with the service's answer) or wait."""
    if ledger is None:
        return {"failed": [], "pending": 0}
    failed = [
        {
            "email": r.email,
            "channel": r.channel,
            "part": r.part,
            "parts": r.parts,
            "error": r.error,
            "at": iso(r.updated_at),
        }
        for r in ledger.channel_failures()
    ]
    return {"failed": failed, "pending": len(ledger.pending_channel_parts())}


def sources_json(config: Config, ledger: Ledger | None) -> list[dict[str, Any]]:
    """Each configured source of ``fetch`` with its last fetch and outcome (SPEC 2.5)."""
    states = ledger.fetch_states() if ledger is not None else {}
    out: list[dict[str, Any]] = []
    for source in config.sources:
        st = states.get(source.key)
        out.append(
            {
                "source": source.key,
                "type": source.type,
                "url": st.url if st else None,
                "last_fetch": iso(st.checked_at) if st else None,
                "outcome": st.outcome if st else None,
                "detail": st.detail if st else None,
                "http_status": st.http_status if st else None,
                "last_success": iso(st.ok_at) if st else None,
            }
        )
    return out
