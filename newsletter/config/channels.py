"""A subscriber's chat channels (SPEC 2.5 "Channels"): where its digest goes besides (or
instead of) email. URLs and tokens are never in the file: each channel names the
environment variables that hold them (``check`` names a missing one)."""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from newsletter.config.fields import CONTROL_CHARS, Model, check_env_name


class _Env(Model):
    """A channel whose secrets are environment variables."""

    @property
    def envs(self) -> tuple[tuple[str, str], ...]:
        """(key, variable) of every environment variable the channel needs."""
        return ()

    def missing(self) -> list[str]:
        """The variables of :attr:`envs` that are unset or empty, as ``key (VAR)``."""
        return [f"{key} {var}" for key, var in self.envs if not os.environ.get(var)]


class _Hook(_Env):
    """A channel posted to the URL held by the ``url_env`` variable."""

    url_env: str

    _env = field_validator("url_env")(check_env_name)

    @property
    def key(self) -> str:
        return f"{getattr(self, 'type', 'hook')}:{self.url_env}"

    @property
    def envs(self) -> tuple[tuple[str, str], ...]:
        return (("url_env", self.url_env),)


class SlackChannel(_Hook):
    """A Slack incoming webhook: POST JSON ``{text, blocks}``."""

    type: Literal["slack"]


class DiscordChannel(_Hook):
    """A Discord webhook: POST JSON ``{content, embeds}``."""

    type: Literal["discord"]


class MatrixChannel(_Env):
    """A Matrix room, through the client-server API with an access token."""

    type: Literal["matrix"]
    homeserver: str
    room: str
    token_env: str

    _env = field_validator("token_env")(check_env_name)

    @field_validator("homeserver")
    @classmethod
    def _homeserver(cls, value: str) -> str:
        if CONTROL_CHARS.search(value) or not re.fullmatch(r"https?://[^\s/?#]+/?", value):
            raise ValueError(f"{value!r} is not a homeserver URL (such as https://matrix.example.org)")
        return value.rstrip("/")

    @field_validator("room")
    @classmethod
    def _room(cls, value: str) -> str:
        if not re.fullmatch(r"[!#][^\s:\x00-\x1f\x7f-\x9f]+:[^\s\x00-\x1f\x7f-\x9f]+", value):  # no control bytes
            raise ValueError(f"{value!r} is not a Matrix room id or alias (such as !abc:example.org)")
        return value

    @property
    def key(self) -> str:
        return f"matrix:{self.room}"

    @property
    def envs(self) -> tuple[tuple[str, str], ...]:
        return (("token_env", self.token_env),)


class WebhookChannel(_Hook):
    """Any HTTP endpoint: POST the JSON of the match, signed ``X-Signature: sha256=HMAC``."""

    type: Literal["webhook"]
    secret_env: str | None = None

    _secret = field_validator("secret_env")(check_env_name)

    @property
    def envs(self) -> tuple[tuple[str, str], ...]:
        return (("url_env", self.url_env),) + ((("secret_env", self.secret_env),) if self.secret_env else ())


AnyChannel = SlackChannel | DiscordChannel | MatrixChannel | WebhookChannel
Channel = Annotated[AnyChannel, Field(discriminator="type")]
CHANNEL_TYPES = ("slack", "discord", "matrix", "webhook")


def unique_channels(channels: list[AnyChannel]) -> list[AnyChannel]:
    seen: set[str] = set()
    for channel in channels:
        if channel.key in seen:
            raise ValueError(f"the channel {channel.key} is listed twice; keep one")
        seen.add(channel.key)
    return channels
