"""Feedback from the email (issue 17): "more like this" / "fewer like this" links.

Each link is ``{sender.feedback.url}/feedback/{address token}/{more|fewer}/{paper}/{sig}``:

- ``address token``: the subscriber's unsubscribe token (:mod:`newsletter.render.links.tokens`),
  which the endpoint resolves against the configured subscribers;
- ``paper``: the paper id, base64url without padding;
- ``sig``: ``HMAC-SHA256(secret, "feedback" NUL address NUL paper id NUL action)``,
  base64url, under the unsubscribe secret. It binds the address, the paper and the
  action: a link cannot be turned into another paper's, another action's or another
  subscriber's. A forged or altered link is 404 and changes nothing.

A GET of the link shows a confirm page and changes nothing (mail scanners follow
links); its button POSTs, which records a like or dislike in the ledger
(:func:`~newsletter.store.record_feedback`), never in the YAML.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import NamedTuple

from newsletter.base.addresses import address_key
from newsletter.config import Config

ACTIONS = {"more": "like", "fewer": "dislike"}  # URL word -> ledger action
LABELS = {"more": "More like this", "fewer": "Fewer like this"}


class FeedbackLink(NamedTuple):
    """One decoded link: who, which paper, what."""

    email: str
    paper_id: str
    action: str  # "like" or "dislike"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signature(email: str, paper_id: str, word: str, secret: str | bytes) -> str:
    """The signature of a feedback link (``word``: "more" or "fewer")."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    message = b"\0".join([b"feedback", address_key(email).encode(), paper_id.encode(), word.encode()])
    return _b64(hmac.new(key, message, hashlib.sha256).digest())


def encode_paper(paper_id: str) -> str:
    return _b64(paper_id.encode("utf-8"))


def decode_paper(text: str) -> str | None:
    """The paper id of a link's paper part, or None when it is not one."""
    if not text or len(text) > 1400 or not all(c.isalnum() or c in "-_" for c in text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def feedback_base(config: Config) -> str | None:
    """The configured base URL of the links, without a trailing slash (None: no links)."""
    url = config.sender.feedback.url
    return url.rstrip("/") if url else None


def feedback_links(
    base: str, email: str, address_token: str, paper_id: str, secret: str
) -> tuple[tuple[str, str], ...]:
    """(label, URL) of the "more like this" and "fewer like this" links of one paper."""
    paper = encode_paper(paper_id)
    return tuple(
        (LABELS[word], f"{base}/feedback/{address_token}/{word}/{paper}/{signature(email, paper_id, word, secret)}")
        for word in ("more", "fewer")
    )


def verify(email: str, word: str, paper_part: str, sig: str, secret: str) -> FeedbackLink | None:
    """The link's meaning when its signature is right for ``email``, else None."""
    action = ACTIONS.get(word)
    paper_id = decode_paper(paper_part)
    if action is None or paper_id is None:
        return None
    if not hmac.compare_digest(signature(email, paper_id, word, secret).encode(), sig.encode("utf-8", "replace")):
        return None
    return FeedbackLink(email, paper_id, action)
