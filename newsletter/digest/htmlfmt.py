"""The ``hf-html`` format (SPEC 2.3): a saved Hugging Face papers page.

The page hydrates its list from the JSON in the ``data-props`` attribute of the
element with ``data-target="DailyPapers"``; that JSON holds the API items of
SPEC 2.2 under ``dailyPapers``. The page is read with selectolax (the lexbor
HTML5 parser: it parses broken markup as browsers do, unescapes attributes, and
ships type hints), then the items go through :mod:`newsletter.digest.jsonfmt`.
"""

from __future__ import annotations

import json
from datetime import date

from selectolax.lexbor import LexborHTMLParser

from newsletter.base.errors import DigestParseError
from newsletter.digest import jsonfmt
from newsletter.digest.model import Paper

_TARGETS = ("DailyPapers", "DailyPapersPage", "PapersList")


def parse(text: str, *, source: str) -> tuple[date | None, tuple[Paper, ...]]:
    """(the page's date, its papers)."""
    tree = LexborHTMLParser(text)
    node = None
    for target in _TARGETS:
        node = tree.css_first(f'[data-target="{target}"][data-props]')
        if node is not None:
            break
    if node is None:
        raise DigestParseError('looks like HTML but has no Daily Papers data (data-target="DailyPapers")', path=source)
    props_text = node.attributes.get("data-props") or ""
    try:
        props = json.loads(props_text)
    except json.JSONDecodeError as exc:
        raise DigestParseError(f"the Daily Papers data of the page is not JSON: {exc.msg}", path=source) from None
    except RecursionError:
        raise DigestParseError("the Daily Papers data of the page is nested too deeply", path=source) from None
    items = props.get("dailyPapers") if isinstance(props, dict) else None
    if not isinstance(items, list):
        raise DigestParseError("the Daily Papers data of the page holds no 'dailyPapers' list", path=source)
    when: date | None = None
    date_string = props.get("dateString") if isinstance(props, dict) else None
    if isinstance(date_string, str):
        try:
            when = date.fromisoformat(date_string[:10])
        except ValueError:
            when = None
    papers = jsonfmt.papers_of(items, source=source)
    if not items:
        raise DigestParseError("the saved page lists no papers; not a digest", path=source)
    return when, papers
