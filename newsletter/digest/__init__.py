"""Digest files -> :class:`Paper` records.

One module per format (``hftext``, ``jsonfmt``, ``htmlfmt``, ``arxivfmt``) behind
one entry point, :func:`parse_digest` (files are read by :mod:`newsletter.digest.scan`). The
format is detected from the content unless forced.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import time
from datetime import date

from newsletter.base.clock import latest_date
from newsletter.base.errors import DigestParseError
from newsletter.digest.gcpause import collector_paused
from newsletter.digest.guard import contained, one_line
from newsletter.digest.model import (
    Digest,
    Paper,
    arxiv_id,
    clean_papers,
    clean_text,
    extract_links,
    merge,
    paper_id,
    revision_label,
    unique_papers,
)

FORMATS = ("auto", "hf-text", "json", "hf-html", "arxiv", "biorxiv", "feed", "openreview")

__all__ = [
    "FORMATS",
    "Digest",
    "Paper",
    "arxiv_id",
    "clean_papers",
    "clean_text",
    "detect_format",
    "extract_links",
    "merge",
    "missing_list",
    "not_read",
    "paper_id",
    "parse_digest",
    "partial_line",
    "revision_label",
    "unique_papers",
]


def detect_format(text: str) -> str:
    """The format of a digest's text, from its content.

    ``json`` when it starts like a JSON document, ``arxiv`` for XML (whether it is
    a feed we read is the parser's to say), ``hf-html`` for HTML, else ``hf-text``.
    Markdown that starts with a link (``[![logo](...)](...)``) is text."""
    from newsletter.digest import arxivfmt

    stripped = text.lstrip("\ufeff \t\r\n")
    kind = _api_answer(stripped)
    if kind:
        return kind
    first = stripped[:1]
    if first == "[" and _MARKDOWN_LINK.match(stripped, 0, _LINK_SPAN):
        return "hf-text"  # [[Image: no alt]](url), [![logo](a.png)](url): a Markdown link
    if first == "{" or ((first == "[" and stripped[1:].lstrip()[:1] in ("{", "]", '"', "[")) or stripped == "["):
        return "json"
    if first == "[" and stripped[1:].lstrip()[:1].isdigit() and "](" not in stripped[:200]:
        return "hf-text" if _NUMBERED_LINK.match(stripped) else "json"  # "[1]Hugging Face": lynx -dump
    if first == "<":
        if arxivfmt.looks_like_feed(stripped):  # RSS, Atom or some other XML: the feed parser says
            return "arxiv"
        return "hf-text" if is_anchored_text(stripped) else "hf-html"  # any other markup is HTML
    return "hf-text"


def _api_answer(text: str) -> str | None:
    """``biorxiv`` or ``openreview`` for the API answers of SPEC 2.5's sources (JSON whose
    first objects carry their keys), else None."""
    from newsletter.digest import biorxivfmt, openreviewfmt

    if not (text[:1] == "{" or (text[:1] == "[" and text[1:].lstrip()[:1] == "{")):
        return None
    if biorxivfmt.looks_like(text):
        return "biorxiv"
    return "openreview" if openreviewfmt.looks_like(text) else None


_NUMBERED_LINK = re.compile(r"\[\d+\][^\s,\]]")  # a text browser's link number before its text
_MARKDOWN_LINK = re.compile(r"\[(?:[^\[\]\n]|\[[^\[\]\n]*\])*\]\(")
# How far a Markdown link opening a text may reach: an image link or a card's thumbnail
# link is one short line. Unbounded, the pattern ran over the whole of a minified JSON
# array (one line, brackets nested two deep): half the time of reading a 2 MB API answer.
_LINK_SPAN = 4096
_LEADING_ANCHOR = re.compile(r"(?:<a\b[^<>\n]*>\s*</a>\s*)+", re.IGNORECASE)
_HTML_TAG = re.compile(r"<(?:!doctype|html|head|body|div|p|span|table|script|meta|article|section)\b", re.I)


def is_anchored_text(text: str) -> bool:
    """A text dump that starts with empty HTML anchors (``<a id="source-section-1"></a>``,
    as some capture tools write them) and holds no page markup: text, not HTML."""
    m = _LEADING_ANCHOR.match(text)
    return m is not None and _HTML_TAG.search(text, 0, 8192) is None


def not_read(missing: tuple[str, ...] | list[str], *, short: bool = False) -> str:
    """How many of a partial digest's papers were not read: ids it links to (text dumps,
    saved pages) and entries that could not be read (JSON: ``entry 3 (line 12): ...``).
    ``short``: the form of ``parse``'s summary and ``status`` (``1 linked not read``)."""
    entries = sum(1 for m in missing if m.startswith("entry "))
    ids = len(missing) - entries
    parts = []
    if ids or not entries:
        parts.append(f"{ids} linked" if short else f"{ids} linked paper{'s' if ids != 1 else ''}")
    if entries:
        parts.append(f"{entries} entr{'ies' if entries != 1 else 'y'}")
    return " and ".join(parts) + " not read"


