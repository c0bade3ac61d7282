"""The direct MIME writer: the bytes of a message without building it (the speed fence).

A thousand messages a second leaves about a millisecond per email for everything,
and the :mod:`email` package spends most of it creating header objects, folding
them and writing bodies line by line (1.6 ms a message against 0.6 ms here). So
:class:`FastWriter` writes the bytes of a :class:`MessageParts` directly, and
:meth:`newsletter.render.message.MessageFactory.build` (the standard library's
:class:`~email.message.EmailMessage`) is the reference it must equal byte for byte
(property tests in ``tests/test_render_fastmime.py``):

* headers that are the same for every message of a run (From, Reply-To,
  MIME-Version, List-Id, the part headers) are folded by the :mod:`email`
  package once;
* To, Subject, Message-ID and List-Unsubscribe are written directly only in the
  plain cases whose stdlib folding is exactly known (ASCII atoms separated by
  single spaces, nothing that could read as an encoded word or need quoting, no
  line break); a display name with a comma or an accent, say, is one RFC 2047
  word (:func:`fold_address`), a subject is folded by :func:`fold_subject` (never
  right after the colon), and the reference message carries these same folded
  bytes (``message._Folded``);
* quoted-printable bodies come from :func:`quoted_printable`, which gives the
  bytes of ``binascii.b2a_qp(..., istext=True)`` with C-level string methods
  and two regular expressions (0.09 ms against 0.15 ms for a 27 KB HTML part).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from email import utils as email_utils
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from typing import Any

from newsletter.config import Mailbox


class _CachedRegistry(HeaderRegistry):
    """A header registry that builds each header class once, not on every lookup."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls


#: The policy of every message: SMTP line endings, folded at 78, RFC 2047 headers.
REGISTRY = _CachedRegistry()
POLICY = email_policy.SMTP.clone(header_factory=REGISTRY)


@dataclass(frozen=True, slots=True)
class MessageParts:
    """Everything that differs between two messages of a run: the one input of both
    writers (:meth:`FastWriter.write` and ``MessageFactory.build``).

    ``unsubscribe`` holds the List-Unsubscribe URIs (``mailto:...``, ``https://...``);
    ``one_click`` adds List-Unsubscribe-Post; ``unsubscribe_header``, a header object
    (``name``, ``fold(policy=...)``), replaces the plain List-Unsubscribe value."""

    to: Mailbox
    subject: str
    date: datetime
    message_id: str
    unsubscribe: Sequence[str]
    one_click: bool
    text: str
    html: str
    unsubscribe_header: Any = None


def address(mailbox: Mailbox) -> Address:
    """A header :class:`Address` (the display name is encoded on output, never parsed)."""
    local, _, domain = mailbox.address.rpartition("@")
    return Address(display_name=mailbox.name, username=local, domain=domain)


def boundary_for(message_id: str) -> str:
    """A deterministic MIME boundary; ``=_`` never occurs in quoted-printable text."""
    return "=_digest_" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:24]


ONE_CLICK = "List-Unsubscribe=One-Click"

# ----------------------------------------------------------------- quoted-printable

# Bytes that binascii leaves alone or escapes as a plain byte: printable ASCII but
# "=", tab, line feed, and UTF-8 bytes. Anything else (control characters, DEL) is
# rare: binascii does those messages.
_QP_PLAIN = bytes(range(0x20, 0x7F)) + b"\t\n" + bytes(range(0x80, 0x100))
# The pieces of one long encoded line: chunks of 75 characters, or 74/73 so as not to
# split an "=XX" escape, cut only where binascii cuts (a line may end in a 76th
# character when that is a literal one); then the rest.
_QP_CHUNKS = re.compile(rb".{73}(?:[^=]{2}(?=..)|[^=](?==)|(?==))|.+", re.DOTALL)
_QP_ERRORS = "newsletter-quoted-printable"


