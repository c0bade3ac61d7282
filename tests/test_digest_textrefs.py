"""``lynx -dump`` and ``w3m -dump`` of a Hugging Face papers listing (SPEC 2.1): link
numbers before each link's text (``[12]Title``) and the references at the end. The
dumps here are written by hand in the shape of the browsers' documented output: lynx
numbers its links ``[N]`` inline and lists ``  N. URL`` under ``References``; w3m (with
``-o display_link_number=1``) lists ``[N] URL`` under ``References:``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from newsletter.base.errors import DigestParseError
from newsletter.digest import detect_format, parse_digest
from newsletter.digest.textrefs import as_reference_links, is_numbered_dump

HF = "https://huggingface.co/papers/"
LOGIN = "https://huggingface.co/login?next=%2Fpapers%2F"
ALPHA = "We study masked objectives for tabular data and find that structure\n   emerges from masking columns."
BETA = "We learn satellite tides from coastal gauges over many years of data."


def lynx(cards: list[str], refs: list[str], *, header: str = "References") -> str:
    """A lynx dump: the menu, the page header, the cards, the numbered references."""
    menu = [f"{HF[:-7]}", "https://huggingface.co/models", "https://huggingface.co/datasets", f"{HF[:-1]}"]
    numbered = [*menu, *refs]
    body = "   [1]Hugging Face [2]Models [3]Datasets [4]Papers\n\nDaily Papers\n\n   Nov 3\n\n" + "\n".join(cards)
    listing = "\n".join(f"{k:4d}. {url}" for k, url in enumerate(numbered, start=1))
    return f"{body}\n{header}\n\n{listing}\n"


def card(n: int, pid: str, title: str, abstract: str, *, votes: str = "{n}]19") -> str:
    """One card: the upvote link with its count, the title link, the abstract, authors."""
    up = f"   [{n}]19" if votes == "{n}]19" else votes.format(n=n)
    return f"{up}\n   [{n + 1}]{title}\n\n   {abstract}\n\n     * 5 authors\n\n   Published on Nov 1, 2026\n"


def two_cards() -> str:
    return lynx(
        [
            card(5, "2611.01234", "Masked Objectives for Tables Learn Structure", ALPHA),
            card(7, "2611.05678", "Satellite Tides From Coastal Gauges", BETA),
        ],
        [f"{LOGIN}2611.01234", f"{HF}2611.01234", f"{LOGIN}2611.05678", f"{HF}2611.05678"],
    )


def read(text: str, source: str = "dump.txt") -> list[tuple[str, str, str, int | None, int | None]]:
    digest = parse_digest(text.encode(), source=source)
    assert not digest.partial, digest.missing
    return [(p.id, p.title, p.abstract, p.upvotes, p.authors) for p in digest.papers]


EXPECTED = [
    (
        "2611.01234",
        "Masked Objectives for Tables Learn Structure",
        "We study masked objectives for tabular data and find that structure emerges from masking columns.",
        19,
        5,
    ),
    ("2611.05678", "Satellite Tides From Coastal Gauges", BETA, 19, 5),
]


def test_textrefs_lynx_dump_reads_titles_ids_counts() -> None:
    text = two_cards()
    assert text.startswith("   [1]Hugging Face")
    assert detect_format(text) == "hf-text"
    assert read(text) == EXPECTED


def test_textrefs_lynx_dump_starting_with_a_link_number_is_text_not_json() -> None:
    """lynx's first line is often the site menu: ``[1]Hugging Face``."""
    text = two_cards().lstrip()
    assert text.startswith("[1]Hugging Face")
    assert detect_format(text) == "hf-text"
    assert read(text) == EXPECTED
    assert detect_format("[1, 2]") == "json" and detect_format("[1]") == "json"


def test_textrefs_w3m_dump_references_in_brackets() -> None:
    text = two_cards().replace("References\n", "References:\n")
    lines = text.split("\n")
    start = lines.index("References:")
    for k in range(start + 1, len(lines)):
        head, _, url = lines[k].strip().partition(". ")
        if url:
            lines[k] = f"[{head}] {url}"
    w3m = "\n".join(lines)
    assert "[5] https://huggingface.co/login" in w3m
    assert read(w3m) == EXPECTED


