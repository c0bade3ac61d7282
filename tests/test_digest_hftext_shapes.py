"""The shapes of real captures (SPEC 2.1, "More shapes seen in real captures", "No silent
loss, no wrong ids"), each on a short sample written here in that shape: crawler
Markdown with link-wrapped abstracts, count links, avatar bullets inside the author
link, image placeholders, HTML anchors, section headings, trending lists with every
card twice, paperswithcode-style lists. No link, avatar, count or heading text may reach
a title or an abstract, and a paper never takes another card's id."""

from __future__ import annotations

import random
import re
import textwrap
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.base.errors import DigestParseError
from newsletter.digest import Digest, Paper, parse_digest

REF = date(2026, 10, 20)
HF = "https://huggingface.co/papers/"
LOGIN = "https://huggingface.co/login?next=%2Fpapers%2F"
# What must never be in a title or an abstract: link and image syntax, paper and login
# links, "\\" line ends, heading marks, anchors, author counts, a label's bracket.
POLLUTION = re.compile(r"\]\(|!\[|huggingface\.co/(papers|login)|\\|(^|\s)#{1,6}\s|<a |\d+ authors|^\[")


def read(text: str) -> Digest:
    return parse_digest(text.encode(), source="capture.md", reference=REF)


def clean(papers: tuple[Paper, ...]) -> None:
    for p in papers:
        assert POLLUTION.search(p.title) is None, p.title
        assert POLLUTION.search(p.abstract) is None, p.abstract


def card(pid: str, title: str, abstract: str, *, votes: str = "12", who: str = "3", day: str = "Oct 9[4]") -> str:
    """One search-page card as a crawler writes it (firecrawl-like Markdown)."""
    body = "\\\\\n".join(textwrap.wrap(abstract, 40))  # a crawler's line ends
    date_line = re.sub(r"\[(\d+)\]", lambda m: f"[{m.group(1)}]({HF}{pid}#community)", day)
    return (
        f"[{votes}]({LOGIN}{pid})\n\n### [{title}]({HF}{pid})\n\n[{body}]({HF}{pid})\n\n"
        f"[- ![](https://cdn.example/a.png)\\\\\n- ![](https://cdn.example/b.svg)\\\\\n- {who} authors]({HF}{pid})"
        f"\n\n·\n\n{date_line}\n"
    )


def test_hftext_link_wrapped_abstract_with_continuations() -> None:
    abstract = "Tidal gauges disagree with satellites near coasts. We reconcile both with a learned correction."
    (paper,) = read("# Daily Papers\n\nOct 20\n\n" + card("2610.11111", "Coastal Tides", abstract)).papers
    assert paper.abstract == abstract
    assert (paper.id, paper.title) == ("2610.11111", "Coastal Tides")
    clean((paper,))


def test_hftext_upvote_links_before_the_title() -> None:
    text = (
        card("2610.11111", "First Paper", "One. Two.", votes="101")
        + "\n"
        + card("2610.22222", "Second", "Three.", votes="-")
    )
    first, second = read(text).papers
    assert (first.id, first.upvotes) == ("2610.11111", 101)
    assert (second.id, second.upvotes) == ("2610.22222", 0)  # "-" is none
    clean((first, second))


def test_hftext_avatar_bullets_inside_the_author_link() -> None:
    (paper,) = read(card("2610.11111", "Avatars", "An abstract.", who="7")).papers
    assert paper.authors == 7
    assert paper.abstract == "An abstract."


def test_hftext_comment_count_glued_to_the_date() -> None:
    (paper,) = read("Oct 20\n\n" + card("2610.11111", "Glued", "Text.", day="May 29[6]")).papers
    assert (paper.published, paper.comments, paper.upvotes) == (date(2026, 5, 29), 6, 12)


