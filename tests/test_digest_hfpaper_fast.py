"""The test for a paper's page (``newsletter/digest/hfpaper.py``, :func:`is_paper_page`)
against its first spelling: its patterns are searched in "\\n" + text from a literal
"\\n" instead of from "^" (multi-line) at every character; the same answer for every text."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.digest.hfpaper import _HEAD, is_paper_page

# The patterns as first written (reference)
_SIGN_BEFORE = re.compile(
    r"^[ \t]*(?:title:[ \t]*paper page[ \t]*[-–—]|(?:#{1,6}[ \t]+)?(?:models|datasets|spaces) citing this paper)",
    re.IGNORECASE | re.MULTILINE,
)
_ABSTRACT_BEFORE = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]+)?(?:\*\*)?abstract(?:\*\*)?[ \t]*:?[ \t\r]*$", re.IGNORECASE | re.MULTILINE
)


def _before(text: str) -> bool:
    head = text[:_HEAD]
    return _SIGN_BEFORE.search(head) is not None and _ABSTRACT_BEFORE.search(head) is not None


_PIECES = st.sampled_from(
    [
        "\n",
        "\n",
        "\r\n",
        " ",
        "\t",
        "#",
        "### ",
        "**",
        ":",
        "Abstract",
        "abstract",
        "ABSTRACT:",
        "**Abstract**",
        "Models citing this paper",
        "datasets citing this paper 3",
        "## Spaces citing this paper",
        "Title: Paper page - ",
        "title:paper page —",
        "paper page",
        "We study tables.",
        "x",
        "\x0c",
        "\u2028",
    ]
)
_TEXTS = st.lists(_PIECES, max_size=30).map("".join)


@settings(max_examples=1500, deadline=None)
@given(_TEXTS)
def test_hfpaper_fast_paper_page_test_answers_as_the_first_spelling(text: str) -> None:
    assert is_paper_page(text) is _before(text)


def test_hfpaper_fast_signs_past_the_head_are_not_read() -> None:
    listing = "Daily Papers\n" + "x" * _HEAD + "\nAbstract\nModels citing this paper\n"
    assert not is_paper_page(listing) and not _before(listing)
    page = "Title: Paper page - Tables\n\nAbstract\n\nWe study tables.\n\nModels citing this paper 0\n"
    assert is_paper_page(page) and _before(page)
