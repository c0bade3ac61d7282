"""What an SMTP reply or a connection error means: temporary (retry), permanent (the
recipient or message is refused; a hard bounce unless a 5.7.x policy refusal or a
refusal of the message after DATA), fatal
(no retry fixes it: TLS, AUTH, the sender refused), rate limits, and the hints for a
port/security mix-up."""

from __future__ import annotations

import logging
import re
import ssl

import aiosmtplib

log = logging.getLogger("newsletter.delivery.smtp")  # one logger for the whole sender (as before)


class Temporary(Exception):
    def __init__(self, message: str, *, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.rate_limited = rate_limited


_RATE_TEXT = re.compile(r"too many|rate.?limit|slow down|throttl", re.IGNORECASE)


def is_rate_limit(code: int, message: str) -> bool:
    """A reply asking us to slow down: 421, 450/451/452 with a 4.7.x code, or words to
    that effect ("too many", "rate limit", "slow down")."""
    status = enhanced_status(message) or ""
    return code == 421 or (code in (450, 451, 452) and status.startswith("4.7.")) or bool(_RATE_TEXT.search(message))


def plain_first(exc: BaseException) -> bool:
    """An SSL error that means the server spoke plain SMTP to our TLS handshake."""
    text = str(exc)
    return "WRONG_VERSION_NUMBER" in text or "wrong version number" in text or "record layer failure" in text


def tls_hint(exc: BaseException, port: int) -> str:
    """A hint for an SSL error that means the port speaks plain SMTP first (implicit TLS
    pointed at a STARTTLS or plain port), without asking the server what it offers
    (:meth:`SmtpSender.preflight` asks, and says which of the two it is)."""
    if not plain_first(exc):
        return ""
    return (
        f"; port {port} speaks plain SMTP first: set security: starttls if the server offers STARTTLS "
        "(port 587), else security: none (security: tls is implicit TLS, usually port 465)"
    )


def plain_hint(where: str, port: int, extensions: frozenset[str] | None) -> str:
    """What to set for a server that speaks plain SMTP first, from what its EHLO offers."""
    if extensions is None:
        return tls_hint(ssl.SSLError("WRONG_VERSION_NUMBER"), port)
    if "starttls" in extensions:
        return f"; {where} speaks plain SMTP and offers STARTTLS: set security: starttls"
    return (
        f"; {where} speaks plain SMTP and offers no TLS at all: set security: none (a local server such as "
        "`newsletter sink`), or point smtp.port at the relay's TLS port (465 for security: tls)"
    )


class Permanent(Exception):
    def __init__(self, message: str, *, bounce: str | None = None) -> None:
        super().__init__(message)
        self.bounce = bounce


_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


def enhanced_status(message: str) -> str | None:
    """The RFC 3463 enhanced status code at the start of a reply text (``5.1.1``), if any."""
    m = _ENHANCED.match(message)
    return ".".join(m.groups()) if m else None


def is_hard_bounce(code: int, message: str, *, stage: str = "RCPT TO") -> bool:
    """A 5xx for the recipient is a hard bounce, except a policy refusal (``5.7.x``: relay
    denied, spam, DMARC), which is about the sender or the content, never the address.

    After ``DATA`` the server has accepted the recipient already: a refusal there is
    about the message (``5.3.4`` too large, ``5.6.x`` content, a filter's bare ``554``)
    unless its enhanced status says the address or the mailbox (``5.1.x``, ``5.2.x``:
    a server that checks recipients late; ``5.4.4``: its domain cannot be routed to).
    Counting the others would suppress every subscriber of a pass whose digest the relay
    refuses."""
    status = enhanced_status(message) or ""
    if code < 500:
        return False
    if stage == "DATA":
        return status.startswith(("5.1.", "5.2.")) or status == "5.4.4"
    return not status.startswith("5.7.")


class Fatal(Exception):
    """A problem no retry fixes and that concerns every message (TLS, AUTH, sender refused)."""


class LostReply(Exception):
    """No reply after the message data: it may have been delivered."""


def ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def reply_text(exc: aiosmtplib.SMTPResponseException) -> str:
    """``CODE message`` on one line: a reply of several lines (``550-5.1.1 ...``, as
    Gmail gives) has its lines joined by spaces, so the error a pass reports, logs and
    records is one line whatever the server says."""
    return " ".join(f"{exc.code} {exc.message}".split())
