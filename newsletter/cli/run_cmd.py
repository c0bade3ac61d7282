"""``newsletter run``: the daemon."""

from __future__ import annotations

import click

from newsletter.cli.options import config_option, log_format_option, log_level_option, setup_logging
from newsletter.config import load_config
from newsletter.daemon.lock import LedgerLock


@click.command("run")
@config_option
@log_level_option("info")
@log_format_option
def run_command(config_path: str, log_level: str, log_format: str) -> None:
    """Run the daemon: deliver on schedule, pick up digests as they settle.

    Runs until SIGTERM or SIGINT (then finishes the SMTP transactions in
    flight and exits 0); SIGHUP reloads the configuration. Only one daemon (or
    send) may use a ledger at a time.

    \b
    Example:
      newsletter run -c /etc/paper-digest/config.yaml --log-format json
    """
    setup_logging(log_level, log_format)
    config = load_config(config_path, strict=False)  # a bad subscriber is left out, logged (SPEC 6c)
    from newsletter.daemon.daemon import run_daemon

    with LedgerLock(config.ledger_path, purpose="run the daemon"):
        raise SystemExit(run_daemon(config, config_path=config_path))
