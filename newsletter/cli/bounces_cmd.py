"""``newsletter bounces``: read the bounce mailbox once."""

from __future__ import annotations

import click

from newsletter.cli.options import config_option
from newsletter.config import load_config


@click.command("bounces")
@config_option
def bounces_command(config_path: str) -> None:
    """Read the bounce mailbox (bounces.maildir or bounces.imap): record every
    delivery status notification against its delivery, suppress addresses after
    bounces.hard hard or bounces.soft consecutive soft bounces, honour mailto
    unsubscribe requests that carry a valid token. Processed messages are moved
    aside (never read twice); other mail is left alone (only its headers are
    read). A report that is not tied to one delivery of ours to the address it
    names is ignored (status shows why); a message that cannot be read is moved
    into the quarantine. `send` does this before it delivers, the daemon every
    bounces.every_minutes. Exit 1 when the mailbox cannot be read (or drops
    mid-way), 2 when none is configured.

    \b
    Example:
      newsletter bounces -c config.yaml
      newsletter status -c config.yaml    # shows the bounced addresses and why
    """
    from newsletter.bounces import run_bounces

    summary = run_bounces(load_config(config_path, strict=False))
    for email, reason in summary.suppressed:
        click.echo(f"suppressed {email}: {reason}")
    for email in summary.unsubscribed:
        click.echo(f"unsubscribed {email} (mailto request)")
    click.echo(
        f"{summary.mailbox}: {summary.messages} message{'s' if summary.messages != 1 else ''}, "
        f"{summary.reports} bounce report{'s' if summary.reports != 1 else ''} "
        f"({summary.bounces} bounce{'s' if summary.bounces != 1 else ''} recorded, {summary.unmatched} ignored), "
        f"{len(summary.unsubscribed)} unsubscribe request{'s' if len(summary.unsubscribed) != 1 else ''} honoured"
        + (f", {summary.refused} refused (no valid token; left in the mailbox)" if summary.refused else "")
        + f", {summary.left} left alone"
        + (f" ({summary.known} more from earlier passes, not read again)" if summary.known else "")
        + (f", {summary.quarantined} quarantined (cannot be read)" if summary.quarantined else "")
    )
