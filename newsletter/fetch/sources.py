"""What each source asks and what its answer means: pure functions, no I/O.

- Hugging Face (the daily papers API): ``?date=YYYY-MM-DD`` for a day,
  ``?week=YYYY-Www`` (ISO week) or ``?month=YYYY-MM`` for the other periods, with
  ``limit=100``. The API pages its answer (``p``, 50 items by default, at most 100): a
  full first page is followed by ``p=1, 2, ...`` (:mod:`newsletter.fetch.paging`). The
  answer must be a JSON array; ``[]`` (a day nobody submitted papers) is empty.
  The file is named by the period asked: ``huggingface-2026-11-17.json``,
  ``huggingface-week-2026-W47.json``, ``huggingface-month-2026-11.json``.
- arXiv (the RSS listing of a set of categories, one request for all): the answer
  must be RSS 2.0 (or an Atom feed, should ``url`` point at the API); a channel
  without items (weekends, holidays) is empty. The listing has no date parameter:
  it is always the latest announcement, so the file is named by the feed's own date
  (``lastBuildDate``/``pubDate``, else the day asked):
  ``arxiv-cs.CL+cs.LG-2026-11-17.xml``. XML is read with defusedxml (no entity
  expansion, no external entities: the answer comes from the network).
- bioRxiv / medRxiv (the details API for the day, paged: :mod:`newsletter.fetch.paging`):
  the wanted categories' items in one JSON array, ``biorxiv-2026-11-17.json``.
- feed (any RSS/Atom feed): the answer as it came, ``feed-NAME-2026-11-17.xml`` (the day
  asked: journal feeds have no day of their own), read by the ``feed`` reader.
- OpenReview (the API v2 notes of a venue, paged): the notes in one JSON array,
  ``openreview-ICLR.cc_2026_Conference-2026-11-17.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import Element

import httpx
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from newsletter.base.errors import DigestParseError
from newsletter.config import ArxivSource, BiorxivSource, FeedSource, HuggingFaceSource, OpenReviewSource
from newsletter.config.sources import AnySource as AnySource
from newsletter.digest import parse_digest

XML_SOURCES = (ArxivSource, FeedSource)
_READER = {ArxivSource: "arxiv", FeedSource: "feed", BiorxivSource: "biorxiv", OpenReviewSource: "openreview"}
ATOM = "{http://www.w3.org/2005/Atom}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
RSS1 = "{http://purl.org/rss/1.0/}"


class BadAnswer(ValueError):
    """The server answered 200 with something that is not what the source serves."""


@dataclass(frozen=True, slots=True)
class Inspection:
    """What an answer holds: how many items, and the date it names (arXiv) if any."""

    items: int
    day: date | None = None
    unread: tuple[str, ...] = ()  # records beside the good ones that the reader set aside


OPENREVIEW_PAGE = 1000  # the notes API's largest page


def openreview_url(source: OpenReviewSource, offset: int) -> str:
    """The notes of ``source``'s venue from ``offset`` (one page)."""
    params = {"content.venueid": source.venue, "offset": str(offset), "limit": str(OPENREVIEW_PAGE)}
    return str(httpx.URL(source.url).copy_merge_params(params))


def request_url(source: AnySource, day: date) -> str:
    """The URL asked for ``day`` (the Hugging Face period containing it; a paged source's
    first page)."""
    if isinstance(source, ArxivSource):
        return source.listing_url
    if isinstance(source, FeedSource):
        return source.url
    if isinstance(source, BiorxivSource):
        return source.page_url(day.isoformat(), 0)
    if isinstance(source, OpenReviewSource):
        return openreview_url(source, 0)
    return huggingface_url(source, day, 0)


HF_PAGE = 100  # the daily papers API's largest page (its default is 50)


