"""``newsletter status``: digests, deliveries, failures, last and next run."""

from __future__ import annotations

import json
from typing import Any

import click

from newsletter.app.status import next_run_text, read_status
from newsletter.base.cron import describe_cron
from newsletter.base.errors import printable
from newsletter.base.wording import plural
from newsletter.cli.options import config_option, json_option, load_config_leaving_out
from newsletter.config import Config
from newsletter.digest import missing_list, not_read
from newsletter.store.copy import shown


def _digest_detail(d: dict[str, Any]) -> str:
    if d["status"] == "failed":
        return f"FAILED: {printable(d['error'] or '')}"
    if d["status"] == "partial":
        missing = d["missing"]
        return f"{plural(d['papers'], 'paper')}; {not_read(missing, short=True)}: {missing_list(missing)}"
    return plural(d["papers"], "paper")


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
    status = read_status(config)
    if as_json:
        click.echo(json.dumps(status.data, ensure_ascii=False, indent=2))
        return
    _echo_status(config, status.data, ran=status.ran)


def _echo_status(config: Config, data: dict[str, Any], *, ran: bool) -> None:
    """``status`` for people: the JSON's content as lines."""
    where = shown(config.ledger_url) if config.ledger_url is not None else str(config.ledger_path)
    click.echo(f"ledger: {where}" + ("" if ran else " (no run yet)"))
    if data["left_out"]:
        click.echo(f"left out: {plural(len(data['left_out']), 'subscriber')} (fix them; check lists every problem)")
        for left in config.left_out:
            click.echo(f"  {left}")
    _echo_deliveries(data)
    if data["pass"] is not None:
        _echo_pass(data["pass"])
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
    _echo_first(f"getting nothing now: {len(data['nothing'])}", _nothing_lines(data["nothing"]))
    if data["feedback"]:
        click.echo(f"feedback: {len(data['feedback'])} like/dislike(s) recorded")
        for fb in data["feedback"][:50]:
            click.echo(f"  {fb['email']}: {fb['action']} {fb['title']}")
    click.echo(f"last run: {data['last_run'] or 'never'}")
    click.echo(f"next run: {next_run_text(config)}")


def _echo_deliveries(data: dict[str, Any]) -> None:
    """Digests (and files that are not), deliveries, failures and bounces."""
    click.echo(f"digests: {len(data['digests'])}")
    for d in data["digests"]:
        click.echo(f"  {d['status']:<7} {printable(d['path'])}  {_digest_detail(d)}")
    for f in data["ignored"]:
        click.echo(f"  {printable(f['path'])}: not a digest ({f['kind']}), ignored")
    c = data["deliveries"]
    click.echo(f"deliveries: {c['sent']} sent, {c['pending']} pending, {c['failed']} failed")
    for f in data["failed"]:
        click.echo(f"  failed {f['email']}: {printable(f['error'] or '')}")
    chat = data["channels"]
    if chat["failed"] or chat["pending"]:
        click.echo(f"channels: {len(chat['failed'])} message part(s) failed, {chat['pending']} pending")
        for f in chat["failed"]:
            click.echo(f"  failed {f['email']} {f['channel']} ({f['part']}/{f['parts']}): {f['error']}")
    click.echo(f"bounced: {plural(len(data['bounced']), 'address', 'addresses')} suppressed")
    for b in data["bounced"]:
        click.echo(f"  bounced {b['email']}: {b['reason']} since {b['since']}")


def _echo_pass(p: dict[str, Any]) -> None:
    """The current pass of several senders: its state, its claims, takeovers, late writes."""
    state = "finished" if p["finished"] else "running"
    c = p["counts"]
    click.echo(
        f"pass: {p['schedule_key']} at {p['fire_at']}, planned by {p['planned_by']}: {p['deliveries']} deliveries, "
        f"{state} ({c.get('sent', 0)} sent, {c.get('claimed', 0)} claimed, {c.get('pending', 0)} pending, "
        f"{c.get('failed', 0)} failed)"
    )
    for h in p["holders"]:
        expired = f", {h['expired']} expired (awaiting a takeover)" if h["expired"] else ""
        click.echo(f"  claims held by {h['owner']}: {h['claims']} until {h['until']}{expired}")
    click.echo(f"  taken over after a lease expired: {p['takeovers']}; late writes refused: {p['refused']}")


SAME_REASON = 3  # more subscribers than this with one reason share a line


def _nothing_lines(nothing: list[dict[str, str]]) -> list[str]:
    """Who gets nothing and why, a line each; a reason more than :data:`SAME_REASON`
    subscribers share (after a morning's pass: "no new digest since its last email" for
    nearly everybody) is one line naming the first of them and how many more, where the
    first of them stood (``status --json`` lists every one)."""
    by_reason: dict[str, list[str]] = {}
    for n in nothing:
        by_reason.setdefault(n["reason"], []).append(n["email"])
    lines, said = [], set()
    for n in nothing:
        emails = by_reason[n["reason"]]
        if len(emails) <= SAME_REASON:
            lines.append(f"{n['email']}: {n['reason']}")
        elif n["reason"] not in said:
            said.add(n["reason"])
            rest = len(emails) - SAME_REASON
            lines.append(f"{', '.join(emails[:SAME_REASON])} and {rest:,} more: {n['reason']}")
    return lines


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