def _escape_bytes(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: characters U+0080-U+00FF (bytes decoded as Latin-1) as
    ``=XX`` escapes; the ASCII around them is encoded at C speed."""
    assert isinstance(exc, UnicodeEncodeError)
    run = exc.object[exc.start : exc.end]
    return "=" + run.encode("latin-1").hex("=").upper(), exc.end


codecs.register_error(_QP_ERRORS, _escape_bytes)


def quoted_printable(text: str, linesep: bytes = b"\n") -> bytes:
    """``text`` as UTF-8, quoted-printable, with ``linesep`` line breaks: exactly
    ``binascii.b2a_qp(text.encode(), istext=True)`` (line breaks normalised to
    ``\\n`` first), with ``\\n`` replaced by ``linesep``.

    b2a_qp works byte by byte (about 6 ns a byte, a quarter of a millisecond per
    email). An email is mostly ASCII in long HTML lines, which string methods
    handle in bulk: "=" becomes "=3D"; runs of other bytes their escapes (in a
    codec error handler); lines longer than 76 characters are cut by one regular
    expression; whitespace ending a line is escaped.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    data = text.encode("utf-8")
    if data.translate(None, _QP_PLAIN):
        return binascii.b2a_qp(data, istext=True).replace(b"\n", linesep)
    data = data.replace(b"=", b"=3D")
    if not data.isascii():
        data = data.decode("latin-1").encode("ascii", _QP_ERRORS)
    lines = data.split(b"\n")
    if b"." in lines:  # "." alone on a line is escaped: binascii knows how
        return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", linesep)
    last = lines[-1]
    if last[-1:] == b" ":  # whitespace ending the data is escaped (before cutting)
        lines[-1] = last[:-1] + b"=20"
    elif last[-1:] == b"\t":
        lines[-1] = last[:-1] + b"=09"
    soft = b"=" + linesep
    lines = [soft.join(_QP_CHUNKS.findall(line)) if len(line) > 75 else line for line in lines]
    if [line for line in lines if line[-1:] in (b" ", b"\t")]:  # whitespace before a line break
        for i in range(len(lines) - 1):
            line = lines[i]
            if line[-1:] == b" ":
                lines[i] = line[:-1] + b"=20"
            elif line[-1:] == b"\t":
                lines[i] = line[:-1] + b"=09"
    return linesep.join(lines)


def _crlf_quoted_printable(text: str) -> bytes:
    return quoted_printable(text, b"\r\n")


_BOUNDARY_MODEL = boundary_for("")  # every boundary has its form: "=_digest_" and 24 hex digits
_MESSAGE_ID = re.compile(r"<[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>")
# An address and a display name whose header is written as is ("Name <local@domain>"):
# atoms separated by single spaces; nothing to quote, nothing that reads as an encoded
# word ("=?"), no line break. Any other name is the email package's (RFC 2047, quoting).
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/^_`{|}~-]+)*")
# Unstructured text written as is (folded at spaces): printable ASCII words separated
# by single spaces, none longer than 76 characters, no "=?".
_PLAIN_TEXT = re.compile(r"[!-~]{1,76}(?: [!-~]{1,76})*")
_PRINTABLE = re.compile(r"[ -~]+")
_MAX_LINE = 78
_MAX_EW = 75  # RFC 2047: an encoded word is at most 75 characters
_Q_TEXT_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/")
_Q_PHRASE_SAFE = _Q_TEXT_SAFE  # RFC 2047 5(3): in a phrase, letters, digits and !*+-/ only


def fold_address(name: str, mailbox: Mailbox) -> bytes:
    """The folded header ``name: mailbox``. A plain name and address (atoms, one line)
    are written as the email package would; any other display name is ours (see
    :func:`_phrase`): every line within 998 octets whatever the name, and text that
    looks like an encoded word shown literally by the reader's client."""
    display = mailbox.name
    if _PLAIN_ADDRESS.fullmatch(mailbox.address):
        line = None
        if display == "":
            line = f"{name}: {mailbox.address}"
        elif _PLAIN_NAME.fullmatch(display):
            line = f"{name}: {display} <{mailbox.address}>"
        if line is not None and len(line) <= _MAX_LINE:
            return line.encode("ascii") + b"\r\n"
        return _fold_pieces(name, [*_phrase(display), f"<{mailbox.address}>"] if display else [mailbox.address])
    # an internationalised address (SMTPUTF8): the email package, as before
    key, header = POLICY.header_store_parse(name, address(mailbox))
    return POLICY.fold_binary(key, header)


def _phrase(display: str) -> list[str]:
    """A display name as the pieces of an RFC 5322 phrase, to be joined by single
    spaces (or folds). Printable ASCII with no ``=?``: atoms, or one quoted-string
    folded only at its own spaces (unfolding gives the spaces back). Anything else
    (non-ASCII, control characters, an encoded-word look-alike such as
    ``=?utf-8?b?SGk=?= Bob``): ONE RFC 2047 encoded word of the whole name, so that
    every decoder shows exactly the configured text. One word, not several: decoders
    disagree on the space between two encoded words of a phrase (RFC 2047 drops it,
    Python's parser keeps it), so a name is never split; ``check`` refuses names over
    :data:`~newsletter.config.MAX_NAME` characters, which keeps that word within a line.
    """
    if _PRINTABLE.fullmatch(display) and "=?" not in display:
        if _PLAIN_NAME.fullmatch(display):
            return display.split(" ")
        quoted = '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return quoted.split(" ")
    return [encoded_word(display, phrase=True)]


def encoded_word(text: str, *, phrase: bool = False) -> str:
    """``text`` as one RFC 2047 encoded word in UTF-8: Q or B, whichever is shorter."""
    data = text.encode("utf-8")
    safe = _Q_PHRASE_SAFE if phrase else _Q_TEXT_SAFE
    q = "".join(chr(b) if b in safe else "_" if b == 0x20 else f"={b:02X}" for b in data)
    b = base64.b64encode(data).decode("ascii")
    return f"=?utf-8?q?{q}?=" if len(q) <= len(b) else f"=?utf-8?b?{b}?="


def _fold_pieces(name: str, pieces: Sequence[str]) -> bytes:
    """``name: piece piece ...`` folded at the spaces between pieces so that lines stay
    within 78 characters where the pieces allow (a longer piece gets a line of its own,
    never more than 998 octets: the pieces are bounded)."""
    lines = [f"{name}:"]
    for piece in pieces:
        if len(lines[-1]) + 1 + len(piece) > _MAX_LINE and lines[-1].strip() and piece:
            lines.append("")
        lines[-1] += " " + piece
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def fold_unstructured(name: str, value: str) -> bytes:
    """The folded unstructured header ``name: value`` (the same bytes as the email
    package's: it breaks before the whole value if that then fits on one line, else
    at the spaces that keep each line within 78 characters)."""
    if "=?" in value or not _PLAIN_TEXT.fullmatch(value):
        return _encoded_text(name, value)
    label = name + ":"
    if len(label) + 1 + len(value) <= _MAX_LINE:
        return f"{label} {value}\r\n".encode("ascii")
    if len(value) + 1 <= _MAX_LINE:
        return f"{label}\r\n {value}\r\n".encode("ascii")
    lines = [label + " "]
    for i, word in enumerate(value.split(" ")):
        if i:
            if len(lines[-1]) < _MAX_LINE:
                lines[-1] += " "
            else:
                lines.append(" ")
        if len(lines[-1]) + len(word) <= _MAX_LINE:
            lines[-1] += word
        else:  # the space before the word starts the next line
            lines[-1] = lines[-1][:-1]
            lines.append(" " + word)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def fold_subject(value: str) -> bytes:
    """The folded ``Subject:`` header. Plain ASCII words are folded at their spaces with
    the first word always beside ``Subject:``: a fold right after the colon (what the
    email package does for a subject that fits the next line) is read back with a
    leading space (Python's parser keeps it). A first word too long for that line, and
    any other text, is written as encoded words (:func:`_encoded_text`)."""
    first = value.partition(" ")[0]
    if "=?" in value or not _PLAIN_TEXT.fullmatch(value) or len("Subject: ") + len(first) > _MAX_LINE:
        return _encoded_text("Subject", value)
    lines = [f"Subject: {first}"]
    for word in value.split(" ")[1:]:
        if len(lines[-1]) + 1 + len(word) > _MAX_LINE:
            lines.append("")
        lines[-1] += " " + word
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _encoded_text(name: str, value: str) -> bytes:
    """An unstructured header (Subject) that is not plain ASCII words: all of it as RFC
    2047 encoded words of at most 75 characters, one per line, split between
    characters. Between encoded words every decoder drops the folding whitespace, so
    the reader sees exactly ``value``, an encoded-word look-alike included."""
    if not value:
        return f"{name}:\r\n".encode("ascii")
    lines = [f"{name}:"]
    chunk = ""
    for ch in value:
        room = _MAX_LINE - len(lines[-1]) - 1 if len(lines) == 1 else _MAX_EW
        if chunk and len(encoded_word(chunk + ch)) > min(room, _MAX_EW):
            lines[-1] += " " + encoded_word(chunk)
            lines.append("")
            chunk = ""
        chunk += ch
    lines[-1] += " " + encoded_word(chunk)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


class FastWriter:
    """The bytes of a message, written directly; one per sender and list (the run-wide
    headers are folded once, here)."""

    def __init__(
        self,
        *,
        sender: Mailbox,
        list_id: str,
        reply_to: Mailbox | None = None,
        encode: Callable[[str], bytes] | None = None,
    ) -> None:
        """``encode``: a body as quoted-printable with CRLF line breaks (by default
        :func:`quoted_printable`; a run's memo: :mod:`newsletter.render.qpmemo`)."""
        self._encode = encode or _crlf_quoted_printable
        factory = POLICY.header_factory
        fold = POLICY.fold_binary
        self._head_from = fold_address("From", sender)
        self._head_reply_to = fold_address("Reply-To", reply_to) if reply_to is not None else b""
        self._head_list = fold("MIME-Version", factory("MIME-Version", "1.0")) + fold(
            "List-Id", factory("List-Id", list_id)
        )
        self._head_one_click = fold("List-Unsubscribe-Post", factory("List-Unsubscribe-Post", ONE_CLICK))
        self._head_parts = [
            fold("Content-Type", factory("Content-Type", f'text/{sub}; charset="utf-8"'))
            + fold("Content-Transfer-Encoding", factory("Content-Transfer-Encoding", "quoted-printable"))
            + b"\r\n"
            for sub in ("plain", "html")
        ]
        self._head_multipart = fold(
            "Content-Type", factory("Content-Type", f'multipart/alternative; boundary="{_BOUNDARY_MODEL}"')
        )
        if self._head_multipart.count(_BOUNDARY_MODEL.encode("ascii")) != 1:  # pragma: no cover
            raise AssertionError("unexpected folding of Content-Type")

    def write(self, parts: MessageParts) -> tuple[bytes, str]:
        """``(bytes, Message-ID)``: the bytes of ``MessageFactory.build(parts)`` under
        :data:`POLICY`, and its Message-ID header as text."""
        data, message_id, _ = self.write_sized(parts)
        return data, message_id

    def write_sized(self, parts: MessageParts) -> tuple[bytes, str, int]:
        """:meth:`write`, and the length of the HTML part as quoted-printable: never less
        than its UTF-8 bytes (each byte is one character or three, line breaks CRLF), so
        an HTML part whose encoding fits Gmail's clip fits it (known without encoding the
        HTML again: :mod:`newsletter.render.fit`)."""
        message_id = parts.message_id
        boundary = boundary_for(message_id).encode("ascii")
        head = [
            self._head_from,
            fold_address("To", parts.to),
            fold_subject(parts.subject),
            b"Date: " + email_utils.format_datetime(parts.date).encode("ascii") + b"\r\n",
        ]
        if _MESSAGE_ID.fullmatch(message_id) and len(message_id) <= 64:
            head.append(b"Message-ID: " + message_id.encode("ascii") + b"\r\n")
        else:
            name, header = POLICY.header_store_parse("Message-ID", message_id)
            head.append(POLICY.fold_binary(name, header))
            message_id = str(header)
        head.append(self._head_reply_to)
        head.append(self._head_list)
        if parts.unsubscribe_header is not None:
            head.append(POLICY.fold_binary(parts.unsubscribe_header.name, parts.unsubscribe_header))
            if parts.one_click:
                head.append(self._head_one_click)
        elif parts.unsubscribe:
            uris = ", ".join(f"<{uri}>" for uri in parts.unsubscribe)
            if _PLAIN_TEXT.fullmatch(uris) and "=?" not in uris:
                head.append(fold_unstructured("List-Unsubscribe", uris))
            else:  # a URI longer than a line: the email package's folding (the renderer avoids it)
                head.append(POLICY.fold_binary(*POLICY.header_store_parse("List-Unsubscribe", uris)))
            if parts.one_click:
                head.append(self._head_one_click)
        head.append(self._head_multipart.replace(_BOUNDARY_MODEL.encode("ascii"), boundary))
        delimiter = b"\r\n--" + boundary
        head += (
            b"\r\n--",
            boundary,
            b"\r\n",
            self._head_parts[0],
            self._encode(parts.text),
            delimiter,
            b"\r\n",
            self._head_parts[1],
            html := self._encode(parts.html),
            delimiter,
            b"--\r\n",
        )
        return b"".join(head), message_id, len(html)
