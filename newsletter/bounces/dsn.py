"""Reading the mail that comes back (pure functions over message bytes).

Two kinds of message matter in the bounce mailbox:

- RFC 3464 delivery status notifications: ``multipart/report;
  report-type=delivery-status`` with a ``message/delivery-status`` part (one block
  of per-message fields, then one block per recipient: ``Final-Recipient``,
  ``Action``, ``Status``, ``Diagnostic-Code``) and usually the returned message or
  its headers (``message/rfc822`` or ``text/rfc822-headers``), whose
  ``Message-ID`` ties the report to its delivery. ``Action: failed`` with a
  ``5.x.x`` status is a hard bounce; ``4.x.x`` or ``Action: delayed`` is soft;
  ``delivered``/``relayed``/``expanded`` are no bounce at all.
- Unsubscribe requests sent to the ``mailto:`` of List-Unsubscribe: the token is
  in the subject (``unsubscribe TOKEN``) or in the address
  (``unsubscribe+TOKEN@example.org``); the caller verifies it.

Everything else is :data:`None`: not ours, left alone. Parsing uses the standard
library's :mod:`email` parser with the ``default`` policy; nothing here decodes
more than the headers and the small report parts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.policy import compat32
from email.policy import default as default_policy
from email.utils import getaddresses

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_TOKEN = r"[A-Za-z0-9_-]{43}"
_SUBJECT = re.compile(
    rf"^\s*(?:(?:re|aw|fwd?)\s*:\s*)*unsubscribe\b(?:[\s:]+(?P<token>{_TOKEN})(?![A-Za-z0-9_-]))?", re.IGNORECASE
)
_PLUS = re.compile(rf"^[^@+\s]+\+(?P<token>{_TOKEN})@", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class Bounce:
    """One recipient of a delivery status notification that did not get the message."""

    recipient: str  # lowercased address from Final-Recipient (or Original-Recipient)
    kind: str  # "hard" | "soft"
    action: str
    status: str | None  # the enhanced status code, e.g. "5.1.1"
    diagnostic: str | None  # Diagnostic-Code, one line, control characters removed


@dataclass(frozen=True, slots=True)
class Report:
    """A delivery status notification: its bounced recipients and what ties it to
    the delivery it reports on."""

    report_id: str  # the report's own Message-ID, else the SHA-256 of its bytes
    message_id: str | None  # the Message-ID of the returned (original) message
    bounces: tuple[Bounce, ...]
    to: tuple[str, ...] = ()  # where the report was sent (To, Delivered-To, X-Original-To): a VERP path


@dataclass(frozen=True, slots=True)
class UnsubscribeRequest:
    """A message to the unsubscribe address; ``token`` is None when it carries none."""

    report_id: str
    token: str | None
    sender: str


def one_line(value: object, limit: int = 300) -> str:
    """Untrusted header text made safe for the ledger and the log: one line, no control
    characters, at most ``limit`` characters."""
    return _CONTROL.sub(" ", str(value)).strip()[:limit]


def _report_id(msg: Message, data: bytes) -> str:
    mid = msg.get("Message-ID")
    if mid:
        return one_line(mid, 200)
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _address(field: str | None) -> str | None:
    """``rfc822; bob@example.org`` -> ``bob@example.org``."""
    if not field:
        return None
    kind, _, value = str(field).partition(";")
    if not value:
        value = kind
    elif kind.strip().lower() != "rfc822":
        return None
    value = value.strip().strip("<>").strip()
    return value.lower() if "@" in value and not _CONTROL.search(value) and " " not in value else None


def classify(action: str, status: str | None) -> str | None:
    """``hard``/``soft`` for a recipient block, or None when it is no bounce."""
    action = action.strip().lower()
    if action == "delayed":
        return "soft"
    if action != "failed":
        return None  # delivered, relayed, expanded
    if status is not None and status.startswith("4."):
        return "soft"
    return "hard"  # failed with 5.x.x (or without a readable status: a failure is final)


def _blocks(part: Message) -> list[Message]:
    """The field blocks of a ``message/delivery-status`` part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = payload if isinstance(payload, str) else ""
    return [
        HeaderParser(policy=compat32).parsestr(block) for block in re.split(r"\r?\n\s*\r?\n", text) if block.strip()
    ]


def _original_message_id(msg: Message) -> str | None:
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                mid = inner[0].get("Message-ID")
                if mid:
                    return one_line(mid, 200)
        elif ctype == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(part.get_payload())
            mid = HeaderParser(policy=compat32).parsestr(text, headersonly=True).get("Message-ID")
            if mid:
                return one_line(mid, 200)
    return None


def parse_report(data: bytes) -> Report | None:
    """The delivery status notification in ``data``, or None when it is none."""
    msg = message_from_bytes(data, policy=compat32)
    if msg.get_content_type() != "multipart/report":
        return None
    if str(msg.get_param("report-type", "")).lower() != "delivery-status":
        return None
    status_part = next((p for p in msg.walk() if p.get_content_type() == "message/delivery-status"), None)
    if status_part is None:
        return None
    blocks = _blocks(status_part)
    bounces: list[Bounce] = []
    for block in blocks:  # the per-message block (Reporting-MTA, ...) names no recipient
        recipient = _address(block.get("Final-Recipient")) or _address(block.get("Original-Recipient"))
        if recipient is None:
            continue
        m = _STATUS.search(str(block.get("Status", "")))
        status = ".".join(m.groups()) if m else None
        kind = classify(str(block.get("Action", "")), status)
        if kind is None:
            continue
        diagnostic = block.get("Diagnostic-Code")
        bounces.append(
            Bounce(
                recipient=recipient,
                kind=kind,
                action=one_line(block.get("Action", "")).lower(),
                status=status,
                diagnostic=one_line(diagnostic) if diagnostic else None,
            )
        )
    to = tuple(
        a.lower()
        for _, a in getaddresses([str(v) for h in ("Delivered-To", "X-Original-To", "To") for v in msg.get_all(h, [])])
        if a and not _CONTROL.search(a)
    )
    return Report(_report_id(msg, data), _original_message_id(msg), tuple(bounces), to)


def parse_unsubscribe(data: bytes, address: str) -> UnsubscribeRequest | None:
    """A request to the unsubscribe ``address`` (local part, with or without
    ``+TOKEN``), or None when ``data`` is not one."""
    msg = message_from_bytes(data, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    local, _, domain = address.lower().rpartition("@")
    recipients = [
        a.lower()
        for _, a in getaddresses(
            [str(v) for h in ("To", "Cc", "Delivered-To", "X-Original-To") for v in msg.get_all(h, [])]
        )
    ]
    token = None
    addressed = False
    for rcpt in recipients:
        if rcpt == address.lower():
            addressed = True
        elif rcpt.startswith(local + "+") and rcpt.endswith("@" + domain):
            addressed = True
            original = next(
                (a for _, a in getaddresses([str(v) for v in msg.get_all("To", [])]) if a.lower() == rcpt), rcpt
            )
            m = _PLUS.match(original) or _PLUS.match(rcpt)
            token = token or (m.group("token") if m else None)
    try:
        subject = str(msg.get("Subject", ""))
    except (ValueError, TypeError):
        subject = ""
    m = _SUBJECT.match(subject)
    if not addressed:
        return None  # not sent to the unsubscribe address: not a request to us
    if m and m.group("token"):
        token = token or m.group("token")
    if not m and token is None:
        return None  # mail to the unsubscribe address about something else
    sender = one_line(msg.get("From", ""), 200)
    return UnsubscribeRequest(_report_id(msg, data), token, sender)
