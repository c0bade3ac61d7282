"""Options shared by several commands, as decorators, and the lenient configuration load."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from newsletter.config import DEFAULT_CONFIG, Config, load_config

F = TypeVar("F", bound=Callable[..., Any])


def config_option(func: F) -> F:
    """``-c/--config PATH`` (default ``./config.yaml``); passes ``config_path``."""
    return click.option(
        "-c",
        "--config",
        "config_path",
        default=DEFAULT_CONFIG,
        show_default=True,
        type=click.Path(dir_okay=False),
        help="The configuration file (YAML).",
    )(func)


def json_option(func: F) -> F:
    """``--json``: machine-readable output; passes ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(func)


def log_format_option(func: F) -> F:
    """``--log-format text|json``: how log lines are written; passes ``log_format``."""
    return click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Log lines as text or as JSON objects (for log collectors).",
    )(func)


def load_config_leaving_out(config_path: str, *, level: str | None = "warning") -> Config:
    """The configuration with bad subscribers left out (SPEC 6c): everybody else is
    served; each one left out is one line on stderr (``level: FILE:LINE: ...``), unless
    ``level`` is None (commands that show them otherwise, or do not serve subscribers)."""
    config = load_config(config_path, strict=False)
    if level is not None:
        for left in config.left_out:
            click.echo(f"{level}: {left}", err=True)
    return config
