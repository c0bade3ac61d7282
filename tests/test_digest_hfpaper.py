"""One paper's page (``huggingface.co/papers/<id>``) saved as Markdown or text is a
one-paper digest (SPEC 2.1): its title, id (from the page's own address or arXiv link,
never from the papers listed under it), date, authors, counts, AI summary, abstract and
links. The dumps are written by hand in the shapes tools write: a reader proxy's
Markdown (``Title:``/``URL Source:``/``Markdown Content:``), an HTML-to-Markdown
converter's (no address), a browser's plain copy."""

from __future__ import annotations

from datetime import date

import pytest

from newsletter.base.errors import DigestParseError
from newsletter.digest import Paper, parse_digest
from newsletter.digest.hfpaper import is_paper_page

REF = date(2026, 11, 20)
ABSTRACT = "We study masked objectives for tabular data and find that structure emerges from masking columns."

PROXY = """Title: Paper page - Masked Objectives for Tables Learn Structure

URL Source: https://huggingface.co/papers/2611.01234

Markdown Content:
[![Hugging Face's logo](https://huggingface.co/front/assets/logo.svg) Hugging Face](https://huggingface.co/)

*   [Models](https://huggingface.co/models)
*   [Datasets](https://huggingface.co/datasets)

[Papers](https://huggingface.co/papers)

arxiv:2611.01234

# Masked Objectives for Tables Learn Structure

Published on Nov 1

·

Submitted by [AK](https://huggingface.co/akhaliq) on Nov 3

[Upvote 19](https://huggingface.co/login?next=%2Fpapers%2F2611.01234)

Authors: [Ana Berg](https://huggingface.co/anab), [Carl Dunn](https://huggingface.co/cd), Eve Fox

## Abstract

AI-generated summary

Masking columns teaches tabular models structure.

We study masked objectives for tabular data
and find that structure emerges from masking columns.

[View arXiv page](https://arxiv.org/abs/2611.01234)[View PDF](https://arxiv.org/pdf/2611.01234)\
[Project page](https://tables.example.org/)[GitHub 1.2k](https://github.com/example/tables)

## Community

[librarian-bot](https://huggingface.co/librarian-bot)

The following papers were recommended by the Semantic Scholar API

*   [Other Paper About Tables](https://huggingface.co/papers/2610.00001) (2026)
*   [Another One](https://hf.co/papers/2610.00002) (2026)

## Models citing this paper 0

## Datasets citing this paper 0
"""


def one(text: str, source: str = "page.md") -> Paper:
    digest = parse_digest(text.encode(), source=source, reference=REF)
    assert not digest.partial
    (paper,) = digest.papers
    return paper


def test_hfpaper_reader_proxy_markdown_gives_the_one_paper() -> None:
    paper = one(PROXY)
    assert (paper.id, paper.arxiv_id, paper.title) == (
        "2611.01234",
        "2611.01234",
        "Masked Objectives for Tables Learn Structure",
    )
    assert paper.abstract == ABSTRACT
    assert paper.summary == "Masking columns teaches tabular models structure."
    assert paper.author_names == ("Ana Berg", "Carl Dunn", "Eve Fox")
    assert (paper.authors, paper.upvotes, paper.published) == (3, 19, date(2026, 11, 1))
    assert paper.url == "https://huggingface.co/papers/2611.01234"
    assert paper.pdf_url == "https://arxiv.org/pdf/2611.01234"
    assert (paper.code_url, paper.code_stars) == ("https://github.com/example/tables", 1200)
    assert paper.project_url == "https://tables.example.org/"


def test_hfpaper_papers_listed_under_the_page_are_not_read() -> None:
    """The recommendations under the page link to other papers: never papers of this
    digest, never its id, and not counted as lost."""
    digest = parse_digest(PROXY.encode(), source="page.md", reference=REF)
    assert [p.id for p in digest.papers] == ["2611.01234"]
    assert digest.missing == ()


def test_hfpaper_converter_markdown_without_address_takes_the_arxiv_link() -> None:
    text = PROXY.split("Markdown Content:\n", 1)[1].replace("arxiv:2611.01234\n", "")
    paper = one(text)
    assert (paper.id, paper.title) == ("2611.01234", "Masked Objectives for Tables Learn Structure")
    assert paper.url == "https://huggingface.co/papers/2611.01234"


def test_hfpaper_address_wins_over_another_arxiv_link() -> None:
    """The page's own address names the paper; an arXiv link in the page (a typo, another
    version's page) does not move it."""
    text = PROXY.replace("https://arxiv.org/abs/2611.01234", "https://arxiv.org/abs/2611.99999")
    assert one(text).id == "2611.01234"


