"""The ``feed`` format (SPEC 2.5): any journal, venue or lab RSS 2.0 / RSS 1.0 / Atom feed.

Read with feedparser, like the ``arxiv`` format (this module also decides which of the
two a feed is: an RSS or Atom feed every entry of which carries an arXiv id is arXiv's).
Per entry:

- ``title`` (an HTML or XHTML title made text), ``summary`` (HTML descriptions made
  text with selectolax; Nature's opening citation line and OUP's "Abstract" heading are
  no text of the paper), authors (``dc:creator``, ``author``; each once; ``Last, I.,
  Last, I.`` paired), the date (else ``prism:publicationDate``), the categories, ``link``
  (else an RSS 1.0 item's ``rdf:about``) as ``url``;
- the DOI, from the first of ``prism:doi``, ``dc:identifier`` (``doi:10.x/y``,
  HighWire's ``info:doi/10.x/y``; every one an item has, not only feedparser's last), the
  entry's id and its links (``https://doi.org/10.x/y``); normalised by
  :func:`newsletter.digest.model.doi_of` (an identity of the paper: SPEC 2.4);
- the arXiv id, from the entry's id, guid or links (an arXiv abs/pdf URL) or a
  ``arXiv:ID`` in its text;
- ``journal``: ``prism:publicationName``, else ``dc:source`` (PubMed's), else the feed's
  own title;
- no ``organization``: a journal's feed names neither a submitting organisation nor its
  authors' affiliations (arXiv's listings do: see :mod:`newsletter.digest.arxivfmt`).

A feed with neither DOIs nor arXiv ids (a cooking blog) is not taken for a digest unless
it was asked for: a file named ``feed-*.xml`` (what ``newsletter fetch`` writes for a
``type: feed`` source, a lab's blog say) or ``--format feed``.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import PurePath
from typing import Any

import feedparser
from selectolax.lexbor import LexborHTMLParser

from newsletter.base.errors import DigestParseError
from newsletter.digest import arxivfmt
from newsletter.digest.hfshared import page_abstract, paper_ref
from newsletter.digest.jsonfmt import unwrap_text
from newsletter.digest.model import ARXIV_PDF_URL, Paper, arxiv_id, doi_of, extract_links, paper_id

_DOI_IN = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>&]+)")
_ARXIV_IN_TEXT = re.compile(r"\barXiv:\s*(\d{4}\.\d{4,5})(?:v\d+)?\b", re.IGNORECASE)
FEED_FILE = "feed-*.xml"
_API_ERROR = ("https://arxiv.org/api/errors#", "http://arxiv.org/api/errors#")
# Nature's items open with a citation line, no text of the paper: "<p>Nature Catalysis,
# Published online: 12 May 2026; <a href=...>doi:10.1038/...</a></p>"
_CITATION_LINE = re.compile(r"\A\s*<p>[^<]*\bPublished online:[^<]*(?:<a\b[^>]*>[^<]*</a>\s*)?</p>", re.IGNORECASE)
# OUP's and BMJ's descriptions open with a heading: '<div class="boxTitle">Abstract</div>The
# ...', '<sec><st>Abstract</st><p>The ...'
_ABSTRACT_HEADING = re.compile(r"\A\s*(?:<\w+\b[^>]*>\s*)*<(\w+)\b[^>]*>\s*Abstract\s*:?\s*</\1\s*>", re.I)
_ISO_DAY = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})")
# HighWire's items (BMJ, SAGE, JNeurosci) carry two dc:identifiers, "info:doi/10.1136/x" and
# "hwp:master-id:...", and feedparser keeps only the last: each item's are read from the text
_ITEM_START = re.compile(r"<(?:[\w.-]+:)?(?:item|entry)\b", re.IGNORECASE)
_DC_IDENTIFIER = re.compile(
    r"<dc:identifier\b[^>]*>(?:\s*<!\[CDATA\[)?\s*([^<\]]*?)\s*(?:\]\]>\s*)?</dc:identifier\s*>"
)


def read_feed(text: str, *, source: str) -> Any:
    """The feedparser result of ``text``; a DigestParseError when it is no RSS/Atom feed."""
    feed = feedparser.parse(text, sanitize_html=False, resolve_relative_uris=False)
    if not str(feed.get("version") or ""):
        if feed.get("bozo"):
            exc = feed.get("bozo_exception")
            line = exc.getLineNumber() if exc is not None and hasattr(exc, "getLineNumber") else None
            raise DigestParseError(f"broken XML, not a feed: {exc}", path=source, line=line)
        raise DigestParseError("XML that is neither an RSS nor an Atom feed", path=source, line=1)
    return feed


def asked_for(source: str) -> bool:
    """True for a file named as ``newsletter fetch`` names a feed source's file."""
    return PurePath(source).match(FEED_FILE)


