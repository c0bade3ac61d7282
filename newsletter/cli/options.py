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


def log_level_option(default: str) -> Callable[[F], F]:
    """``--log-level debug|info|warning|error`` (lowest level logged); passes ``log_level``."""

    def decorate(func: F) -> F:
        return click.option(
            "--log-level",
            type=click.Choice(["debug", "info", "warning", "error"]),
            default=default,
            show_default=True,
            help="Lowest level logged (on stderr).",
        )(func)

    return decorate


def setup_logging(level: str, fmt: str = "text") -> None:
    """Log at ``level`` (``debug`` whatever it says when ``newsletter --debug`` was given)."""
    from newsletter.base import logs

    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.find_root().meta.get("newsletter.debug"):
        level = "debug"
    logs.configure(level, fmt)


def load_config_leaving_out(config_path: str, *, level: str | None = "warning") -> Config:
    """The configuration with bad subscribers left out (SPEC 6c): everybody else is
    served; each one left out is one line on stderr (``level: FILE:LINE: ...``), unless
    ``level`` is None (commands that show them otherwise, or do not serve subscribers)."""
    config = load_config(config_path, strict=False)
    if level is not None:
        for left in config.left_out:
            click.echo(f"{level}: {left}", err=True)
    return config
