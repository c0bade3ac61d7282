"""``newsletter sink``: a local catch-all SMTP server storing every message in a Maildir."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from newsletter.sink import DEFAULT_MAILDIR, DEFAULT_PORT, run_sink


@click.command("sink")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port, printed at start).",
)
@click.option(
    "--maildir",
    "directory",
    type=click.Path(file_okay=False),
    default=DEFAULT_MAILDIR,
    show_default=True,
    help="Maildir to store the messages in (created if missing).",
)
def sink_command(port: int, directory: str) -> None:
    """Run a catch-all SMTP server on 127.0.0.1 that stores every message it
    receives in a Maildir and prints one line per message. Nothing is relayed.
    Stop it with Ctrl-C (or SIGTERM).

    \b
    Example:
      newsletter sink --port 1025 --maildir demo-out/maildir
      # then, with smtp: {host: 127.0.0.1, port: 1025, security: none}:
      newsletter send -c config.yaml
    """
    path = Path(directory)

    def ready(bound: int) -> None:
        click.echo(f"sink listening on 127.0.0.1:{bound}, storing into {path.resolve()} (Ctrl-C stops)")

    def report(line: str) -> None:
        click.echo(line)

    try:
        count = asyncio.run(run_sink(port, path, report=report, ready=ready))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    click.echo(f"sink stopped: {count} message{'s' if count != 1 else ''} stored in {path.resolve()}")
