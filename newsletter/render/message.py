"""The MIME message (SPEC 5), built with the standard :mod:`email` package: the reference.

multipart/alternative with text/plain then text/html, both UTF-8 and
quoted-printable. Headers go through :class:`email.headerregistry` objects under
the SMTP policy: display names and subjects are RFC 2047 encoded, and a value
with a line break raises instead of adding a header. Addresses come from the
validated configuration (CR/LF/NUL rejected at load).

Sending never builds the :class:`EmailMessage`: :meth:`MessageFactory.message_bytes`
hands the same :class:`MessageParts` to :mod:`newsletter.render.fastmime`, which
writes the bytes directly, equal to ``message_bytes(factory.build(parts))`` (the
property tests in ``tests/test_render_fastmime.py`` hold it to that).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from collections.abc import Iterable
from email.headerregistry import BaseHeader
from email.message import EmailMessage
from typing import Any, ClassVar

from newsletter.base.addresses import address_key
from newsletter.config import Mailbox
from newsletter.render.fastmime import (
    ONE_CLICK,
    POLICY,
    REGISTRY,
    FastWriter,
    MessageParts,
    address,
    boundary_for,
    fold_address,
    fold_subject,
)
from newsletter.render.qpmemo import QuotedPrintableMemo

__all__ = ["POLICY", "MessageFactory", "MessageParts", "address", "boundary_for", "message_bytes", "message_id_for"]


def message_id_for(email: str, paper_ids: Iterable[str], *, domain: str, salt: str = "", secret: str = "") -> str:
    """The Message-ID of a delivery: ``<hash@domain>``, the same for the same delivery.

    The hash is HMAC-SHA-256 under ``secret`` (the unsubscribe-token secret, with its
    own prefix) of the lowercased address, the sorted paper ids and ``salt`` (the
    delivery's number and day): a re-send of a pending delivery carries the same id
    (SPEC 6; it is stored with the delivery). Keyed, because without VERP a bounce
    report counts when it returns this id (SPEC 6c): the address, the day's papers, what
    a known profile matches and the delivery's number are all public or guessable, and
    an unkeyed hash of them let anyone forge the report that suppresses a subscriber.
    Without ``secret``, plain SHA-256 (tests of the shape).
    """
    key = "\n".join([address_key(email), *sorted(paper_ids), salt]).encode("utf-8")
    if secret:
        digest = hmac.new(secret.encode("utf-8"), b"message-id:" + key, hashlib.sha256).hexdigest()
    else:
        digest = hashlib.sha256(key).hexdigest()
    return f"<{digest[:40]}@{domain}>"


def _qp(text: str) -> str:
    """The reference encoder (binascii), used for built :class:`EmailMessage` objects."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")


class MessageFactory:
    """Builds messages for one sender; run-wide header objects are made once."""

    def __init__(self, *, sender: Mailbox, list_id: str, reply_to: Mailbox | None = None, memo: bool = False) -> None:
        """``memo``: the bodies' quoted-printable lines are kept for the factory's life
        (:mod:`newsletter.render.qpmemo`); the same bytes either way."""
        factory = POLICY.header_factory
        self._from = _address_header("From", sender)
        self._reply_to = _address_header("Reply-To", reply_to) if reply_to is not None else None
        self._mime_version = factory("MIME-Version", "1.0")
        self._list_id = factory("List-Id", list_id)
        self._one_click = factory("List-Unsubscribe-Post", ONE_CLICK)
        self._parts = [
            (
                factory("Content-Type", f'text/{sub}; charset="utf-8"'),
                factory("Content-Transfer-Encoding", "quoted-printable"),
            )
            for sub in ("plain", "html")
        ]
        encode = QuotedPrintableMemo(b"\r\n").encode if memo else None
        self._writer = FastWriter(sender=sender, list_id=list_id, reply_to=reply_to, encode=encode)

    def build(self, parts: MessageParts) -> EmailMessage:
        """The complete message, built by the :mod:`email` package (the reference)."""
        msg = EmailMessage(policy=POLICY)
        msg["From"] = self._from
        msg["To"] = _address_header("To", parts.to)
        msg["Subject"] = _subject_header(parts.subject)
        msg["Date"] = parts.date
        msg["Message-ID"] = parts.message_id
        if self._reply_to is not None:
            msg["Reply-To"] = self._reply_to
        msg["MIME-Version"] = self._mime_version
        msg["List-Id"] = self._list_id
        if parts.unsubscribe:
            if parts.unsubscribe_header is not None:
                msg["List-Unsubscribe"] = parts.unsubscribe_header
            else:
                msg["List-Unsubscribe"] = ", ".join(f"<{uri}>" for uri in parts.unsubscribe)
            if parts.one_click:
                msg["List-Unsubscribe-Post"] = self._one_click
        msg["Content-Type"] = f'multipart/alternative; boundary="{boundary_for(parts.message_id)}"'
        for (ctype, cte), body in zip(self._parts, (parts.text, parts.html), strict=True):
            part = EmailMessage(policy=POLICY)
            part["Content-Type"] = ctype
            part["Content-Transfer-Encoding"] = cte
            part.set_payload(_qp(body))
            msg.attach(part)
        return msg

    def message_bytes(self, parts: MessageParts) -> tuple[bytes, str]:
        """``(message_bytes(self.build(parts)), str(message["Message-ID"]))``, written
        directly by :class:`~newsletter.render.fastmime.FastWriter`."""
        return self._writer.write(parts)

    def message_bytes_sized(self, parts: MessageParts) -> tuple[bytes, str, int]:
        """:meth:`message_bytes` and the length of the quoted-printable HTML part (an
        upper bound of its UTF-8 bytes: :meth:`FastWriter.write_sized`)."""
        return self._writer.write_sized(parts)


class _Folded:
    """A header object of the email package (``addresses``, ``str()``, ...) that folds
    into the bytes given (what :class:`~newsletter.render.fastmime.FastWriter` writes), so that the
    built message and the direct writer agree byte for byte."""

    _classes: ClassVar[dict[str, type[BaseHeader]]] = {}

    @classmethod
    def header(cls, name: str, value: Any, folded: bytes) -> BaseHeader:
        kind = cls._classes.get(name.lower())
        if kind is None:
            base = REGISTRY[name]

            def fold(self: Any, *, policy: Any) -> str:
                return str(self._folded).replace("\r\n", policy.linesep)

            kind = cls._classes[name.lower()] = type(f"Folded{base.__name__}", (base,), {"fold": fold})
        header = kind(name, value)
        header._folded = folded.decode("ascii")  # type: ignore[attr-defined]
        return header


def _subject_header(subject: str) -> BaseHeader:
    folded = fold_subject(subject)
    # what the email package parses is the folded text itself: its str() is then the
    # literal subject (given the raw value, it would decode a look-alike "=?...?=")
    value = " ".join(line.strip() for line in folded.decode("ascii").removeprefix("Subject:").split("\r\n"))
    return _Folded.header("Subject", value.strip() if "=?" in folded.decode("ascii") else subject, folded)


def _address_header(name: str, mailbox: Mailbox) -> BaseHeader:
    return _Folded.header(name, address(mailbox), fold_address(name, mailbox))


def message_bytes(msg: EmailMessage) -> bytes:
    """The message as bytes for SMTP (CRLF line endings), by the standard generator."""
    return msg.as_bytes(policy=POLICY)
