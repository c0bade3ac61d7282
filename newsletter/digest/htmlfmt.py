"""The ``hf-html`` format (SPEC 2.3): a saved Hugging Face papers page, or one paper's
page (its data under ``data-target="PaperContent"``: a one-paper digest).

The page hydrates its list from the JSON in the ``data-props`` attribute of the
element with ``data-target="DailyPapers"``; that JSON holds the API items of
SPEC 2.2 under ``dailyPapers``. The page is read with selectolax (the lexbor
HTML5 parser: it parses broken markup as browsers do, unescapes attributes, and
ships type hints), then the items go through :mod:`newsletter.digest.jsonfmt`.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any
from urllib.parse import unquote, urlsplit

from selectolax.lexbor import LexborHTMLParser

from newsletter.base.errors import DigestParseError
from newsletter.digest import jsonfmt
from newsletter.digest.model import Paper, arxiv_id

_TARGETS = ("DailyPapers", "DailyPapersPage", "PapersList", "PaperContent")
_PAPER_PATH = re.compile(r"^(?:https?://(?:www\.)?(?:huggingface|hf)\.co)?/papers/([^/?#]+)$", re.IGNORECASE)


def _linked(tree: LexborHTMLParser) -> dict[str, None]:
    """The arXiv ids of the papers the page's cards link to (``/papers/<id>``, the
    upvote button's ``/login?next=%2Fpapers%2F<id>``), in page order."""
    found: dict[str, None] = {}
    for anchor in tree.css("a[href]"):
        href = (anchor.attributes.get("href") or "").strip()
        parts = urlsplit(href)
        if parts.path.endswith("/login") and parts.query.startswith("next="):
            href = unquote(parts.query[5:])
            parts = urlsplit(href)
        m = _PAPER_PATH.match(f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path)
        if m and (axid := arxiv_id(m.group(1))):
            found[axid] = None
    return found


def _given_ids(items: list[Any]) -> set[str]:
    """The arXiv ids of the page's data items, read or skipped (a withdrawn paper)."""
    ids: set[str] = set()
    for item in items:
        rec = item.get("paper") if isinstance(item, dict) else None
        for value in (
            rec.get("id") if isinstance(rec, dict) else None,
            item.get("id") if isinstance(item, dict) else None,
        ):
            if isinstance(value, str) and (axid := arxiv_id(value)):
                ids.add(axid)
    return ids


def _props(tree: LexborHTMLParser, *, source: str) -> dict[str, Any]:
    """The page's Daily Papers data (the JSON of the hydrated element's ``data-props``)."""
    node = None
    for target in _TARGETS:
        node = tree.css_first(f'[data-target="{target}"][data-props]')
        if node is not None:
            break
    if node is None:
        raise DigestParseError(
            'looks like HTML but has no Daily Papers data (data-target="DailyPapers"), nor a paper\'s ("PaperContent")',
            path=source,
        )
    try:
        props = json.loads(node.attributes.get("data-props") or "")
    except json.JSONDecodeError as exc:
        raise DigestParseError(f"the Daily Papers data of the page is not JSON: {exc.msg}", path=source) from None
    except RecursionError:
        raise DigestParseError("the Daily Papers data of the page is nested too deeply", path=source) from None
    if not isinstance(props, dict):
        raise DigestParseError("the Daily Papers data of the page holds no 'dailyPapers' list", path=source)
    return props


def _day(value: Any) -> date | None:
    """The page's ``dateString`` (or, on older pages, ``date``: an ISO timestamp) as a date, or None."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def comment_count(comments: list[Any]) -> int:
    """The comments the page lists, as the listing's "N comments" counts them: each comment
    and each reply under one (``replies``, at any depth; a hidden comment too, which the
    page still lists, folded), not the thread's other events (an entry whose ``type`` is
    not ``comment``: a title or status change)."""
    count = 0
    for entry in comments:
        if isinstance(entry, dict):
            count += entry.get("type", "comment") == "comment"
            replies = entry.get("replies")
            count += comment_count(replies) if isinstance(replies, list) else 0
    return count


def _one_paper(props: dict[str, Any], *, source: str) -> tuple[tuple[Paper, ...], tuple[str, ...]]:
    """One paper's page (``huggingface.co/papers/<id>``): its data (``data-target=
    "PaperContent"``) holds ``paper`` (the API's paper record), its ``comments`` and its
    ``organization``; read as one API item. The papers its comments link to (the
    community's recommendations) are not this digest's and are not counted; its comment
    count is :func:`comment_count`."""
    comments = props.get("comments")
    item = {
        "paper": props["paper"],
        "numComments": comment_count(comments) if isinstance(comments, list) else None,
        "organization": props.get("organization"),
    }
    return jsonfmt.papers_of([item], source=source)


def parse(text: str, *, source: str) -> tuple[date | None, tuple[Paper, ...], tuple[str, ...]]:
    """(the page's date, its papers, the ids its cards link to that its data does not hold).

    A page saved after scrolling (``Save page as``, SingleFile) shows cards the page loaded
    later, which its hydration data does not hold: those are named, and the digest is
    partial (SPEC 2.1), never a shorter list without a word."""
    tree = LexborHTMLParser(text)
    props = _props(tree, source=source)
    if not isinstance(props.get("dailyPapers"), list) and isinstance(props.get("paper"), dict):
        return None, *_one_paper(props, source=source)
    items = props.get("dailyPapers")
    if not isinstance(items, list):
        raise DigestParseError("the Daily Papers data of the page holds no 'dailyPapers' list", path=source)
    when = _day(props.get("dateString")) or _day(props.get("date"))  # "date": pages saved before 2025
    papers, bad = jsonfmt.papers_of(items, source=source)
    given = _given_ids(items) | {p.arxiv_id for p in papers if p.arxiv_id}
    missing = tuple(i for i in _linked(tree) if i not in given) + bad
    if not papers and missing:
        raise DigestParseError(f"the page's data holds none of the papers it shows ({', '.join(missing)})", path=source)
    if not items:
        raise DigestParseError("the saved page lists no papers; not a digest", path=source)
    return when, papers, missing
