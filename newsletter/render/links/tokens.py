"""Unsubscribe tokens: an HMAC of the subscriber's address, for one-click URLs.

The token is ``HMAC-SHA256(secret, lowercased address)``, base64url without
padding (43 characters). The web endpoint that receives the click recomputes it
with the same secret and compares with :func:`verify_token`; nothing has to be
stored per subscriber.

The secret comes from the environment variable named by
``sender.unsubscribe.secret_env`` (default ``NEWSLETTER_UNSUBSCRIBE_SECRET``).

.. warning::
   When that variable is unset, :func:`secret_for` falls back to a secret derived
   from the configuration file's absolute path, so that previews and tests work
   out of the box and tokens stay stable between runs. Anyone who can guess that
   path can forge tokens (unsubscribe someone else): set the variable in
   production. ``newsletter check`` is the place to warn about it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Iterable

from newsletter.base.addresses import address_key
from newsletter.config import Config, check_address


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
    env = config.sender.unsubscribe.secret_env
    value = os.environ.get(env) if env else None
    if value:
        return value, False
    derived = hashlib.sha256(f"paper-digest unsubscribe:{config.path}".encode()).hexdigest()
    return derived, True


_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


class TokenIndex:
    """Token -> subscriber address, for the configured subscribers under ``secret``, for
    subscribers left out of the passes (SPEC 6c) whose address is valid (the link in an
    email they already have keeps working while their entry is being fixed), and for
    ``past`` addresses (every address the ledger delivered to: the link in an email
    sent before its subscriber was removed still unsubscribes, RFC 8058)."""

    def __init__(self, config: Config, secret: str, past: Iterable[str] = ()) -> None:
        self._by_hash: dict[bytes, tuple[str, str]] = {}
        for email in (*_valid(past), *(s.email for s in config.subscribers), *_left_out_addresses(config)):
            token = unsubscribe_token(email, secret)
            self._by_hash[_key(token)] = (token, email)

    def __len__(self) -> int:
        return len(self._by_hash)

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
