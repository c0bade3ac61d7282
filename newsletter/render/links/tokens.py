"""Unsubscribe tokens: an HMAC of the subscriber's address, for one-click URLs.

The token is ``HMAC-SHA256(secret, lowercased address)``, base64url without
padding (43 characters). The web endpoint that receives the click recomputes it
with the same secret and compares with :func:`verify_token`; nothing has to be
stored per subscriber.

The secret comes from the environment variable named by
``sender.unsubscribe.secret_env`` (default ``NEWSLETTER_UNSUBSCRIBE_SECRET``). When it is
unset, the secret the ledger keeps is used, made with the ledger: beside a SQLite
ledger (:mod:`newsletter.store.keyfile`: 32 random bytes, mode 0600), in a PostgreSQL
ledger's table ``ledger_secret`` (:mod:`newsletter.store.postgres.secret`: every host
of the ledger reads the same one).

.. warning::
   Where no secret can be kept (no ledger yet, or a SQLite ledger directory that does
   not exist yet or is read-only), :func:`secret_for` falls back to a secret derived
   from the configuration file's absolute path, so that previews and tests work out of
   the box and tokens stay stable between runs. Anyone who can guess that path can
   forge tokens (unsubscribe someone else): set the variable in production.
   ``newsletter check`` warns about it.

Where the ledger was there before the kept secret (an upgraded install), links in mail
sent under the path-derived secret stay valid for
:data:`~newsletter.store.keyfile.LEGACY_DAYS` days after the kept secret was made
(:func:`accepted_secrets`); every new email carries links under the kept one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
from collections.abc import Iterable

from newsletter.base.addresses import address_key
from newsletter.config import Config, check_address
from newsletter.store.choose import postgres_secret
from newsletter.store.keyfile import KeptSecret, can_keep, kept_secret, secret_path


def unsubscribe_token(email: str, secret: str | bytes) -> str:
    """The unsubscribe token of ``email`` (case-insensitive) under ``secret``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    digest = hmac.new(key, address_key(email).encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify_token(email: str, token: str, secret: str | bytes) -> bool:
    """True when ``token`` is the unsubscribe token of ``email`` (constant time)."""
    return hmac.compare_digest(unsubscribe_token(email, secret), token)


def secret_for(config: Config) -> tuple[str, bool]:
    """The token secret and whether it is the insecure fallback (see the module doc)."""
    env = _env_secret(config)
    if env is not None:
        return env, False
    kept = _kept(config)
    if kept is not None:
        return kept.value, False
    return _derived(config), True


def accepted_secrets(config: Config, *, today: dt.date | None = None) -> tuple[str, ...]:
    """The secrets a link may be signed with: :func:`secret_for`'s, then the path-derived
    one while a kept secret is younger than ``LEGACY_DAYS`` (mail sent before it)."""
    env = _env_secret(config)
    if env is not None:
        return (env,)
    kept = _kept(config)
    if kept is None:
        return (_derived(config),)
    today = today or dt.datetime.now(dt.UTC).date()
    if kept.legacy_until is None or today > kept.legacy_until:
        return (kept.value,)
    return kept.value, _derived(config)


def fallback_reason(config: Config) -> str | None:
    """Why tokens would use the path-derived secret (None: they would not); writes
    nothing and reaches no database (a PostgreSQL ledger keeps its secret, made with its
    schema)."""
    if _env_secret(config) is not None:
        return None
    name = config.sender.unsubscribe.secret_env or "sender.unsubscribe.secret_env"
    if config.ledger_url is None and not can_keep(config.ledger_path):
        return f"{name} is not set and {secret_path(config.ledger_path)} cannot be written"
    return None  # kept beside the ledger or in its database (made with it)


def secret_source(config: Config) -> str:
    """Where the token secret lives, as ``check`` says it; writes nothing, reaches no database."""
    env = config.sender.unsubscribe.secret_env
    if _env_secret(config) is not None:
        return f"the variable {env}"
    if config.ledger_url is not None:
        return "kept in the ledger database (table ledger_secret, made with the ledger)"
    if (reason := fallback_reason(config)) is not None:
        return f"derived from the config path ({reason})"
    return f"kept beside the ledger ({secret_path(config.ledger_path)}, made with the ledger)"


def _env_secret(config: Config) -> str | None:
    env = config.sender.unsubscribe.secret_env
    return (os.environ.get(env) or None) if env else None


def _kept(config: Config) -> KeptSecret | None:
    """The secret the ledger keeps: beside a SQLite ledger, in a PostgreSQL one (None: no
    ledger yet, or none can be kept). A new ledger makes its secret
    (:mod:`newsletter.store.keyfile`, :mod:`newsletter.store.postgres.secret`); one made
    before kept secrets gets it here. Before any ledger (a first ``preview``) nothing is
    written: the path-derived secret signs what goes nowhere yet."""
    if config.ledger_url is not None:
        return postgres_secret(config)
    path = config.ledger_path
    return kept_secret(path) if path.exists() or secret_path(path).exists() else None


def _derived(config: Config) -> str:
    return hashlib.sha256(f"paper-digest unsubscribe:{config.path}".encode()).hexdigest()


_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


class TokenIndex:
    """Token -> subscriber address, for the configured subscribers under ``secret``, for
    subscribers left out of the passes (SPEC 6c) whose address is valid (the link in an
    email they already have keeps working while their entry is being fixed), and for
    ``past`` addresses (every address the ledger delivered to: the link in an email
    sent before its subscriber was removed still unsubscribes, RFC 8058)."""

    def __init__(self, config: Config, secret: str, *older: str, past: Iterable[str] = ()) -> None:
        """``older``: secrets whose tokens are still accepted (:func:`accepted_secrets`)."""
        self._by_hash: dict[bytes, tuple[str, str]] = {}
        emails = dict.fromkeys((*_valid(past), *(s.email for s in config.subscribers), *_left_out_addresses(config)))
        self._count = len(emails)
        for email in emails:
            for key in (*older[::-1], secret):  # the current secret's token wins a collision
                token = unsubscribe_token(email, key)
                self._by_hash[_key(token)] = (token, email)

    def __len__(self) -> int:
        """How many addresses have a token."""
        return self._count

    def resolve(self, token: str) -> str | None:
        """The address whose token this is, or None."""
        if not _TOKEN.fullmatch(token):
            return None
        entry = self._by_hash.get(_key(token))
        if entry is None or not hmac.compare_digest(entry[0].encode(), token.encode()):
            return None
        return entry[1]


def _left_out_addresses(config: Config) -> list[str]:
    return _valid(left.email or "" for left in config.left_out)


def _valid(addresses: Iterable[str]) -> list[str]:
    out = []
    for address in addresses:
        try:
            out.append(check_address(address))
        except ValueError:
            continue  # no valid address: no token was ever made for it
    return out


def _key(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


def mask(address: str) -> str:
    """``alice@example.org`` -> ``al***@example.org`` (enough to recognise, not to harvest)."""
    local, _, domain = address.rpartition("@")
    keep = 2 if len(local) > 4 else 1
    return f"{local[:keep]}***@{domain}"