def classify(text: str, *, source: str) -> str:
    """``arxiv`` for arXiv's listing (every entry has an arXiv id), else ``feed``."""
    feed = read_feed(text, source=source)
    entries = arxivfmt.cut_off(text, feed.get("entries") or [])[0]  # a cut entry may lack its id yet
    if entries and all(arxivfmt.id_of(e) for e in entries) and not asked_for(source):
        return "arxiv"
    if not entries and not asked_for(source):
        return "arxiv"  # an empty listing: arXiv's weekend, or the arXiv reader's error
    return "feed"


def parse(text: str, *, source: str, forced: bool = False) -> tuple[tuple[Paper, ...], tuple[str, ...]]:
    """(the papers, what a file cut short lost: see :func:`arxivfmt.cut_off`)."""
    feed = read_feed(text, source=source)
    entries, lost = arxivfmt.cut_off(text, _with_identifiers(text, feed.get("entries") or []))
    if not entries:
        return (), lost  # a journal between issues, or a file cut inside its first entry
    if not forced and not asked_for(source) and not any(doi_in(e) or _arxiv_in(e, _plain(e)) for e in entries):
        if all(str(e.get("id") or "").startswith(_API_ERROR) for e in entries):  # the API's 400 answer
            raise DigestParseError(f"an arXiv API error, not a digest: {_plain(entries[0])}", path=source)
        name = "an Atom feed" if str(feed.get("version")).startswith("atom") else "an RSS feed"
        raise DigestParseError(
            f"{name} that is not arXiv's (no arXiv ids in it, nor DOIs: name it feed-NAME-DATE.xml "
            "or use --format feed to read it all the same)",
            path=source,
        )
    journal = _text((feed.get("feed") or {}).get("title"))
    return tuple(_paper(e, source=source, journal=journal) for e in entries), lost


def _with_identifiers(text: str, entries: list[Any]) -> list[Any]:
    """``entries``, each with every ``dc:identifier`` its item has (``dc_identifiers``), when
    the items found in ``text`` are as many as the entries (else as they are)."""
    starts = [m.start() for m in _ITEM_START.finditer(text)]
    if starts and len(starts) == len(entries):
        for entry, start, end in zip(entries, starts, [*starts[1:], len(text)], strict=True):
            entry["dc_identifiers"] = _DC_IDENTIFIER.findall(text, start, end)
    return entries


def _text(value: Any) -> str | None:
    return " ".join(value.split()) or None if isinstance(value, str) else None


def _plain(entry: Any) -> str:
    """The entry's summary as text (an HTML description made text), without what the
    journals put before the abstract (a citation line, an "Abstract" heading)."""
    detail = entry.get("summary_detail") or {}
    value = str(entry.get("summary") or "")
    if "<" in value and "html" in str(detail.get("type") or "text/html"):
        value = _ABSTRACT_HEADING.sub("", _CITATION_LINE.sub("", value))
        value = " ".join(LexborHTMLParser(value).text(separator=" ").split())
    return unwrap_text(value).strip()


