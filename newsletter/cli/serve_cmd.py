"""``newsletter serve``: the one-click unsubscribe endpoint (RFC 8058)."""

from __future__ import annotations

import click

from newsletter.cli.options import config_option, log_format_option, setup_logging


@click.command("serve")
@config_option
@click.option(
    "--host",
    default=None,
    metavar="HOST",
    help="Address to listen on [default: from sender.unsubscribe.listen, else 127.0.0.1].",
)
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Port to listen on [default: from sender.unsubscribe.listen, else 8026].",
)
@log_format_option
def serve_command(config_path: str, host: str | None, port: int | None, log_format: str) -> None:
    """Serve the unsubscribe endpoint that `sender.unsubscribe.url` points at.

    GET /unsubscribe/<token> shows a confirmation page with a button (a GET
    changes nothing); POST /unsubscribe/<token> with List-Unsubscribe=One-Click
    (RFC 8058, what Gmail and Apple Mail send) records the address in the
    ledger's suppression list, which every send and preview honours. Unknown
    or forged tokens get 404. Put it behind a reverse proxy for https. Runs
    beside `send` or `run` on the same ledger; `newsletter run` starts the same
    listener itself when sender.unsubscribe.listen is set. SIGHUP reloads the
    configuration (new subscribers' tokens), SIGTERM/SIGINT stop.

    \b
    Example:
      newsletter serve -c config.yaml --host 127.0.0.1 --port 8026
    """
    setup_logging("info", log_format)
    from newsletter.web.unsubscribe import serve_unsubscribe

    serve_unsubscribe(config_path, host=host, port=port)