def test_textrefs_upvote_label_with_the_count_on_its_own_line() -> None:
    text = two_cards().replace("   [5]19\n", "   [5]Upvote\n   19\n").replace("   [7]19\n", "   [7]Upvote\n   19\n")
    assert read(text) == EXPECTED


def test_textrefs_title_wrapped_over_two_lines_is_joined() -> None:
    long = "Masked Objectives for Tables Learn Structure Across Many Domains,\n   Scales and Tasks"
    text = two_cards().replace("Masked Objectives for Tables Learn Structure", long, 1)
    found = read(text)
    assert found[0][1] == "Masked Objectives for Tables Learn Structure Across Many Domains, Scales and Tasks"
    assert found[0][2] == EXPECTED[0][2] and found[1] == EXPECTED[1]


def test_textrefs_ids_only_from_the_cards_own_references() -> None:
    """Each card's id is its own title's reference, never the next one's: references in
    another order than the cards, and a card whose title points nowhere."""
    text = lynx(
        [
            card(5, "2611.01234", "Masked Objectives for Tables Learn Structure", ALPHA),
            card(7, "2611.05678", "Satellite Tides From Coastal Gauges", BETA),
        ],
        [f"{LOGIN}2611.05678", f"{HF}2611.05678", f"{LOGIN}2611.01234", f"{HF}2611.01234"],
    )
    found = {(p[0], p[1]) for p in read(text)}
    assert found == {
        ("2611.05678", "Masked Objectives for Tables Learn Structure"),  # the numbers say so
        ("2611.01234", "Satellite Tides From Coastal Gauges"),
    }


def test_textrefs_card_without_its_title_makes_the_digest_partial() -> None:
    lost = "   [7]7\n\n   A satellite paper whose title the dump lost on the way, gauges and tides.\n"
    text = lynx(
        [
            card(5, "2611.01234", "Masked Objectives for Tables Learn Structure", ALPHA),
            lost,
            card(8, "2611.05678", "Satellite Tides From Coastal Gauges", BETA),
        ],
        [
            f"{LOGIN}2611.01234",
            f"{HF}2611.01234",
            "https://huggingface.co/login?next=%2Fpapers%2F2611.09999",
            f"{LOGIN}2611.05678",
            f"{HF}2611.05678",
        ],
    )
    digest = parse_digest(text.encode(), source="dump.txt")
    assert [p.id for p in digest.papers] == ["2611.01234", "2611.05678"]
    assert digest.missing == ("2611.09999",)


def test_textrefs_references_cut_off_keep_the_papers_they_name() -> None:
    """The dump ends inside the references: the second title's address is lost, its upvote
    link still names the paper: partial, that id named, never given to a neighbour."""
    text = two_cards()
    cut = text[: text.index(f"{HF}2611.05678")]
    digest = parse_digest(cut.encode(), source="dump.txt")
    assert [p.id for p in digest.papers] == ["2611.01234"]
    assert digest.missing == ("2611.05678",)


def test_textrefs_hostile_labels_stay_text() -> None:
    text = two_cards().replace("Satellite Tides From Coastal Gauges", "Tides [x](javascript:alert(1)) \\ ] [", 1)
    digest = parse_digest(text.encode(), source="dump.txt")
    paper = digest.papers[1]  # the page's words, as they are: text, never a link of ours
    assert (paper.id, paper.title) == ("2611.05678", "Tides [x](javascript:alert(1)) \\ ] [")
    assert paper.url == f"{HF}2611.05678" and not any("javascript" in u for u in paper.links)


def test_textrefs_plain_text_with_brackets_is_no_numbered_dump() -> None:
    assert not is_numbered_dump("We cite [12]. References\n\n 1. https://example.org/a\n")
    assert not is_numbered_dump("[12]Title only, no references\n")
    assert as_reference_links("   [3]Title\n\nReferences\n\n   3. https://x.org\n").startswith("   [Title][3]\n")


def test_textrefs_lynx_dump_of_no_paper_page_is_no_digest() -> None:
    text = "   [1]Home [2]About\n\nWelcome to our lab.\n\nReferences\n\n   1. https://lab.example/\n   2. https://lab.example/about\n"
    with pytest.raises(DigestParseError, match="not a digest"):
        parse_digest(text.encode(), source="lab.txt")


