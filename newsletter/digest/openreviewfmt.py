"""The ``openreview`` format (SPEC 2.5): what ``newsletter fetch`` writes for a ``type:
openreview`` source, a JSON array of OpenReview API v2 notes (the accepted papers of a
venue: ``content.venueid`` is the venue's id); a saved answer of the API itself
(``{"notes": [...], "count": N}``) reads the same.

API v2 wraps every content field as ``{"value": ...}``. Per note: ``content.title``,
``content.abstract``, ``content.authors`` (names), ``content.keywords`` (as categories),
``content.TLDR`` or ``content.TL;DR`` (the summary: ICLR's and ICML's/NeurIPS's names),
``content.venue`` (``ICLR 2026 Poster``: the journal), ``content.pdf`` (``/pdf/ID.pdf`` or
``/attachment?id=ID&name=pdf`` on openreview.net), ``pdate`` (the publication date, ms
since 1970; else ``cdate``); ``url`` is ``https://openreview.net/forum?id=FORUM``; the
paper's given id is ``openreview:ID``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from newsletter.base.errors import DigestParseError
from newsletter.digest.jsonfmt import load_json, unwrap_text
from newsletter.digest.model import Paper, extract_links, paper_id

SITE = "https://openreview.net"
_HEAD = re.compile(r'"venueid"\s*:\s*\{\s*"value"')
# the paper's PDF: "/pdf/<sha1>.pdf" (ICLR), "/attachment?id=ID&name=pdf" (ICML 2026)
_PDF = re.compile(r"/pdf/[\w-]+\.pdf|/pdf\?id=[\w-]+|/attachment\?id=[\w-]+&name=[\w-]+")


def looks_like(text: str) -> bool:
    """True for API v2 notes (a ``venueid`` wrapped as ``{"value": ...}`` near the top)."""
    return _HEAD.search(text[:16384]) is not None


def parse(text: str, *, source: str) -> tuple[Paper, ...]:
    data = load_json(text, source=source)
    if isinstance(data, dict) and isinstance(data.get("notes"), list):
        data = data["notes"]
    if not isinstance(data, list):
        raise DigestParseError("expected a JSON array of OpenReview notes", path=source, line=1)
    return tuple(paper_of(note, source=source, where=f"note {i}") for i, note in enumerate(data))


def _value(content: dict[str, Any], key: str) -> Any:
    field = content.get(key)
    return field.get("value") if isinstance(field, dict) else None


def _text(content: dict[str, Any], key: str) -> str | None:
    value = _value(content, key)
    return " ".join(value.split()) or None if isinstance(value, str) else None


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(" ".join(v.split()) for v in value if isinstance(v, str) and v.strip())


def _day(note: dict[str, Any]) -> date | None:
    for key in ("pdate", "odate", "cdate"):
        stamp = note.get(key)
        if isinstance(stamp, int) and not isinstance(stamp, bool) and 0 < stamp < 10**14:
            return datetime.fromtimestamp(stamp / 1000, UTC).date()
    return None


def _pdf(content: dict[str, Any]) -> str | None:
    pdf = _value(content, "pdf")
    return f"{SITE}{pdf}" if isinstance(pdf, str) and _PDF.fullmatch(pdf) else None


def paper_of(note: Any, *, source: str, where: str) -> Paper:
    if not isinstance(note, dict) or not isinstance(note.get("content"), dict):
        raise DigestParseError(f"{where}: expected a note with a 'content' object", path=source)
    content: dict[str, Any] = note["content"]
    title = _text(content, "title")
    if not title:
        raise DigestParseError(f"{where}: 'content.title.value' is missing", path=source)
    ident = note.get("id") if isinstance(note.get("id"), str) else None
    forum = note.get("forum") if isinstance(note.get("forum"), str) else ident
    abstract = unwrap_text(str(_value(content, "abstract") or "")).strip()
    names = _names(_value(content, "authors"))
    links = extract_links(abstract)
    return Paper(
        title=title,
        abstract=abstract,
        id=f"openreview:{ident}" if ident else paper_id(title),
        source=source,
        authors=len(names) or None,
        author_names=names,
        published=_day(note),
        url=f"{SITE}/forum?id={forum}" if forum and re.fullmatch(r"[\w-]+", forum) else None,
        pdf_url=_pdf(content),
        code_url=next((u for u in links if "github.com/" in u), None),
        summary=_text(content, "TLDR") or _text(content, "TL;DR"),
        categories=_names(_value(content, "keywords")),
        links=links,
        journal=_text(content, "venue"),
    )
