"""``hf.co/papers/<id>`` short links (and ``http://``, ``www.``, queries, fragments) are
links to the paper everywhere a ``huggingface.co/papers/<id>`` link is: the paper's id,
the distinct ids a dump links to (a card that cannot be read makes it partial), the
cards of a saved page (SPEC 2.1)."""

from __future__ import annotations

import json
from html import escape

import pytest

from newsletter.digest import parse_digest
from newsletter.digest.hfshared import paper_ref


@pytest.mark.parametrize(
    "url",
    [
        "https://hf.co/papers/2611.01234",
        "http://hf.co/papers/2611.01234",
        "https://www.hf.co/papers/2611.01234",
        "https://hf.co/papers/2611.01234v2",
        "https://hf.co/papers/2611.01234?utm_source=digest&x=1",
        "https://hf.co/papers/2611.01234?",
        "https://hf.co/papers/2611.01234#community",
        "http://www.huggingface.co/papers/2611.01234?ref=x#community",
        "https://huggingface.co/papers/2611.01234#community",
        "https://hf.co/login?next=%2Fpapers%2F2611.01234",
        "http://www.hf.co/login?next=%2Fpapers%2F2611.01234%23community",
    ],
)
def test_shortlinks_paper_ref_reads_every_spelling(url: str) -> None:
    assert paper_ref(url) == ("2611.01234", True)


@pytest.mark.parametrize(
    "url",
    [
        "https://hf.co/papers/date/2026-11-03",
        "https://hf.co/papers/trending",
        "https://nothf.co/papers/2611.01234",
        "https://hf.com/papers/2611.01234",
        "https://hf.co/2611.01234",
        "https://example.org/?u=https://hf.co/papers/2611.01234",
    ],
)
def test_shortlinks_paper_ref_refuses_what_is_no_paper_page(url: str) -> None:
    assert paper_ref(url) is None


MARKDOWN = """# Daily Papers

### [Masked Objectives for Tables](https://hf.co/papers/2611.01234)

We study masked objectives for tabular data and find that structure emerges.

- 5 authors

### [Satellite Tides From Coastal Gauges](http://www.hf.co/papers/2611.05678?utm_source=digest)

We learn satellite tides from coastal gauges over many years.

[3](https://hf.co/papers/2611.05678#community)
"""


def test_shortlinks_markdown_dump_gives_ids_and_the_canonical_page() -> None:
    digest = parse_digest(MARKDOWN.encode(), source="short.md")
    assert [(p.id, p.url, p.comments) for p in digest.papers] == [
        ("2611.01234", "https://huggingface.co/papers/2611.01234", None),
        ("2611.05678", "https://huggingface.co/papers/2611.05678", 3),
    ]
    assert not digest.partial


def test_shortlinks_count_in_the_partial_ids_of_a_dump() -> None:
    """The card whose title the capture lost links to its paper with short links only:
    the dump is partial and names it."""
    lost = (
        "[7](https://hf.co/login?next=%2Fpapers%2F2611.09999)\n\n"
        "[A satellite paper whose title the capture lost on the way, a long abstract that runs on "
        "and on about gauges and tides and storms over many years of data, well past a title's "
        "length as every abstract does, more than three hundred characters of it so that nothing "
        "could take it for a title of a paper at all, never, not here and not anywhere else either]"
        "(https://hf.co/papers/2611.09999)\n\n"
        "[- 2 authors](https://hf.co/papers/2611.09999)\n"
    )
    text = MARKDOWN + "\n" + lost
    digest = parse_digest(text.encode(), source="short.md")
    assert [p.id for p in digest.papers] == ["2611.01234", "2611.05678"]
    assert digest.missing == ("2611.09999",)


def test_shortlinks_url_lines_after_titles() -> None:
    text = (
        "Daily Papers\nhttps://hf.co/papers\n\n"
        "Masked Objectives for Tables\nhttps://hf.co/papers/2611.01234\n- 5 authors\n"
        "We study masked objectives for tabular data and find that structure emerges.\n\n"
        "Satellite Tides From Coastal Gauges\nhttp://hf.co/papers/2611.05678#community\n- 3 authors\n"
        "We learn satellite tides from coastal gauges over many years.\n"
    )
    digest = parse_digest(text.encode(), source="urls.txt")
    assert [(p.id, p.title) for p in digest.papers] == [
        ("2611.01234", "Masked Objectives for Tables"),
        ("2611.05678", "Satellite Tides From Coastal Gauges"),
    ]


def test_shortlinks_saved_page_cards_with_short_links_count() -> None:
    """A saved listing page whose cards link with the short host: a card its data does
    not hold is named (partial)."""
    item = {"paper": {"id": "2611.01234", "title": "Masked Objectives", "summary": "About tables."}}
    props = escape(json.dumps({"dailyPapers": [item], "dateString": "2026-11-03"}))
    page = (
        f'<html><body><div data-target="DailyPapers" data-props="{props}"></div>'
        '<a href="https://hf.co/papers/2611.01234">Masked Objectives</a>'
        '<a href="https://hf.co/papers/2611.05678?x=1">Loaded later</a></body></html>'
    )
    digest = parse_digest(page.encode(), source="page.html")
    assert [p.id for p in digest.papers] == ["2611.01234"]
    assert digest.missing == ("2611.05678",)
