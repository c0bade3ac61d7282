"""``newsletter status``: digests, deliveries, failures, last and next run."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import click

from newsletter.cli.options import config_option, json_option
from newsletter.config import Config, load_config
from newsletter.cron import describe_cron
from newsletter.delivery.ledger import Ledger, iso
from newsletter.digest.guard import one_line
from newsletter.schedule import next_fire


def status_json(config: Config, ledger: Ledger | None) -> dict[str, Any]:
    """The ``status --json`` shape of SPEC 7."""
    fire = next_fire(config)
    if ledger is None:
        digests: list[dict[str, Any]] = []
        counts = {"sent": 0, "pending": 0, "failed": 0}
        failed: list[dict[str, str]] = []
        last = None
        suppression = {"suppressed": 0, "paused": 0}
        bounced: list[dict[str, Any]] = []
    else:
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
        counts = ledger.delivery_counts()
        failed = [{"email": e, "error": err} for e, err in ledger.failed()]
        last = iso(ledger.last_run())
        suppression = ledger.suppression_counts()
        bounced = ledger.bounced()
    from newsletter.why import status_reasons

    nothing = [] if ledger is None else status_reasons(config, ledger)
    return {
        "digests": digests,
        "deliveries": counts,
        "failed": failed,
        "last_run": last,
        "next_run": fire.astimezone(UTC).isoformat(timespec="seconds") if fire else None,
        # addresses that get nothing: unsubscribed (one-click or by hand) or paused; "paused" is
        # the part of "suppressed" that ends by itself
        "suppressed": suppression["suppressed"],
        "paused": suppression["paused"],
        "sources": sources_json(config, ledger),
        # subscribers who get nothing in the next pass (or wait for their own schedule), and why
        "nothing": [{"email": n.email, "code": n.code, "reason": n.reason} for n in nothing],
        # addresses no longer mailed because they bounced (bounces.hard / bounces.soft), and why
        "bounced": bounced,
        # issue 17: "more/fewer like this" recorded from the email or `newsletter feedback`
        "feedback": [] if ledger is None else feedback_json(ledger),
    }


def _digest_detail(d: dict[str, Any]) -> str:
    if d["status"] == "failed":
        return f"FAILED: {d['error']}"
    if d["status"] == "partial":
        missing = d["missing"]
        return f"{d['papers']} papers; {len(missing)} linked not read: {one_line(', '.join(missing), 2000)}"
    return f"{d['papers']} papers"


def feedback_json(ledger: Ledger) -> list[dict[str, Any]]:
    from newsletter.delivery.ledger import feedback_rows

    return [
        {
            "email": r.email,
            "action": r.action,
            "paper_id": r.paper_id,
            "title": r.title,
            "source": r.source,
            "at": iso(r.created_at),
        }
        for r in feedback_rows(ledger)
    ]


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


@click.command("status")
@config_option
@json_option
def status_command(config_path: str, as_json: bool) -> None:
    """Show what the ledger knows: digests picked up (ok or failed, and why),
    deliveries sent, pending and failed (each failed one with the server's
    reply), addresses suppressed because they bounced (and why), how many
    addresses are unsubscribed or paused, who gets nothing now and why (new,
    nothing matched, already sent, unsubscribed, own schedule not due), each
    fetch source's last fetch and its outcome, the last run and the next
    scheduled one. Changes nothing.

    \b
    Example:
      newsletter status -c config.yaml
      newsletter status -c config.yaml --json | jq .deliveries
    """
    config = load_config(config_path)
    ledger = Ledger.open_readonly(config.ledger_path)
    try:
        data = status_json(config, ledger)
    finally:
        if ledger is not None:
            ledger.close()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"ledger: {config.ledger_path}" + ("" if ledger is not None else " (no run yet)"))
    click.echo(f"digests: {len(data['digests'])}")
    for d in data["digests"]:
        click.echo(f"  {d['status']:<7} {d['path']}  {_digest_detail(d)}")
    c = data["deliveries"]
    click.echo(f"deliveries: {c['sent']} sent, {c['pending']} pending, {c['failed']} failed")
    for f in data["failed"]:
        click.echo(f"  failed {f['email']}: {f['error']}")
    click.echo(f"bounced: {len(data['bounced'])} address{'es' if len(data['bounced']) != 1 else ''} suppressed")
    for b in data["bounced"]:
        click.echo(f"  bounced {b['email']}: {b['reason']} since {b['since']}")
    paused = f" ({data['paused']} paused)" if data["paused"] else ""
    click.echo(f"unsubscribed: {data['suppressed']} address{'es' if data['suppressed'] != 1 else ''}{paused}")
    if data["sources"]:
        when = describe_cron(config.fetch.cron, config.schedule.timezone)
        click.echo(f"sources: {len(data['sources'])} (fetched {when})")
        for src in data["sources"]:
            if src["outcome"] is None:
                click.echo(f"  {src['source']}: never fetched")
                continue
            detail = f": {src['detail']}" if src["detail"] else ""
            click.echo(f"  {src['source']}: {src['outcome']} at {src['last_fetch']}{detail}")
    if data["nothing"]:
        click.echo(f"getting nothing now: {len(data['nothing'])}")
        for n in data["nothing"][:50]:
            click.echo(f"  {n['email']}: {n['reason']}")
        if len(data["nothing"]) > 50:
            click.echo(f"  ... and {len(data['nothing']) - 50} more (status --json lists them all)")
    if data["feedback"]:
        click.echo(f"feedback: {len(data['feedback'])} like/dislike(s) recorded")
        for fb in data["feedback"][:50]:
            click.echo(f"  {fb['email']}: {fb['action']} {fb['title']}")
    click.echo(f"last run: {data['last_run'] or 'never'}")
    click.echo(f"next run: {data['next_run'] or '-'} ({describe_cron(config.schedule.cron, config.schedule.timezone)})")
