"""Every dump style and format of SPEC 2, on made-up samples (tests/samples/)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from newsletter.base.errors import DigestParseError
from newsletter.digest import Paper, detect_format, parse_digest, unique_papers

SAMPLES = Path(__file__).resolve().parent / "samples"
REF = date(2026, 11, 23)


def parse(name: str, **kw: str) -> tuple[Paper, ...]:
    return parse_digest((SAMPLES / name).read_bytes(), source=name, reference=REF, **kw).papers  # type: ignore[arg-type]


def test_hftext_markdown_dump_reads_every_element() -> None:
    digest = parse_digest((SAMPLES / "hf-markdown.md").read_bytes(), source="m.md", reference=REF)
    assert digest.format == "hf-text"
    assert digest.date == date(2026, 10, 5)  # from the Daily tab's link, front matter and chrome skipped
    tide, mix = digest.papers
    assert tide.title == "Contrastive Tide: Self-Supervised Learning of Ocean Currents from Satellite Sequences"
    assert (tide.id, tide.arxiv_id, tide.url) == (
        "2610.01234",
        "2610.01234",
        "https://huggingface.co/papers/2610.01234",
    )
    assert (tide.upvotes, tide.comments, tide.authors) == (117, 2, 3)
    assert tide.organization == "Tidal Intelligence Dynamics Lab"  # the handle TIDE-Lab dropped
    assert tide.published == date(2026, 10, 4)
    assert (tide.code_url, tide.code_stars) == ("https://github.com/tide-lab/contrastive-tide", 3290)
    assert tide.abstract.startswith(
        "We learn ocean current fields from unlabeled satellite image sequences with a contrastive"
    )
    assert tide.abstract.endswith("Code: https://github.com/tide-lab/contrastive-tide.")
    # "Upvote -" is 0; the AI summary; the truncation marker and the footer are not abstract
    assert (mix.upvotes, mix.comments, mix.authors, mix.organization) == (0, None, 2, None)
    assert mix.summary == "A sparse mixture of experts recognises speech with half the compute."
    assert mix.abstract.endswith("match a dense model at half the training compute.")
    assert "Content truncated" not in mix.abstract and "TOS" not in mix.abstract


def test_hftext_reference_link_dump_with_cut_references() -> None:
    tiny, graph, orphan = parse("hf-reflinks.txt")
    assert (tiny.title, tiny.id, tiny.upvotes, tiny.authors) == (
        "Tiny Speech Recognisers on a Budget",
        "2609.11111",
        19,
        9,
    )
    assert tiny.published == date(2026, 9, 30)
    assert tiny.abstract.startswith(
        "We distil a large speech recogniser into a model of 8M parameters that runs on a microcontroller"
    )
    # the upvote element "[\n65\n][35]" wraps over three lines
    assert (graph.id, graph.upvotes, graph.authors) == ("2609.22222", 65, 4)
    # its reference is cut off: no link, the id comes from the title; "[-] -" is 0 votes
    assert (orphan.id, orphan.arxiv_id, orphan.url, orphan.upvotes) == (
        "untitled-paper-without-references",
        None,
        None,
        0,
    )
    assert all("Search results" not in p.abstract for p in (tiny, graph, orphan))


def test_hftext_url_line_dump_in_fence_with_trending_duplicates() -> None:
    tables, heads = parse("hf-urllines.txt")  # the first card is shown twice: one paper
    assert (tables.title, tables.id, tables.organization, tables.authors) == (
        "Masked Diffusion for Tables",
        "2611.00001",
        "Nebula AI",
        5,
    )
    assert tables.upvotes == 43  # the richest of the two cards
    assert (tables.code_url, tables.code_stars) == ("https://github.com/nebula-ai/tabdiff", 1200)
    assert tables.abstract == "Masked diffusion models generate tabular data with mixed types and missing values."
    assert (heads.id, heads.upvotes, heads.authors, heads.published) == ("2611.00002", 7, 3, date(2026, 11, 1))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ByteDance ByteDance", "ByteDance"),
        ("SUDA Soochow University", "Soochow University"),
        ("ByteDance-Seed ByteDance Seed", "ByteDance Seed"),
        ("Google DeepMind", "Google DeepMind"),
        ("Meta AI", "Meta AI"),
    ],
)
def test_hftext_organisation_handle_and_display_name(line: str, expected: str) -> None:
    text = f"new\n\nSep 4\n\nA Title\n\nAn abstract.\n\n{line}\n·\nSep 3 1\n"
    (paper,) = parse_digest(text.encode(), source="x", reference=REF).papers
    assert (paper.organization, paper.comments, paper.upvotes) == (expected, 1, None)


def test_json_api_shape_every_field() -> None:
    tide, heads = parse("api.json")  # the withdrawn paper is skipped, unknown fields ignored
    assert (tide.id, tide.arxiv_id) == ("2610.01234", "2610.01234")
    assert tide.title == "Contrastive Tide: Self-Supervised Learning of Ocean Currents from Satellite Sequences"
    assert tide.abstract.startswith(
        "We learn ocean current fields from unlabeled satellite image sequences with a contrastive"
    )
    assert "\n\nCode: https://github.com/tide-lab/contrastive-tide." in tide.abstract
    assert tide.author_names == ("Ana Quiroga", "Ben Osei")  # the hidden author is counted, not named
    assert tide.authors == 3
    assert tide.organization == "Tidal Intelligence Dynamics Lab"
    assert (tide.upvotes, tide.comments, tide.published) == (118, 2, date(2026, 10, 4))
    assert tide.url == "https://huggingface.co/papers/2610.01234"
    assert tide.pdf_url == "https://arxiv.org/pdf/2610.01234"
    assert (tide.code_url, tide.code_stars) == ("https://github.com/tide-lab/contrastive-tide", 3301)
    assert tide.project_url == "https://tide-lab.example.org/tide"
    assert tide.summary == "Contrastive learning over time recovers ocean currents from satellite images."
    assert tide.thumbnail == "https://cdn.example/thumb1.png"
    assert (heads.organization, heads.comments, heads.code_url) == (None, 0, None)


def test_json_plain_array_reads_back_parse_json_output() -> None:
    records = [p.to_json() for p in parse("api.json")]
    again = parse_digest(json.dumps(records).encode(), source="api.json", reference=REF).papers
    assert again == parse("api.json")


def test_json_hostile_values_stay_text() -> None:
    (paper,) = parse("hostile.json")
    assert paper.title == "Evil <script>alert(1)</script> Bcc: x@evil.test"  # whitespace collapsed: no CR/LF
    assert paper.author_names == ("Mallory Injected: yes",)
    assert paper.code_url is None  # a javascript: link is dropped


def test_html_saved_page_reads_hydration_data() -> None:
    digest = parse_digest((SAMPLES / "page.html").read_bytes(), source="p.html", reference=REF)
    assert (digest.format, digest.date) == ("hf-html", date(2026, 11, 2))
    assert [p.id for p in digest.papers] == ["2610.01234", "2611.00002"]
    assert [replace(p, source="api.json") for p in digest.papers] == list(parse("api.json"))
    assert digest.papers[0].author_names == ("Ana Quiroga", "Ben Osei")
    assert digest.papers[1].upvotes == 9


def test_arxiv_rss_listing() -> None:
    heads, budget = parse("arxiv.rss")
    assert (heads.id, heads.arxiv_id) == ("2611.00002", "2611.00002")  # version dropped
    assert (
        heads.abstract
        == "We find a small set of attention heads that retrieve facts from long inputs. Pruning them breaks retrieval."
    )
    assert heads.author_names == ("Dana Li", "Yann LeCunningham", "Eve Moreau")
    assert heads.authors == 3
    assert heads.categories == ("cs.CL", "cs.LG")
    assert (heads.url, heads.pdf_url) == ("https://arxiv.org/abs/2611.00002", "https://arxiv.org/pdf/2611.00002")
    assert heads.published == date(2026, 11, 2)
    assert budget.title == "Token Budgets for <b>Reasoning</b> & Planning"
    assert budget.code_url == "https://github.com/budget/tokens"
    assert budget.upvotes is None and budget.comments is None


def test_arxiv_atom_answer() -> None:
    tide, curriculum = parse("arxiv.atom")
    assert tide.id == "2610.01234"
    assert tide.title == "Contrastive Tide: Self-Supervised Learning of Ocean Currents from Satellite Sequences"
    assert tide.abstract == (
        "We learn ocean current fields from unlabeled satellite image sequences with a contrastive objective "
        "over time. The model beats optical flow baselines on three coastal benchmarks."
    )
    assert tide.author_names == ("Ana Quiroga", "Ben Osei")
    assert tide.pdf_url == "http://arxiv.org/pdf/2610.01234v3"
    assert tide.url == "https://arxiv.org/abs/2610.01234"
    assert tide.categories == ("cs.CV", "cs.LG")
    assert curriculum.published == date(2026, 11, 1)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("hf-markdown.md", "hf-text"),
        ("hf-reflinks.txt", "hf-text"),
        ("hf-urllines.txt", "hf-text"),
        ("api.json", "json"),
        ("page.html", "hf-html"),
        ("arxiv.rss", "arxiv"),
        ("arxiv.atom", "arxiv"),
    ],
)
def test_detect_format_by_content(name: str, fmt: str) -> None:
    assert detect_format((SAMPLES / name).read_text(encoding="utf-8")) == fmt


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no-data.html", "looks like HTML but has no Daily Papers data"),
        ("bad-props.html", "Daily Papers data of the page is not JSON"),
        ("not-arxiv.rss", "an RSS feed that is not arXiv's"),
        ("other.xml", "neither an RSS nor an Atom feed"),
        ("note.txt", "3 paragraphs of text without a page header or meta block: not a digest"),
    ],
)
def test_parse_what_we_do_not_read_says_what_it_looks_like(name: str, message: str) -> None:
    with pytest.raises(DigestParseError) as err:
        parse(name)
    assert message in str(err.value)
    assert str(err.value).startswith(name)


def test_parse_forced_format_mismatch_is_an_error() -> None:
    with pytest.raises(DigestParseError, match="looks like HTML or XML"):
        parse("page.html", fmt="hf-text")
    with pytest.raises(DigestParseError, match="invalid JSON"):
        parse("arxiv.rss", fmt="json")


def test_identity_merges_one_paper_across_formats() -> None:
    records = [*parse("arxiv.atom"), *parse("hf-markdown.md"), *parse("api.json"), *parse("arxiv.rss")]
    papers = unique_papers(records)
    assert [p.id for p in papers] == ["2610.01234", "2611.00004", "2610.05678", "2611.00002", "2611.00003"]
    tide = papers[0]
    assert tide.source == "arxiv.atom"  # first seen
    assert tide.upvotes == 118 and tide.comments == 2  # from the API
    assert tide.author_names == ("Ana Quiroga", "Ben Osei") and tide.authors == 3
    assert tide.categories == ("cs.CV", "cs.LG")  # from arXiv
    assert tide.summary is not None and tide.project_url is not None
    assert "\n\nCode:" in tide.abstract  # the longer abstract


def test_identity_title_derived_id_meets_arxiv_id() -> None:
    text = "new\n\nSep 4\n\nRetrieval Heads in Long-Context Models\n\nShort.\n"
    (plain,) = parse_digest(text.encode(), source="p.txt", reference=REF).papers
    assert plain.id == "retrieval-heads-in-long-context-models"
    merged = unique_papers([plain, *parse("arxiv.rss")])
    assert [p.id for p in merged] == ["2611.00002", "2611.00003"]
    assert set(merged[0].keys) >= {"2611.00002", "retrieval-heads-in-long-context-models"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (
            b'<!doctype html><div data-target="DailyPapers" data-props="' + b"[" * 100_000 + b'"></div>',
            "nested too deeply",
        ),
        (b"<?xml version='1.0'?><rss version='2.0'><channel><item><title>x", "not arXiv's"),
    ],
)
def test_parse_poison_input_is_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(DigestParseError, match=message):
        parse_digest(data, source="poison", reference=REF)


def test_hftext_plain_copy_with_upvote_elements() -> None:
    text = (
        "Daily Papers\n\nOct 5\n\n19\n\nFirst Paper Title\n\nIts abstract.\n\n  • 2 authors\n·\nOct 4 3\n\n"
        "-\n\nSecond Paper Title\n\nAnother abstract.\n\nUpvote 1.2k\n\nThird Paper\n\nThird abstract.\n"
    )
    papers = parse_digest(text.encode(), source="p.txt", reference=REF).papers
    assert [(p.title, p.upvotes, p.comments) for p in papers] == [
        ("First Paper Title", 19, 3),
        ("Second Paper Title", 0, None),
        ("Third Paper", 1200, None),
    ]


def test_detect_markup_without_doctype_is_html() -> None:
    with pytest.raises(DigestParseError, match="looks like HTML but has no Daily Papers data"):
        parse_digest(b"<p>Some saved <b>page</b></p>", source="p.html", reference=REF)


def test_arxiv_feed_without_entries_is_an_empty_digest() -> None:
    weekend = (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>cs.CL updates on arXiv.org</title>"
        b"<link>http://rss.arxiv.org/rss/cs.CL</link><description>none today</description></channel></rss>"
    )
    digest = parse_digest(weekend, source="arxiv-cs.CL-2026-11-21.xml", reference=REF)
    assert (digest.format, digest.papers) == ("arxiv", ())
    other = weekend.replace(b"arXiv.org", b"example.org").replace(b"rss.arxiv.org", b"blog.example")
    with pytest.raises(DigestParseError, match="an RSS feed without entries"):
        parse_digest(other, source="blog.xml", reference=REF)
