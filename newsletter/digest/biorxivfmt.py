"""The ``biorxiv`` format (SPEC 2.5): what ``newsletter fetch`` writes for a ``type: biorxiv``
or ``medrxiv`` source, a JSON array of the items of the details API's ``collection``
(``api.biorxiv.org/details/{server}/{from}/{to}/{cursor}``); a saved answer of the API
itself (``{"messages": [...], "collection": [...]}``) reads the same.

Per item: ``doi`` (the paper's id and an identity, SPEC 2.4), ``title``, ``abstract`` (the
site's HTML flattened: its list, figure and table markers and its entities undone),
``authors`` (``"Last, F.; Last, F."`` -> ``F. Last``), ``author_corresponding_institution``
(the organisation), ``date``, ``version`` (the page is ``https://www.biorxiv.org/content/
{doi}v{version}``, the PDF beside it), ``category``, ``server`` and ``published`` (the DOI
of the journal article, ``NA`` while there is none: an identity too, so the preprint and
its published version are one paper). Several versions of one DOI are one paper.

The API answers every version posted in the interval asked, so a day's answer holds the
v2 or v3 of a preprint first posted months ago: such a record has its ``version`` and is
``revised`` (labelled ``Revised (v2)``, left out by ``revisions: false``: README "Revised
papers"). A version 1 is announced ``new``: the v1 and v2 of one DOI in one answer (both
posted that day, or the v1 earlier in the interval asked) are one new paper, at its latest
version, as a v1 in another day's file makes it new when the two are merged.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import date
from typing import Any

from newsletter.base.errors import DigestParseError
from newsletter.digest.abstracts import split_headings, undo_placeholders, without_abstract_word
from newsletter.digest.jsonfmt import load_json, unwrap_text
from newsletter.digest.model import Paper, doi_of, extract_links

NEW = "new"  # the announce type of a version 1 (arXiv's word for a new paper: SPEC 2.3)
SERVERS = {"biorxiv": "https://www.biorxiv.org", "medrxiv": "https://www.medrxiv.org"}
# detection: a JSON array (or an API answer) whose first object names a bioRxiv/medRxiv server
_HEAD = re.compile(r'"server"\s*:\s*"(?:bio|med)rxiv"', re.IGNORECASE)
# The API's abstracts are the site's HTML flattened, with its markers left in: a graphical
# abstract "Graphical Abstract O_FIG O_LINKSMALLFIG WIDTH=200 ... M_FIG caption C_FIG",
# tables "O_TBL ... C_TBL", list items "HighlightsO_LIfirst C_LIO_LIsecond C_LI", small
# capitals "O_SCPCAPaC_SCPCAP", and HTML entities ("0.33 [-&gt;] 0.63").
_FLOATS = re.compile(
    r"(?:\b(?:Graphical abstract|TOC graphic)\s*)?\bO_(FIG|TBL)\b.*?(?:\bC_\1\b|\Z)", re.IGNORECASE | re.DOTALL
)
_ITEM = re.compile(r"\s*(?:C_LIO_LI|O_LI(?!NK))\s*")
_MARKERS = re.compile(r"\s*C_LI|[OC]_SCP(?:CAP|LOW)")


def looks_like(text: str) -> bool:
    """True for the details API's items (by their first object's keys)."""
    head = text[:8192]
    return _HEAD.search(head) is not None and '"doi"' in head


def items_of(data: Any, *, source: str) -> list[Any]:
    """The items of a decoded file: the array itself, or an API answer's ``collection``."""
    if isinstance(data, dict) and isinstance(data.get("collection"), list):
        return list(data["collection"])
    if not isinstance(data, list):
        raise DigestParseError("expected a JSON array of bioRxiv items", path=source, line=1)
    return data


def parse(text: str, *, source: str) -> tuple[Paper, ...]:
    data = load_json(text, source=source)
    items = items_of(data, source=source)
    return tuple(latest_versions([paper_of(item, source=source, where=f"entry {i}") for i, item in enumerate(items)]))