def test_hfpaper_no_id_anywhere_takes_the_title() -> None:
    text = (
        "# A Paper Without Links\n\nPublished on Nov 1, 2026\n\n## Abstract\n\nSome words.\n\n"
        "## Models citing this paper 0\n"
    )
    paper = one(text)
    assert (paper.id, paper.url, paper.abstract) == ("a-paper-without-links", None, "Some words.")


PLAIN = """Hugging Face
Models
Datasets
Papers

arxiv:2611.05678
Satellite Tides From Coastal Gauges
Published on Oct 30, 2026
Submitted by
AK
on Nov 3
Upvote
7
Authors:
Ana Berg
,
Carl Dunn
Abstract
We learn satellite tides from coastal gauges
over many years of data.

View arXiv page
View PDF
Add to collection
Community
Librarian Bot
Some Other Paper We Recommend
Models citing this paper 0
"""


def test_hfpaper_plain_copy_of_the_page() -> None:
    paper = one(PLAIN, "page.txt")
    assert (paper.id, paper.title) == ("2611.05678", "Satellite Tides From Coastal Gauges")
    assert paper.abstract == "We learn satellite tides from coastal gauges over many years of data."
    assert (paper.author_names, paper.upvotes, paper.published) == (
        ("Ana Berg", "Carl Dunn"),
        7,
        date(2026, 10, 30),
    )


def test_hfpaper_crlf_and_fenced_copy() -> None:
    text = "```markdown\r\n" + PROXY.replace("\n", "\r\n") + "```\r\n"
    assert one(text).id == "2611.01234"


def test_hfpaper_page_without_a_title_is_an_error_naming_the_file() -> None:
    text = "Models citing this paper 0\n\nAbstract\n\nWords.\n"
    with pytest.raises(DigestParseError, match=r"page\.md:1: a paper's page without its title"):
        parse_digest(text.encode(), source="page.md", reference=REF)


def test_hfpaper_listing_pages_are_not_paper_pages() -> None:
    listing = (
        "# Daily Papers\n\n### [Masked Objectives](https://huggingface.co/papers/2611.01234)\n\n"
        "Abstract\n\nWe study masked objectives, citing this paper and that one.\n"
    )
    assert not is_paper_page(listing)
    assert is_paper_page(PROXY) and is_paper_page(PLAIN)


def test_hfpaper_hostile_title_and_control_bytes() -> None:
    text = PROXY.replace(
        "# Masked Objectives for Tables Learn Structure", "# <img src=x onerror=alert(1)>\x1b[2J Tables"
    )
    paper = one(text)
    assert paper.title == "<img src=x onerror=alert(1)>[2J Tables"


# --------------------------------------------------------------------------- the saved HTML page


def paper_html(paper: object, *, comments: object = None, extra: str = "") -> str:
    """A saved paper page in the shape the site serves: its data in the ``data-props`` of
    the ``SVELTE_HYDRATER`` element with ``data-target="PaperContent"`` (HTML-escaped
    JSON: ``paper``, ``comments``, ...), the rendered page around it."""
    import json
    from html import escape

    props = {"paper": paper, "comments": comments if comments is not None else [], "dailyPaperRank": 3}
    return (
        "<!doctype html><html><head><title>Paper page - x</title></head><body><main>"
        f'<div class="SVELTE_HYDRATER contents" data-target="PaperContent" data-props="{escape(json.dumps(props))}">'
        "<h1>rendered title</h1></div>"
        '<div data-target="UserMenu" data-props="{}"></div>'
        f"{extra}</main></body></html>"
    )


API_PAPER = {
    "id": "2611.01234",
    "title": "Masked Objectives for Tables\n Learn Structure",
    "summary": "We study masked objectives for tabular data\nand find that structure emerges from masking columns.",
    "authors": [{"_id": "a", "name": "Ana Berg", "hidden": False}, {"_id": "b", "name": "Carl Dunn", "hidden": False}],
    "publishedAt": "2026-11-01T17:59:00.000Z",
    "submittedOnDailyAt": "2026-11-03T01:00:00.000Z",
    "upvotes": 19,
    "discussionId": "abc",
    "ai_summary": "Masking columns teaches tabular models structure.",
    "githubRepo": "https://github.com/example/tables",
    "githubStars": 1200,
    "newFieldTheApiGrew": {"x": 1},
}