def doi_in(entry: Any) -> str | None:
    """The entry's DOI (see the module doc), normalised."""
    values = [entry.get(key) for key in ("prism_doi", "dc_identifier")]
    values += [*(entry.get("dc_identifiers") or ()), entry.get("id"), entry.get("guid"), entry.get("link")]
    for value in values:
        if isinstance(value, str) and (found := doi_of(value.strip()) or _doi_in_url(value)):
            return found
    for link in entry.get("links") or ():
        if (href := link.get("href")) and (found := _doi_in_url(str(href))):
            return found
    return None


def _doi_in_url(value: str) -> str | None:
    low = value.strip().lower()
    if "doi.org/" in low or low.startswith(("doi:", "info:doi/")):
        m = _DOI_IN.search(value)
        return doi_of(m.group(1)) if m else None
    return None


def _arxiv_in(entry: Any, abstract: str) -> str | None:
    found = arxivfmt.id_of(entry)
    if found:
        return found
    for link in entry.get("links") or ():
        if (href := link.get("href")) and (m := arxivfmt.ID_IN.search(str(href).strip())):
            return arxiv_id(m.group(1))
        if href and (ref := paper_ref(str(href).strip())) and (found := arxiv_id(ref[0])):
            return found  # a feed of Hugging Face papers: huggingface.co/papers/<arXiv id>
    m = _ARXIV_IN_TEXT.search(f"{entry.get('title') or ''} {abstract}")
    return arxiv_id(m.group(1)) if m else None


def _title(entry: Any) -> str:
    """The entry's title as text: an HTML or XHTML title (Atom's ``type="xhtml"``, an RSS
    1.0 title) loses its markup (``Sparse <em>attention</em>``); a ``<`` of plain text
    (``n<5``) stays."""
    title = str(entry.get("title") or "")
    if "</" in title and "html" in str((entry.get("title_detail") or {}).get("type") or ""):
        title = LexborHTMLParser(title).text(separator="") or ""
    return " ".join(title.split())


def _paper(entry: Any, *, source: str, journal: str | None) -> Paper:
    title = _title(entry)
    if not title:
        raise DigestParseError(f"feed entry {entry.get('id') or entry.get('link') or '?'} has no title", path=source)
    summary, abstract = page_abstract(_plain(entry))  # a scraped paper page: its AI summary first
    axid = _arxiv_in(entry, abstract)
    doi = doi_in(entry)
    names = arxivfmt.authors_of(entry)
    links = extract_links(abstract)
    return Paper(
        title=title,
        abstract=abstract,
        id=axid or doi or paper_id(title),
        source=source,
        authors=len(names) if names else None,
        author_names=names,
        published=arxivfmt.published_of(entry) or _prism_day(entry),
        url=_page(entry),
        pdf_url=arxivfmt.pdf_link(entry) or (ARXIV_PDF_URL.format(id=axid) if axid else None),
        code_url=next((u for u in links if "github.com/" in u), None),
        categories=arxivfmt.categories_of(entry),
        links=links,
        summary=summary,
        arxiv_id=axid,
        doi=doi,
        journal=_text(entry.get("prism_publicationname")) or _source_journal(entry) or journal,
    )


def _page(entry: Any) -> str | None:
    """The item's page: its link, else its id when that is a web address (an RSS 1.0
    item's ``rdf:about``: Cell's items have no link)."""
    for value in (entry.get("link"), entry.get("id")):
        if isinstance(value, str) and value.startswith(("https://", "http://")):
            return value
    return None


def _prism_day(entry: Any) -> date | None:
    """``prism:publicationDate`` or ``prism:coverDate`` (Cell's and Elsevier's items carry
    no other date)."""
    for key in ("prism_publicationdate", "prism_coverdate"):
        m = _ISO_DAY.match(str(entry.get(key) or ""))
        if m:
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                continue
    return None


def _source_journal(entry: Any) -> str | None:
    """The journal ``dc:source`` names (PubMed's items: ``Scientific reports``; Nature's:
    ``Nature Catalysis, Published online: 2026-05-12; | doi:...``)."""
    value = _text(entry.get("dc_source"))
    if not value or "://" in value:
        return None
    return _text(re.split(r"[;|]|, Published\b", value, maxsplit=1)[0])