def test_hftext_image_link_lines_are_thumbnails_not_titles() -> None:
    text = (
        f"[[图片：无替代文本]]({HF}2610.33333)\n\n### [Placeholder Thumbnail]({HF}2610.33333)\n\nShort summary.\n\n"
        f"[![](https://cdn.example/t.png)]({HF}2610.44444)\n\n### [Image Thumbnail]({HF}2610.44444)\n\nAnother one.\n"
    )
    digest = read(text)
    assert [(p.id, p.title, p.abstract) for p in digest.papers] == [
        ("2610.33333", "Placeholder Thumbnail", "Short summary."),
        ("2610.44444", "Image Thumbnail", "Another one."),
    ]
    assert digest.missing == ()


def test_hftext_html_anchor_between_paragraphs_separates_them() -> None:
    text = f'### [Two Paragraphs]({HF}2610.55556)\n\nFirst paragraph.\n<a id="p2"></a>\nSecond paragraph.\n'
    (paper,) = read(text).papers
    assert paper.abstract == "First paragraph.\n\nSecond paragraph."


def test_hftext_html_anchors_are_skipped() -> None:
    text = (
        f'<a id="source-section-1"></a>\n### [Anchored]({HF}2610.55555)\n\n<a id="source-section-2"></a>\n'
        "The abstract, after an anchor.\n\n<a name='x'></a> - 2 authors\n"
    )
    (paper,) = read(text).papers
    assert (paper.abstract, paper.authors) == ("The abstract, after an anchor.", 2)


def test_hftext_section_headings_never_join_a_title_or_abstract() -> None:
    text = (
        "## Extracted Text\n\n"
        f"### [Uncertainty of Gauges]({HF}2610.66666)\n\nGauges drift.\n\n- 2 authors\n\n"
        "### Measurement\n\nTable 1 lists every gauge of the survey.\n\n"
        f"### [Second Paper]({HF}2610.77777)\n\nIts abstract.\n"
    )
    digest = read(text)
    assert [(p.title, p.abstract) for p in digest.papers] == [
        ("Uncertainty of Gauges", "Gauges drift."),
        ("Second Paper", "Its abstract."),
    ]
    clean(digest.papers)


def test_hftext_trending_list_with_every_card_twice() -> None:
    one = (
        f"[[Image: no alt]]({HF}2610.12121)\n\n### [Twice Shown]({HF}2610.12121)\n\nSummary one.\n\n"
        f"[- ![](https://cdn.example/a.png)\\\\\n- 4 authors]({HF}2610.12121)\n\n"
        "[LINK: GitHub 2.5k](https://github.com/lab/twice)\n"
    )
    two = one.replace("2610.12121", "2610.34343").replace("Twice Shown", "Also Twice").replace("one", "two")
    digest = read("## Trending Papers\n\n" + "\n".join([one, one, two, two]))
    assert [(p.id, p.authors, p.code_stars, p.abstract) for p in digest.papers] == [
        ("2610.12121", 4, 2500, "Summary one."),
        ("2610.34343", 4, 2500, "Summary two."),
    ]
    assert digest.papers[0].code_url == "https://github.com/lab/twice"


def test_hftext_paperswithcode_trending_list() -> None:
    text = (
        "# What is this page?\n**URL:** https://paperswithcode.com\n--------------------\n\n"
        "Get trending papers in your email inbox!\n\n## Trending Papers\n\n"
        "### Sparse Routing for Long Documents: Experts and\n  Their Budgets\n\n"
        "A router sends each chunk to two experts.\n- 8 authors\n[LINK: GitHub 11.3k](https://github.com/x/route)\n\n"
        "### Sparse Routing for Long Documents: Experts and\n  Their Budgets\n\n"
        "A router sends each chunk to two experts.\n- 8 authors\n[LINK: GitHub 11.3k](https://github.com/x/route)\n\n"
        "### Tables Without Headers\n\nWe read tables\nthat have no header row.\n"
        "[LINK: GitHub 476](https://github.com/x/tables)\n"
    )
    routing, tables = read(text).papers
    assert routing.title == "Sparse Routing for Long Documents: Experts and Their Budgets"
    assert (routing.authors, routing.code_stars, routing.id) == (
        8,
        11300,
        "sparse-routing-for-long-documents-experts-and-their-budgets",
    )
    assert routing.abstract == "A router sends each chunk to two experts."
    assert (tables.abstract, tables.code_url, tables.authors) == (
        "We read tables that have no header row.",
        "https://github.com/x/tables",
        None,
    )


