"""The fast rewrite of numbered-link dumps (``newsletter/digest/textrefs.py``) against the
plain one: the same lines for every dump, whatever its lines hold, so the same papers.

The link-number patterns are written with their "[" first (searched for in C); the
look-back-first spellings they replace are kept here as the reference."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.digest import parse_digest, textrefs
from newsletter.digest.textrefs import as_reference_links, as_reference_links_plain, is_numbered_dump

# The patterns as first written: the look back before the "[" (tried at every character).
_MARKER_BEFORE = re.compile(r"(?<![\]!\\])\[(\d{1,5})\](?=[^\s\[\]():.,;!?])")
_IMAGE_LINK_BEFORE = re.compile(r"(?<![\]!\\])\[(\d{1,5})\]\[[^\[\]\n]{0,120}\]")

# Characters that reach every branch of the patterns: brackets, what may stand before a
# "[" ("]", "!", a backslash), digits, what may not start a label, blanks, other text.
_CHARS = st.sampled_from(list("[]!\\0123456789 \t\n.:;,?()*•-aZé日\xa0\r"))
_PIECES = st.sampled_from(
    [
        "[12]",
        "[3]",
        "[123456]",
        "![",
        "\\[",
        "][",
        "[IMG]",
        "[]",
        "[4]:",
        "]x",
        "Title",
        "\\[5]a",
        "![6]b",
        "][7]c",
        "x[8][y]",
        "![9][c]",
        "\\[10][d]",
    ]
)
_STRINGS = st.one_of(st.text(_CHARS, max_size=80), st.lists(st.one_of(_PIECES, _CHARS), max_size=30).map("".join))


def _found(pattern: re.Pattern[str], text: str) -> list[tuple[tuple[int, int], tuple[str | None, ...]]]:
    return [(m.span(), m.groups()) for m in pattern.finditer(text)]


@settings(max_examples=400, deadline=None)
@given(_STRINGS)
def test_textrefs_fast_marker_patterns_match_as_the_look_back_first_ones(text: str) -> None:
    assert _found(textrefs._MARKER, text) == _found(_MARKER_BEFORE, text)
    assert _found(textrefs._IMAGE_LINK, text) == _found(_IMAGE_LINK_BEFORE, text)
    assert textrefs._MARKER.sub(r"<\1>", text) == _MARKER_BEFORE.sub(r"<\1>", text)


# The lines numbered-link dumps are made of (lynx, w3m; written from their documented
# output), and their near misses: a link number alone, after text, before an image link,
# with escapes or brackets in its label, trailing blanks, a title wrapped onto the next
# line, avatar rows, bullets, citations ("[1]."), Markdown images ("![x][3]").
_LINES = st.sampled_from(
    [
        "",
        "   ",
        "\t",
        "*",
        "   *  ",
        "•",
        " • ",
        "\xa0*",
        "*\r",
        " *\x0c",
        "*  *",
        "     * 5 authors",
        "   * [a.png]",
        "• [a] [b]",
        "   [12]19",
        "[3]19",
        "   [4]Masked Objectives for Tables",
        "   [4]Masked Objectives for Tables  ",
        "   [4]Masked Objectives\r",
        "\t[5]Tabbed Title",
        "   [6]Title [7]Other",
        "   [8]Title \\[x\\] and ]",
        "   [9]Title with ] in it",
        "   [10][IMG]",
        "   [11][thumb.png] [12]Next",
        "   [13]3 [14][thumb2]",
        "   [15]",
        "[16]",
        "  Text then [17]Link",
        "   wrapped title words",
        "   more wrapped words here",
        "continued at column zero",
        "   see [1]. and [2]: cited",
        "   ![x][3] image",
        "   \\[4]escaped",
        "   [99999]Far",
        "   [123456]Too long a number",
        "   We study self-supervised representation learning for tabular data with a",
        "Daily Papers",
        "\xa0[18]After a no-break space",
        "   [19](not a label)",
    ]
)
_REFS = st.lists(st.integers(1, 40), max_size=6).map(
    lambda ks: "\n".join(f"{k:4d}. https://huggingface.co/papers/2611.{k:05d}" for k in ks)
)


def _dump(lines: list[str], refs: str, header: str) -> str:
    return "\n".join(lines) + (f"\n{header}\n\n{refs}\n" if refs else "")


_DUMPS = st.builds(
    _dump,
    st.lists(st.one_of(_LINES, _STRINGS.map(lambda s: s.replace("\n", " "))), max_size=40),
    _REFS,
    st.sampled_from(["References", "   Visible links:", "References:"]),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DUMPS)
def test_textrefs_fast_rewrite_gives_the_plain_lines(text: str) -> None:
    """Equal text out: every later step reads the same text, so the same papers."""
    assert as_reference_links(text) == as_reference_links_plain(text)


def _card(k: int, title: str, abstract: str, authors: str) -> str:
    return f"   [{2 * k + 1}]{k % 97}\n   [{2 * k + 2}]Part {k}: {title}\n\n   {abstract}\n\n{authors}\n"


_CARDS = st.lists(
    st.tuples(
        st.sampled_from(["Masked Objectives", "Tides [Part 2]", "A \\ Title", "Title  ", "Wrapped\n   title"]),
        st.sampled_from(["We study tables.", "We cite [1]. and more.", "Short."]),
        st.sampled_from(["     * 5 authors", "   *", "   * [a.png]", ""]),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_CARDS)
def test_textrefs_fast_rewrite_of_card_dumps_reads_the_same_papers(cards: list[tuple[str, str, str]]) -> None:
    body = "\n".join(_card(k, *card) for k, card in enumerate(cards))
    refs = "\n".join(
        f"{2 * k + j:4d}. https://huggingface.co/{path}2611.{k:05d}"
        for k in range(len(cards))
        for j, path in ((1, "login?next=%2Fpapers%2F"), (2, "papers/"))
    )
    text = f"Daily Papers\n\n{body}\nReferences\n\n{refs}\n"
    assert is_numbered_dump(text)
    fast = as_reference_links(text)
    assert fast == as_reference_links_plain(text)
    digest = parse_digest(text.encode(), source="dump.txt")
    assert [p.id for p in digest.papers] == [f"2611.{k:05d}" for k in range(len(cards))]