def missing_list(missing: tuple[str, ...] | list[str]) -> str:
    """The ids and entries not read, on one line (entries, which hold commas, split by ``;``)."""
    sep = "; " if any(m.startswith("entry ") for m in missing) else ", "
    return one_line(sep.join(missing), 2000)


def partial_line(path: str, missing: tuple[str, ...] | list[str]) -> str:
    """The one line a partial digest is shown with (SPEC 2.1, 6c): the ids it links to
    that were not read, the entries that could not be (``parse``, ``send``, the daemon's log)."""
    return f"{one_line(path)}: partial: {not_read(missing)} ({missing_list(missing)})"


_XML_ENCODING = re.compile(rb"""\A(?:\xef\xbb\xbf)?\s*<\?xml\b[^>]*?\bencoding\s*=\s*["']([A-Za-z][\w.:-]*)["']""")


def decode(data: bytes, *, source: str) -> str:
    """Bytes -> text: UTF-8 (BOM removed), refusing binary data with the line it starts on.
    An XML file that declares another encoding (``<?xml ... encoding="ISO-8859-1"?>``: a
    journal's feed) and is not UTF-8 is read in that one (Python's codecs); a file that
    starts with a UTF-16 BOM is UTF-16."""
    utf16 = data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) and not data.startswith(codecs.BOM_UTF32_LE)
    if utf16 and (text := _utf16(data)) is not None:  # Windows PowerShell's ">", Notepad's "Unicode"
        return text
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise DigestParseError("binary data (NUL byte), not a digest", path=source, line=line)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = _declared(data, source=source, exc=exc)
    return text.removeprefix("\ufeff")


def _utf16(data: bytes) -> str | None:
    """The text of a UTF-16 file with its BOM, else None (bytes that only start like one):
    a digest's text is mostly ASCII, and holds no control character but line ends."""
    try:
        text = data.decode("utf-16").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return None
    ascii_chars = sum(1 for c in text if c < "\x80")
    if ascii_chars * 2 < len(text) or any(c < " " and c not in "\t\r\n" for c in text):
        return None
    return text


