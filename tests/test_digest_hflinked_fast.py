"""The linked reader's fast way for reference link lines (``newsletter/digest/hflinked.py``,
``_REF_LINE``: ``[Title][12]`` read at once) against the plain way (such lines read as a
logical line): the same items and the same linked ids for every dump, so the same papers."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.base.errors import DigestParseError
from newsletter.digest import parse_digest
from newsletter.digest.hflinked import Linked, linked_items, linked_items_plain

HF = "https://huggingface.co/papers/"

# Labels of every kind a card's links have, and near misses of the fast way's pattern:
# brackets, escapes, images, parentheses, blanks around a number.
_LABELS = st.one_of(
    st.sampled_from(
        [
            "",
            "19",
            "1.2k",
            "Upvote 12",
            "5 authors",
            "- 3 authors",
            "GitHub 2.3k",
            "LINK: GitHub 1k",
            "Masked Objectives for Tables",
            "A Title (With Parentheses)",
            "Title.",
            "We study tables at length and find that masking columns helps a great deal in practice.",
            "Example Lab",
            "Project page",
            "![](a.png)",
            "[IMG]",
            "Image: no alt text",
            "\\[Re\\]",
            "a\\\\b",
            "Nov 3",
            "References",
            " 7 ",
        ]
    ),
    st.text(st.sampled_from(list("ab1 .:()!-*#\\[]é")), max_size=20),
)
_REFS = st.integers(1, 12).map(str) | st.sampled_from(["0", "99", " 3 ", "007"])
_HEADS = st.sampled_from(["", "", "", "# ", "### ", "###### ", "####### ", "###\t", "#"])


def _ref_line(head: str, label: str, ref: str, indent: str, trail: str) -> str:
    return f"{indent}{head}[{label}][{ref}]{trail}"


_REF_LINES = st.builds(
    _ref_line, _HEADS, _LABELS, _REFS, st.sampled_from(["", "   ", "\t"]), st.sampled_from(["", " ", "x", "."])
)
_OTHER_LINES = st.sampled_from(
    [
        "",
        "",
        "Daily Papers",
        "   - 5 authors",
        "   Published on Nov 1, 2026",
        "Nov 3",
        " [-] 12",
        "Upvote",
        "We study self-supervised representation learning for tabular data.",
        "See [Other Paper][5] for more.",
        f"### [Inline Title]({HF}2611.00009)",
        f"[7]({HF}2611.00007#community)",
        "[Wrapped",
        "title][4]",
        "<a id='x'></a>",
        f"{HF}2611.00003",
        "References",
    ]
)
_DEFS = st.lists(
    st.tuples(
        st.integers(1, 12),
        st.sampled_from(
            [
                f"{HF}2611.0000",
                "https://huggingface.co/login?next=%2Fpapers%2F2611.0000",
                "https://github.com/example/tab",
                "https://huggingface.co/example-lab",
                "https://arxiv.org/abs/2611.0000",
            ]
        ),
        st.sampled_from(["[{k}]: {url}", "  {k}. {url}"]),
    ),
    max_size=12,
).map(lambda defs: [form.format(k=k, url=f"{url}{k % 10}") for k, url, form in defs])


def _read(lines: list[str], reader: Callable[..., Linked]) -> Linked | str:
    """What a reader gives: the items and ids, or the message it stops with."""
    try:
        return reader(list(lines), source="dump.md")
    except DigestParseError as exc:
        return exc.message


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_REF_LINES, _OTHER_LINES), max_size=40), _DEFS, st.booleans())
def test_hflinked_fast_reference_lines_read_as_the_plain_way(body: list[str], defs: list[str], at_end: bool) -> None:
    lines = [*body, "", *defs] if at_end else [*defs, "", *body]
    fast, plain = _read(lines, linked_items), _read(lines, linked_items_plain)
    assert fast == plain


def _card(k: int, title: str) -> list[str]:
    up, link = 2 * k + 1, 2 * k + 2
    return [f" [{k % 97}][{up}]", "", f"### [{title} {k}][{link}]", "", "   - 5 authors", "", "   We study tables.", ""]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["Masked Objectives", "Tides (Part 2)", "Title.", "Short"]), min_size=1, max_size=8))
def test_hflinked_fast_text_browser_dumps_read_the_same_papers(titles: list[str]) -> None:
    body = [line for k, title in enumerate(titles) for line in _card(k, title)]
    refs = [
        f"  {2 * k + j}. https://huggingface.co/{path}2611.{k:05d}"
        for k in range(len(titles))
        for j, path in ((1, "login?next=%2Fpapers%2F"), (2, "papers/"))
    ]
    lines = ["Daily Papers", "", *body, "References", "", *refs]
    assert linked_items(list(lines), source="d.md") == linked_items_plain(list(lines), source="d.md")
    digest = parse_digest("\n".join(lines).encode(), source="d.md")
    assert [p.id for p in digest.papers] == [f"2611.{k:05d}" for k in range(len(titles))]
    assert not digest.partial
