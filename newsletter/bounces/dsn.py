"""Reading the mail that comes back: pure functions over untrusted bytes (SPEC 6, 6c).

Two kinds of message matter in the bounce mailbox:

- RFC 3464 delivery status notifications: ``multipart/report;
  report-type=delivery-status`` with a ``message/delivery-status`` part (one block
  of per-message fields, then one block per recipient: ``Final-Recipient``,
  ``Action``, ``Status``, ``Diagnostic-Code``) and usually the returned message or
  its headers (``message/rfc822`` or ``text/rfc822-headers``), whose
  ``Message-ID`` ties the report to its delivery. ``Action: failed`` is a hard
  bounce when it is about the address or its mailbox (``5.1.x``, ``5.2.x``, ``5.4.4``, but not
  ``5.1.7``/``5.1.8`` nor ``5.2.3``; the remote server's code in ``Diagnostic-Code``
  wins over ``Status``); any other failure, ``4.x.x`` or ``Action: delayed`` is soft;
  ``delivered``/``relayed``/``expanded`` are no bounce at all.
- Bounces the mail system writes in plain text (qmail, Exim, Gmail, Yahoo, Exchange:
  no RFC 3464 report), read only when ``From`` is the mail system (``MAILER-DAEMON``,
  ``postmaster``, "Mail Delivery System"): the recipients and status the text names and
  the returned Message-ID.
- Unsubscribe requests sent to the ``mailto:`` of List-Unsubscribe: the token is
  in the subject (``unsubscribe TOKEN``) or in the address
  (``unsubscribe+TOKEN@example.org``); the caller verifies it.

Everything else is :data:`None`: not ours, left alone.

**Untrusted input, bounded work.** The mailbox is written by anyone who can send
mail, so a message is read in two steps and never parsed whole:

1. the header block only (at most :data:`MAX_HEADER_BYTES`), with the standard
   library's lenient ``compat32`` header parser: that is enough to tell a report
   from an unsubscribe request from anything else, and an unsubscribe request
   needs nothing more (a 50 MB reply to the digest is left alone after its
   headers);
2. for a report only, the body (at most :data:`MAX_REPORT_BYTES`; a report is a
   few KB, the message it returns at most our own email), cut into its direct MIME
   parts at the top-level boundary (at most :data:`MAX_PARTS`). Only the
   ``message/delivery-status`` part, the returned headers and, for a bounce in plain
   text, its ``text/plain`` parts (one level into ``multipart/alternative``) are read;
   deeper parts are never parsed, so no nesting depth can recurse.

What cannot be read that way is an :class:`Unreadable` with the reason (headers
that do not parse, a report too large, without a boundary, neither a delivery-status
part nor a text that reads as a bounce, too many parts, a body that does not decode);
the caller quarantines it.
Any other exception of the standard library on hostile bytes becomes an
:class:`Unreadable` too (:func:`read_message` never raises; a fuzz test holds it
to that).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import quopri
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import ParamSpec, TypeVar

from newsletter.base.addresses import address_key

MAX_HEADER_BYTES = 256 * 1024  # a header block past this is no mail an MTA sends
MAX_REPORT_BYTES = 4 * 1024 * 1024  # a whole report; ours return at most our email (< 200 KB)
MAX_PARTS = 64  # direct MIME parts of a report (RFC 3464: two or three)
MAX_BLOCKS = 1000  # field blocks of a delivery-status part

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_TOKEN = r"[A-Za-z0-9_-]{43}"
_SUBJECT = re.compile(
    rf"^\s*(?:(?:re|aw|fwd?)\s*:\s*)*unsubscribe\b(?:[\s:]+(?P<token>{_TOKEN})(?![A-Za-z0-9_-]))?", re.IGNORECASE
)
_PLUS = re.compile(rf"^[^@+\s]+\+(?P<token>{_TOKEN})@", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_HEAD_END = re.compile(rb"\r?\n\r?\n")

P = ParamSpec("P")
R = TypeVar("R")


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

    report_id: str  # the report's own Message-ID, else the SHA-256 of its header block
    message_id: str | None  # the Message-ID of the returned (original) message
    bounces: tuple[Bounce, ...]
    to: tuple[str, ...] = ()  # where the report was sent (To, Delivered-To, X-Original-To): a VERP path
    named: tuple[str, ...] = ()  # every recipient address it names (Final- and Original-Recipient)


@dataclass(frozen=True, slots=True)
class UnsubscribeRequest:
    """A message to the unsubscribe address; ``token`` is None when it carries none."""

    report_id: str
    token: str | None
    sender: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A message that cannot be read within the limits: quarantined, never read again."""

    reason: str


