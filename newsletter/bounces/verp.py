"""VERP return paths (``bounces.verp: true``): a per-message envelope sender.

The envelope sender of each delivery becomes ``LOCAL+bTAG@DOMAIN`` (``sender.from``
split at its ``@``), where TAG is the first 80 bits of
``HMAC-SHA256(secret, "verp:" + Message-ID)`` in lowercase base32 (MTAs may fold
the case of a local part). A bounce comes back to that address, so it names its
delivery even when the report returns no headers and its Final-Recipient is an
alias the program never mailed; and nobody can forge it without the secret (the
unsubscribe-token secret, with its own prefix). The ledger keeps each delivery's
envelope sender, which is how a tag is looked up. The relay must deliver
``LOCAL+anything@DOMAIN`` to the bounce mailbox (Postfix ``recipient_delimiter = +``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from newsletter.base.addresses import address_key

_TAG = re.compile(r"^[^@+\s]+\+b[a-z2-7]{16}@", re.ASCII)


def verp_address(sender: str, message_id: str, secret: str | bytes) -> str:
    """The VERP envelope sender of the delivery with ``message_id``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    digest = hmac.new(key, b"verp:" + message_id.encode("ascii", "replace"), hashlib.sha256).digest()
    tag = base64.b32encode(digest[:10]).decode("ascii").lower()
    local, _, domain = sender.rpartition("@")
    return f"{local}+b{tag}@{domain}".lower()  # as the ledger looks it up


def is_verp(address: str) -> bool:
    """Whether ``address`` has the shape of one of our VERP return paths."""
    return bool(_TAG.match(address_key(address)))