def test_hftext_markdown_escapes_in_titles() -> None:
    text = f"### [\\[Re\\] The Noisy Path: Measuring How\\  Scholars Cite]({HF}2610.88888)\n\nAbstract.\n"
    (paper,) = read(text).papers
    assert paper.title == "[Re] The Noisy Path: Measuring How Scholars Cite"


def test_hftext_url_after_a_sentence_stays_in_the_abstract() -> None:
    text = (
        "## Trending Papers\n\n### Continuous Audio Models\n\nSamples are available at\n"
        "https://audio.example.org/samples\n- 5 authors\n"
    )
    (paper,) = read(text).papers
    assert paper.abstract == "Samples are available at https://audio.example.org/samples"
    assert paper.links == ("https://audio.example.org/samples",)


def test_hftext_id_only_from_the_own_card() -> None:
    # The middle card's title link is cut: its id may come from nowhere else, and its
    # abstract link names it; the next card keeps its own id.
    text = (
        f"### [First]({HF}2610.10001)\n\nOne.\n\n"
        "### Second Without Link\n\n"
        f"[![](https://cdn.example/t.png)]({HF}2610.10003)\n\n### [Third]({HF}2610.10003)\n\nThree.\n"
    )
    digest = read(text)
    assert [(p.title, p.id) for p in digest.papers] == [("First", "2610.10001"), ("Third", "2610.10003")]
    assert digest.missing == ()


def test_hftext_unreadable_card_makes_the_digest_partial() -> None:
    # the capture lost the middle card's title: its votes, abstract and authors name it
    unreadable = card("2610.20002", "", "An abstract of a paper whose title the capture lost.")
    text = (
        card("2610.20001", "Readable One", "Fine.")
        + "\n"
        + unreadable
        + "\n"
        + card("2610.20003", "Readable Two", "Fine too.")
    )
    digest = read(text)
    assert [p.id for p in digest.papers] == ["2610.20001", "2610.20003"]
    assert digest.missing == ("2610.20002",)
    assert digest.partial
    clean(digest.papers)


def test_hftext_truncated_capture_names_the_cut_card() -> None:
    text = card("2610.20001", "Whole Card", "Fine.") + f"\n[7]({LOGIN}2610.20002)\n\n[Content truncated]\n"
    digest = read(text)
    assert [p.id for p in digest.papers] == ["2610.20001"]
    assert digest.missing == ("2610.20002",)


def test_hftext_title_link_cut_before_its_parenthesis() -> None:
    text = f"[3]({LOGIN}2610.20005)\n\n### [Cut Link Title]({HF}2610.20005\n\nThe abstract.\n"
    (paper,) = read(text).papers
    assert (paper.title, paper.id, paper.upvotes, paper.abstract) == (
        "Cut Link Title",
        "2610.20005",
        3,
        "The abstract.",
    )


def test_hftext_paper_cited_inside_an_abstract_is_not_missing() -> None:
    text = (
        f"### [Follow-up Work]({HF}2610.30001)\n\n"
        f"We extend [our earlier model]({HF}2501.00001) and https://arxiv.org/abs/2502.00002 to tables.\n"
    )
    digest = read(text)
    (paper,) = digest.papers
    assert paper.abstract == "We extend our earlier model and https://arxiv.org/abs/2502.00002 to tables."
    assert digest.missing == ()


def test_hftext_plain_copy_citing_paper_addresses_stays_a_plain_copy() -> None:
    text = (
        "new\n\nSep 4\n\nTables From Text\n\nWe extend https://arxiv.org/abs/2301.00001 and "
        f"{HF}2301.00002 to tables.\n\n  • 2 authors\n·\nSep 3\n\nSecond Title\n\nAnother abstract.\n"
    )
    digest = read(text)
    assert [p.title for p in digest.papers] == ["Tables From Text", "Second Title"]
    assert digest.papers[0].authors == 2 and digest.missing == ()