Read = Report | UnsubscribeRequest | Unreadable | None


def one_line(value: object, limit: int = 300) -> str:
    """Untrusted header text made safe for the ledger and the log: one line, no control
    characters, at most ``limit`` characters."""
    return _CONTROL.sub(" ", str(value)).strip()[:limit]


def _contained(read: Callable[P, R]) -> Callable[P, R | Unreadable]:
    """``read`` returning :class:`Unreadable` for any exception hostile bytes provoke in
    the standard library's parsers (an IndexError on ``To: a@b, <``, a RecursionError,
    a UnicodeError, ...); only non-``Exception`` signals go through."""

    @functools.wraps(read)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Unreadable:
        try:
            return read(*args, **kwargs)
        except Exception as exc:  # hostile input: one reason, never a traceback
            detail = one_line(exc, 120)
            return Unreadable(f"cannot be read ({type(exc).__name__}{': ' + detail if detail else ''})")

    return guarded


# --------------------------------------------------------------------------- headers


def split_head(data: bytes) -> tuple[bytes, bytes]:
    """(header block with its blank line, body) of a message; all header when no blank line."""
    m = _HEAD_END.search(data)
    return (data, b"") if m is None else (data[: m.end()], data[m.end() :])


def read_head(head: bytes) -> Message | Unreadable:
    """The header block as a message without a body, or why it cannot be read."""
    if len(head) > MAX_HEADER_BYTES:
        return Unreadable(f"a header block larger than {MAX_HEADER_BYTES // 1024} KiB")
    if not head.strip():
        return Unreadable("no headers")
    msg = BytesHeaderParser(policy=compat32).parsebytes(head)
    if not msg.keys():
        return Unreadable("no header fields (not a mail message)")
    return msg


def _report_id(msg: Message, head: bytes) -> str:
    mid = msg.get("Message-ID")
    if mid:
        return one_line(mid, 200)
    return "sha256:" + hashlib.sha256(head).hexdigest()


def _addresses(msg: Message, names: tuple[str, ...]) -> list[str]:
    values = [str(v) for h in names for v in msg.get_all(h, [])]
    return [address_key(a) for _, a in getaddresses(values) if a and "@" in a and not _CONTROL.search(a)]


def is_report(msg: Message) -> bool:
    return msg.get_content_type() == "multipart/report" and (
        str(msg.get_param("report-type", "")).lower() == "delivery-status"
    )


# --------------------------------------------------------------------------- reports


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


# What a diagnostic says when its status code does not (``5.0.0``, or no code at all):
# the address or its mailbox is gone or full. Anything else a failure says (a policy or
# spam refusal, the message's size, a routing or network trouble) is about the sender,
# the message or the way, never the address.
_ADDRESS_WORDS = re.compile(
    r"user unknown|unknown (?:user|recipient|mailbox|address|local.?part)|no such (?:user|mailbox|recipient|address"
    r"|account)|(?:user|mailbox|recipient|address|account)(?: \S+)? (?:does not|doesn't|did not|not) exist"
    r"|mailbox (?:is )?(?:unavailable|not found|disabled|inactive|full)|invalid (?:recipient|mailbox|user)"
    r"|recipient not found|user not found|no mailbox here|not a valid (?:mailbox|recipient|user)"
    r"|unrouteable address|account (?:is |has been )?disabled|over ?quota|quota exceeded|is full|no such domain"
    r"|doesn't have an? \S+ account|name is not recognized|mailbox exceeds"
    r"|(?:domain|host)(?: \S+)? (?:does not exist|not found)|no mx record|unknown (?:host|domain)|host unknown"
    r"|domain unknown|not listed in|invalid final delivery",
    re.IGNORECASE,
)
_NOT_THE_ADDRESS = ("5.1.7", "5.1.8", "5.2.3")  # the sender's address is bad; the message is too large
# RFC 3463 X.4.4 "unable to route": no MX, no such domain, host unknown; with 5 it is for good,
# so the address can never receive mail (sisimai's "hostunknown"); 4.4.x is a passing DNS failure
_NO_ROUTE = "5.4.4"


