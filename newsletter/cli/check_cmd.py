"""``newsletter check``: validate the configuration, profiles and templates."""

from __future__ import annotations

import click

from newsletter.app.checks import check_config, ledger_state, try_smtp_relay
from newsletter.base.cron import describe_cron
from newsletter.base.errors import DeliveryError
from newsletter.base.urls import redact_url
from newsletter.cli.options import config_option
from newsletter.config import Config, load_config
from newsletter.render.links.tokens import secret_source


@click.command("check")
@config_option
@click.option(
    "--connect",
    is_flag=True,
    help="Also try the SMTP relay: connect, TLS, AUTH, then QUIT (no mail is sent); one line, exit 1 on failure.",
)
def check_command(config_path: str, connect: bool) -> None:
    """Validate the configuration: keys, types, addresses, keywords, cron
    expressions, paths, templates and the secrets it names (an SMTP username
    whose password variable is unset, a DKIM key that is not there). Every
    problem is listed with its key path and line; the exit code is 2 when
    there is any. A SQLite ledger that is there is opened read-only: one that
    is damaged, foreign or of a newer version is the one line `send` would
    give (exit 2). Warnings (exit 0): no subscribers yet, an unsubscribe secret
    or address not set, no bounce mailbox, and the largest email of the
    current digests growing past Gmail's 102 KB clip, an SMTP port that does
    not go with its security (465 is implicit TLS, 587 STARTTLS).

    With --connect, the relay is tried too: a connection, TLS as configured
    (certificate verified), AUTH when smtp.username is set, QUIT; no mail is
    sent. One line says what worked, or what did not with a hint (exit 1).

    \b
    Example:
      newsletter check -c config.yaml
      newsletter check -c config.yaml --connect
    """
    config = load_config(config_path)
    report = check_config(config)
    _echo_summary(config)
    for line in report.similarity:
        click.echo(f"  {line}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    dkim = config.dkim
    click.echo(f"  dkim:        {'d=' + dkim.domain + ' s=' + dkim.selector if dkim else 'off (the relay must sign)'}")
    if connect:
        _connect(config)


_VERSIONED = {"arxiv": "arXiv's", "biorxiv": "bioRxiv's", "medrxiv": "medRxiv's"}  # sources that post new versions


def _echo_revisions(config: Config) -> None:
    """What becomes of arXiv's, bioRxiv's and medRxiv's revisions of older papers
    (``revisions``), when one of them is a source or somebody changed it."""
    off = sum(1 for s in config.subscribers if not s.revisions)
    named = list(dict.fromkeys(_VERSIONED[s.type] for s in config.sources if s.type in _VERSIONED))
    if off or not config.defaults.revisions or named:
        whose = " and ".join(named) if named else "arXiv's and bioRxiv's"
        sent = "sent, labelled revised" if config.defaults.revisions else "left out (revisions: false)"
        own = off if config.defaults.revisions else len(config.subscribers) - off
        other = "left out" if config.defaults.revisions else "sent"
        click.echo(f"  revisions:   {whose} new versions of older papers {sent}; {own} subscriber(s) {other}")


def _echo_summary(config: Config) -> None:
    own = sum(1 for s in config.subscribers if s.schedule)
    smtp = config.smtp
    click.echo(f"{config.path}: OK")
    click.echo(f"  subscribers: {len(config.subscribers)} ({own} with an own schedule)")
    click.echo(f"  digests:     {config.digests.directory} ({', '.join(config.digests.patterns)})")
    if config.sources:
        names = ", ".join(s.key for s in config.sources)
        fetched = describe_cron(config.fetch.cron, config.schedule.timezone)
        click.echo(f"  sources:     {names}; fetched {fetched}")
    channels = [c.key for s in config.subscribers for c in s.channels]
    if channels:
        only = sum(1 for s in config.subscribers if not s.send_email)
        click.echo(
            f"  channels:    {len(channels)} ({', '.join(sorted(set(channels)))}); {only} subscriber(s) without email"
        )
    _echo_revisions(config)
    click.echo(f"  schedule:    {describe_cron(config.schedule.cron, config.schedule.timezone)}")
    click.echo(
        f"  smtp:        {smtp.host}:{smtp.effective_port} security={smtp.security} connections={smtp.connections}"
    )
    if config.ledger_url:
        lease = config.ledger.lease_seconds
        click.echo(f"  ledger:      PostgreSQL {redact_url(config.ledger_url)} (claims leased {lease:g} s)")
    else:
        click.echo(f"  ledger:      {config.ledger_path} ({ledger_state(config)})")
    unsub = config.sender.unsubscribe
    endpoint = f"on {unsub.listen} (serve, and inside run)" if unsub.listen else "off in run (serve: 127.0.0.1:8026)"
    click.echo(f"  unsubscribe: {unsub.url or '(no URL)'}; endpoint {endpoint}")
    click.echo(f"  secret:      {secret_source(config)}")


def _connect(config: Config) -> None:
    """``--connect``: one line, stdout when the relay took us (TLS, AUTH), stderr and exit 1 when not."""
    try:
        line = try_smtp_relay(config)
    except DeliveryError as exc:
        click.echo(f"error: smtp: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"  smtp relay:  {line}")
