"""Records produced by the digest parsers (SPEC 2.4) and the one identity of a paper."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import date
from functools import lru_cache
from typing import Any

_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
# A URL ends at whitespace or at characters that never belong to one in prose.
_URL_BODY = re.compile(r"[^\s<>\"'{}|\\^`\[\]]+")
_TRAILING = ".,;:!?*"
# New-style arXiv ids (2007+), optionally versioned; old-style ids (hep-th/9901001).
_ARXIV_ID = re.compile(r"^(?:(\d{4}\.\d{4,5})|([a-z-]+(?:\.[A-Z]{2})?/\d{7}))(?:v\d+)?$")

HF_PAPER_URL = "https://huggingface.co/papers/{id}"
ARXIV_ABS_URL = "https://arxiv.org/abs/{id}"
ARXIV_PDF_URL = "https://arxiv.org/pdf/{id}"


# ASCII fast path of paper_id: every ASCII character that is not a letter or digit -> space
_ASCII_SEP = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})


@lru_cache(maxsize=1 << 16)
def paper_id(title: str) -> str:
    """The stable id derived from a title: NFKC, casefold, non-alphanumerics collapsed to '-'."""
    if title.isascii():
        return "-".join(title.lower().translate(_ASCII_SEP).split())
    norm = unicodedata.normalize("NFKC", title).casefold()
    return _NON_ALNUM.sub("-", norm).strip("-")


def arxiv_id(value: str | None) -> str | None:
    """``2611.14302v2`` -> ``2611.14302``; None for anything that is not an arXiv id."""
    if not value:
        return None
    m = _ARXIV_ID.match(value.strip())
    if not m:
        return None
    return m.group(1) or m.group(2)


def extract_links(text: str) -> tuple[str, ...]:
    """URLs found in ``text``, in order of appearance, without duplicates.

    Trailing sentence punctuation and an unbalanced closing parenthesis are not
    part of the URL (``see https://x.org/a).`` gives ``https://x.org/a``).
    """
    found: list[str] = []
    pos = text.find("://")
    while pos >= 0:  # scheme before each "://" (case-insensitive), the URL's body after it
        if text[pos - 5 : pos].lower() == "https":
            start = pos - 5
        elif text[pos - 4 : pos].lower() == "http":
            start = pos - 4
        else:
            pos = text.find("://", pos + 3)
            continue
        body = _URL_BODY.match(text, pos + 3)
        if body is None:
            pos = text.find("://", pos + 3)
            continue
        url = text[start : body.end()]
        pos = text.find("://", body.end())
        while url:
            if url[-1] in _TRAILING or (url[-1] == ")" and url.count("(") < url.count(")")):
                url = url[:-1]
            else:
                break
        if len(url) > len("https://") and url not in found:
            found.append(url)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper of a digest (SPEC 2.4). ``id`` is stable across digests and formats."""

    title: str
    abstract: str
    id: str
    source: str
    authors: int | None = None
    organization: str | None = None
    published: date | None = None
    upvotes: int | None = None
    url: str | None = None
    links: tuple[str, ...] = ()
    author_names: tuple[str, ...] = ()
    comments: int | None = None
    pdf_url: str | None = None
    code_url: str | None = None
    code_stars: int | None = None
    project_url: str | None = None
    summary: str | None = None
    thumbnail: str | None = None
    categories: tuple[str, ...] = ()
    arxiv_id: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """Every identity of the paper: its id, its arXiv id, its normalised title.

        Two records that share one key are the same paper (SPEC 2.4)."""
        title_key = paper_id(self.title)
        out = [self.id]
        if self.arxiv_id and self.arxiv_id not in out:
            out.append(self.arxiv_id)
        if title_key and title_key not in out:
            out.append(title_key)
        return tuple(out)

    @property
    def page_url(self) -> str | None:
        """The paper's own page (SPEC 5): its Hugging Face page when the digest gave it,
        else its arXiv abs page, else the digest's url (None: the caller's fallback)."""
        if self.url and "huggingface.co/papers/" in self.url:
            return self.url
        if self.arxiv_id:
            return ARXIV_ABS_URL.format(id=self.arxiv_id)
        return self.url

    @property
    def arxiv_url(self) -> str | None:
        return ARXIV_ABS_URL.format(id=self.arxiv_id) if self.arxiv_id else None

    def to_json(self) -> dict[str, Any]:
        """The JSON record of SPEC 2.4 (``parse --json``, the ledger)."""
        return {
            "id": self.id,
            "arxiv_id": self.arxiv_id,
            "title": self.title,
            "abstract": self.abstract,
            "summary": self.summary,
            "authors": self.authors,
            "author_names": list(self.author_names),
            "organization": self.organization,
            "published": self.published.isoformat() if self.published else None,
            "upvotes": self.upvotes,
            "comments": self.comments,
            "url": self.url,
            "pdf_url": self.pdf_url,
            "code_url": self.code_url,
            "code_stars": self.code_stars,
            "project_url": self.project_url,
            "thumbnail": self.thumbnail,
            "categories": list(self.categories),
            "links": list(self.links),
            "source": self.source,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Paper:
        """The inverse of :meth:`to_json` (records of older versions too)."""
        published = record.get("published")
        return cls(
            title=record["title"],
            abstract=record["abstract"],
            id=record["id"],
            source=record["source"],
            authors=record.get("authors"),
            organization=record.get("organization"),
            published=date.fromisoformat(published) if published else None,
            upvotes=record.get("upvotes"),
            url=record.get("url"),
            links=tuple(record.get("links") or ()),
            author_names=tuple(record.get("author_names") or ()),
            comments=record.get("comments"),
            pdf_url=record.get("pdf_url"),
            code_url=record.get("code_url"),
            code_stars=record.get("code_stars"),
            project_url=record.get("project_url"),
            summary=record.get("summary"),
            thumbnail=record.get("thumbnail"),
            categories=tuple(record.get("categories") or ()),
            arxiv_id=record.get("arxiv_id"),
        )


_RICHNESS_SKIP = frozenset({"id", "source", "arxiv_id"})


def _richer(a: Any, b: Any) -> Any:
    """The richer of two values of one field: a value over none, the longer text or
    list, the larger count (counts only grow)."""
    if b is None or b == "" or b == ():
        return a
    if a is None or a == "" or a == ():
        return b
    if isinstance(a, bool) or isinstance(b, bool):
        return a
    if isinstance(a, int) and isinstance(b, int):
        return max(a, b)
    if isinstance(a, (str, tuple)) and isinstance(b, (str, tuple)):
        return b if len(b) > len(a) else a
    return a


def merge(a: Paper, b: Paper) -> Paper:
    """One record of two records of the same paper, keeping the richest value of each
    field. The id is the arXiv id when either knows it; ``source`` stays ``a``'s."""
    if a == b:  # the same record twice (a card a trending page shows twice)
        return a
    changes: dict[str, Any] = {}
    for f in fields(Paper):
        if f.name in _RICHNESS_SKIP:
            continue
        mine, theirs = getattr(a, f.name), getattr(b, f.name)
        best = _richer(mine, theirs)
        if best is not mine:
            changes[f.name] = best
    axid = a.arxiv_id or b.arxiv_id
    if axid and a.arxiv_id != axid:
        changes["arxiv_id"] = axid
    if axid and a.id != axid:
        changes["id"] = axid
    elif not axid and a.id == paper_id(a.title) and b.id != paper_id(b.title):
        changes["id"] = b.id  # a given id beats a derived one
    return replace(a, **changes) if changes else a


def unique_papers(papers: Iterable[Paper]) -> tuple[Paper, ...]:
    """Each paper once, at its first occurrence, merged with every later record of it
    (same arXiv id, same id or same normalised title)."""
    out: list[Paper | None] = []
    where: dict[str, int] = {}
    for paper in papers:
        keys = paper.keys
        slots = {where[k] for k in keys if k in where}
        if not slots:
            for k in keys:
                where[k] = len(out)
            out.append(paper)
            continue
        first = min(slots)
        merged = out[first]
        assert merged is not None
        for slot in sorted(slots - {first}):  # this record ties two earlier ones together
            other = out[slot]
            assert other is not None
            merged = merge(merged, other)
        merged = merge(merged, paper)
        out[first] = merged
        for slot in slots - {first}:
            out[slot] = None
        for k in (*keys, *merged.keys):
            where[k] = first
        if len(slots) > 1:
            for k, slot in list(where.items()):
                if slot in slots:
                    where[k] = first
    return tuple(p for p in out if p is not None)


@dataclass(frozen=True, slots=True)
class Digest:
    """A parsed digest file: its papers in digest order. ``missing``: the paper ids the
    file links to that the reader did not read (SPEC 2.1); non-empty makes it partial."""

    path: str
    format: str
    sha256: str
    papers: tuple[Paper, ...] = field(default_factory=tuple)
    date: date | None = None
    missing: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        return bool(self.missing)