def about_address(status: str | None, diagnostic: str | None) -> bool:
    """Whether a permanent failure is about the address or its mailbox (``5.1.x``,
    ``5.2.x``, ``5.4.4``: its domain does not exist or has no route, as at RCPT/DATA:
    :func:`newsletter.delivery.smtp.classify.is_hard_bounce`), and not the sender, the
    message or the way (``5.7.x`` policy and spam refusals, ``5.3.4`` too large, other
    ``5.4.x`` network trouble, ``5.6.x`` content).

    The remote server's own code in the diagnostic (``550 5.7.1 IP blacklisted``) is more
    precise than the one the reporting server put in ``Status`` (Sendmail writes
    ``5.1.1`` for it). A code that names only its class (``5.0.0``, ``5.1.0``, ``5.5.0``:
    "550 5.1.0 ... SPF", "550 5.2.0 Message Filtered"), or none, leaves it to the words
    ("user unknown", "no such user", "mailbox full"); a failure that says nothing more
    at all is final (RFC 3464 ``Action: failed``)."""
    text = diagnostic or ""
    precise = next((c for m in _STATUS.finditer(text) if not (c := ".".join(m.groups())).endswith(".0")), None)
    status = precise or status
    if status is None or status.endswith(".0"):
        return bool(_ADDRESS_WORDS.search(text)) or status is None or not text.strip()
    return (status.startswith(("5.1.", "5.2.")) or status == _NO_ROUTE) and status not in _NOT_THE_ADDRESS


def classify(action: str, status: str | None, diagnostic: str | None = None) -> str | None:
    """``hard``/``soft`` for a recipient block, or None when it is no bounce.

    ``delayed`` and ``4.x.x`` are soft; ``failed`` is hard when it is about the address
    or its mailbox (:func:`about_address`), else soft: a relay that refuses our mail on
    policy (``5.7.1``), for its size or its content says nothing about the address, and
    counts only when it repeats ``bounces.soft`` times in a row."""
    action = action.strip().lower()
    if action == "delayed":
        return "soft"
    if action != "failed":
        return None  # delivered, relayed, expanded
    if status is not None and status.startswith("4."):
        return "soft"
    return "hard" if about_address(status, diagnostic) else "soft"


_ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")


def _decoded(part: Message, body: bytes) -> bytes:
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding == "base64":
        return base64.b64decode(b"".join(body.split()), validate=False)
    if encoding == "quoted-printable":
        return quopri.decodestring(body)
    return body


def _parts(msg: Message, body: bytes) -> list[tuple[Message, bytes]] | Unreadable:
    """The direct MIME parts of the report: (headers, body) each; nested parts stay bytes."""
    boundary = msg.get_boundary()
    if not boundary or len(boundary) > 200:
        return Unreadable("a multipart report without a usable MIME boundary")
    delimiter = re.compile(rb"^--" + re.escape(boundary.encode("utf-8", "replace")) + rb"(--)?[ \t]*\r?$", re.M)
    parts: list[tuple[Message, bytes]] = []
    start: int | None = None
    for m in delimiter.finditer(body):
        if start is not None:
            parts.append(_part(body[start : m.start()]))
            if len(parts) > MAX_PARTS:
                return Unreadable(f"more than {MAX_PARTS} MIME parts")
        if m.group(1):  # the closing delimiter
            return parts
        start = m.end()
    if start is not None:  # no closing delimiter: the returned message was cut short (MTAs truncate it)
        parts.append(_part(body[start:]))
    return parts


def _part(chunk: bytes) -> tuple[Message, bytes]:
    head, rest = split_head(chunk.removeprefix(b"\r\n").removeprefix(b"\n"))
    return BytesHeaderParser(policy=compat32).parsebytes(head), rest


