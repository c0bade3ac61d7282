"""``newsletter unsubscribe`` / ``resubscribe``: the suppression list by hand."""

from __future__ import annotations

import click

from newsletter.base.addresses import address_key
from newsletter.base.errors import ConfigError
from newsletter.cli.options import config_option
from newsletter.config import Config, check_address, load_config
from newsletter.store.choose import open_ledger


def _address(value: str) -> str:
    try:
        return check_address(value)
    except ValueError as exc:
        raise ConfigError(f"{value!r}: {exc}") from None


def _lookup(config: Config, value: str) -> tuple[str, bool]:
    """(the address as configured, or as given; whether it is a configured subscriber)."""
    address = _address(value)
    for sub in config.subscribers:
        if address_key(sub.email) == address_key(address):
            return sub.email, True
    return address, False


@click.command("resubscribe")
@config_option
@click.argument("email")
def resubscribe_command(config_path: str, email: str) -> None:
    """Lift the suppression of EMAIL (an unsubscribe or a pause).

    The address gets the papers of digests picked up from now on (no backlog
    of what it missed). Exit 0 when a suppression was lifted; 1 (one line on
    stderr) when the address was not unsubscribed; 2 for an invalid address.
    Works while the daemon runs.

    \b
    Example:
      newsletter unsubscribe -c config.yaml alice@example.org
      newsletter resubscribe -c config.yaml alice@example.org
    """
    config = load_config(config_path, strict=False)
    address, known = _lookup(config, email)
    with open_ledger(config) as ledger:
        lifted = ledger.unsuppress(address)
    if not lifted:
        extra = "" if known else " (nor a subscriber in the configuration)"
        click.echo(f"error: {address} is not unsubscribed{extra}; nothing changed", err=True)
        raise SystemExit(1)
    click.echo(
        f"{address}: resubscribed; gets digests picked up from now on"
        + ("" if known else " (note: not a subscriber in the configuration)")
    )


@click.command("unsubscribe")
@config_option
@click.argument("email")
def unsubscribe_command(config_path: str, email: str) -> None:
    """Suppress EMAIL by hand (e.g. after a request to the mailto: address):
    no more deliveries, pending ones are dropped at the next pass. Exit 0, also
    when it was unsubscribed already. Undo with `newsletter resubscribe`.

    \b
    Example:
      newsletter unsubscribe -c config.yaml alice@example.org
    """
    config = load_config(config_path, strict=False)
    address, known = _lookup(config, email)
    with open_ledger(config) as ledger:
        new = ledger.suppress(address, source="cli")
    click.echo(
        f"{address}: "
        + ("unsubscribed" if new else "unsubscribed already")
        + ("" if known else " (note: not a subscriber in the configuration)")
    )