def latest_versions(papers: list[Paper]) -> list[Paper]:
    """Each DOI once, at its first place, as its latest version (its page and PDF), new
    when one of its versions there is a version 1 (posted in the interval the answer
    covers: a new paper, not a revision of an older one)."""
    where: dict[str | None, int] = {}
    out: list[Paper] = []
    for paper in papers:
        if paper.doi not in where:
            where[paper.doi] = len(out)
            out.append(paper)
            continue
        kept = out[where[paper.doi]]
        latest, other = (paper, kept) if (paper.version or 0) >= (kept.version or 0) else (kept, paper)
        if other.announce_type == NEW and latest.announce_type != NEW:
            latest = replace(latest, announce_type=NEW)
        out[where[paper.doi]] = latest
    return out


def _field(item: dict[str, Any], key: str, *, source: str, where: str, required: bool = False) -> str | None:
    value = item.get(key)
    if value is None or value == "":
        if required:
            raise DigestParseError(f"{where}: {key!r} is missing", path=source)
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise DigestParseError(f"{where}: {key!r} must be a string", path=source)
    return " ".join(str(value).split()) or None


def names_of(authors: str | None) -> tuple[str, ...]:
    """``"Smith, J. A.; Doe, J."`` -> ``("J. A. Smith", "J. Doe")``."""
    out: list[str] = []
    for part in (authors or "").split(";"):
        last, _, first = part.partition(",")
        name = f"{first.strip()} {last.strip()}".strip()
        if name:
            out.append(name)
    return tuple(out)


def abstract_of(text: str) -> str:
    """The text of an item's ``abstract``: figures and tables out, list items as paragraphs
    (``• ...``), the other markers and the entities undone, the heading ``Abstract`` out, a
    structured abstract's sections as ``Heading: ...`` paragraphs, the placeholders as their
    characters (:mod:`newsletter.digest.abstracts`), lines unwrapped."""
    text = _FLOATS.sub("", text)
    text = without_abstract_word(_MARKERS.sub("", _ITEM.sub("\n\n• ", text)))
    text = undo_placeholders(html.unescape(split_headings(text)))
    return without_abstract_word(unwrap_text(text).strip())


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def paper_of(item: Any, *, source: str, where: str) -> Paper:
    """One item of the API -> a paper (a DigestParseError naming the entry when it is none)."""
    if not isinstance(item, dict):
        raise DigestParseError(f"{where}: expected an object", path=source)
    doi = doi_of(_field(item, "doi", source=source, where=where, required=True))
    if doi is None:
        raise DigestParseError(f"{where}: 'doi' is not a DOI", path=source)
    title = undo_placeholders(html.unescape(_field(item, "title", source=source, where=where, required=True) or ""))
    abstract = abstract_of(str(item.get("abstract") or ""))
    server = (_field(item, "server", source=source, where=where) or "biorxiv").lower()
    site = SERVERS.get(server, SERVERS["biorxiv"])
    version = _version_of(_field(item, "version", source=source, where=where))
    page = f"{site}/content/{doi}" + (f"v{version}" if version else "")
    names = names_of(_field(item, "authors", source=source, where=where))
    category = _field(item, "category", source=source, where=where)
    return Paper(
        title=title,
        abstract=abstract,
        id=doi,
        source=source,
        authors=len(names) or None,
        author_names=names,
        organization=_field(item, "author_corresponding_institution", source=source, where=where),
        published=_day(_field(item, "date", source=source, where=where)),
        url=page,
        pdf_url=f"{page}.full.pdf",
        categories=(category,) if category else (),
        links=extract_links(abstract),
        doi=doi,
        published_doi=doi_of(_field(item, "published", source=source, where=where)),
        # a v2+ is a revision of a preprint posted before (Paper.revised); a v1 is new
        announce_type=NEW if version == 1 else None,
        version=version,
    )


def _version_of(value: str | None) -> int | None:
    """The item's ``version`` (``"2"``) as a number; None when it is none."""
    return int(value) if value and value.isascii() and value.isdigit() and int(value) > 0 else None
