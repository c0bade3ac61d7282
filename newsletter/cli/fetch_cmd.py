"""``newsletter fetch``: bring the day's digests in from the configured sources."""

from __future__ import annotations

from datetime import date

import click

from newsletter.base.errors import ConfigError
from newsletter.cli.options import config_option
from newsletter.config import Config, load_config
from newsletter.fetch import FetchReport, fetch_sources


def echo_report(report: FetchReport, *, quiet: bool = False) -> None:
    """One line per source: what it did on stdout (not when ``quiet``: ``send --fetch``
    under cron), a failure or a record not read on stderr (always)."""
    if report.removed and not quiet:
        n = len(report.removed)
        click.echo(f"removed {n} temporary file{'s' if n != 1 else ''} left by an interrupted fetch")
    for result in report.results:
        if result.outcome == "failed":
            click.echo(f"error: {result.source}: {result.line()}", err=True)
        elif result.unread:
            click.echo(f"warning: {result.source}: {result.line()}", err=True)
        elif not quiet:
            click.echo(f"{result.source}: {result.line()}")


def require_sources(config: Config) -> None:
    if not config.sources:
        raise ConfigError(
            "no sources configured: add a `sources:` list (see config.example.yaml)", path=str(config.path)
        )


def parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--date") from None


@click.command("fetch")
@config_option
@click.option("--date", "day", metavar="YYYY-MM-DD", help="The day to fetch (default: today in schedule.timezone).")
def fetch_command(config_path: str, day: str | None) -> None:
    """Bring the day's digests in from the sources of the configuration
    (Hugging Face daily papers, arXiv listings) and write each as one file into
    the digest directory, where send and the daemon pick it up.

    Content already fetched writes nothing; a source without papers that day (an
    arXiv weekend) is a line, not an error. A source that fails is one line on
    stderr and exit code 1; the other sources are still written.

    \b
    Example:
      newsletter fetch -c config.yaml
      newsletter fetch -c config.yaml --date 2026-11-17
    """
    wanted = parse_day(day)
    config = load_config(config_path, strict=False)
    if not config.sources:
        raise ConfigError(
            "no sources configured: add a `sources:` list (see config.example.yaml)", path=str(config.path)
        )
    report = fetch_sources(config, day=wanted)
    echo_report(report)
    if report.exit_code:
        raise SystemExit(report.exit_code)
