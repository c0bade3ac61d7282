"""``newsletter check``: validate the configuration, profiles and templates."""

from __future__ import annotations

import click

from newsletter.checks import clip_warnings, config_warnings, largest_email
from newsletter.cli.options import config_option
from newsletter.config import load_config, require_secrets
from newsletter.cron import describe_cron
from newsletter.errors import ConfigError, RenderError


@click.command("check")
@config_option
def check_command(config_path: str) -> None:
    """Validate the configuration: keys, types, addresses, keywords, cron
    expressions, paths, templates and the secrets it names (an SMTP username
    whose password variable is unset, a DKIM key that is not there). Every
    problem is listed with its key path and line; the exit code is 2 when
    there is any. Warnings (exit 0): no subscribers yet, an unsubscribe secret
    or address not set, no bounce mailbox, and the largest email of the
    current digests growing past Gmail's 102 KB clip.

    \b
    Example:
      newsletter check -c config.yaml
    """
    config = load_config(config_path)
    require_secrets(config)  # a username without its password variable, a DKIM key not set: exit 2
    from newsletter.dkim import signer_for

    signer_for(config)  # a DKIM key that is no PEM RSA key: exit 2
    from newsletter.render import Renderer

    try:
        Renderer(config)  # compiles the templates: a RenderError names template and line
    except RenderError as exc:  # a template is configuration: exit 2 like every check error
        raise ConfigError(exc.message, path=exc.path, line=exc.line) from None
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
    click.echo(f"  ledger:      {config.ledger_path}")
    unsub = config.sender.unsubscribe
    endpoint = f"on {unsub.listen} (serve, and inside run)" if unsub.listen else "off in run (serve: 127.0.0.1:8026)"
    click.echo(f"  unsubscribe: {unsub.url or '(no URL)'}; endpoint {endpoint}")
    largest = largest_email(config)  # the biggest email of the current digests, against Gmail's clip
    from newsletter.likes import known_papers, like_warnings, similarity_report

    likers = [s for s in config.subscribers if s.like or s.dislike]
    unknown_likes = like_warnings(likers, known_papers(config)) if likers else []  # issue 17
    similarity_lines, library_notes = similarity_report(config)  # issue 24
    for line in similarity_lines:
        click.echo(f"  {line}")
    for warning in [
        *config_warnings(config),
        *clip_warnings([largest] if largest else []),
        *unknown_likes,
        *library_notes,
    ]:
        click.echo(f"warning: {warning}", err=True)
    from newsletter.unsubscribe import secret_for

    if unsub.url and secret_for(config)[1]:
        click.echo(
            f"warning: {unsub.secret_env or 'sender.unsubscribe.secret_env'} is not set: unsubscribe "
            "tokens use a fallback secret derived from the config path; set it in production",
            err=True,
        )
    if unsub.url and not unsub.url.lower().startswith("https://"):
        click.echo(
            "warning: sender.unsubscribe.url is not https: no List-Unsubscribe-Post (one-click) header", err=True
        )
    if not unsub.mailto and not unsub.url:
        click.echo(
            f"warning: no sender.unsubscribe: List-Unsubscribe is a mailto: to {config.sender.mailbox.address} "
            "with the subject 'unsubscribe TOKEN'; set sender.unsubscribe (mailto and an https url for one-click)",
            err=True,
        )
    if not config.bounces.mailbox:
        click.echo(
            "warning: no bounces.maildir or bounces.imap: later bounces and mailto unsubscribe requests are not read",
            err=True,
        )
    dkim = config.dkim
    click.echo(f"  dkim:        {'d=' + dkim.domain + ' s=' + dkim.selector if dkim else 'off (the relay must sign)'}")