def _blocks(text: str) -> list[Message]:
    """The field blocks of a ``message/delivery-status`` part (at most MAX_BLOCKS)."""
    chunks = [c for c in re.split(r"\r?\n[ \t]*\r?\n", text, maxsplit=MAX_BLOCKS) if c.strip()]
    # a block's leading blank lines (SurfControl, some Exim) would end its headers before the first field
    return [HeaderParser(policy=compat32).parsestr(c.lstrip("\r\n")) for c in chunks[:MAX_BLOCKS]]


def _returned_id(ctype: str, part: Message, body: bytes) -> str | None:
    """The Message-ID of the returned message (``message/rfc822``: its header block;
    ``text/rfc822-headers``: the headers themselves)."""
    raw = _decoded(part, body)
    head = split_head(raw)[0] if ctype == "message/rfc822" else raw
    if len(head) > MAX_HEADER_BYTES:
        return None
    mid = BytesHeaderParser(policy=compat32).parsebytes(head).get("Message-ID")
    if not mid:  # folded lines left without their indent (Office 365, some Postfix) end the parse early
        line = _MID_LINE.search(head.decode("utf-8", "replace"))
        mid = line.group(1) if line else None
    return one_line(mid, 200) if mid else None


def _bounce(block: Message) -> tuple[str | None, Bounce | None]:
    """(the recipient a block names, its bounce or None)."""
    recipient = _address(block.get("Final-Recipient")) or _address(block.get("Original-Recipient"))
    if recipient is None:
        return None, None
    m = _STATUS.search(str(block.get("Status", "")))
    status = ".".join(m.groups()) if m else None
    diagnostic = block.get("Diagnostic-Code")
    kind = classify(str(block.get("Action", "")), status, str(diagnostic) if diagnostic else None)
    if kind is None:
        return recipient, None
    return recipient, Bounce(
        recipient=recipient,
        kind=kind,
        action=one_line(block.get("Action", "")).lower(),
        status=status,
        diagnostic=one_line(diagnostic) if diagnostic else None,
    )


def read_report(msg: Message, head: bytes, body: bytes) -> Report | Unreadable:
    """The report in ``body`` (the header block already read into ``msg``)."""
    parts = _parts(msg, body)
    if isinstance(parts, Unreadable):
        return parts
    status_text: str | None = None
    message_id: str | None = None
    for part, part_body in parts:
        ctype = part.get_content_type()
        if ctype == "message/delivery-status" and status_text is None:
            status_text = _decoded(part, part_body).decode("utf-8", "replace")
        elif ctype in ("message/rfc822", "text/rfc822-headers") and message_id is None:
            message_id = _returned_id(ctype, part, part_body)
    if status_text is None:  # a report of a kind RFC 3464 does not know: the text may still say it
        text = read_text_bounce(msg, head, body)
        return text or Unreadable("a delivery report without a message/delivery-status part")
    named, bounces, acted = _recipients(status_text)
    if not acted:  # an empty or broken status part (Exim's pipe or file, Postfix's "unavailable"): read the text
        text = read_text_bounce(msg, head, body)
        if text is not None:
            return text
    to = tuple(_addresses(msg, ("Delivered-To", "X-Original-To", "To")))
    return Report(_report_id(msg, head), message_id, tuple(bounces), to, tuple(named))


def _recipients(status_text: str) -> tuple[list[str], list[Bounce], bool]:
    """(every recipient the status part names, their bounces, whether any block names a
    recipient and what became of it: an Action RFC 3464 knows)."""
    named: list[str] = []
    bounces: list[Bounce] = []
    acted = False
    for block in _blocks(status_text):  # the per-message block (Reporting-MTA, ...) names no recipient
        recipient, bounce = _bounce(block)
        original = _address(block.get("Original-Recipient"))
        named.extend(a for a in (recipient, original) if a and a not in named)
        acted = acted or (recipient is not None and str(block.get("Action", "")).strip().lower() in _ACTIONS)
        if bounce is not None:
            bounces.append(bounce)
    return named, bounces, acted


# --------------------------------------------------------------------------- bounces in plain text

