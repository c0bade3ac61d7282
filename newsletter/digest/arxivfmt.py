"""The ``arxiv`` format (SPEC 2.3): arXiv's RSS 2.0 listings and its Atom API answers.

Both are read with feedparser (well kept, tolerant of the feeds' namespaces and
of broken XML, and safe: it never fetches external entities). Ids lose their
version (``2611.14302v2`` -> ``2611.14302``); ``url`` is the abs page, the PDF
link is kept; RSS descriptions keep only their ``Abstract:`` part; the Atom
summaries' line wrapping and indentation are undone. A listing's ``dc:creator`` writes
each author's affiliations after the name in parentheses (``Ana Ruiz (Univ. A, Lab B),
Bo Li``): the names are kept, the affiliations are not names. A published paper's journal
is ``arxiv:journal_ref`` (Atom API) or ``arxiv:journal_reference`` (RSS and Atom listings).

``organization`` (SPEC 2.4) is one name, never a list: the email shows it on the paper's
line as the Hugging Face listing shows the submitting organisation, and a paper with 40
affiliations must not show 40. arXiv names no submitting organisation; what it gives is
each author's affiliation (a listing's ``Name (Affiliation)``, the Atom API's
``arxiv:affiliation`` under each ``author``, a listing's legend ``((1) MIT, (2) Stanford)``
whose first entry counts). The organisation is the affiliation most authors share (a
team's lab: ``Google DeepMind`` for a paper all of whose authors are there); among equals
the first author's. A paper without affiliations has none (null), as before.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import feedparser
from selectolax.lexbor import LexborHTMLParser

from newsletter.base.errors import DigestParseError
from newsletter.digest.jsonfmt import unwrap_text
from newsletter.digest.model import ARXIV_ABS_URL, ARXIV_PDF_URL, Paper, arxiv_id, doi_of, extract_links, paper_id

ID_IN = re.compile(r"(?:arxiv\.org/(?:abs|pdf)/|oai:arxiv\.org:|arxiv:)([\w.\-/]+?)(?:v\d+)?(?:\.pdf)?$", re.I)
_ENTRY_END = re.compile(r"</(?:[\w.-]+:)?(?:item|entry)\s*>", re.IGNORECASE)
_FEED_END = re.compile(r"</(?:[\w.-]+:)?(?:rss|feed|rdf)\s*>\s*(?:<!--.*?-->\s*)*\Z", re.IGNORECASE | re.DOTALL)
# arXiv's RSS 1.0 listing (until 2024): "Title. (arXiv:2301.00007v1 [cs.CL] UPDATED)", the
# abstract as "<p>...</p>", each author as a link
_OLD_TITLE = re.compile(r"\.?\s*\(arXiv:\S+\s+\[(?P<cat>[^\]\s]+)\](?P<words>(?:\s+[A-Z]+)*)\)\s*$")
_PARAGRAPH = re.compile(r"\s*<p\b", re.IGNORECASE)
_INITIALS = re.compile(r"(?:[A-Z][a-z]?\.[\s-]*)+")  # "L.", "A. K.", "J.-P.", "Ch."
_AFFILIATION = re.compile(r"\((?:[^()]|\([^()]*\))*\)")  # "(MIT, (2) Stanford)"
# a legend of numbered affiliations: "(1) MIT, (2) Stanford"; its first entry
_LEGEND = re.compile(r"\(\s*\d+\s*\)\s*(?P<first>[^()]*?)\s*[,;]?\s*(?:\(\s*\d+\s*\)|\Z)")
# the Atom API's authors, each with its arxiv:affiliation elements
_ENTRY_START = re.compile(r"<(?:[\w.-]+:)?entry\b", re.IGNORECASE)
# (one pass over the tags, never a search from each "<author" to its end: linear on any file)
_AUTHOR_TAG = re.compile(r"<(?P<end>/?)(?:[\w.-]+:)?(?P<tag>author|affiliation)\b[^>]*>(?P<text>[^<]*)")
_ABSTRACT = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*\S+\s*Abstract:\s*", re.IGNORECASE | re.DOTALL)
_ANNOUNCED = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*(?P<type>[\w-]+)", re.IGNORECASE)
_VERSION = re.compile(r"v(?P<n>\d{1,4})(?:\.pdf)?\s*$", re.IGNORECASE)
# the old listing's title suffix words: "(arXiv:2301.00007v2 [cs.CL] UPDATED)", "... CROSS LISTED)"
_OLD_TYPES = {"UPDATED": "replace", "CROSS LISTED": "cross"}


def looks_like_feed(text: str) -> str | None:
    """``rss``, ``atom``, ``xml`` (some other XML) or None."""
    head = text[:4096].lstrip()
    if not head.startswith("<"):
        return None
    low = head.lower()
    if "<rss" in low or "<rdf:rdf" in low:
        return "rss"
    if "<feed" in low:
        return "atom"
    if low.startswith("<?xml"):
        return "xml"
    return None


def cut_off(text: str, entries: list[Any]) -> tuple[list[Any], tuple[str, ...]]:
    """(the entries read whole, what was lost) of a feed whose file ends before the feed
    does (a download or a save cut short). feedparser's tolerant parser reads the start of
    such a file without a word, the last entry with half its text; so only the entries
    the file closes count, and the rest is named: the cut entry's id when it shows one,
    and the line the file ends on (SPEC 2.1: the digest is then ``partial``)."""
    if _FEED_END.search(text[-4096:]):
        return entries, ()
    whole = len(_ENTRY_END.findall(text))
    lost = [found for e in entries[whole:] if (found := id_of(e))]
    line = text.count("\n") + (0 if text.endswith("\n") else 1)
    return entries[:whole], (*lost, f"entries after line {line} (the file ends before the feed does)")


def id_of(entry: Any) -> str | None:
    for value in (entry.get("id"), entry.get("guid"), entry.get("link")):
        if isinstance(value, str):
            m = ID_IN.search(value.strip())
            if m and (found := arxiv_id(m.group(1))):
                return found
    return None


def authors_of(entry: Any) -> tuple[str, ...]:
    """The names of ``dc:creator`` (one comma-separated string in arXiv's listings) or the
    authors' ``name``s; each name once."""
    names: list[str] = []
    for author in entry.get("authors") or ():
        name = author.get("name") if isinstance(author, dict) else None
        if isinstance(name, str):
            names.extend(split_names(_markup_free(name)))
    if not names and isinstance(entry.get("author"), str):
        names = split_names(_markup_free(entry["author"]))
    return tuple(dict.fromkeys(_paired(names)))


def _paired(names: list[str]) -> list[str]:
    """``["Buccolieri", "L.", "Wang", "B."]`` -> ``["L. Buccolieri", "B. Wang"]``: bioRxiv's
    and HighWire's feeds write ``Last, I., Last, I.`` in one ``dc:creator``."""
    if len(names) % 2 or not all(_INITIALS.fullmatch(n) for n in names[1::2]):
        return names
    return [f"{first} {last}" for last, first in zip(names[::2], names[1::2], strict=True)]


def split_names(text: str) -> list[str]:
    """``"Ana Ruiz (Univ. A, Lab B), Bo Li"`` -> ``["Ana Ruiz", "Bo Li"]``: arXiv's listings
    write each author's affiliations after the name in parentheses, commas and all; the
    commas inside them part no names (unbalanced parentheses: every comma parts)."""
    parts, depth, start = [], 0, 0
    for at, char in enumerate(text):
        if char in "()":
            depth += 1 if char == "(" else -1
        elif char == "," and depth == 0:
            parts.append(text[start:at])
            start = at + 1
    parts.append(text[start:])
    if depth:
        parts = text.split(",")
    names = (" ".join(_AFFILIATION.sub(" ", part).split()) for part in parts)
    return [name for name in names if name]


def affiliations_of(entry: Any) -> list[str]:
    """Each author's affiliation, in the authors' order (see the module doc): the text in
    parentheses after a listing's names, else the Atom API's (``author_affiliations``,
    read from the file by :func:`with_affiliations`)."""
    found: list[str] = []
    for author in entry.get("authors") or ():
        name = author.get("name") if isinstance(author, dict) else None
        if isinstance(name, str) and "(" in name:
            for m in _AFFILIATION.finditer(_markup_free(name)):
                inner = m.group(0)[1:-1]
                legend = _LEGEND.match(inner.strip())
                found.append(legend.group("first") if legend else inner)
    return found or list(entry.get("author_affiliations") or ())


def organization_of(affiliations: list[str]) -> str | None:
    """The affiliation most authors share; among equals the first written (module doc)."""
    votes: dict[str, list[Any]] = {}
    for text in affiliations:
        name = " ".join(text.split()).strip(" ,;")
        if any(c.isalpha() for c in name):  # not a bare label: "(1)"
            votes.setdefault(name.casefold(), [name, 0])[1] += 1
    return str(max(votes.values(), key=lambda v: int(v[1]))[0]) if votes else None


def with_affiliations(text: str, entries: list[Any]) -> list[Any]:
    """``entries``, each with its authors' first ``arxiv:affiliation`` (the Atom API's:
    feedparser keeps one an entry) as ``author_affiliations``, when the entries found in
    ``text`` are as many as the entries (else as they are)."""
    if "affiliation" not in text:
        return entries
    starts = [m.start() for m in _ENTRY_START.finditer(text)]
    if starts and len(starts) == len(entries):
        for entry, start, end in zip(entries, starts, [*starts[1:], len(text)], strict=True):
            entry["author_affiliations"] = _first_affiliations(text, start, end)
    return entries


def _first_affiliations(text: str, start: int, end: int) -> list[str]:
    """Each ``author`` element's first ``affiliation`` in ``text[start:end]``."""
    found: list[str] = []
    inside = taken = False
    for m in _AUTHOR_TAG.finditer(text, start, end):
        if m.group("tag") == "author":
            inside, taken = not m.group("end"), False
        elif inside and not taken and not m.group("end") and m.group("text").strip():
            found.append(m.group("text").strip())
            taken = True
    return found


def _markup_free(text: str) -> str:
    """The text of the old listing's author links (``<a href="...">Dana Li</a>``)."""
    return LexborHTMLParser(text).text(separator="") if "<a " in text else text


def title_of(entry: Any) -> tuple[str, str | None]:
    """(the entry's title, the category the old listing's title suffix names)."""
    title = " ".join(str(entry.get("title") or "").split())
    m = _OLD_TITLE.search(title)
    return (title[: m.start()], m.group("cat")) if m and m.start() else (title, None)


def abstract_of(entry: Any) -> str:
    """The abstract: the RSS description's ``Abstract:`` part, the old listing's paragraphs
    made text (selectolax), the Atom summary; line wrapping undone."""
    text = _ABSTRACT.sub("", str(entry.get("summary") or entry.get("description") or ""))
    if _PARAGRAPH.match(text):  # only then: a "<" in a new listing's abstract is text (p<0.05)
        tree = LexborHTMLParser(text)
        text = "\n\n".join(" ".join(p.text().split()) for p in tree.css("p")) or (tree.text() or "")
    return unwrap_text(text)


def announce_type_of(entry: Any) -> str | None:
    """``new``, ``cross``, ``replace`` or ``replace-cross``: a listing's
    ``arxiv:announce_type``, else its description's ``Announce Type:``, else the old
    listing's title suffix (``UPDATED``: a replacement; ``CROSS LISTED``); None for the
    Atom API (it announces nothing: its versions say it, :func:`version_of`)."""
    value = entry.get("arxiv_announce_type")
    if not isinstance(value, str) or not value.strip():
        m = _ANNOUNCED.match(str(entry.get("summary") or entry.get("description") or ""))
        value = m.group("type") if m else _old_type(str(entry.get("title") or ""))
    kind = "-".join((value or "").lower().split())
    return kind if kind and len(kind) <= 30 and re.fullmatch(r"[a-z-]+", kind) else None


def _old_type(title: str) -> str | None:
    m = _OLD_TITLE.search(" ".join(title.split()))
    words = " ".join(m.group("words").split()) if m else ""
    return next((kind for word, kind in _OLD_TYPES.items() if word in words), None)


def version_of(entry: Any) -> int | None:
    """The version of the entry's versioned id (``oai:arXiv.org:2611.00002v2``,
    ``http://arxiv.org/abs/2610.01234v3``), or None when no id shows one."""
    for value in (entry.get("id"), entry.get("guid"), entry.get("link")):
        if isinstance(value, str) and ID_IN.search(value.strip()) and (m := _VERSION.search(value)):
            return int(m.group("n")) or None
    m = re.search(r"\(arXiv:\S+?v(\d{1,4})\s", str(entry.get("title") or ""))  # the old listing's title
    return int(m.group(1)) or None if m else None


def first_announced_of(entry: Any, announce_type: str | None, version: int | None) -> date | None:
    """The day the first version appeared, where the entry says it: the Atom API's
    ``published`` is its first version's (``updated`` the latest's); a listing's date is
    the day of this announcement, not the first."""
    if announce_type is None and version and version > 1 and entry.get("published_parsed"):
        value = entry["published_parsed"]
        return date(value.tm_year, value.tm_mon, value.tm_mday)
    return None


def published_of(entry: Any) -> date | None:
    for key in ("published_parsed", "updated_parsed"):
        value = entry.get(key)
        if value:
            return date(value.tm_year, value.tm_mon, value.tm_mday)
    return None


def pdf_link(entry: Any) -> str | None:
    """The entry's link to its PDF, when it has one."""
    for link in entry.get("links") or ():
        if link.get("type") == "application/pdf" or link.get("title") == "pdf":
            return str(link.get("href")) if link.get("href") is not None else None
    return None


def categories_of(entry: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.get("term") for t in entry.get("tags") or () if t.get("term")))


