"""The ``newsletter`` command line: thin shells over the core.

Each command parses its arguments, makes one core call and prints. Errors from
the core (:class:`~newsletter.errors.NewsletterError`) become one line on stderr
and the error's exit code (2 for configuration, 1 for failed work); ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from newsletter import __version__
from newsletter.cli.bounces_cmd import bounces_command
from newsletter.cli.check_cmd import check_command
from newsletter.cli.feedback_cmd import feedback_group
from newsletter.cli.fetch_cmd import fetch_command
from newsletter.cli.init_cmd import init_command
from newsletter.cli.match_cmd import match_command
from newsletter.cli.parse_cmd import parse_command
from newsletter.cli.preview_cmd import preview_command
from newsletter.cli.run_cmd import run_command
from newsletter.cli.send_cmd import send_command
from newsletter.cli.serve_cmd import serve_command
from newsletter.cli.sink_cmd import sink_command
from newsletter.cli.status_cmd import status_command
from newsletter.cli.subscribers_cmd import subscribers_group
from newsletter.cli.subscription_cmd import resubscribe_command, unsubscribe_command
from newsletter.errors import NewsletterError


class Group(click.Group):
    """Turns the error root into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            if ctx.meta.get("newsletter.debug"):
                raise
            for line in str(exc).splitlines():
                click.echo(f"error: {line}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="newsletter", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """paper-digest: research digests matched to keyword profiles, delivered by email.

    \b
    Example:
      newsletter parse seeds/*.txt
      newsletter check -c config.yaml
    """
    ctx.meta["newsletter.debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="newsletter"))


# Every command is registered here and nowhere else, so ``from newsletter.cli import cli``
# is the whole program. (The command modules import the core, never this package's
# names, so importing them above is no cycle.)
for _command in (
    bounces_command,
    check_command,
    feedback_group,
    fetch_command,
    init_command,
    match_command,
    parse_command,
    preview_command,
    run_command,
    send_command,
    serve_command,
    sink_command,
    status_command,
    subscribers_group,
    resubscribe_command,
    unsubscribe_command,
):
    cli.add_command(_command)
