"""The ``json`` format (SPEC 2.2): a plain array of paper objects, or the Hugging
Face daily-papers API shape (``[{"paper": {...}}, ...]``)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from newsletter.digest.model import Paper, extract_links, paper_id
from newsletter.errors import DigestParseError

HF_PAPER_URL = "https://huggingface.co/papers/{id}"


def _date(value: Any, *, source: str, where: str) -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise DigestParseError(f"{where}: 'published' must be a date string", path=source)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        raise DigestParseError(f"{where}: 'published' is not an ISO date: {value!r}", path=source) from None


def _int(value: Any, *, source: str, where: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise DigestParseError(f"{where}: {key!r} must be a whole number", path=source)
    return value


def _str(value: Any, *, source: str, where: str, key: str, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise DigestParseError(f"{where}: {key!r} must be a non-empty string", path=source)
    return value


def _paper(obj: Any, *, source: str, index: int) -> Paper:
    where = f"entry {index}"
    if not isinstance(obj, dict):
        raise DigestParseError(f"{where}: expected an object", path=source)
    api = isinstance(obj.get("paper"), dict)
    rec: dict[str, Any] = obj["paper"] if api else obj
    title = _str(rec.get("title"), source=source, where=where, key="title", required=True)
    assert title is not None
    title = " ".join(title.split())
    abstract = (
        _str(rec.get("summary" if api else "abstract", rec.get("abstract")), source=source, where=where, key="abstract")
        or ""
    )
    authors_raw = rec.get("authors")
    authors = (
        len(authors_raw)
        if isinstance(authors_raw, list)
        else _int(authors_raw, source=source, where=where, key="authors")
    )
    given_id = rec.get("id")
    if given_id is not None and not isinstance(given_id, (str, int)):
        raise DigestParseError(f"{where}: 'id' must be a string", path=source)
    pid = str(given_id) if given_id not in (None, "") else paper_id(title)
    url = _str(rec.get("url"), source=source, where=where, key="url")
    if url is None and api and given_id:
        url = HF_PAPER_URL.format(id=given_id)
    upvotes = rec.get("upvotes", obj.get("upvotes") if api else None)
    return Paper(
        title=title,
        abstract=abstract.strip(),
        id=pid,
        source=source,
        authors=authors,
        organization=_str(rec.get("organization"), source=source, where=where, key="organization"),
        published=_date(
            rec.get("publishedAt" if api else "published", rec.get("published")), source=source, where=where
        ),
        upvotes=_int(upvotes, source=source, where=where, key="upvotes"),
        url=url,
        links=extract_links(abstract),
    )


def parse(text: str, *, source: str) -> tuple[Paper, ...]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DigestParseError(f"invalid JSON: {exc.msg}", path=source, line=exc.lineno) from None
    if isinstance(data, dict) and isinstance(data.get("papers"), list):
        data = data["papers"]
    if not isinstance(data, list):
        raise DigestParseError("expected a JSON array of papers", path=source, line=1)
    if not data:
        raise DigestParseError("the JSON array holds no papers; not a digest", path=source, line=1)
    return tuple(_paper(obj, source=source, index=i) for i, obj in enumerate(data))
