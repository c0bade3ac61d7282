"""``newsletter ledger copy``: move a ledger between SQLite and PostgreSQL (SPEC 6d)."""

from __future__ import annotations

import os

import click

from newsletter.base.errors import ConfigError
from newsletter.base.urls import is_database_url
from newsletter.cli.options import config_option
from newsletter.config import load_config
from newsletter.store.copy import shown


@click.group("ledger")
def ledger_group() -> None:
    """The ledger itself: move it between SQLite and PostgreSQL.

    \b
    Example:
      newsletter ledger copy -c config.yaml --to postgresql://digest@db1:5432/digest
      # and back, once state: names the PostgreSQL ledger:
      newsletter ledger copy -c config.yaml --to ledger.sqlite3
    """


@ledger_group.command("copy")
@config_option
@click.option("--to", "to", required=True, metavar="URL_OR_PATH", help="The empty ledger to copy into.")
@click.option(
    "--to-password-env",
    metavar="VAR",
    help="The variable holding the target database's password (default: PGPASSWORD or ~/.pgpass).",
)
def copy_command(config_path: str, to: str, to_password_env: str | None) -> None:
    """Copy the configured ledger (state:) into the EMPTY ledger URL_OR_PATH, from
    SQLite to PostgreSQL or back: every digest and paper, subscriber horizon,
    delivery (pending ones with their bytes and Message-ID), sent paper, suppression,
    bounce, feedback and fetch state, with their ids, so nothing is sent again after
    the move. The counts of every table are compared (one line each); a difference
    writes nothing (exit 1). Stop `send`/`run` first; then point state: at the copy.

    \b
    Example:
      newsletter ledger copy -c config.yaml --to postgresql://digest@db1:5432/digest
    """
    from newsletter.store.choose import ledger_password
    from newsletter.store.copy import copy_ledger

    config = load_config(config_path)
    source = config.ledger_url or str(config.ledger_path)
    target = to if is_database_url(to) else os.path.abspath(to)
    if to_password_env is not None and to_password_env not in os.environ:
        raise ConfigError(f"--to-password-env: the variable {to_password_env} is not set")
    password = os.environ[to_password_env] if to_password_env else None
    report = copy_ledger(source, target, source_password=ledger_password(config), target_password=password)
    for table in report:
        click.echo(table.line())
    click.echo(f"copied {shown(source)} -> {shown(target)}; set state: to it to use the copy")