def test_hfpaper_saved_html_page_is_a_one_paper_digest() -> None:
    comments = [{"id": "c1", "author": {"name": "librarian-bot"}, "data": {"latest": {"raw": "see 2610.00001"}}}] * 2
    recommended = '<a href="/papers/2610.00001">Other Paper</a><a href="https://hf.co/papers/2610.00002">Another</a>'
    digest = parse_digest(paper_html(API_PAPER, comments=comments, extra=recommended).encode(), source="p.html")
    assert digest.format == "hf-html" and not digest.partial
    (paper,) = digest.papers
    assert (paper.id, paper.title, paper.abstract) == (
        "2611.01234",
        "Masked Objectives for Tables Learn Structure",
        ABSTRACT,
    )
    assert (paper.upvotes, paper.comments, paper.author_names) == (19, 2, ("Ana Berg", "Carl Dunn"))
    assert (paper.published, paper.summary) == (date(2026, 11, 1), "Masking columns teaches tabular models structure.")
    assert (paper.url, paper.code_url, paper.code_stars) == (
        "https://huggingface.co/papers/2611.01234",
        "https://github.com/example/tables",
        1200,
    )


def page_comment(cid: str, text: str, *, replies: list[object] | None = None, hidden: bool = False) -> object:
    """A comment of the page's data as the site writes it (``type``, ``author``, ``data``
    with ``hidden`` and ``latest.raw``), with the replies under it."""
    entry: dict[str, object] = {
        "id": cid,
        "author": {"_id": f"u-{cid}", "name": f"user-{cid}", "fullname": f"User {cid}", "type": "user"},
        "createdAt": "2026-11-03T09:00:00.000Z",
        "type": "comment",
        "data": {"edited": False, "hidden": hidden, "latest": {"raw": text, "html": f"<p>{text}</p>"}, "numEdits": 0},
    }
    if replies is not None:
        entry["replies"] = replies
    return entry


def test_hfpaper_saved_html_page_counts_replies_as_comments() -> None:
    """The page's "N comments" counts every comment a reader sees, replies under a comment
    too (a hidden one stays listed, folded); the thread's other events (a title change)
    are no comments."""
    comments = [
        page_comment("c1", "Nice work", replies=[page_comment("c2", "Thanks!", replies=[page_comment("c3", "+1")])]),
        page_comment("c4", "spam", hidden=True),
        {"id": "e1", "type": "title-change", "data": {"from": "Old", "to": "New"}},
        page_comment("c5", "Code?", replies=[]),
    ]
    (paper,) = parse_digest(paper_html(API_PAPER, comments=comments).encode(), source="p.html").papers
    assert paper.comments == 5


def test_hfpaper_saved_html_page_with_a_broken_paper_record_is_an_error() -> None:
    with pytest.raises(DigestParseError, match=r"p\.html: no entry could be read: entry 0 \(id 2611.01234\): 'title'"):
        parse_digest(paper_html({**API_PAPER, "title": ""}).encode(), source="p.html")


def test_hfpaper_saved_html_page_of_a_withdrawn_paper_gives_nothing_silently() -> None:
    digest = parse_digest(paper_html({**API_PAPER, "withdrawnAt": "2026-11-04T00:00:00Z"}).encode(), source="p.html")
    assert digest.papers == () and not digest.partial


def test_hfpaper_html_without_papers_data_says_what_it_looks_like() -> None:
    page = '<html><body><div data-target="UserMenu" data-props="{}"></div></body></html>'
    with pytest.raises(DigestParseError, match=r"no Daily Papers data .*nor a paper's \(\"PaperContent\"\)"):
        parse_digest(page.encode(), source="p.html")


def test_hfpaper_another_papers_link_before_the_title_gives_no_id() -> None:
    """Without its address, a page's id comes from its title's link or its own arXiv link;
    a link to another paper's page (a sidebar, a "trending" box) gives none."""
    text = (
        "[Trending: Other Paper](https://huggingface.co/papers/2610.00001)\n\n"
        "# [Masked Objectives for Tables](https://hf.co/papers/2611.01234)\n\n"
        "## Abstract\n\nWords.\n\n## Models citing this paper 0\n"
    )
    assert one(text).id == "2611.01234"
    arxiv_title = text.replace("https://hf.co/papers/2611.01234", "https://arxiv.org/abs/2611.01234v3")
    assert one(arxiv_title).id == "2611.01234"
    no_title_link = text.replace("[Masked Objectives for Tables](https://hf.co/papers/2611.01234)", "Masked")
    assert one(no_title_link).id == "masked"


