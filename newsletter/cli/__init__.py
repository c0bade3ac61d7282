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
    from newsletter.cli import commands  # noqa: F401  (registers the commands)

    sys.exit(cli.main(prog_name="newsletter"))
