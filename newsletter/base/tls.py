"""The one TLS client policy of the tool (SMTP and IMAP): the system's CAs plus an
optional ``ca_file``; ``verify: false`` turns verification off (the caller logs it)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Protocol


class TlsSettings(Protocol):
    """What a TLS client context needs of its settings (``smtp``, ``bounces.imap``)."""

    @property
    def ca_file(self) -> Path | None: ...

    @property
    def verify(self) -> bool: ...


def tls_context(settings: TlsSettings) -> ssl.SSLContext:
    """Verifying context: the system's CAs plus ``ca_file``; ``verify: false`` turns
    verification off (logged loudly)."""
    ctx = ssl.create_default_context()
    if settings.ca_file is not None:
        ctx.load_verify_locations(cafile=str(settings.ca_file))
    if not settings.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
