"""The ``newsletter`` command line: thin shells over the core.

Each command parses its arguments, makes one core call and prints. Errors from
the core (:class:`~newsletter.base.errors.NewsletterError`) become one line on stderr
and the error's exit code (2 for configuration, 1 for failed work); ``--debug``
shows the traceback instead.

Commands are loaded lazily: :data:`COMMANDS` names each command's module, which is
imported only when that command runs (or when ``--help`` lists them), so
``newsletter --version`` imports click and nothing of the core, and ``check``
never pays for the SMTP, web or fetch layers (nor for the renderer: it compiles
the templates alone, :func:`newsletter.render.templates.check_templates`). ``--help`` lists the commands in
this order (a getting-started order, not the alphabet).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from newsletter import __version__

# name -> "module:attribute", in the order `newsletter --help` shows them
COMMANDS: dict[str, str] = {
    "init": "newsletter.cli.init_cmd:init_command",
    "check": "newsletter.cli.check_cmd:check_command",
    "subscribers": "newsletter.cli.subscribers_cmd:subscribers_group",
    "fetch": "newsletter.cli.fetch_cmd:fetch_command",
    "parse": "newsletter.cli.parse_cmd:parse_command",
    "match": "newsletter.cli.match_cmd:match_command",
    "preview": "newsletter.cli.preview_cmd:preview_command",
    "sink": "newsletter.cli.sink_cmd:sink_command",
    "send": "newsletter.cli.send_cmd:send_command",
    "status": "newsletter.cli.status_cmd:status_command",
    "run": "newsletter.cli.run_cmd:run_command",
    "serve": "newsletter.cli.serve_cmd:serve_command",
    "bounces": "newsletter.cli.bounces_cmd:bounces_command",
    "unsubscribe": "newsletter.cli.subscription_cmd:unsubscribe_command",
    "resubscribe": "newsletter.cli.subscription_cmd:resubscribe_command",
    "feedback": "newsletter.cli.feedback_cmd:feedback_group",
    "ledger": "newsletter.cli.ledger_cmd:ledger_group",
}


class Group(click.Group):
    """Loads a command's module when it is asked for, lists the commands in
    :data:`COMMANDS` order, and turns the error root into one line and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = self.commands.get(cmd_name)
        if found is None and cmd_name in COMMANDS:
            module, _, attr = COMMANDS[cmd_name].partition(":")
            found = getattr(importlib.import_module(module), attr)
            assert isinstance(found, click.Command)
            self.commands[cmd_name] = found
        return found

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            from newsletter.base.errors import NewsletterError

            if not isinstance(exc, NewsletterError) or ctx.meta.get("newsletter.debug"):
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

    Quiet unless something needs you: warnings and errors go to stderr; `send`
    prints nothing on success when not on a terminal (-v for a summary line).

    \b
    Getting started:
      newsletter init team-digest --example && cd team-digest
      newsletter check
      newsletter match
      newsletter send --dry-run
    """
    ctx.meta["newsletter.debug"] = debug
    from newsletter.base import logs

    logs.configure("debug" if debug else "warning")


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="newsletter"))


__all__ = ["COMMANDS", "cli", "main"]
