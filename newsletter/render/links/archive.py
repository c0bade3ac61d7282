"""Where a delivery's archive page lives (``archive: {directory, url}``): the folder of a
subscriber (an HMAC of the address with the unsubscribe secret, 16 hex digits: never
the address, not guessable from it), the page of an issue (a hash of its Message-ID,
so the email's "view in browser" link is known before it is sent), and that link.
The pages themselves are written by :mod:`newsletter.site.archive`."""

from __future__ import annotations

import hashlib
import hmac

from newsletter.config import Config


def subscriber_key(email: str, secret: str) -> str:
    """The archive folder of an address (not the address, not guessable from it)."""
    # casefold, as the archive was first written: its folders (and the links of every email
    # sent) keep their names
    folded = email.strip().casefold()  # address-key: a stable folder name, not a comparison
    return hmac.new(secret.encode(), f"archive:{folded}".encode(), hashlib.sha256).hexdigest()[:16]


def issue_name(message_id: str) -> str:
    return hashlib.sha256(message_id.strip().encode()).hexdigest()[:16]


def issue_path(email: str, message_id: str, secret: str) -> str:
    """The page of one delivery, relative to ``archive.directory`` (and ``archive.url``)."""
    return f"{subscriber_key(email, secret)}/{issue_name(message_id)}.html"


def view_url(config: Config, email: str, message_id: str, secret: str) -> str | None:
    """The "view in browser" link of a delivery, or None without ``archive.url``."""
    if config.archive.url is None:
        return None
    return f"{config.archive.url.rstrip('/')}/{issue_path(email, message_id, secret)}"
