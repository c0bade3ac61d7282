"""The whole-file substring test of the text readers (``newsletter/digest/quickfind.py``)
against ``needle in text``."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.digest.quickfind import RARE, contains

# The needles the readers look for, and any others (with and without a rare character)
_USED = ["```", "~~~", "){", "]{", " <http"]
_CHARS = st.sampled_from([*RARE, *"`~{<)]} hpt:/\n\rab"])
_NEEDLES = st.one_of(st.sampled_from(_USED), st.text(_CHARS, max_size=5))
_TEXTS = st.one_of(
    st.text(_CHARS, max_size=200),
    st.lists(st.one_of(st.sampled_from(_USED), st.text(_CHARS, max_size=8)), max_size=20).map("".join),
)


@settings(max_examples=1000, deadline=None)
@given(_TEXTS, _NEEDLES)
def test_quickfind_contains_is_the_substring_test(text: str, needle: str) -> None:
    assert contains(text, needle) is (needle in text)


def test_quickfind_contains_finds_a_fence_in_a_large_dump() -> None:
    dump = "### [Title](https://huggingface.co/papers/2611.00001)\n" * 20000
    assert not contains(dump, "```")
    assert contains(dump + "```text\n", "```")
    assert contains("`", "`") and not contains("", "~~~")