def _declared(data: bytes, *, source: str, exc: UnicodeDecodeError) -> str:
    """The text of an XML file that is not UTF-8, in the encoding it declares; else the
    error naming the line of the first byte that is not UTF-8."""
    m = _XML_ENCODING.match(data[:1024])
    try:
        encoding = codecs.lookup(m.group(1).decode("ascii")).name if m else "utf-8"
    except LookupError:
        encoding = "utf-8"
    if encoding not in ("utf-8", "utf-16", "utf-32"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as wrong:
            exc = wrong
    line = data[: exc.start].count(b"\n") + 1
    raise DigestParseError("not UTF-8 text, not a digest", path=source, line=line) from None


@contained  # any exception of any parser becomes a DigestParseError naming the file
def parse_digest(
    data: bytes,
    *,
    source: str,
    fmt: str = "auto",
    reference: date | None = None,
) -> Digest:
    """Parse the bytes of a digest. Pure: ``reference`` stands for the file's mtime date.

    ``reference`` anchors yearless dates (SPEC 2.1); without it, today (the latest date on earth now).
    The cyclic garbage collector is paused meanwhile (:mod:`~newsletter.digest.gcpause`).
    """
    with collector_paused():
        return parse_digest_plain(data, source=source, fmt=fmt, reference=reference)


def parse_digest_plain(data: bytes, *, source: str, fmt: str = "auto", reference: date | None = None) -> Digest:
    """:func:`parse_digest` with the garbage collector left as it is, and exceptions as
    they are (the reference the collector's pause is tested against)."""
    if fmt not in FORMATS:
        raise DigestParseError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})", path=source)
    text = decode(data, source=source)
    if not text.strip():
        raise DigestParseError("empty file, not a digest", path=source, line=1)
    forced = fmt != "auto"
    if fmt == "auto":
        fmt = detect_format(text)
        if fmt == "arxiv":  # an RSS or Atom feed: arXiv's listing, or any other (SPEC 2.5)
            from newsletter.digest import feedfmt

            fmt = feedfmt.classify(text, source=source)
    sha = hashlib.sha256(data).hexdigest()
    when, papers, missing = _papers_of(text, fmt, source=source, reference=reference, forced=forced)
    # the one text-cleaning step of every format: no control character reaches the email,
    # the archive or the feed (SPEC 6c)
    return Digest(path=source, format=fmt, sha256=sha, papers=clean_papers(papers), date=when, missing=missing)


Found = tuple[date | None, tuple[Paper, ...], tuple[str, ...]]  # the digest's date, its papers, ids linked not read


def _more_sources(text: str, fmt: str, *, source: str, forced: bool) -> tuple[tuple[Paper, ...], tuple[str, ...]]:
    """The readers of the sources of SPEC 2.5's "More sources": (papers, what was lost)."""
    from newsletter.digest import biorxivfmt, feedfmt, openreviewfmt

    if fmt == "biorxiv":
        return biorxivfmt.parse(text, source=source), ()
    if fmt == "openreview":
        return openreviewfmt.parse(text, source=source), ()
    return feedfmt.parse(text, source=source, forced=forced)


def _papers_of(text: str, fmt: str, *, source: str, reference: date | None, forced: bool = False) -> Found:
    """The papers of ``text`` in the (detected) format ``fmt``, each once, the digest's
    date where the format gives one, and the paper ids a text dump links to but that
    could not be read (SPEC 2.1: the digest is then ``partial``)."""
    if fmt == "json":
        from newsletter.digest import jsonfmt

        read = jsonfmt.parse(text, source=source)
        return None, unique_papers(read.papers), read.bad
    if fmt == "hf-html":
        from newsletter.digest import htmlfmt

        when, papers, lost = htmlfmt.parse(text, source=source)
        return when, unique_papers(papers), lost
    if fmt == "arxiv":
        from newsletter.digest import arxivfmt

        papers, lost = arxivfmt.parse(text, source=source)
        return None, unique_papers(papers), lost
    if fmt in ("biorxiv", "feed", "openreview"):
        papers, lost = _more_sources(text, fmt, source=source, forced=forced)
        return None, unique_papers(papers), lost
    from newsletter.digest import hftext

    if text.lstrip()[:1] == "<" and fmt == "hf-text" and not is_anchored_text(text.lstrip()):
        raise DigestParseError("looks like HTML or XML, not a text dump (try --format hf-html or arxiv)", path=source)
    reading = hftext.parse(text, source=source, reference=reference or latest_date(time.time()))
    return reading.date, reading.papers, reading.missing