# Many servers write no RFC 3464 report but a text for humans (qmail's "Hi. This is the
# qmail-send program", Exim's "The following address(es) failed", Gmail, Yahoo, Exchange
# and Lotus Domino NDRs, ...): the recipient, the reply and the returned message are in
# the text. Such a message is read when its From is the mail system (MAILER-DAEMON,
# postmaster, "Mail Delivery System"): an auto-reply (a vacation message) comes from its
# person and is never read as a bounce. It is tied to a delivery exactly as a report is
# (our Message-ID in the returned headers, or the VERP address it came back to).
_DAEMON = re.compile(
    r"\b(?:mailer[- ]?daemon|mail-daemon|post_?master)\b|\bmail delivery (?:system|subsystem|service)\b",
    re.IGNORECASE,
)
_RETURNED = re.compile(
    r"^[ \t>]*[-=_*]*[ \t]*(?:this is a copy of|below this line is a copy|(?:the )?original message follows"
    r"|[-=]+ ?original message|returned message|unsent message|undelivered message|the text you sent"
    r"|headers of the original|original message headers)"
    r"|^(?:Return-Path|Received|DKIM-Signature|X-Received|Message-I[dD]):",
    re.IGNORECASE | re.MULTILINE,
)
_MID_LINE = re.compile(r"^Message-I[dD]:[ \t]*(<[^<>\s]{1,250}>)", re.IGNORECASE | re.MULTILINE)
_TEXT_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*"
)
_TEXT_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_REPLY = re.compile(r"(?<![\d.#-])([45])\d\d(?![\d.])")
_SEVERITY = (
    (
        re.compile(
            r"permanent|fatal|failed permanently|could not be delivered|undeliverable|unable to deliver|did not reach"
            r"|(?:error|failure) (?:has occurred while attempting to deliver|delivering)"
            r"|failure reasons|failed addresses"
            r"|delivery (?:problems|errors|failure)|not going to try again|delivery to the following \S+ was aborted"
            r"|could not be sent|non-deliverable|was not delivered|delivery failed",
            re.I,
        ),
        "5",
    ),
    (re.compile(r"temporar|delayed|deferred|will (?:retry|continue|try)|not yet been delivered", re.I), "4"),
)
_SYSTEM_LOCALS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "root", "noreply", "no-reply")
MAX_TEXT_RECIPIENTS = 50


def from_mail_system(msg: Message) -> bool:
    """Whether the headers say the mail system wrote the message (a bounce in plain text)."""
    sender = str(msg.get("From", ""))[:1000]
    # the null address (McAfee, m-FILTER) is no person's either: an auto-reply comes from its person
    system = bool(_DAEMON.search(sender)) or sender.strip() == "<>"
    return system and msg.get_content_maintype() in ("text", "multipart")


def _text_of(part: Message, body: bytes) -> str:
    return _decoded(part, body).decode("utf-8", "replace")


def _bounce_texts(msg: Message, body: bytes) -> tuple[str, str | None]:
    """(the text of a bounce: its text parts, one level of ``multipart/alternative`` into
    them; the Message-ID of a returned ``message/rfc822`` or ``text/rfc822-headers`` part)."""
    parts = _parts(msg, body) if msg.get_content_maintype() == "multipart" else []
    if isinstance(parts, Unreadable):
        return "", None
    if not parts:  # not multipart, or its boundary is not in the body (a broken report): all text
        return _text_of(msg, body), None
    texts: list[str] = []
    returned: str | None = None
    for part, part_body in parts:
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "text/rfc822-headers"):
            returned = returned or _returned_id(ctype, part, part_body)
        elif ctype == "text/plain":
            texts.append(_text_of(part, part_body))
        elif ctype == "multipart/alternative":
            inner = _parts(part, part_body)
            if not isinstance(inner, Unreadable):
                texts.extend(_text_of(p, b) for p, b in inner if p.get_content_type() == "text/plain")
    return "\n".join(texts), returned


def _severity(text: str) -> str | None:
    """The class ("5", "4") a text says in words, or None."""
    return next((digit for words, digit in _SEVERITY if words.search(text)), None)


def _text_status(segment: str, whole: str) -> str | None:
    """The enhanced status of one recipient's text (else the whole text's), a bare reply
    code as its class (``550`` -> ``5.0.0``), else what the words say."""
    for text in (segment, whole):
        m = _TEXT_STATUS.search(text)
        if m:
            return ".".join(m.groups())
        reply = _REPLY.search(text)
        if reply:
            return f"{reply.group(1)}.0.0"
    severity = _severity(whole) or ("5" if _ADDRESS_WORDS.search(segment) or _ADDRESS_WORDS.search(whole) else None)
    return f"{severity}.0.0" if severity else None