def huggingface_url(source: HuggingFaceSource, day: date, page: int) -> str:
    """One page (``p``, from 0) of the Hugging Face period containing ``day``."""
    period = {
        "daily": {"date": day.isoformat()},
        "weekly": {"week": iso_week(day)},
        "monthly": {"month": day.strftime("%Y-%m")},
    }[source.period]
    paging = {"limit": str(HF_PAGE)} if page == 0 else {"p": str(page), "limit": str(HF_PAGE)}
    return str(httpx.URL(source.url).copy_merge_params({**period, **paging}))


def accept(source: AnySource) -> str:
    if isinstance(source, XML_SOURCES):
        return "application/rss+xml, application/atom+xml;q=0.9, application/xml;q=0.8, */*;q=0.1"
    return "application/json"


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def file_name(source: AnySource, day: date, inspection: Inspection) -> str:
    """The file an answer is written to."""
    if isinstance(source, ArxivSource):
        return f"{source.key}-{(inspection.day or day).isoformat()}.xml"
    if isinstance(source, FeedSource):
        return f"{source.key}-{day.isoformat()}.xml"
    if not isinstance(source, HuggingFaceSource):
        return f"{source.key}-{day.isoformat()}.json"
    label = {"daily": day.isoformat(), "weekly": iso_week(day), "monthly": day.strftime("%Y-%m")}[source.period]
    return f"{source.key}-{label}.json"


def inspect(source: AnySource, body: bytes) -> Inspection:
    """Check the answer's shape; BadAnswer when it is not what the source serves. An
    answer with items is read by the very reader the pick-up uses (SPEC 6c): items that
    are no paper records (``[1, 2, null]``, objects without a title) make it a failed
    answer, never a file; ``items`` is how many papers the reader found."""
    seen = _inspect_feed(body) if isinstance(source, XML_SOURCES) else _inspect_json(body)
    if seen.items == 0:
        return seen
    fmt = _READER.get(type(source), "json")
    try:
        digest = parse_digest(body, source="the answer", fmt=fmt)
    except DigestParseError as exc:
        raise BadAnswer(f"the answer holds no paper records we can read ({exc.message})") from None
    # a record we cannot read beside good ones: the file is written all the same (one bad
    # item never stops the others, SPEC 6c) and the pick-up records the digest partial
    unread = tuple(m for m in digest.missing if m.startswith("entry "))
    return replace(seen, items=len(digest.papers), unread=unread)


def _snippet(body: bytes) -> str:
    text = body[:40].decode("utf-8", "replace")
    return ascii(text)  # never a control character or a line break in the message


def _inspect_json(body: bytes) -> Inspection:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise BadAnswer(f"the answer is not JSON (it starts with {_snippet(body)})") from None
    if not isinstance(data, list):
        raise BadAnswer(f"the answer is JSON but not an array of papers (a {type(data).__name__})")
    return Inspection(items=len(data))


def _inspect_feed(body: bytes) -> Inspection:
    try:
        root: Element = SafeET.fromstring(body)
    except DefusedXmlException as exc:
        raise BadAnswer(f"the answer is XML that is refused ({type(exc).__name__})") from None
    except (SafeET.ParseError, ValueError):
        raise BadAnswer(f"the answer is not XML (it starts with {_snippet(body)})") from None
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise BadAnswer("the answer is RSS without a channel")
        stamp = channel.findtext("lastBuildDate") or channel.findtext("pubDate")
        return Inspection(items=len(channel.findall("item")), day=_rfc822_day(stamp))
    if root.tag == f"{ATOM}feed":
        updated = root.findtext(f"{ATOM}updated")
        day = None
        if updated:
            try:
                day = date.fromisoformat(updated[:10])
            except ValueError:
                day = None
        return Inspection(items=len(root.findall(f"{ATOM}entry")), day=day)
    if root.tag == f"{RDF}RDF":  # RSS 1.0, as Nature and many journals serve it
        return Inspection(items=len(root.findall(f"{RSS1}item")))
    raise BadAnswer(f"the answer is XML but neither RSS nor Atom (root element {root.tag[:40]!a})")


def _rfc822_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value.strip()).date()
    except (TypeError, ValueError, IndexError):
        return None