def test_hftext_markdown_note_without_digest_elements_is_not_a_digest() -> None:
    with pytest.raises(DigestParseError, match="without a page header, meta block or paper link: not a digest"):
        read("# Meeting notes\n\nWe talked.\n\n## Next steps\n\nMore talking.\n")


# --------------------------------------------------------------------------- property: ids stay home

WORDS = ["Sparse", "Tables", "Ocean", "Routing", "Speech", "Graphs", "Tides", "Budgets", "Agents", "Memory"]


def _shaped(shape: str, n: int, pid: str, title: str, cited: str) -> str:
    """Card ``n`` in one of the shapes of real captures; its abstract cites another paper."""
    abstract = f"We study {title.lower()} in depth. We build on https://arxiv.org/abs/{cited} and go further."
    if shape == "crawler":
        return card(pid, title, abstract, votes=str(n))
    if shape == "markdown":
        return (
            f"[![](https://cdn.example/{n}.png)]({HF}{pid})\n\n[Upvote {n}]({LOGIN}{pid})\n\n"
            f"### [{title}]({HF}{pid})\n\nSubmitted by\n[![](https://cdn.example/u.png) someone](https://huggingface.co/someone)"
            f"\n\n* 2 authors\n\nPublished on Oct 4, 2026\n\n{abstract}\n\n[{n}]({HF}{pid}#community)\n"
        )
    if shape == "trending":  # shown twice
        one = (
            f'<a id="c{n}"></a>\n[[图片：无替代文本]]({HF}{pid})\n\n### [{title}]({HF}{pid})\n\n{abstract}\n\n'
            f"[- ![](https://cdn.example/a.png)\\\\\n- 4 authors]({HF}{pid})\n\n[LINK: GitHub 1.{n}k](https://github.com/x/{n})\n"
        )
        return one + "\n" + one
    if shape == "thumbnail-title":  # the title is a heading without a link: the thumbnail names it
        return f"[![](https://cdn.example/{n}.png)]({HF}{pid})\n\n### {title}\n\n{abstract}\n\n- 3 authors\n"
    if shape == "votes-title":  # a heading title without a link after the upvote link naming it
        return f"[{n}]({LOGIN}{pid})\n\n### {title}\n\n{abstract}\n\nOct 3\n"
    if shape == "title-only":
        return f"### [{title}]({HF}{pid})\n\n{abstract}\n"
    if shape == "votes-only":  # the capture kept only the upvote link of this card
        return f"[{n}]({LOGIN}{pid})\n"
    if shape == "headless":  # the capture lost title and votes: the abstract and authors name it
        body = "\\\\\n".join(textwrap.wrap(abstract, 40))
        return f"[{body}]({HF}{pid})\n\n[- 2 authors]({HF}{pid})\n\n·\n\nOct 2[1]({HF}{pid}#community)\n"
    # unreadable: the capture lost the title; the votes, abstract and authors name the paper
    return card(pid, "", abstract, votes=str(n))


SHAPES = [
    "crawler",
    "markdown",
    "trending",
    "thumbnail-title",
    "votes-title",
    "title-only",
    "votes-only",
    "headless",
    "unreadable",
]
LOST = ("votes-only", "headless", "unreadable")


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    shapes=st.lists(st.sampled_from(SHAPES), min_size=1, max_size=9),
    seed=st.randoms(use_true_random=False),
)
def test_hftext_property_shuffled_cards_never_take_another_cards_id(shapes: list[str], seed: random.Random) -> None:
    cards = []
    for n, shape in enumerate(shapes):
        pid = f"2610.{10000 + n * 7:05d}"
        title = f"{WORDS[n % len(WORDS)]} {WORDS[(n * 3 + 1) % len(WORDS)]} Study {n}"
        cards.append((shape, n, pid, title))
    seed.shuffle(cards)
    ids = [pid for _, _, pid, _ in cards]
    text = "## Papers\n\n" + "\n".join(
        _shaped(shape, n, pid, title, cited=seed.choice(ids)) for shape, n, pid, title in cards
    )
    own = {title: pid for shape, _, pid, title in cards if shape not in LOST}
    lost = {pid for shape, _, pid, _ in cards if shape in LOST}
    if not own:  # nothing readable: a failed digest naming every id, never silently empty
        with pytest.raises(DigestParseError, match="no paper read of the") as err:
            read(text)
        assert all(pid in str(err.value) for pid in lost)
        return
    digest = read(text)
    assert {p.title: p.id for p in digest.papers} == own  # every readable card, with its own id
    assert set(digest.missing) == lost  # every unreadable card named, no cited paper taken for lost
    for p in digest.papers:  # and nothing of another card: its own abstract, its own counts
        assert p.abstract.startswith(f"We study {p.title.lower()} in depth."), (p.title, p.abstract)
    clean(digest.papers)