# A page as a fetch script saves the text of a browser's rendering: its address on a
# ``SOURCE-URL:`` line, the site's menu (a bare ``Community`` line among it), the page's
# data leaking as one line of JSON ending in the ``Papers arxiv:<id>`` breadcrumb, then a
# name a line under ``Authors:`` with the rest folded into ``+ N authors``, the AI summary
# right under ``Abstract`` closed by its ``Generated by <model>`` line, the buttons on one
# line, keywords of the abstract spaced off their punctuation.
# one line: the page's data-props JSON, its comments' links to other papers in it
LEAKED = (
    '<a href=\\"https://rivers.example.org\\">https://rivers.example.org</a></p>\\n","author":{"name":"dbell"}}},'
    '{"id":"c2","type":"comment","data":{"latest":{"raw":"I found similar papers:\\n\\n'
    '* [Lakes of Tokens](https://huggingface.co/papers/2610.00007) (2026)"}}}],'
    '"paper":{"id":"2611.04321","title":"Rivers of Tokens: Streaming Attention for Hydrology","upvotes":12},'
    '"dailyPaperRank":0,"query":{}}"> Papers arxiv:2611.04321\n'
)
FETCHED = (
    """SOURCE-URL: https://huggingface.co/papers/2611.04321
FETCHED: 2026-11-20T08:00:00+00:00
HTTP: 200

Paper page - Rivers of Tokens: Streaming Attention for Hydrology
Hugging Face
Models
Datasets
Community
Blog
Daily Papers
Log In
Sign Up
"""
    + LEAKED
    + """Copy markdown
Rivers of Tokens: Streaming Attention for Hydrology
Published on Nov 2, 2026
· Submitted by
Dora Bell on Nov 4, 2026
Upvote 12
+4
Authors: Dora Bell ,
Emil Ruiz ,
Fen Zhou
+ 5 authors
Abstract
Streaming attention forecasts river levels from sensor tokens.
Generated by Example/Summarizer-7B
We forecast river levels with streaming attention over sensor tokens , gauges ,
and rainfall . It beats recurrent baselines on four basins.
View arXiv page View PDF Add to collection
Community
dbell
Paper author Paper submitter Nov 4, 2026
https://rivers.example.org
librarian-bot
Lakes of Tokens (2026)
Upvote 12
Models citing this paper 0
No model linking this paper
Cite arxiv.org/abs/2611.04321 in a model README.md to link it from this page.
Datasets citing this paper 0
"""
)
RIVERS = "Rivers of Tokens: Streaming Attention for Hydrology"
RIVERS_ABSTRACT = (
    "We forecast river levels with streaming attention over sensor tokens, gauges, and rainfall."
    " It beats recurrent baselines on four basins."
)


def test_hfpaper_fetched_page_menu_community_line_is_not_its_end() -> None:
    """The ``Community`` item of the site's menu comes before the paper: reading does
    not stop there (it used to: the page was "without its title", nothing read). Its id
    comes from its address on the ``SOURCE-URL:`` line."""
    paper = one(FETCHED.replace("Cite arxiv.org/abs/2611.04321 in a model README.md", "Cite it"), "page.txt")
    assert (paper.id, paper.title, paper.upvotes, paper.published) == ("2611.04321", RIVERS, 12, date(2026, 11, 2))
    assert paper.url == "https://huggingface.co/papers/2611.04321"


def test_hfpaper_fetched_page_names_a_line_and_the_folded_count() -> None:
    paper = one(FETCHED, "page.txt")
    assert paper.author_names == ("Dora Bell", "Emil Ruiz", "Fen Zhou")
    assert paper.authors == 8  # three shown, "+ 5 authors" folded


def test_hfpaper_fetched_page_summary_closed_by_its_model_line_is_not_abstract() -> None:
    paper = one(FETCHED, "page.txt")
    assert paper.summary == "Streaming attention forecasts river levels from sensor tokens."
    assert paper.abstract == RIVERS_ABSTRACT  # no summary, model line, buttons, nor spaced commas in it


def test_hfpaper_fetched_page_without_address_takes_its_cite_line() -> None:
    """Without its address, the page's id is in the line under "Models citing this paper"
    (``Cite arxiv.org/abs/<id> in a model README.md``), never from a paper it lists."""
    text = FETCHED.replace("SOURCE-URL: https://huggingface.co/papers/2611.04321\n", "")
    paper = one(text, "page.txt")
    assert (paper.id, paper.arxiv_id, paper.title) == ("2611.04321", "2611.04321", RIVERS)