@pytest.mark.parametrize("placeholder", ["[IMG]", "[LINK]", "[thumbnail.png]", "[INLINE]", ""])
def test_textrefs_image_links_are_thumbnails_not_text(placeholder: str) -> None:
    """A card's thumbnail is a link holding only an image: lynx shows its number and a
    placeholder (``[12][IMG]``) or the image's file name. It names its paper and is no
    text: the card before it takes none of it."""
    cards = [
        f"   [5]{placeholder}\n" + card(6, "2611.01234", "Masked Objectives for Tables Learn Structure", ALPHA),
        f"   [8]{placeholder}\n" + card(9, "2611.05678", "Satellite Tides From Coastal Gauges", BETA),
    ]
    refs = [f"{HF}2611.01234", f"{LOGIN}2611.01234", f"{HF}2611.01234"]
    refs += [f"{HF}2611.05678", f"{LOGIN}2611.05678", f"{HF}2611.05678"]
    assert read(lynx(cards, refs)) == EXPECTED


def test_textrefs_lynx_visible_and_hidden_links_sections() -> None:
    """lynx splits its references into ``Visible links:`` and ``Hidden links:`` when the
    page has links without text."""
    text = two_cards().replace("References\n\n", "References\n\n   Visible links:\n")
    text += "   Hidden links:\n  40. https://huggingface.co/papers/2611.05678#community\n"
    assert read(text) == EXPECTED


def test_textrefs_markdown_dump_citing_numbered_references_is_left_alone() -> None:
    """A Markdown reference-link dump whose abstract cites ``[1].`` and ``[2], [3]``: no
    text-browser numbers, read as before."""
    text = (
        "# Daily Papers\n\n### [Masked Objectives for Tables][10]\n\n"
        "We extend the masked objective of [1]. Unlike [2], [3] we mask columns.\n\n"
        "### [Satellite Tides From Coastal Gauges][11]\n\n" + BETA + "\n\nReferences\n\n"
        f"  10. {HF}2611.01234\n  11. {HF}2611.05678\n"
    )
    assert not is_numbered_dump(text)
    digest = parse_digest(text.encode(), source="refs.md")
    assert [(p.id, p.abstract) for p in digest.papers] == [
        ("2611.01234", "We extend the masked objective of [1]. Unlike [2], [3] we mask columns."),
        ("2611.05678", BETA),
    ]


# --------------------------------------------------------------------------- the real browsers

PAGE = """<!doctype html><html><head><base href="https://huggingface.co/"><title>Daily Papers</title></head>
<body><header><nav><a href="/">Hugging Face</a> <a href="/models">Models</a> <a href="/papers">Papers</a>
<a href="/login">Log In</a></nav></header><main><h1>Daily Papers</h1><p>by AK and the research community</p>
<div><a href="/papers/date/2026-11-16">Previous</a> <a href="/papers/date/2026-11-18">Next</a></div>
<article><a href="/papers/2611.00001"><img src="/thumb1.png" alt=""></a>
<div><a href="/login?next=%2Fpapers%2F2611.00001">Upvote</a><div>42</div></div>
<h3><a href="/papers/2611.00001">Sparse Autoencoders Find Highly Interpretable Features in Language Models
Across Many Scales</a></h3>
<ul><li><img src="/avatars/a.png" alt=""></li><li><img src="/avatars/b.png"></li></ul><span>· 7 authors</span>
<p>We train sparse autoencoders on the residual stream of language models and find features that humans
can name, across many scales of model.</p>
<p>Submitted by <a href="/akhaliq">akhaliq</a></p></article>
<article><a href="/papers/2611.00002"><img src="/thumb2.png" alt=""></a>
<div><a href="/login?next=%2Fpapers%2F2611.00002">Upvote</a><div>-</div></div>
<h3><a href="/papers/2611.00002">Contrastive Learning for Tabular Data</a></h3>
<ul><li><img src="/avatars/c.png"></li></ul><span>· 2 authors</span>
<p>Columns of a table are views of one row: we contrast them.</p></article>
</main><footer><p><a href="/terms">Terms</a> <a href="/privacy">Privacy</a></p></footer></body></html>
"""

BROWSERS = {
    "lynx": ["lynx", "-dump", "-width=80", "-assume_charset=utf-8", "-display_charset=utf-8"],
    "w3m": ["w3m", "-dump", "-cols", "80", "-o", "display_link_number=1", "-I", "UTF-8", "-O", "UTF-8"],
}