def _converted_card(pid: str, title: str, abstract: str, base: str) -> str:
    """A card as an HTML-to-Markdown converter (markitdown, html2text) writes a saved page:
    without the page's address, its links stay relative (``/papers/<id>``)."""
    return (
        f"[![]({base}/thumb/{pid}.png)]({base}/papers/{pid})\n\n[Upvote 12]({base}/login?next=%2Fpapers%2F{pid})\n\n"
        f"### [{title}]({base}/papers/{pid})\n\n* 3 authors\n\n{abstract}\n\n[3]({base}/papers/{pid}#community)\n"
    )


CONVERTED = [
    ("2611.00001", "Alpha Folding", "We fold proteins with sparse attention. It works well."),
    ("2611.00002", "Beta Retrieval", "We build a benchmark for long context. Models fail at it."),
    ("2611.00003", "Gamma Speech", "Tiny models recognise speech. They run on phones."),
]


@pytest.mark.parametrize("base", ["", "https://huggingface.co"])
def test_hftext_converted_page_with_relative_links_keeps_the_ids(base: str) -> None:
    text = "# Daily Papers\n\n" + "\n".join(_converted_card(*p, base) for p in CONVERTED)
    digest = read(text)
    assert [(p.id, p.title, p.abstract, p.upvotes, p.comments) for p in digest.papers] == [
        (pid, title, abstract, 12, 3) for pid, title, abstract in CONVERTED
    ]
    assert digest.missing == ()


def test_hftext_capture_cut_inside_a_link_keeps_it_out_of_the_abstract() -> None:
    """A file cut short in the middle of a link line (``[3](https:/``, ``[![](https://hugg``):
    the broken link is no text of the card before it."""
    whole = "# Daily Papers\n\n" + "\n".join(_converted_card(*p, HF.removesuffix("/papers/")) for p in CONVERTED)
    for marker in ("[3](", "[![]("):
        start = whole.index(marker, whole.index(CONVERTED[1][2]))
        for cut in range(start + 1, whole.index("\n", start)):
            digest = read(whole[:cut])
            assert [(p.id, p.abstract) for p in digest.papers][:2] == [(p[0], p[2]) for p in CONVERTED[:2]], cut
            clean(digest.papers)


def test_hftext_pandoc_markdown_divs_and_attributes_are_no_text() -> None:
    """``pandoc -f html -t markdown`` of a saved page: fenced divs (``::: {.article}``) and
    attributes after links and images (``{.line-clamp-3}``) are markup, no paper's text."""
    cards = "".join(
        f"::: {{.article .relative}}\n[![](/thumb/{pid}.png){{.h-full}}](/papers/{pid}){{.block}}\n\n"
        f"### [{title}](/papers/{pid}){{.line-clamp-3 .cursor-pointer}} {{#t-{pid}}}\n\n{abstract}\n\n:::\n\n"
        for pid, title, abstract in CONVERTED
    )
    digest = read(f"::::: {{.container}}\n# Daily Papers\n\n{cards}:::::\n")
    assert [(p.id, p.title, p.abstract) for p in digest.papers] == CONVERTED
    assert digest.missing == ()
    clean(digest.papers)


