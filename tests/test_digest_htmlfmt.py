"""The ``hf-html`` reader on pages as browsers and capture tools save them (SPEC 2.3)."""

from __future__ import annotations

import html
import json
from datetime import date

import pytest

from newsletter.base.errors import DigestParseError
from newsletter.digest import parse_digest


def item(axid: str, title: str) -> dict[str, object]:
    return {
        "paper": {"id": axid, "title": title, "summary": f"Abstract of {title}.", "authors": [], "upvotes": 3},
        "title": title,
        "numComments": 0,
    }


def card(axid: str, title: str) -> str:
    """A card as the rendered page shows it: thumbnail, upvote button, title link."""
    return (
        f'<article class="relative flex flex-col"><a href="/papers/{axid}" class="block"><img src="t.png"></a>'
        f'<a href="/login?next=%2Fpapers%2F{axid}"><div>3</div></a>'
        f'<h3><a href="/papers/{axid}" class="line-clamp-3">{html.escape(title)}</a></h3>'
        f'<a href="/papers/{axid}#community">0</a></article>'
    )


def page(data: list[dict[str, object]], cards: list[tuple[str, str]], *, props_of: object = None) -> bytes:
    given = props_of or {"dailyPapers": data, "dateString": "2026-11-20", "periodType": "day"}
    props = html.escape(json.dumps(given))
    nav = (
        '<a href="/papers">Daily</a><a href="/papers/week/2026-W47">Weekly</a><a href="/papers/month/2026-11">'
        'Monthly</a><a href="/papers/trending">Trending</a><a href="/papers/date/2026-11-19">Previous</a>'
        '<a href="https://huggingface.co/papers?date=2026-11-21">Next</a>'
    )
    body = "".join(card(a, t) for a, t in cards)
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><nav>{nav}</nav>'
        f'<main><div class="SVELTE_HYDRATER contents" data-target="DailyPapers" data-props="{props}">'
        f"<section>{body}</section></div></main></body></html>"
    ).encode()


PAPERS = [("2611.00001", "Alpha paper"), ("2611.00002", "Beta paper"), ("2611.00003", "Gamma paper")]


def test_htmlfmt_every_card_in_the_data_is_whole_without_false_alarm() -> None:
    digest = parse_digest(page([item(a, t) for a, t in PAPERS], PAPERS), source="p.html")
    assert [(p.id, p.title, p.abstract) for p in digest.papers] == [(a, t, f"Abstract of {t}.") for a, t in PAPERS]
    assert digest.missing == ()


def test_htmlfmt_page_saved_after_scrolling_names_cards_its_data_lacks() -> None:
    """``Save page as`` after scrolling: the page shows cards it loaded later, which its
    hydration data does not hold. They are named (partial), not dropped without a word."""
    more = [*PAPERS, ("2611.00004v2", "Delta paper")]
    digest = parse_digest(page([item(a, t) for a, t in PAPERS[:2]], more), source="p.html")
    assert [p.id for p in digest.papers] == ["2611.00001", "2611.00002"]
    assert digest.missing == ("2611.00003", "2611.00004")


def test_htmlfmt_page_whose_data_holds_none_of_its_cards_is_an_error() -> None:
    with pytest.raises(DigestParseError, match=r"2611\.00001, 2611\.00002"):
        parse_digest(page([], PAPERS[:2]), source="p.html")


def test_htmlfmt_older_page_gives_its_day_from_date() -> None:
    """Pages saved before 2025 carry the day as ``date`` (an ISO timestamp, with
    ``prevDate``/``nextDate``), not ``dateString``: the digest still has its day."""
    older = {
        "canSubmit": False,
        "date": "2026-08-01T00:00:00.000Z",
        "dailyPapers": [item(a, t) for a, t in PAPERS],
        "prevDate": "2026-07-31T00:00:00.000Z",
        "nextDate": "2026-08-02T00:00:00.000Z",
    }
    digest = parse_digest(page([], PAPERS, props_of=older), source="p.html")
    assert (digest.date, len(digest.papers), digest.missing) == (date(2026, 8, 1), 3, ())