@pytest.mark.parametrize("browser", sorted(BROWSERS))
def test_textrefs_real_browser_dump_of_a_listing_page(tmp_path: Path, browser: str) -> None:
    """The page dumped by the real lynx / w3m: avatar rows (a bare bullet, ``* [b.png]``,
    w3m's ``• [a]``) never reach an abstract; ``-`` under the upvote link is 0 votes."""
    page = tmp_path / "papers.html"
    page.write_text(PAGE, encoding="utf-8")
    dump = subprocess.run([*BROWSERS[browser], str(page)], capture_output=True, check=True, timeout=60).stdout
    assert is_numbered_dump(dump.decode())
    assert read(dump.decode()) == [
        (
            "2611.00001",
            "Sparse Autoencoders Find Highly Interpretable Features in Language Models Across Many Scales",
            "We train sparse autoencoders on the residual stream of language models and find features that "
            "humans can name, across many scales of model.",
            42,
            7,
        ),
        (
            "2611.00002",
            "Contrastive Learning for Tabular Data",
            "Columns of a table are views of one row: we contrast them.",
            0,
            2,
        ),
    ]


CITING_PAGE = """<!doctype html><html><head><base href="https://huggingface.co/"><title>Daily Papers</title></head>
<body><main><h1>Daily Papers</h1>
<article><a href="/papers/2611.00001"><img src="/thumb1.png" alt=""></a>
<div><a href="/login?next=%2Fpapers%2F2611.00001">Upvote</a><div>42</div></div>
<h3><a href="/papers/2611.00001">Sparse Autoencoders Find Features</a></h3>
<span>· 7 authors</span>
<p>We train sparse autoencoders, following <a href="/papers/2501.00099">prior work</a> on the residual stream.</p>
<a href="/papers/2611.00001#community">3</a></article>
<article><a href="/papers/2611.00002"><img src="/thumb2.png" alt=""></a>
<div><a href="/login?next=%2Fpapers%2F2611.00002">Upvote</a><div>5</div></div>
<h3><a href="/papers/2611.00002">Contrastive Learning for Tabular Data</a></h3>
<span>· 2 authors</span>
<p>Columns of a table are views of one row: we contrast them.</p>
<a href="/papers/2611.00002#community">12</a></article>
</main></body></html>
"""


@pytest.mark.parametrize("browser", sorted(BROWSERS))
def test_textrefs_real_browser_dump_citation_in_an_abstract_and_comment_counts(tmp_path: Path, browser: str) -> None:
    """An abstract linking another paper cites it: the dump is whole, not "partial: 1
    linked paper not read" (each browser lists that link among its references). w3m
    writes a card's comment link and the next card's thumbnail on one line
    (``[5]3 [6][thumb2]``): the count is still the card's."""
    page = tmp_path / "papers.html"
    page.write_text(CITING_PAGE, encoding="utf-8")
    dump = subprocess.run([*BROWSERS[browser], str(page)], capture_output=True, check=True, timeout=60).stdout
    assert "2501.00099" in dump.decode()  # among the references
    digest = parse_digest(dump, source="papers.txt")
    assert not digest.partial, digest.missing
    assert [(p.id, p.title, p.abstract, p.upvotes, p.comments, p.authors) for p in digest.papers] == [
        (
            "2611.00001",
            "Sparse Autoencoders Find Features",
            "We train sparse autoencoders, following prior work on the residual stream.",
            42,
            3,
            7,
        ),
        ("2611.00002", "Contrastive Learning for Tabular Data", ALPHA_ROW, 5, 12, 2),
    ]


ALPHA_ROW = "Columns of a table are views of one row: we contrast them."


def test_textrefs_cited_paper_with_a_card_of_its_own_is_still_counted() -> None:
    """A paper cited in one abstract whose own card lost its title is still missed: the
    citation does not hide a card the reader could not read."""
    text = lynx(
        [
            card(5, "2611.01234", "Masked Objectives for Tables Learn Structure", "We extend [9]Satellite work."),
            "   [7]19\n\n   " + BETA + "\n",
        ],
        [f"{LOGIN}2611.01234", f"{HF}2611.01234", f"{LOGIN}2611.05678", f"{HF}2611.05678", f"{HF}2611.05678"],
    )
    digest = parse_digest(text.encode(), source="dump.txt")
    assert [p.id for p in digest.papers] == ["2611.01234"]
    assert digest.partial
    assert digest.missing == ("2611.05678",)