def _plain_day(day: str, papers: list[tuple[str, str]]) -> str:
    """A plain copy of one day's listing (select all, copy, paste), in the seeds' shape."""
    head = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
    head += "byAK and the research community\n\n"
    cards = "".join(f"{title}\n\n{abstract}\n\n  • 4 authors\n·\n{day}\n\n" for title, abstract in papers)
    return f"{head}{day}\n\n{cards}"


def test_hftext_plain_copies_of_several_days_in_one_file() -> None:
    """Two days' plain copies pasted one after the other into one file: the second page
    header is the page's, never a paper ("new", "Subscribe") nor an abstract."""
    first = [("Tidal Gauges Revisited", "We compare gauges with satellites."), ("Sparse Speech", "Tiny models hear.")]
    second = [("Coral Maps", "We map reefs from space."), ("Kelp Forests", "We count kelp with drones.")]
    digest = read(_plain_day("Oct 8", first) + "\n" + _plain_day("Oct 9", second))
    assert [(p.title, p.abstract) for p in digest.papers] == first + second
    assert [p.published for p in digest.papers] == [date(2026, 10, 8)] * 2 + [date(2026, 10, 9)] * 2


def test_hftext_arxiv_links_old_style_versioned_ids() -> None:
    """A list linking arXiv pages: old-style ids with a version (``hep-th/9901001v1``) and
    PDF links are the papers' ids, as new-style ones are."""
    links = [
        ("https://arxiv.org/abs/2611.00001v2", "2611.00001"),
        ("https://arxiv.org/abs/hep-th/9901001v1", "hep-th/9901001"),
        ("https://arxiv.org/pdf/math.GT/0309136v3", "math.GT/0309136"),
        ("https://export.arxiv.org/abs/cond-mat/0102536", "cond-mat/0102536"),
    ]
    text = "# Papers\n\n" + "".join(f"## [Paper {n}]({url})\n\nAbstract {n}.\n\n" for n, (url, _) in enumerate(links))
    digest = read(text)
    assert [(p.id, p.title, p.abstract) for p in digest.papers] == [
        (axid, f"Paper {n}", f"Abstract {n}.") for n, (_, axid) in enumerate(links)
    ]


def test_hftext_sentence_linking_another_paper_is_no_title() -> None:
    """Inside a card whose titles are headings, a sentence linked to another paper (an
    abstract wrapped in the wrong card's link) is no title: that paper keeps its own
    title and abstract, and no card gets the other's text."""
    text = (
        f"### [Alpha Folding]({HF}2611.00001)\n\n[We fold proteins with sparse attention.]({HF}2611.00002)\n\n"
        f"### [Beta Retrieval]({HF}2611.00002)\n\nWe build a benchmark for long context.\n"
    )
    digest = read(text)
    by_id = {p.id: (p.title, p.abstract) for p in digest.papers}
    assert by_id["2611.00002"] == ("Beta Retrieval", "We build a benchmark for long context.")
    assert by_id.get("2611.00001", ("Alpha Folding", ""))[0] == "Alpha Folding"
    assert "We fold proteins" not in " ".join(t for t, _ in by_id.values())


def test_hftext_plain_text_with_angle_bracket_links_is_read_card_by_card() -> None:
    """HTML made plain text by a mail client or a converter writes each link after its
    text: ``Title <https://huggingface.co/papers/<id>>``. Every paper is read with its own
    id, title and abstract (not one paper holding the whole page)."""
    text = "Daily Papers\n\n" + "".join(f"{title} <{HF}{pid}>\n\n{abstract}\n\n" for pid, title, abstract in CONVERTED)
    digest = read(text)
    assert [(p.id, p.title, p.abstract) for p in digest.papers] == CONVERTED
    assert digest.missing == ()


def test_hftext_plain_copy_abstract_ending_in_an_angle_link_stays_text() -> None:
    abstract = (
        "Tables hide half the facts of a paper. We extend our earlier parser to them and recover "
        "most cells, see <https://arxiv.org/abs/2501.00001>"
    )
    text = f"Daily Papers\n\nTable Parsing\n\n{abstract}\n\n  • 2 authors\n·\nOct 9\n"
    (paper,) = read(text).papers
    assert (paper.title, paper.abstract) == ("Table Parsing", abstract)
