"""Markdown lists of papers (SPEC 2.1), as people and LLM tools write them when they copy
a listing: ``1. **[Title](url)** — abstract``, ``- **[Title](url)**: abstract``, the
abstract on the next indented line."""

from __future__ import annotations

import pytest

from newsletter.digest import parse_digest
from newsletter.digest.mdlist import list_paper

HF = "https://huggingface.co/papers/"
ALPHA = "We study masked objectives for tabular data and find that structure emerges."
BETA = "We learn satellite tides from coastal gauges over many years."


def ids_titles_abstracts(text: str, source: str = "list.md") -> list[tuple[str, str, str]]:
    digest = parse_digest(text.encode(), source=source)
    assert not digest.partial, digest.missing
    return [(p.id, p.title, p.abstract) for p in digest.papers]


EXPECTED = [
    ("2611.01234", "Masked Objectives for Tables", ALPHA),
    ("2611.05678", "Satellite Tides From Coastal Gauges", BETA),
]


@pytest.mark.parametrize(
    "sep",
    [" — ", " – ", " - ", " -- ", ": ", ":", " | "],
)
def test_mdlist_numbered_bold_title_and_abstract_on_one_line(sep: str) -> None:
    text = (
        "# Hugging Face Daily Papers — Nov 3, 2026\n\n"
        f"1. **[Masked Objectives for Tables]({HF}2611.01234)**{sep}{ALPHA}\n"
        f"2. **[Satellite Tides From Coastal Gauges]({HF}2611.05678)**{sep}{BETA}\n"
    )
    assert ids_titles_abstracts(text) == EXPECTED


@pytest.mark.parametrize("marker", ["-", "*", "+", "•", "1)"])
@pytest.mark.parametrize("em", ["**", "__", ""])
def test_mdlist_bullets_and_emphasis(marker: str, em: str) -> None:
    text = (
        f"{marker} {em}[Masked Objectives for Tables]({HF}2611.01234){em}: {ALPHA}\n"
        f"{marker} {em}[Satellite Tides From Coastal Gauges](https://hf.co/papers/2611.05678){em}: {BETA}\n"
    )
    assert ids_titles_abstracts(text) == EXPECTED


def test_mdlist_abstract_on_the_next_indented_lines() -> None:
    text = (
        "Today's papers:\n\n"
        f"1. **[Masked Objectives for Tables]({HF}2611.01234)**\n"
        "   We study masked objectives for tabular data\n   and find that structure emerges.\n"
        f"2. **[Satellite Tides From Coastal Gauges]({HF}2611.05678)**\n"
        f"   {BETA}\n"
    )
    assert ids_titles_abstracts(text) == EXPECTED


def test_mdlist_blank_lines_between_items_and_a_cited_link_in_the_abstract() -> None:
    """A link inside the abstract cites another paper: text, and not counted as linked."""
    text = (
        f"- **[Masked Objectives for Tables]({HF}2611.01234)** — We study masked objectives "
        f"(after [TabNet]({HF}2611.00001)) for tabular data.\n\n"
        f"- **[Satellite Tides From Coastal Gauges]({HF}2611.05678)** — {BETA}\n"
    )
    found = ids_titles_abstracts(text)
    assert found[0] == (
        "2611.01234",
        "Masked Objectives for Tables",
        "We study masked objectives (after TabNet) for tabular data.",
    )
    assert found[1] == EXPECTED[1]


def test_mdlist_item_whose_title_is_lost_makes_the_digest_partial() -> None:
    text = (
        f"1. **[Masked Objectives for Tables]({HF}2611.01234)** — {ALPHA}\n"
        f"2. **[]({HF}2611.09999)** — A paper whose title the copy lost.\n"
        f"3. **[Satellite Tides From Coastal Gauges]({HF}2611.05678)** — {BETA}\n"
    )
    digest = parse_digest(text.encode(), source="list.md")
    assert [p.id for p in digest.papers] == ["2611.01234", "2611.05678"]
    assert digest.missing == ("2611.09999",)


def test_mdlist_a_sentence_in_a_list_is_no_title() -> None:
    """An item whose link does not open it is a sentence; a list of links to no paper is
    no digest."""
    assert list_paper(f"- see [this paper]({HF}2611.01234) for more") is None
    with pytest.raises(Exception, match="not a digest"):
        parse_digest(
            b"# Links\n\n- [Docs](https://huggingface.co/docs)\n- [Blog](https://huggingface.co/blog)\n", source="n.md"
        )


@pytest.mark.parametrize(
    ("line", "label", "url", "rest"),
    [
        (f"1. **[T]({HF}1)** — abc", "T", f"{HF}1", "abc"),
        (f"12) [T]({HF}1)", "T", f"{HF}1", ""),
        (f"- __[\\[Re\\] T]({HF}1)__: x [y](u) z", "\\[Re\\] T", f"{HF}1", "x y z"),
        (f"* *[T]({HF}1)* - abc", "T", f"{HF}1", "abc"),
    ],
)
def test_mdlist_list_paper_reads_the_line(line: str, label: str, url: str, rest: str) -> None:
    found = list_paper(line)
    assert found is not None
    assert (found.link.label, found.link.url, found.rest) == (label, url, rest)


@pytest.mark.parametrize("line", ["1.5 [T](u)", "-[T](u)", "1. text [T](u)", "- **bold** [T](u)", "[T](u)"])
def test_mdlist_list_paper_refuses_other_lines(line: str) -> None:
    assert list_paper(line) is None


def test_mdlist_hostile_title_and_abstract_stay_text() -> None:
    text = (
        f"1. **[<script>alert(1)</script> Tables]({HF}2611.01234)** — <b>bold</b> \x1b[31m{ALPHA}\n"
        f"2. **[Satellite Tides From Coastal Gauges](javascript:alert(1))** — {BETA}\n"
    )
    digest = parse_digest(text.encode(), source="list.md")
    (paper,) = digest.papers  # the item linking to no paper is no title: text of the card before
    assert paper.title == "<script>alert(1)</script> Tables"
    assert paper.abstract.startswith(f"<b>bold</b> [31m{ALPHA}")  # the control byte dropped (SPEC 6c)
    assert paper.url == f"{HF}2611.01234" and "javascript" not in repr(paper.links)


def test_mdlist_count_links_in_a_list_leave_heading_titles_alone() -> None:
    """``- [3 authors](paper url)`` under link-less heading titles is the card's author
    count, not a list of titles: the headings stay the titles."""
    text = (
        "## Trending\n\n### Masked Objectives for Tables\n\n"
        f"- [3 authors]({HF}2611.01234)\n\n{ALPHA}\n\n"
        "### Satellite Tides From Coastal Gauges\n\n"
        f"- [2 authors]({HF}2611.05678)\n\n{BETA}\n"
    )
    digest = parse_digest(text.encode(), source="t.md")
    assert [(p.id, p.title, p.authors) for p in digest.papers] == [
        ("2611.01234", "Masked Objectives for Tables", 3),
        ("2611.05678", "Satellite Tides From Coastal Gauges", 2),
    ]