def _paper(entry: Any, *, source: str) -> Paper:
    axid = id_of(entry)
    title, category = title_of(entry)
    if not title:
        raise DigestParseError(f"feed entry {axid or '?'} has no title", path=source)
    abstract = abstract_of(entry)
    pdf = pdf_link(entry)
    categories = categories_of(entry) or ((category,) if category else ())
    links = extract_links(abstract)
    return Paper(
        title=title,
        abstract=abstract,
        id=axid or paper_id(title),
        source=source,
        authors=len(names) if (names := authors_of(entry)) else None,
        author_names=names,
        published=published_of(entry),
        url=ARXIV_ABS_URL.format(id=axid) if axid else entry.get("link"),
        pdf_url=pdf or (ARXIV_PDF_URL.format(id=axid) if axid else None),
        code_url=next((u for u in links if "github.com/" in u), None),
        categories=categories,
        links=links,
        arxiv_id=axid,
        organization=(organization := organization_of(affiliations_of(entry))),
        affiliated=organization is not None,
        doi=doi_of(str(entry.get("arxiv_doi") or "")),  # the Atom API's, when published
        journal=journal_ref(entry),
        announce_type=(kind := announce_type_of(entry)),
        version=(version := version_of(entry)),
        first_announced=first_announced_of(entry, kind, version),
    )