def _text_recipients(text: str, exclude: set[str]) -> list[tuple[str, str]]:
    """(recipient, the text about it up to the next one) for each address the text names,
    but the report's own addresses and the mail system's."""
    spans: list[tuple[str, int]] = []
    for m in _TEXT_ADDRESS.finditer(text):
        address = m.group(0).strip(".'`").lower()
        if address in exclude or address.partition("@")[0] in _SYSTEM_LOCALS or "." not in address.partition("@")[2]:
            continue
        if not spans or spans[-1][0] != address:
            spans.append((address, m.start()))
        if len(spans) > MAX_TEXT_RECIPIENTS:
            break
    found: dict[str, str] = {}
    for i, (address, start) in enumerate(spans):
        # its lines: "Unknown user: bob@example.org" (IMail) says it before the address
        line = max(text.rfind("\n", 0, start) + 1, spans[i - 1][1] if i else 0)
        end = len(text)
        if i + 1 < len(spans):
            end = spans[i + 1][1]
            end = max(text.rfind("\n", start, end) + 1, start + len(address)) if end > start else end
        found.setdefault(address, text[line:end])
    return list(found.items())


def _failed_recipients(msg: Message, text: str, exclude: set[str]) -> list[tuple[str, str]]:
    """The recipients of a bounce in plain text with what the text says about each: those
    of ``X-Failed-Recipients`` (Exim, Google) when it is there, else the addresses the text
    names."""
    named = _addresses(msg, ("X-Failed-Recipients",))[:MAX_TEXT_RECIPIENTS]
    if not named:
        return _text_recipients(text, exclude)
    about = dict(_text_recipients(text, exclude))
    return [(address, about.get(address, text)) for address in dict.fromkeys(named)]


def _text_message_id(msg: Message, text: str, cut: int, returned: str | None) -> str | None:
    """The Message-ID of the returned message: its part, its headers in the text, else the
    ``In-Reply-To`` the mail system wrote (Gmail, Google Groups)."""
    if returned:
        return returned
    m = _MID_LINE.search(text, cut)
    if m:
        return one_line(m.group(1), 200)
    replied = str(msg.get("In-Reply-To", "")).strip()
    return one_line(replied, 200) if replied.startswith("<") and replied.endswith(">") else None


def read_text_bounce(msg: Message, head: bytes, body: bytes) -> Report | None:
    """The bounce a mail system wrote in plain text (see above), or None when the text
    names no recipient with a failure."""
    text, returned = _bounce_texts(msg, body)
    cut = _RETURNED.search(text)
    about = text[: cut.start()] if cut else text
    exclude = set(_addresses(msg, ("From", "To", "Cc", "Return-Path", "Reply-To")))
    bounces: list[Bounce] = []
    listed = bool(msg.get("X-Failed-Recipients"))  # Exim and Google name there what failed for good
    for recipient, segment in _failed_recipients(msg, about, exclude):
        status = _text_status(segment, about) or ("5.0.0" if listed else None)
        if status is None or status.startswith("2."):
            continue
        action = "delayed" if status.startswith("4.") else "failed"
        kind = classify(action, status, segment) or "soft"
        bounces.append(Bounce(recipient, kind, action, status, one_line(segment)))
    if not bounces:
        return None
    to = tuple(_addresses(msg, ("Delivered-To", "X-Original-To", "To")))
    message_id = _text_message_id(msg, text, cut.start() if cut else 0, returned)
    return Report(_report_id(msg, head), message_id, tuple(bounces), to, tuple(b.recipient for b in bounces))


# --------------------------------------------------------------------------- unsubscribe requests


def read_unsubscribe(msg: Message, head: bytes, address: str) -> UnsubscribeRequest | None:
    """A request to the unsubscribe ``address`` (local part, with or without
    ``+TOKEN``), or None when the headers say it is not one."""
    addressed, token = _addressed(msg, address)
    if not addressed:
        return None  # not sent to the unsubscribe address: not a request to us
    m = _SUBJECT.match(_subject(msg))
    if m and m.group("token"):
        token = token or m.group("token")
    if not m and token is None:
        return None  # mail to the unsubscribe address about something else
    return UnsubscribeRequest(_report_id(msg, head), token, one_line(msg.get("From", ""), 200))


