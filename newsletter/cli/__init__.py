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

import codecs
import errno
import importlib
import os
import sys
from collections.abc import Sequence
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

    def main(  # one signature for click's two overloads
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's main, with every way out said in one line: a usage error (``error:
        ...; see 'newsletter CMD --help'``, exit 2) and Ctrl-C (``interrupted``, exit
        130) as well as the error root; output that cannot be encoded is escaped, and
        ``NO_COLOR`` (set, not empty) turns styling off on a terminal too."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        tolerant_streams()
        if os.environ.get("NO_COLOR"):  # https://no-color.org: no bold on a terminal either
            extra.setdefault("color", False)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # `newsletter` alone: the help, as click shows it
            exc.show()
            code = exc.exit_code
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "newsletter"
            click.echo(f"error: {one_line(exc.format_message()).rstrip('.')}; see '{where} --help'", err=True)
            code = exc.exit_code
        except click.ClickException as exc:
            click.echo(f"error: {one_line(exc.format_message())}", err=True)
            code = exc.exit_code
        except click.Abort:  # Ctrl-C outside a command (click's own prompt or parsing)
            code = interrupted()
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            if ctx.meta.get("newsletter.debug"):
                raise
            ctx.exit(interrupted())
        except OSError as exc:
            if ctx.meta.get("newsletter.debug") or not output_failed(exc):
                raise
            if exc.errno == errno.EPIPE:  # the reader went away (`| head -1`): nothing to say
                ctx.exit(BROKEN_PIPE)
            click.echo(f"error: cannot write the output: {exc.strerror or exc}", err=True)
            ctx.exit(1)
        except Exception as exc:
            from newsletter.base.errors import NewsletterError

            if not isinstance(exc, NewsletterError) or ctx.meta.get("newsletter.debug"):
                raise
            for line in str(exc).splitlines():
                click.echo(f"error: {line}", err=True)
            ctx.exit(exc.exit_code)


INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C
BROKEN_PIPE = 141  # 128 + SIGPIPE, what any other tool's `| head` leaves


def interrupted() -> int:
    """Ctrl-C: one line on stderr (nothing is lost: the ledger records each step as it is
    done, and the next run goes on from there); the exit code a shell expects."""
    click.echo("interrupted", err=True)
    return INTERRUPTED


def one_line(text: str) -> str:
    return " ".join(text.split())


def output_failed(exc: OSError) -> bool:
    """Whether ``exc`` was raised writing standard output (a full disk, a closed or
    broken descriptor): the innermost frame wrote to a stream on descriptor 1 (click's
    ``echo``), or stdout cannot be flushed. Stdout is then pointed at /dev/null, so that
    the exit does not fail on it again."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    stream = tb.tb_frame.f_locals.get("file", tb.tb_frame.f_locals.get("self")) if tb is not None else None
    try:
        ours = stream is not None and stream.fileno() == 1
        if not ours:
            sys.stdout.flush()
    except (OSError, ValueError, AttributeError):
        ours = True
    if ours:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.close(devnull)
        except OSError:
            pass
    return ours


ESCAPE = "newsletter.escape"


def _escape(exc: UnicodeError) -> tuple[str, int]:
    """What the output's encoding cannot hold, written as JSON string escapes
    (``\\u2014``; a surrogate pair beyond the BMP): a JSON output stays valid JSON, a
    table stays readable, and nothing raises."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for ch in exc.object[exc.start : exc.end]:
        code = ord(ch)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out), exc.end


def tolerant_streams() -> None:
    """stdout and stderr in an encoding that is not Unicode (a Latin-1 locale,
    ``PYTHONIOENCODING=latin-1``) escape what they cannot encode instead of raising
    UnicodeEncodeError (a title in Greek or Japanese). Python's UTF-8 mode already
    covers LANG=C and POSIX; an explicit error handler of the user's is kept."""
    codecs.register_error(ESCAPE, _escape)
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("_", "-")
        if encoding.startswith("utf") or getattr(stream, "errors", None) != "strict":
            continue
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors=ESCAPE)


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
