"""The heading ``Abstract`` before an abstract is no text of the paper, whichever reader
took it (journal feeds, OpenReview notes, bioRxiv items, text dumps); a sentence that
starts with the word keeps it. Inputs in the shapes the sources write (invented papers)."""

from __future__ import annotations

import json

import pytest

from newsletter.digest import parse_digest

# A journal's RSS 2.0 feed whose descriptions are plain text (no HTML heading to drop):
# Springer's and Wiley's write "Abstract" before the text, some in capitals, some with a
# colon, some on a line of its own.
FEED_ITEM = """<item><title>{title}</title><link>https://journal.example.org/{n}</link>
<description>{text}</description><prism:doi>10.1234/jmr.{n:04d}</prism:doi></item>"""


def feed(*abstracts: str) -> str:
    items = "\n".join(
        FEED_ITEM.format(title=f"Result {n}", n=n, text=text) for n, text in enumerate(abstracts, start=1)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">
<channel><title>Journal of Made-up Results</title><link>https://journal.example.org</link>
{items}
</channel></rss>
"""


def abstracts_of_feed(*abstracts: str) -> list[str]:
    papers = parse_digest(feed(*abstracts).encode(), source="feed-jmr-2026-11-17.xml").papers
    return [p.abstract for p in papers]


@pytest.mark.parametrize(
    "text",
    [
        "Abstract: We show that lattices fold.",
        "Abstract. We show that lattices fold.",
        "ABSTRACT We show that lattices fold.",
        "Abstract We show that lattices fold.",
        "Abstract\n\nWe show that lattices fold.",
        "AbstractWe show that lattices fold.",
        "&lt;p&gt;Abstract:&lt;/p&gt;&lt;p&gt;We show that lattices fold.&lt;/p&gt;",
    ],
)
def test_abstracts_feed_heading_abstract_is_stripped(text: str) -> None:
    assert abstracts_of_feed(text) == ["We show that lattices fold."]


@pytest.mark.parametrize(
    "text",
    [
        "Abstractive summarization of lattices is hard.",
        "Abstract reasoning over lattices is hard.",
        "Abstract Meaning Representation parsing of lattices is hard.",
        "Abstract Interpretation of lattice programs is sound.",
        "Abstract",
    ],
)
def test_abstracts_feed_sentence_starting_with_abstract_is_kept(text: str) -> None:
    assert abstracts_of_feed(text) == [text]


def test_abstracts_openreview_note_abstract_field_with_its_heading() -> None:
    """Authors paste the heading into OpenReview's abstract field ("Abstract: ...")."""
    note = {
        "id": "Qx3Lm9Tz2a",
        "forum": "Qx3Lm9Tz2a",
        "pdate": 1777593600000,
        "content": {
            "title": {"value": "Invented Symmetries of Imaginary Networks"},
            "authors": {"value": ["Rui Ito"]},
            "abstract": {"value": "Abstract: Imaginary networks have invented symmetries."},
            "venue": {"value": "ICLR 2026 Poster"},
            "venueid": {"value": "ICLR.cc/2026/Conference"},
        },
    }
    data = json.dumps([note]).encode()
    (paper,) = parse_digest(data, source="openreview-ICLR.cc_2026_Conference-2026-11-17.json").papers
    assert paper.abstract == "Imaginary networks have invented symmetries."


def test_abstracts_text_dump_paragraph_opening_with_the_heading() -> None:
    """A daily-papers text dump (SPEC 2.1) whose abstract was copied from a paper page
    with its ``Abstract`` label on the same line."""
    text = (
        "Daily Papers\n\nOct 5\n\n"
        "Folding Invented Lattices\n\n"
        "Abstract: We fold invented lattices with imaginary forces.\n\n"
        "  • 3 authors\n·\nOct 4\n\n"
        "Abstractive Lattice Summaries\n\n"
        "Abstractive summaries of lattices are short.\n\n"
        "  • 2 authors\n·\nOct 4\n"
    )
    papers = parse_digest(text.encode(), source="2026-10-05.txt").papers
    assert [p.abstract for p in papers] == [
        "We fold invented lattices with imaginary forces.",
        "Abstractive summaries of lattices are short.",
    ]
