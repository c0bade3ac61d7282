"""``newsletter status``: digests, deliveries, failures, last and next run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from newsletter.cli import cli
from newsletter.cli.options import config_option, json_option
from newsletter.config import Config, load_config
from newsletter.cron import next_fire
from newsletter.delivery.ledger import Ledger, iso


def next_run(config: Config, now: datetime | None = None) -> datetime | None:
    """The next fire time of any schedule (the global one and subscribers' own)."""
    return next_fire(config, now)


def status_json(config: Config, ledger: Ledger | None) -> dict[str, Any]:
    """The ``status --json`` shape of SPEC 7."""
    fire = next_run(config)
    if ledger is None:
        digests: list[dict[str, Any]] = []
        counts = {"sent": 0, "pending": 0, "failed": 0}
        failed: list[dict[str, str]] = []
        last = None
        suppression = {"suppressed": 0, "paused": 0}
        bounced: list[dict[str, Any]] = []
    else:
        digests = [
            {"path": d.path, "sha256": d.sha256, "status": d.status, "papers": d.papers, "error": d.error}
            for d in ledger.digests()
        ]
        counts = ledger.delivery_counts()
        failed = [{"email": e, "error": err} for e, err in ledger.failed()]
        last = iso(ledger.last_run())
        suppression = ledger.suppression_counts()
        bounced = ledger.bounced()
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
        # addresses no longer mailed because they bounced (bounces.hard / bounces.soft), and why
        "bounced": bounced,
    }


@cli.command("status")
@config_option
@json_option
def status_command(config_path: str, as_json: bool) -> None:
    """Show what the ledger knows: digests picked up (ok or failed, and why),
    deliveries sent, pending and failed (each failed one with the server's
    reply), addresses suppressed because they bounced (and why), how many
    addresses are unsubscribed or paused, the last run and the
    next scheduled one. Changes nothing.

    \b
    Example:
      newsletter status -c config.yaml
      newsletter status -c config.yaml --json | jq .deliveries
    """
    config = load_config(config_path)
    ledger = Ledger.open_readonly(config.state)
    try:
        data = status_json(config, ledger)
    finally:
        if ledger is not None:
            ledger.close()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"ledger: {config.state}" + ("" if ledger is not None else " (no run yet)"))
    click.echo(f"digests: {len(data['digests'])}")
    for d in data["digests"]:
        extra = f"{d['papers']} papers" if d["status"] == "ok" else f"FAILED: {d['error']}"
        click.echo(f"  {d['status']:<6} {d['path']}  {extra}")
    c = data["deliveries"]
    click.echo(f"deliveries: {c['sent']} sent, {c['pending']} pending, {c['failed']} failed")
    for f in data["failed"]:
        click.echo(f"  failed {f['email']}: {f['error']}")
    click.echo(f"bounced: {len(data['bounced'])} address{'es' if len(data['bounced']) != 1 else ''} suppressed")
    for b in data["bounced"]:
        click.echo(f"  bounced {b['email']}: {b['reason']} since {b['since']}")
    paused = f" ({data['paused']} paused)" if data["paused"] else ""
    click.echo(f"unsubscribed: {data['suppressed']} address{'es' if data['suppressed'] != 1 else ''}{paused}")
    click.echo(f"last run: {data['last_run'] or 'never'}")
    click.echo(f"next run: {data['next_run'] or '-'} ({config.schedule.cron}, {config.schedule.timezone})")
