"""``newsletter check``: validate the configuration, profiles and templates."""

from __future__ import annotations

import click

from newsletter.app.checks import clip_warnings, config_warnings, largest_email
from newsletter.base.cron import describe_cron
from newsletter.base.errors import ConfigError, DeliveryError, RenderError
from newsletter.base.urls import redact_url
from newsletter.cli.options import config_option
from newsletter.config import Config, load_config, require_secrets


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
    there is any. Warnings (exit 0): no subscribers yet, an unsubscribe secret
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
    _validate(config)
    _echo_summary(config)
    similarity_lines, library_notes = _similarity(config)
    for line in similarity_lines:
        click.echo(f"  {line}")
    for warning in [*_warnings(config), *library_notes]:
        click.echo(f"warning: {warning}", err=True)
    dkim = config.dkim
    click.echo(f"  dkim:        {'d=' + dkim.domain + ' s=' + dkim.selector if dkim else 'off (the relay must sign)'}")
    if connect:
        _connect(config)


def _validate(config: Config) -> None:
    """What loading does not check: secrets, the DKIM key, the templates (exit 2)."""
    require_secrets(config)  # a username without its password variable, a DKIM key not set: exit 2
    from newsletter.render.dkim import signer_for

    signer_for(config)  # a DKIM key that is no PEM RSA key: exit 2
    from newsletter.render.templates import check_templates

    try:
        check_templates(config)  # compiles the templates: a RenderError names template and line
    except RenderError as exc:  # a template is configuration: exit 2 like every check error
        raise ConfigError(exc.message, path=exc.path, line=exc.line) from None


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
    click.echo(f"  schedule:    {describe_cron(config.schedule.cron, config.schedule.timezone)}")
    click.echo(
        f"  smtp:        {smtp.host}:{smtp.effective_port} security={smtp.security} connections={smtp.connections}"
    )
    if config.ledger_url:
        lease = config.ledger.lease_seconds
        click.echo(f"  ledger:      PostgreSQL {redact_url(config.ledger_url)} (claims leased {lease:g} s)")
    else:
        click.echo(f"  ledger:      {config.ledger_path}")
    unsub = config.sender.unsubscribe
    endpoint = f"on {unsub.listen} (serve, and inside run)" if unsub.listen else "off in run (serve: 127.0.0.1:8026)"
    click.echo(f"  unsubscribe: {unsub.url or '(no URL)'}; endpoint {endpoint}")


def _similarity(config: Config) -> tuple[list[str], list[str]]:
    """The similarity mode and the library files' counts (lines), and one warning per
    broken library entry; nothing (and no import) when nobody likes anything."""
    if not any(s.like or s.dislike or s.library is not None for s in config.subscribers):
        return [], []
    from newsletter.app.likes import similarity_report

    return similarity_report(config)


def _warnings(config: Config) -> list[str]:
    largest = largest_email(config)  # the biggest email of the current digests, against Gmail's clip
    out = [*config_warnings(config), *clip_warnings([largest] if largest else [])]
    likers = [s for s in config.subscribers if s.like or s.dislike]
    if likers:  # issue 17: liked papers nobody has seen yet
        from newsletter.app.likes import known_papers, like_warnings

        out += like_warnings(likers, known_papers(config))
    from newsletter.render.links.tokens import secret_for

    unsub = config.sender.unsubscribe
    if unsub.url and secret_for(config)[1]:
        out.append(
            f"{unsub.secret_env or 'sender.unsubscribe.secret_env'} is not set: unsubscribe "
            "tokens use a fallback secret derived from the config path; set it in production"
        )
    if unsub.url and not unsub.url.lower().startswith("https://"):
        out.append("sender.unsubscribe.url is not https: no List-Unsubscribe-Post (one-click) header")
    if not unsub.mailto and not unsub.url:
        out.append(
            f"no sender.unsubscribe: List-Unsubscribe is a mailto: to {config.sender.mailbox.address} "
            "with the subject 'unsubscribe TOKEN'; set sender.unsubscribe (mailto and an https url for one-click)"
        )
    if not config.bounces.mailbox:
        out.append("no bounces.maildir or bounces.imap: later bounces and mailto unsubscribe requests are not read")
    return out


def _connect(config: Config) -> None:
    """``--connect``: one line, stdout when the relay took us (TLS, AUTH), stderr and exit 1 when not."""
    import asyncio

    from newsletter.delivery.smtp import try_relay

    try:
        line = asyncio.run(try_relay(config.smtp))
    except DeliveryError as exc:
        click.echo(f"error: smtp: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"  smtp relay:  {line}")
