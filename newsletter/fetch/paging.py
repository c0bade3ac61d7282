"""The paged sources: every page of the day asked, put together as the one file we write.

- bioRxiv / medRxiv, the details API: ``{cursor}`` 0, 100, 200, ... until
  ``messages[0].total`` items were given (an answer of no posts, ``"status": "no posts
  found"`` and an empty ``collection``, ends it: an empty day); the items of the wanted
  categories (SPEC 2.5: the API has no filter) in one JSON array.
- Hugging Face, the daily papers API: ``p`` 1, 2, ... with ``limit=100`` after a full
  first page (the first page is the source's ordinary, conditional request: most days
  hold fewer papers, and are one GET), until a page is short or brings no paper not
  seen (an API that ignored ``p`` would repeat its first page); the items in one JSON
  array, each paper once.
- OpenReview, API v2 ``/notes?content.venueid=VENUE&offset=N&limit=1000`` until ``count``
  is reached (a page may hold fewer notes than asked), or, without ``count``, a page is
  short; the notes in one JSON array.

Each page is one GET of :func:`newsletter.fetch.client.get` (timeouts, retries with backoff,
429 and ``Retry-After``); a page that is not the API's shape is a :class:`BadAnswer` (the
source fails, nothing is written: SPEC 6c). At most :data:`MAX_PAGES` pages a day, and
at most :data:`MAX_TOTAL_BYTES` of them together.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from newsletter.config import BiorxivSource, HuggingFaceSource, OpenReviewSource
from newsletter.digest.guard import MAX_DIGEST_BYTES
from newsletter.fetch.client import Answer, FetchFailed
from newsletter.fetch.sources import HF_PAGE, OPENREVIEW_PAGE, BadAnswer, huggingface_url, openreview_url

MAX_PAGES = 200  # 20,000 bioRxiv items, 200,000 OpenReview notes: far beyond a real day or venue
MAX_TOTAL_BYTES = MAX_DIGEST_BYTES  # the pages together: never more than the pick-up would read
BIORXIV_PAGE = 100  # the details API's page size

GetPage = Callable[[str], Answer]


def _capped(get: GetPage, already: int = 0) -> GetPage:
    """``get`` that refuses once the pages together pass :data:`MAX_TOTAL_BYTES`:
    ``fetch.max_bytes`` bounds each page, and 200 pages of it held in memory (then
    written as a file the pick-up refuses) would be gigabytes."""
    total = already

    def capped(url: str) -> Answer:
        nonlocal total
        answer = get(url)
        total += len(answer.body)
        if total > MAX_TOTAL_BYTES:
            raise BadAnswer(
                f"the pages together are more than {MAX_TOTAL_BYTES:,} bytes (the largest digest read); refused"
            )
        return answer

    return capped


def _page(get: GetPage, url: str, number: int) -> Answer:
    """One page; a page after the first that cannot be had names itself."""
    try:
        return get(url)
    except FetchFailed as exc:
        if number == 1:
            raise
        raise FetchFailed(f"page {number} ({url}): {exc}", status=exc.status, attempts=exc.attempts) from None


@dataclass(frozen=True, slots=True)
class Collected:
    """Every page's items put together, and how many GETs (with retries) it took."""

    body: bytes
    attempts: int
    pages: int


def _json_page(answer: Answer, what: str) -> dict[str, Any]:
    try:
        data = json.loads(answer.body)
    except (ValueError, RecursionError):
        raise BadAnswer(
            f"{what} is not JSON (it starts with {answer.body[:40].decode('utf-8', 'replace')!a})"
        ) from None
    if not isinstance(data, dict):
        raise BadAnswer(f"{what} is JSON but not the API's object (a {type(data).__name__})")
    return data


