"""Records produced by the digest parsers (SPEC 2.3)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
# A URL ends at whitespace or at characters that never belong to one in prose.
_URL = re.compile(r"https?://[^\s<>\"'{}|\\^`\[\]]+", re.IGNORECASE)
_TRAILING = ".,;:!?*"


def paper_id(title: str) -> str:
    """The stable id derived from a title: NFKC, casefold, non-alphanumerics collapsed to '-'."""
    norm = unicodedata.normalize("NFKC", title).casefold()
    return _NON_ALNUM.sub("-", norm).strip("-")


def extract_links(text: str) -> tuple[str, ...]:
    """URLs found in ``text``, in order of appearance, without duplicates.

    Trailing sentence punctuation and an unbalanced closing parenthesis are not
    part of the URL (``see https://x.org/a).`` gives ``https://x.org/a``).
    """
    found: list[str] = []
    for match in _URL.finditer(text):
        url = match.group(0)
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
    """One paper of a digest. ``id`` is stable across digests (SPEC 2.3)."""

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

    def to_json(self) -> dict[str, Any]:
        """The JSON record of SPEC 2.3 (``parse --json``)."""
        return {
            "id": self.id,
            "title": self.title,
            "abstract": self.abstract,
            "authors": self.authors,
            "organization": self.organization,
            "published": self.published.isoformat() if self.published else None,
            "upvotes": self.upvotes,
            "url": self.url,
            "links": list(self.links),
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Digest:
    """A parsed digest file: its papers in digest order."""

    path: str
    format: str
    sha256: str
    papers: tuple[Paper, ...] = field(default_factory=tuple)
    date: date | None = None
