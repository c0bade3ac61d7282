"""The sources ``newsletter fetch`` reads (SPEC 2.5): their models, URLs and the names of
the files it writes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
)

from newsletter.base.cron import check_cron
from newsletter.config.fields import CONTROL_CHARS, Model

# digests.pattern's default, and the files `newsletter fetch` writes (SPEC 2.5): the latter are
# always digests, and complete on arrival (written under a temporary name, then renamed)
DIGEST_PATTERNS = ("*.txt", "*.md", "*.json", "*.jsonl", "*.html", "*.xml")  # every format we read
FETCHED_PATTERNS = (
    "huggingface-*.json",
    "arxiv-*.xml",
    "biorxiv-*.json",
    "medrxiv-*.json",
    "feed-*.xml",
    "openreview-*.json",
)


HF_DAILY_PAPERS = "https://huggingface.co/api/daily_papers"
ARXIV_RSS = "https://rss.arxiv.org/rss/{categories}"
_ARXIV_CATEGORY = re.compile(r"[a-z-]+(\.[A-Za-z-]+)?")
BIORXIV_DETAILS = "https://api.biorxiv.org/details/{server}/{from}/{to}/{cursor}"
OPENREVIEW_NOTES = "https://api2.openreview.net/notes"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.]*(?:-[A-Za-z0-9_.]+)*")


def fetched_file(path: Path) -> bool:
    """True for a file named as ``newsletter fetch`` names what it writes."""
    return any(path.match(p) for p in FETCHED_PATTERNS)


def _http_url(value: str) -> str:
    if CONTROL_CHARS.search(value) or not re.match(r"https?://[^\s/]+", value) or re.search(r"\s", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


class HuggingFaceSource(Model):
    """The Hugging Face daily papers API: one file per day (or ISO week, or month)."""

    type: Literal["huggingface"]
    url: str = HF_DAILY_PAPERS
    period: Literal["daily", "weekly", "monthly"] = "daily"

    _url = field_validator("url")(_http_url)

    @property
    def key(self) -> str:
        """Names the source in the ledger, in ``status`` and in its file names."""
        return "huggingface" if self.period == "daily" else f"huggingface-{self.period.removesuffix('ly')}"


class ArxivSource(Model):
    """arXiv's RSS listing of a set of categories, asked in one request."""

    type: Literal["arxiv"]
    categories: list[str] = Field(min_length=1)
    url: str = ARXIV_RSS

    _url = field_validator("url")(_http_url)

    @field_validator("categories")
    @classmethod
    def _categories(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _ARXIV_CATEGORY.fullmatch(value):
                raise ValueError(f"{value!r} is not an arXiv category (such as cs.CL or math.PR)")
        return list(dict.fromkeys(values))

    @property
    def joined(self) -> str:
        return "+".join(self.categories)

    @property
    def key(self) -> str:
        return f"arxiv-{self.joined}"

    @property
    def listing_url(self) -> str:
        return self.url.replace("{categories}", self.joined)


def category_key(value: str) -> str:
    """bioRxiv's categories compared as a reader writes them: ``Animal_Behavior and
    Cognition`` is ``animal behavior and cognition``."""
    return " ".join(value.replace("_", " ").casefold().split())


class BiorxivSource(Model):
    """bioRxiv's or medRxiv's details API for the day (paged by 100), the wanted
    categories kept (the API has no filter); no key."""

    type: Literal["biorxiv", "medrxiv"]
    categories: list[str] = []
    url: str = BIORXIV_DETAILS

    _url = field_validator("url")(_http_url)

    @field_validator("url")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        missing = [p for p in ("{from}", "{to}", "{cursor}") if p not in value]
        if missing:
            raise ValueError(f"the URL needs the placeholders {', '.join(missing)} (the day asked, the page)")
        return value

    @field_validator("categories")
    @classmethod
    def _categories(cls, values: list[str]) -> list[str]:
        for value in values:
            if not category_key(value) or CONTROL_CHARS.search(value):
                raise ValueError(f"{value!r} is not a category name (such as neuroscience)")
        return list(dict.fromkeys(values))

    @property
    def key(self) -> str:
        return self.type

    def wants(self, category: object) -> bool:
        """True for an item of one of ``categories`` (every item when none is named)."""
        if not self.categories:
            return True
        return isinstance(category, str) and category_key(category) in {category_key(c) for c in self.categories}

    def page_url(self, day: str, cursor: int) -> str:
        return (
            self.url.replace("{server}", self.type)
            .replace("{from}", day)
            .replace("{to}", day)
            .replace("{cursor}", str(cursor))
        )


class FeedSource(Model):
    """Any journal, venue or lab RSS 2.0 / Atom feed, named by ``name``."""

    type: Literal["feed"]
    name: str
    url: str

    _url = field_validator("url")(_http_url)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value) or len(value) > 60:
            raise ValueError(f"{value!r} is not a file-name word (letters, digits, '.', '_' and single '-')")
        return value

    @property
    def key(self) -> str:
        return f"feed-{self.name}"


class OpenReviewSource(Model):
    """A venue's accepted papers from OpenReview's public API v2 (``/notes``), no key."""

    type: Literal["openreview"]
    venue: str
    url: str = OPENREVIEW_NOTES

    _url = field_validator("url")(_http_url)

    @field_validator("venue")
    @classmethod
    def _venue(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-/]*", value) or len(value) > 120:
            raise ValueError(f"{value!r} is not an OpenReview venue id (such as ICLR.cc/2026/Conference)")
        return value

    @property
    def key(self) -> str:
        """``openreview-ICLR.cc_2026_Conference``: the venue id with '/' as '_'."""
        return "openreview-" + self.venue.replace("/", "_").replace("-", "_")


AnySource = HuggingFaceSource | ArxivSource | BiorxivSource | FeedSource | OpenReviewSource
Source = Annotated[AnySource, Field(discriminator="type")]


class Fetch(Model):
    """``fetch``: when the daemon fetches, and how patiently."""

    cron: str = "30 6 * * *"
    timeout: float = Field(default=30.0, ge=0.1, le=600, description="seconds")
    retries: int = Field(default=3, ge=0, le=10, description="retries")
    max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=1024**3, description="bytes")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        check_cron(value)
        return value


def unique_sources(sources: list[Source]) -> list[Source]:
    seen: set[str] = set()
    for source in sources:
        if source.key in seen:
            raise ValueError(f"two sources write the same files ({source.key}-*); keep one")
        seen.add(source.key)
    return sources