def _addressed(msg: Message, address: str) -> tuple[bool, str | None]:
    """Whether the message went to the unsubscribe ``address`` (or its ``+TOKEN``
    form), and the token of that form."""
    local, _, domain = address_key(address).rpartition("@")
    token = None
    addressed = False
    for rcpt in _addresses(msg, ("To", "Cc", "Delivered-To", "X-Original-To")):
        if rcpt == address_key(address):
            addressed = True
        elif rcpt.startswith(local + "+") and rcpt.endswith("@" + domain):
            addressed = True
            original = next(
                (a for _, a in getaddresses([str(v) for v in msg.get_all("To", [])]) if address_key(a) == rcpt), rcpt
            )
            m = _PLUS.match(original) or _PLUS.match(rcpt)
            token = token or (m.group("token") if m else None)
    return addressed, token


def _subject(msg: Message) -> str:
    """The subject, RFC 2047 words decoded where they decode (else as written), one line."""
    raw = str(msg.get("Subject", ""))[:2000]
    try:
        text = str(make_header(decode_header(raw)))
    except (ValueError, LookupError, UnicodeError, binascii.Error):
        text = raw
    return one_line(text, 1000)


# --------------------------------------------------------------------------- one message


@_contained
def _head_of(head: bytes) -> tuple[Message, bool] | Unreadable:
    msg = read_head(head)
    return msg if isinstance(msg, Unreadable) else (msg, is_report(msg))


def read_mail(head: bytes, size: int | None, body: Callable[[int], bytes], address: str) -> Read:
    """What one message of the mailbox is, from its header block, its size (when the
    mailbox knows it) and ``body(limit)`` (the rest, at most ``limit`` bytes; called for
    a report, or a bounce in plain text, only). No parsing error escapes (see the module
    doc); an error of ``body`` itself (the mailbox's connection) does."""
    found = _head_of(head)
    if isinstance(found, Unreadable):
        return found
    msg, report = found
    if not report:
        request = _contained(read_unsubscribe)(msg, head, address)
        if request is not None or not from_mail_system(msg):
            return request
        if size is not None and size > MAX_REPORT_BYTES:
            return None  # larger than any bounce of ours (which returns at most our email): not ours
        rest = body(MAX_REPORT_BYTES + 1 - len(head))
        return None if len(head) + len(rest) > MAX_REPORT_BYTES else _contained(read_text_bounce)(msg, head, rest)
    too_large = Unreadable(f"a delivery report larger than {MAX_REPORT_BYTES // (1024 * 1024)} MiB")
    if size is not None and size > MAX_REPORT_BYTES:
        return too_large
    rest = body(MAX_REPORT_BYTES + 1 - len(head))
    if len(head) + len(rest) > MAX_REPORT_BYTES:
        return too_large
    return _contained(read_report)(msg, head, rest)


def read_message(data: bytes, address: str) -> Read:
    """:func:`read_mail` over a whole message in memory (tests, fuzzing)."""
    head = split_head(data[: MAX_HEADER_BYTES + 1])[0]
    if len(head) > MAX_HEADER_BYTES:
        return Unreadable(f"a header block larger than {MAX_HEADER_BYTES // 1024} KiB")
    return read_mail(head, len(data), lambda limit: data[len(head) : len(head) + limit], address)


def parse_report(data: bytes) -> Report | Unreadable | None:
    """The delivery status notification in ``data``; None when it is none (an
    unsubscribe request or other mail), :class:`Unreadable` when it cannot be read."""
    found = read_message(data, "\x00@invalid")  # an address no message is sent to
    return found if isinstance(found, (Report, Unreadable)) else None


def parse_unsubscribe(data: bytes, address: str) -> UnsubscribeRequest | None:
    """A request to the unsubscribe ``address`` in ``data``, or None."""
    found = read_message(data, address)
    return found if isinstance(found, UnsubscribeRequest) else None
