"""Records produced by the digest parsers (SPEC 2.4) and the one identity of a paper."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import date
from functools import lru_cache
from operator import attrgetter
from typing import Any

from newsletter.base.wording import format_day, format_month
from newsletter.digest.abstracts import without_abstract_word

_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
# A URL ends at whitespace or at characters that never belong to one in prose.
_URL_BODY = re.compile(r"[^\s<>\"'{}|\\^`\[\]]+")
_TRAILING = ".,;:!?*"
# New-style arXiv ids (2007+), optionally versioned; old-style ids (hep-th/9901001).
_ARXIV_ID = re.compile(r"^(?:(\d{4}\.\d{4,5})|([a-z-]+(?:\.[A-Z]{2})?/\d{7}))(?:v\d+)?$")

# A DOI (10.PREFIX/SUFFIX), bare or as doi:, https://doi.org/ or dx.doi.org (SPEC 2.4)
_DOI = re.compile(r"^(?:doi:\s*|https?://(?:dx\.)?doi\.org/)?(10\.\d{4,9}/[^\s\"<>]+)$", re.IGNORECASE)

HF_PAPER_URL = "https://huggingface.co/papers/{id}"
ARXIV_ABS_URL = "https://arxiv.org/abs/{id}"
ARXIV_PDF_URL = "https://arxiv.org/pdf/{id}"

#: arXiv's announce types of a new version of an older paper (SPEC 2.3)
REVISION_TYPES = frozenset({"replace", "replace-cross"})


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


def doi_of(value: str | None) -> str | None:
    """``https://doi.org/10.1101/X``, ``doi:10.1101/X`` or ``10.1101/X`` -> ``10.1101/x`` (DOIs
    are case-insensitive: one spelling, lower case); None for anything that is not a DOI."""
    if not value:
        return None
    m = _DOI.match(value.strip())
    return m.group(1).rstrip(".,;").lower() if m else None


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
    doi: str | None = None  # normalised by doi_of (lower case, no doi.org prefix)
    published_doi: str | None = None  # the DOI of its published version (bioRxiv's ``published``)
    journal: str | None = None  # where it was published, when a source says ("now published in X")
    # the organization is an author's affiliation the reader chose (arXiv's), not one the
    # source names (Hugging Face's submitting organisation): merged, a named one wins
    affiliated: bool = False
    # an arXiv listing's ``arxiv:announce_type`` (new, cross, replace, replace-cross), the
    # version of the versioned id, the day its first version appeared (the Atom API's
    # ``published`` of a v2+ entry): what tells a revised old paper from a new one. A
    # bioRxiv/medRxiv item has its ``version`` (a v1 is announced ``new``), no first day.
    announce_type: str | None = None
    version: int | None = None
    first_announced: date | None = None

    @property
    def revised(self) -> bool:
        """A new version of an older paper (not a new paper): a listing's ``replace`` /
        ``replace-cross``, else (no announce type known) a version 2 or later."""
        if self.announce_type:
            return self.announce_type in REVISION_TYPES
        return (self.version or 0) > 1

    @property
    def keys(self) -> tuple[str, ...]:
        """Every identity of the paper: its id, its arXiv id, its DOIs (``doi:10.1101/x``, its
        own and its published version's), its normalised title.

        Two records that share one key are the same paper (SPEC 2.4): a preprint and its
        published version are one paper."""
        title_key = paper_id(self.title)
        out = [self.id]
        if self.arxiv_id and self.arxiv_id not in out:
            out.append(self.arxiv_id)
        if self.doi or self.published_doi:  # (most papers have none: the quick way past)
            out.extend(dict.fromkeys(f"doi:{d}" for d in (self.doi, self.published_doi) if d))
        if title_key and title_key not in out:
            out.append(title_key)
        return tuple(out)

    @property
    def page_url(self) -> str | None:
        """The paper's own page (SPEC 5): its Hugging Face page when the digest gave it,
        else its arXiv abs page, else the digest's url (None: the caller's fallback)."""
        if self.url and ("huggingface.co/papers/" in self.url or "hf.co/papers/" in self.url):
            return self.url
        if self.arxiv_id:
            return ARXIV_ABS_URL.format(id=self.arxiv_id)
        return self.url

    @property
    def arxiv_url(self) -> str | None:
        return ARXIV_ABS_URL.format(id=self.arxiv_id) if self.arxiv_id else None

    def to_json(self) -> dict[str, Any]:
        """The JSON record of SPEC 2.4 (``parse --json``, the ledger). ``affiliated: true``
        only where the organization is an author's affiliation (an arXiv record): the
        ledger keeps it, so a record read back still gives way to a named organisation.
        ``announce_type``, ``version``, ``first_announced`` and ``revised`` (derived) where a
        reader knows them (arXiv's and bioRxiv's records), so that a revision read back from the ledger
        (archive pages, carried papers) is still labelled one."""
        record = self._record()
        if self.affiliated:
            record["affiliated"] = True
        if self.announce_type or self.version or self.first_announced:  # arXiv's and bioRxiv's
            record["announce_type"] = self.announce_type
            record["version"] = self.version
            record["first_announced"] = self.first_announced.isoformat() if self.first_announced else None
            record["revised"] = self.revised
        return record

    def _record(self) -> dict[str, Any]:
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
            "doi": self.doi,
            "published_doi": self.published_doi,
            "journal": self.journal,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Paper:
        """The inverse of :meth:`to_json` (records of older versions too, cleaned of the
        control characters they may hold: :func:`clean_paper`)."""
        published = record.get("published")
        paper = cls(
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
            doi=doi_of(record.get("doi")),
            published_doi=doi_of(record.get("published_doi")),
            journal=record.get("journal"),
            affiliated=record.get("affiliated") is True,
            announce_type=_text_or_none(record.get("announce_type")),
            version=_version_or_none(record.get("version")),
            first_announced=_day_or_none(record.get("first_announced")),
        )
        return clean_paper(paper)


_NEW_STYLE_ID = re.compile(r"^(?P<yy>\d{2})(?P<mm>0[1-9]|1[0-2])\.\d{4,5}$")


def revision_label(paper: Paper) -> str | None:
    """What the email, the archive pages, the chat messages and ``match`` say of an arXiv
    or bioRxiv revision (None for a paper that is not one): ``Revised (v3; first announced
    4 Oct 2026)`` where the first version's day is known (the Atom API), else the month its
    arXiv id was given (``first submitted Mar 2025``: a new-style id starts YYMM), else
    what is known (``Revised (v2)``: a bioRxiv v2, whose answer never says when its v1 was
    posted; ``Revised``)."""
    if not paper.revised:
        return None
    parts = [f"v{paper.version}"] if paper.version else []
    if (day := paper.first_announced) is not None:
        parts.append(f"first announced {format_day(day)}")
    elif paper.arxiv_id and (m := _NEW_STYLE_ID.match(paper.arxiv_id)):
        parts.append(f"first submitted {format_month(int(m.group('mm')), 2000 + int(m.group('yy')))}")
    return f"Revised ({'; '.join(parts)})" if parts else "Revised"


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _version_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _day_or_none(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


# --------------------------------------------------------------------------- control characters (SPEC 6c)
# Everything XML 1.0 forbids (C0 controls but tab, LF and CR; lone surrogates, which a JSON
# "\ud800" escape can produce; U+FFFE/U+FFFF), plus DEL and the C1 controls (allowed in XML,
# never text): dropped from every text of a paper when a digest is parsed, whatever its
# format, so that no NUL, ESC or BEL reaches the email, the archive pages or the Atom feed.
# Control characters that separate words (VT, FF, the information separators) become a space.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SPACE_LIKE = "\x0b\x0c\x1c\x1d\x1e\x1f\x85"
_DROP = {
    c: (" " if chr(c) in _SPACE_LIKE else None)
    for lo, hi in ((0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0x7F, 0x9F), (0xD800, 0xDFFF), (0xFFFE, 0xFFFF))
    for c in range(lo, hi + 1)
}


# the fast test (a paper is looked at once, on all its texts joined): the UTF-8 bytes lose
# no C0 control or DEL to bytes.translate, and a non-ASCII text has no C1 control, no
# surrogate and no U+FFFE/U+FFFF in its encoding; three times quicker than the regex
_C0_BYTES = bytes(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)) + b"\x7f"
_HIGH_BYTES = re.compile(rb"\xc2[\x80-\x9f]|\xed[\xa0-\xbf]|\xef\xbf[\xbe\xbf]")


def has_forbidden(value: str) -> bool:
    """True when ``value`` holds a character :func:`clean_text` drops."""
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw.translate(None, _C0_BYTES)) != len(raw):
        return True
    return not value.isascii() and _HIGH_BYTES.search(raw) is not None


def clean_text(value: str) -> str:
    """``value`` without the control characters of :data:`_FORBIDDEN` (see above)."""
    return value.translate(_DROP) if _FORBIDDEN.search(value) else value


_STRINGS = tuple(f.name for f in fields(Paper) if f.type in ("str", "str | None"))
_LISTS = tuple(f.name for f in fields(Paper) if f.type == "tuple[str, ...]")
_get_strings, _get_lists = attrgetter(*_STRINGS), attrgetter(*_LISTS)


def clean_paper(paper: Paper) -> Paper:
    """``paper`` with :func:`clean_text` applied to every text field and its abstract without
    the heading ``Abstract`` (:func:`newsletter.digest.abstracts.without_abstract_word`,
    whatever the format); the same object when nothing needed it. An id derived from the
    title follows the cleaned title."""
    abstract = without_abstract_word(paper.abstract)
    return _without_controls(paper if abstract is paper.abstract else replace(paper, abstract=abstract))


def _without_controls(paper: Paper) -> Paper:
    texts = [v for v in _get_strings(paper) if v]
    for items in _get_lists(paper):
        texts.extend(items)
    if not has_forbidden("".join(texts)):
        return paper
    changes: dict[str, Any] = {}
    for name in _STRINGS:
        value = getattr(paper, name)
        if value and _FORBIDDEN.search(value):
            changes[name] = clean_text(value)
    for name in _LISTS:
        values = getattr(paper, name)
        if any(_FORBIDDEN.search(item) for item in values):
            changes[name] = tuple(clean_text(item) for item in values)
    if "title" in changes and paper.id == paper_id(paper.title):
        changes["id"] = paper_id(changes["title"]) or paper.id
    return replace(paper, **changes)


def clean_papers(papers: Iterable[Paper]) -> tuple[Paper, ...]:
    """The one text-cleaning step every digest reader's papers go through (SPEC 6c):
    :func:`clean_paper` on each; a paper whose title was nothing but control characters
    is dropped; papers whose identity changed are merged again (:func:`unique_papers`)."""
    out: list[Paper] = []
    changed = False
    for paper in papers:
        clean = clean_paper(paper)
        if clean is not paper:
            changed = True
            if not clean.title.strip():
                continue
        out.append(clean)
    return unique_papers(out) if changed else tuple(out)


_RICHNESS_SKIP = frozenset(
    {"id", "source", "arxiv_id", "doi", "published_doi", "organization", "affiliated"}
    | {"announce_type", "version", "first_announced"}
)


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
    changes.update(_merged_dois(a, b))
    changes.update(_merged_organization(a, b))
    changes.update(_merged_revision(a, b))
    axid = a.arxiv_id or b.arxiv_id
    if axid and a.arxiv_id != axid:
        changes["arxiv_id"] = axid
    if axid and a.id != axid:
        changes["id"] = axid
    elif not axid and a.id == paper_id(a.title) and b.id != paper_id(b.title):
        changes["id"] = b.id  # a given id beats a derived one
    return replace(a, **changes) if changes else a


def _merged_organization(a: Paper, b: Paper) -> dict[str, Any]:
    """``a``'s organisation merged with ``b``'s: the richer, but one a source names (Hugging
    Face's submitting organisation, bioRxiv's institution) over an author's affiliation
    picked by a reader (arXiv's): ``org:bytedance`` still finds a ByteDance paper whose
    first author is at a university."""
    if not b.organization or (a.organization and a.affiliated != b.affiliated and b.affiliated):
        return {}
    if a.organization and a.affiliated == b.affiliated and _richer(a.organization, b.organization) is a.organization:
        return {}
    return {"organization": b.organization, "affiliated": b.affiliated}


def _merged_revision(a: Paper, b: Paper) -> dict[str, Any]:
    """``a``'s announcement merged with ``b``'s: a paper one source announces as new (or as
    a new cross-listing) is new, whatever another says (a replacement is the weaker word);
    the latest version known; the earliest first announcement known."""
    out: dict[str, Any] = {}
    kind = a.announce_type
    if b.announce_type and (not kind or (kind in REVISION_TYPES and b.announce_type not in REVISION_TYPES)):
        kind = b.announce_type
    if kind != a.announce_type:
        out["announce_type"] = kind
    if b.version and (a.version or 0) < b.version:
        out["version"] = b.version
    first = min((d for d in (a.first_announced, b.first_announced) if d), default=None)
    if first != a.first_announced:
        out["first_announced"] = first
    return out


def _merged_dois(a: Paper, b: Paper) -> dict[str, str]:
    """The DOIs of ``a`` merged with ``b``: ``a``'s own DOI stays (else ``b``'s); a second,
    different DOI is the published version's (a preprint and its journal article: SPEC 2.5)."""
    doi = a.doi or b.doi
    others = [d for d in (a.published_doi, b.published_doi, b.doi) if d and d != doi]
    published = a.published_doi or (others[0] if others else None)
    out: dict[str, str] = {}
    if doi and doi != a.doi:
        out["doi"] = doi
    if published and published != a.published_doi:
        out["published_doi"] = published
    return out


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
        _merge_into(out, where, paper, slots)
    return tuple(p for p in out if p is not None)


def _merge_into(out: list[Paper | None], where: dict[str, int], paper: Paper, slots: set[int]) -> None:
    """Merge ``paper`` into the earliest of the ``slots`` its keys were seen at; a record
    that ties several earlier ones together merges them all there."""
    first = min(slots)
    merged = out[first]
    assert merged is not None
    for slot in sorted(slots - {first}):
        other = out[slot]
        assert other is not None
        merged = merge(merged, other)
    merged = merge(merged, paper)
    out[first] = merged
    for slot in slots - {first}:
        out[slot] = None
    for k in (*paper.keys, *merged.keys):
        where[k] = first
    if len(slots) > 1:
        for k, slot in list(where.items()):
            if slot in slots:
                where[k] = first


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
