"""Secrets come from environment variables, never the file: which ones a configuration
needs, and what is missing."""

from __future__ import annotations

import os

from newsletter.base.errors import ConfigError
from newsletter.config.records import Config


def ledger_password_missing(config: Config) -> ConfigError | None:
    """``state_password_env`` names a variable that is unset or empty (issue 23)."""
    name = config.ledger_password_env
    if not name or os.environ.get(name):
        return None
    return ConfigError(
        f"the environment variable {name} (state_password_env) holding the ledger database's password is unset "
        "or empty",
        path=str(config.path),
        line=config.lines.get("state_password_env"),
        key="state_password_env",
    )


def missing_secrets(config: Config) -> list[ConfigError]:
    """Secrets named by the configuration but absent from the environment (SPEC 3: a
    ``username`` whose ``password_env`` is unset or empty is a configuration error,
    never an empty password sent to the server). ``check``, ``send`` and ``run`` call it."""
    out: list[ConfigError] = []
    where = str(config.path)
    smtp = config.smtp
    if smtp.username and not (smtp.password_env and os.environ.get(smtp.password_env)):
        name = smtp.password_env or "(none)"
        out.append(
            ConfigError(
                f"smtp.username is set but the environment variable {name} (smtp.password_env) is unset or empty",
                path=where,
                line=config.lines.get("smtp.username"),
                key="smtp.password_env",
            )
        )
    imap = config.bounces.imap
    if imap is not None and not imap.password():
        out.append(
            ConfigError(
                f"bounces.imap: the environment variable {imap.password_env} (bounces.imap.password_env) "
                "is unset or empty",
                path=where,
                line=config.lines.get("bounces.imap"),
                key="bounces.imap.password_env",
            )
        )
    if (ledger := ledger_password_missing(config)) is not None:
        out.append(ledger)
    dkim = config.dkim
    if dkim is not None and dkim.key_file is not None and not dkim.key_file.is_file():
        out.append(
            ConfigError(
                f"dkim.key_file {dkim.key_file} does not exist",
                path=where,
                line=config.lines.get("dkim"),
                key="dkim",
            )
        )
    elif dkim is not None and dkim.key_file is None and not (dkim.key_env and os.environ.get(dkim.key_env)):
        out.append(
            ConfigError(
                f"dkim: the environment variable {dkim.key_env} (dkim.key_env) holding the private key is unset or "
                "empty (or set dkim.key_file)",
                path=where,
                line=config.lines.get("dkim"),
                key="dkim.key_env",
            )
        )
    return out


def require_secrets(config: Config) -> None:
    """Raise one :class:`ConfigError` listing :func:`missing_secrets`, if any."""
    problems = missing_secrets(config)
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) in the configuration",
            path=str(config.path),
            problems=tuple(problems),
        )


def missing_channel_secrets(config: Config) -> list[ConfigError]:
    """The environment variables of subscribers' chat channels (SPEC 2.5) that are unset or
    empty, one problem each (``check`` exits 2 on them; a pass leaves that channel's
    messages pending with the same line, and delivers everything else)."""
    out: list[ConfigError] = []
    for sub in config.subscribers:
        for channel in sub.channels:
            for key, var in channel.envs:
                if not os.environ.get(var):
                    out.append(
                        ConfigError(
                            f"{sub.email}: channel {channel.key}: the environment variable {var} ({key}) "
                            "is unset or empty",
                            path=sub.source or str(config.path),
                            key=f"channels.{key}",
                        )
                    )
    return out