def _count(value: Any, what: str) -> int:
    """A count the APIs give as a number or as a string of digits."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise BadAnswer(f"{what} is not a count: {ascii(value)[:40]}")
    return int(value)


def biorxiv_items(source: BiorxivSource, day: str, get: GetPage) -> Collected:
    """Every item of ``day`` on the source's server, the wanted categories kept."""
    items: list[Any] = []
    attempts = cursor = pages = 0
    get = _capped(get)
    while pages < MAX_PAGES:
        answer = _page(get, source.page_url(day, cursor), pages + 1)
        attempts, pages = attempts + answer.attempts, pages + 1
        data = _json_page(answer, f"page {pages}")
        messages, collection = data.get("messages"), data.get("collection")
        if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
            raise BadAnswer(f"page {pages} has no 'messages' (not the details API's answer)")
        if not isinstance(collection, list):
            raise BadAnswer(f"page {pages} has no 'collection' array")
        if not collection:
            break  # no posts found (that day, or past the last page)
        total = _count(messages[0].get("total", len(collection)), f"page {pages}: messages[0].total")
        items.extend(collection)
        cursor += len(collection)
        if cursor >= total:
            break
    else:
        raise BadAnswer(f"more than {MAX_PAGES} pages; refused")
    kept = [i for i in items if not isinstance(i, dict) or source.wants(i.get("category"))]
    return Collected(json.dumps(kept, ensure_ascii=False, indent=1).encode("utf-8"), attempts, pages)


def openreview_notes(source: OpenReviewSource, get: GetPage) -> Collected:
    """Every note of the venue (its accepted papers: ``content.venueid`` is the venue's id)."""
    notes: list[Any] = []
    attempts = pages = 0
    get = _capped(get)
    while pages < MAX_PAGES:
        answer = _page(get, openreview_url(source, len(notes)), pages + 1)
        attempts, pages = attempts + answer.attempts, pages + 1
        data = _json_page(answer, f"page {pages}")
        page = data.get("notes")
        if not isinstance(page, list):
            raise BadAnswer(f"page {pages} has no 'notes' array (not the notes API's answer)")
        notes.extend(page)
        count = _count(data["count"], f"page {pages}: count") if "count" in data else None
        if _last_page(page, len(notes), count):
            break
    else:
        raise BadAnswer(f"more than {MAX_PAGES} pages; refused")
    return Collected(json.dumps(notes, ensure_ascii=False, indent=1).encode("utf-8"), attempts, pages)


def _last_page(page: list[Any], had: int, count: int | None) -> bool:
    """True when no notes follow ``page``: ``count`` reached (the API may give fewer notes
    than asked on a page that is not the last), else a page short of ``limit``."""
    if count is not None:
        return not page or had >= count
    return len(page) < OPENREVIEW_PAGE


def _hf_key(item: Any) -> str | None:
    paper = item.get("paper") if isinstance(item, dict) else None
    found = paper.get("id") if isinstance(paper, dict) else None
    return found if isinstance(found, str) and found else None


def _unseen(page: list[Any], seen: set[str]) -> list[Any]:
    """The items of ``page`` whose paper is not in ``seen`` (an item without a paper id
    is kept: the reader says what it is), their ids added to ``seen``."""
    out = []
    for item in page:
        key = _hf_key(item)
        if key is None or key not in seen:
            out.append(item)
            if key is not None:
                seen.add(key)
    return out


def _hf_array(body: bytes) -> list[Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, list) else None


def huggingface_rest(source: HuggingFaceSource, day: date, first: Answer, get: GetPage) -> Collected | None:
    """The pages after a full first one, put together with it; None when the first page
    is the whole answer (fewer than :data:`HF_PAGE` items, or not an array: the source's
    check of the answer says what it is)."""
    items = _hf_array(first.body)
    if items is None or len(items) < HF_PAGE:
        return None
    seen: set[str] = set()
    _unseen(items, seen)
    attempts, pages = first.attempts, 1
    get = _capped(get, len(first.body))
    while pages < MAX_PAGES:
        answer = _page(get, huggingface_url(source, day, pages), pages + 1)
        attempts, pages = attempts + answer.attempts, pages + 1
        page = _hf_array(answer.body)
        if page is None:
            raise BadAnswer(f"page {pages} is not a JSON array (not the daily papers API's answer)")
        new = _unseen(page, seen)
        items.extend(new)
        if len(page) < HF_PAGE or not new:
            break
    else:
        raise BadAnswer(f"more than {MAX_PAGES} pages; refused")
    return Collected(json.dumps(items, ensure_ascii=False, indent=1).encode("utf-8"), attempts, pages)
