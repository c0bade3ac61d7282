"""``newsletter feedback``: the likes and dislikes recorded in the ledger, by hand."""

from __future__ import annotations

from datetime import datetime

import click

from newsletter.base.cron import timezone
from newsletter.cli.options import config_option
from newsletter.config import load_config


@click.group("feedback")
@config_option
@click.pass_context
def feedback_group(ctx: click.Context, config_path: str) -> None:
    """The "more like this" / "fewer like this" feedback recorded in the ledger
    (from the email's links, or by hand here). It joins the profile's like: and
    dislike: when matching; the YAML is never changed.

    \b
    Example:
      newsletter feedback -c config.yaml list
      newsletter feedback -c config.yaml like alice@example.org "Rethinking Positive Pairs in Contrastive Learning"
      newsletter feedback -c config.yaml forget alice@example.org "Rethinking Positive Pairs in Contrastive Learning"
    """
    ctx.obj = config_path


@feedback_group.command("list")
@click.argument("email", required=False)
@click.pass_obj
def list_command(config_path: str, email: str | None) -> None:
    """A table of the recorded likes and dislikes (of EMAIL only, when given).

    \b
    Example:
      newsletter feedback -c config.yaml list alice@example.org
    """
    from newsletter.app.likes import ledger_feedback

    config = load_config(config_path, strict=False)
    rows = ledger_feedback(config, config.subscriber(email).email if email else None)
    if not rows:
        click.echo("no feedback recorded")
        return
    tz = timezone(config.schedule.timezone)  # the newsletter's clock, its zone named (it was UTC, unsaid)
    for row in rows:
        when = datetime.fromtimestamp(row.created_at, tz).strftime("%Y-%m-%d %H:%M %Z")
        click.echo(f"{row.email}  {row.action:<7}  {when}  {row.source:<5}  {row.paper_id}  {row.title}")


def _set(config_path: str, email: str, paper: str, action: str) -> None:
    from newsletter.app.likes import set_feedback

    found, changed = set_feedback(load_config(config_path, strict=False), email, paper, action)
    click.echo(f"{email}: {action} {found.title}" + ("" if changed else " (already recorded)"))


@feedback_group.command("like")
@click.argument("email")
@click.argument("paper")
@click.pass_obj
def like_command(config_path: str, email: str, paper: str) -> None:
    """Record that EMAIL likes PAPER (arXiv id, Hugging Face URL or exact title of a
    paper the ledger or the digests hold): similar papers match from now on.

    \b
    Example:
      newsletter feedback -c config.yaml like alice@example.org "Rethinking Positive Pairs in Contrastive Learning"
    """
    _set(config_path, email, paper, "like")


@feedback_group.command("dislike")
@click.argument("email")
@click.argument("paper")
@click.pass_obj
def dislike_command(config_path: str, email: str, paper: str) -> None:
    """Record that EMAIL dislikes PAPER: similar papers are pushed down.

    \b
    Example:
      newsletter feedback -c config.yaml dislike alice@example.org "Policy Gradient-Driven Noise Mask"
    """
    _set(config_path, email, paper, "dislike")


@feedback_group.command("forget")
@click.argument("email")
@click.argument("paper")
@click.pass_obj
def forget_command(config_path: str, email: str, paper: str) -> None:
    """Drop the recorded like or dislike of PAPER for EMAIL (exit 1 when there is none).

    \b
    Example:
      newsletter feedback -c config.yaml like alice@example.org "Rethinking Positive Pairs in Contrastive Learning"
      newsletter feedback -c config.yaml forget alice@example.org "Rethinking Positive Pairs in Contrastive Learning"
    """
    from newsletter.app.likes import forget

    row = forget(load_config(config_path, strict=False), email, paper)
    if row is None:
        click.echo(f"error: no feedback on {paper!r} recorded for {email}; nothing changed", err=True)
        raise SystemExit(1)
    click.echo(f"{email}: forgot {row.action} {row.title}")
