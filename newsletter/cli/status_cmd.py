"""``newsletter status``: digests, deliveries, failures, last and next run."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import click

from newsletter.base.cron import describe_cron
from newsletter.base.wording import plural
from newsletter.cli.options import config_option, json_option, load_config_leaving_out
from newsletter.config import Config
from newsletter.daemon.schedule import next_fire
from newsletter.digest.guard import one_line
from newsletter.store import Ledger, iso
from newsletter.store.choose import open_ledger_readonly


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
    from newsletter.app.why import status_reasons

    nothing = [] if ledger is None else status_reasons(config, ledger)
    from newsletter.digest.scan import stray_files

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
        "channels": channels_json(ledger),  # issue 27: chat parts refused, and waiting
        # subscribers who get nothing in the next pass (or wait for their own schedule), and why
        "nothing": [{"email": n.email, "code": n.code, "reason": n.reason} for n in nothing],
        # addresses no longer mailed because they bounced (bounces.hard / bounces.soft), and why
        "bounced": bounced,
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


def _digest_detail(d: dict[str, Any]) -> str:
    if d["status"] == "failed":
        return f"FAILED: {d['error']}"
    if d["status"] == "partial":
        missing = d["missing"]
        return f"{plural(d['papers'], 'paper')}; {len(missing)} linked not read: {one_line(', '.join(missing), 2000)}"
    return plural(d["papers"], "paper")


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


@click.command("status")
@config_option
@json_option
def status_command(config_path: str, as_json: bool) -> None:
    """Show what the ledger knows: digests picked up (ok or failed, and why),
    deliveries sent, pending and failed (each failed one with the server's
    reply), addresses suppressed because they bounced (and why), bounce reports
    ignored (forged, or about nobody we mailed) and messages of the bounce
    mailbox quarantined (they cannot be read), each with why, how many
    addresses are unsubscribed or paused, who gets nothing now and why (new,
    nothing matched, already sent, unsubscribed, own schedule not due), each
    fetch source's last fetch and its outcome, subscribers left out because
    their entry or file does not validate (and why), the last run and the next
    scheduled one. Changes nothing.

    \b
    Example:
      newsletter status -c config.yaml
      newsletter status -c config.yaml --json | jq .deliveries
    """
    config = load_config_leaving_out(config_path, level=None)  # listed below
    ledger = open_ledger_readonly(config)
    try:
        data = status_json(config, ledger)
    finally:
        if ledger is not None:
            ledger.close()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    _echo_status(config, data, ran=ledger is not None)


def _echo_status(config: Config, data: dict[str, Any], *, ran: bool) -> None:
    """``status`` for people: the JSON's content as lines."""
    click.echo(f"ledger: {config.ledger_path}" + ("" if ran else " (no run yet)"))
    if data["left_out"]:
        click.echo(f"left out: {plural(len(data['left_out']), 'subscriber')} (fix them; check lists every problem)")
        for left in config.left_out:
            click.echo(f"  {left}")
    _echo_deliveries(data)
    _echo_first(
        f"bounce reports ignored: {len(data['ignored_reports'])}",
        [f"{r['report_id']} ({r['at']}): {r['reason']}" for r in data["ignored_reports"]],
    )
    _echo_first(
        f"quarantined (cannot be read): {len(data['quarantined'])}",
        [f"{q['message']} ({q['at']}): {q['reason']}" for q in data["quarantined"]],
    )
    paused = f" ({data['paused']} paused)" if data["paused"] else ""
    click.echo(f"unsubscribed: {plural(data['suppressed'], 'address', 'addresses')}{paused}")
    _echo_sources(config, data["sources"])
    _echo_first(
        f"getting nothing now: {len(data['nothing'])}", [f"{n['email']}: {n['reason']}" for n in data["nothing"]]
    )
    if data["feedback"]:
        click.echo(f"feedback: {len(data['feedback'])} like/dislike(s) recorded")
        for fb in data["feedback"][:50]:
            click.echo(f"  {fb['email']}: {fb['action']} {fb['title']}")
    click.echo(f"last run: {data['last_run'] or 'never'}")
    click.echo(f"next run: {data['next_run'] or '-'} ({describe_cron(config.schedule.cron, config.schedule.timezone)})")


def _echo_deliveries(data: dict[str, Any]) -> None:
    """Digests (and files that are not), deliveries, failures and bounces."""
    click.echo(f"digests: {len(data['digests'])}")
    for d in data["digests"]:
        click.echo(f"  {d['status']:<7} {d['path']}  {_digest_detail(d)}")
    for f in data["ignored"]:
        click.echo(f"  {f['path']}: not a digest ({f['kind']}), ignored")
    c = data["deliveries"]
    click.echo(f"deliveries: {c['sent']} sent, {c['pending']} pending, {c['failed']} failed")
    for f in data["failed"]:
        click.echo(f"  failed {f['email']}: {f['error']}")
    chat = data["channels"]
    if chat["failed"] or chat["pending"]:
        click.echo(f"channels: {len(chat['failed'])} message part(s) failed, {chat['pending']} pending")
        for f in chat["failed"]:
            click.echo(f"  failed {f['email']} {f['channel']} ({f['part']}/{f['parts']}): {f['error']}")
    click.echo(f"bounced: {plural(len(data['bounced']), 'address', 'addresses')} suppressed")
    for b in data["bounced"]:
        click.echo(f"  bounced {b['email']}: {b['reason']} since {b['since']}")


def _echo_first(title: str, lines: list[str], limit: int = 50) -> None:
    """A titled list of at most ``limit`` lines (``status --json`` has them all); nothing when empty."""
    if not lines:
        return
    click.echo(title)
    for line in lines[:limit]:
        click.echo(f"  {line}")
    if len(lines) > limit:
        click.echo(f"  ... and {len(lines) - limit} more (status --json lists them all)")


def _echo_sources(config: Config, sources: list[dict[str, Any]]) -> None:
    if not sources:
        return
    when = describe_cron(config.fetch.cron, config.schedule.timezone)
    click.echo(f"sources: {len(sources)} (fetched {when})")
    for src in sources:
        if src["outcome"] is None:
            click.echo(f"  {src['source']}: never fetched")
            continue
        detail = f": {src['detail']}" if src["detail"] else ""
        click.echo(f"  {src['source']}: {src['outcome']} at {src['last_fetch']}{detail}")