def journal_ref(entry: Any) -> str | None:
    """The journal of a published paper: the Atom API's ``arxiv:journal_ref``, the RSS and
    Atom listings' ``arxiv:journal_reference``."""
    value = entry.get("arxiv_journal_ref") or entry.get("arxiv_journal_reference")
    return " ".join(str(value or "").split()) or None


def _version(feed: Any, *, source: str) -> str:
    """``an Atom feed`` or ``an RSS feed``; the error when the XML is neither."""
    version = str(feed.get("version") or "")
    if not version:
        if feed.get("bozo"):
            exc = feed.get("bozo_exception")
            line = exc.getLineNumber() if exc is not None and hasattr(exc, "getLineNumber") else None
            raise DigestParseError(f"broken XML, not a feed: {exc}", path=source, line=line)
        raise DigestParseError("XML that is neither an RSS nor an Atom feed", path=source, line=1)
    return "an Atom feed" if version.startswith("atom") else "an RSS feed"


def parse(text: str, *, source: str) -> tuple[tuple[Paper, ...], tuple[str, ...]]:
    """(the papers, what a file cut short lost: see :func:`cut_off`)."""
    feed = feedparser.parse(text, sanitize_html=False, resolve_relative_uris=False)
    read = feed.get("entries") or []
    name = _version(feed, source=source)
    meta = feed.get("feed") or {}
    arxivs = "arxiv" in f"{meta.get('link', '')} {meta.get('title', '')}".lower()
    entries, lost = cut_off(text, with_affiliations(text, read))
    if not read and str(meta.get("title") or "").startswith("Feed error for query"):  # rss.arxiv.org's 400
        raise DigestParseError(f"arXiv's feed error, not a digest: {meta.get('description') or '?'}", path=source)
    if not read and not arxivs:  # arXiv announces nothing on weekends and holidays: not an error
        raise DigestParseError(f"{name} without entries; not a digest", path=source)
    if read and not any(id_of(e) for e in read) and not (arxivs and not entries):  # (cut inside its first entry)
        raise DigestParseError(f"{name} that is not arXiv's (no arXiv ids in it)", path=source)
    return tuple(_paper(e, source=source) for e in entries), lost
