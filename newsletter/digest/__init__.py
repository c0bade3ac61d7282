"""Digest files -> :class:`Paper` records.

One module per format (``hftext``, ``jsonfmt``) behind one entry point,
:func:`read_digest`. The format is detected from the content unless forced.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date, datetime
from pathlib import Path

from newsletter.digest.guard import contained, read_limited
from newsletter.digest.model import Digest, Paper, extract_links, paper_id
from newsletter.errors import DigestParseError

FORMATS = ("auto", "hf-text", "json")

__all__ = [
    "FORMATS",
    "Digest",
    "Paper",
    "detect_format",
    "extract_links",
    "paper_id",
    "parse_digest",
    "read_digest",
]


def detect_format(text: str) -> str:
    """``json`` when the content starts with ``[`` or ``{``, else ``hf-text``."""
    stripped = text.lstrip("\ufeff \t\r\n")
    return "json" if stripped[:1] in ("[", "{") else "hf-text"


def decode(data: bytes, *, source: str) -> str:
    """Bytes -> text: UTF-8 (BOM removed), refusing binary data with the line it starts on."""
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise DigestParseError("binary data (NUL byte), not a digest", path=source, line=line)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DigestParseError("not UTF-8 text, not a digest", path=source, line=line) from None
    return text.removeprefix("\ufeff")


@contained  # any exception of any parser becomes a DigestParseError naming the file
def parse_digest(
    data: bytes,
    *,
    source: str,
    fmt: str = "auto",
    reference: date | None = None,
) -> Digest:
    """Parse the bytes of a digest. Pure: ``reference`` stands for the file's mtime date.

    ``reference`` anchors yearless dates (SPEC 2.1); without it, today is used.
    """
    if fmt not in FORMATS:
        raise DigestParseError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})", path=source)
    text = decode(data, source=source)
    if not text.strip():
        raise DigestParseError("empty file, not a digest", path=source, line=1)
    if fmt == "auto":
        fmt = detect_format(text)
    sha = hashlib.sha256(data).hexdigest()
    if fmt == "json":
        from newsletter.digest import jsonfmt

        papers = jsonfmt.parse(text, source=source)
        return Digest(path=source, format=fmt, sha256=sha, papers=papers)
    from newsletter.digest import hftext

    digest_date, papers = hftext.parse(text, source=source, reference=reference or date.today())
    return Digest(path=source, format=fmt, sha256=sha, papers=papers, date=digest_date)


def read_digest(path: str | os.PathLike[str], *, fmt: str = "auto") -> Digest:
    """Read and parse one digest file; the file's mtime anchors yearless dates."""
    p = Path(path)
    try:
        data = read_limited(p)
        mtime = datetime.fromtimestamp(p.stat().st_mtime).date()
    except OSError as exc:
        raise DigestParseError(exc.strerror or str(exc), path=str(path)) from None
    return parse_digest(data, source=str(path), fmt=fmt, reference=mtime)
