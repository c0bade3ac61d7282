"""Options shared by several commands, as decorators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from newsletter.config import DEFAULT_CONFIG

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
