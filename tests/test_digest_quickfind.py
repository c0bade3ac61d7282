"""The whole-file substring test of the text readers (``newsletter/digest/quickfind.py``)
against ``needle in text``."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.digest.quickfind import PROBES, RARE, contains

# The needles the readers look for, and any others (with and without a rare character)
_USED = ["```", "~~~", "){", "]{", " <http"]
_CHARS = st.sampled_from([*RARE, *"`~{<)]} hpt:/\n\rab"])
# needles that start, end or repeat with a rare character, in texts where it comes in runs
_OTHERS = ["{a", "`a", "a{", "{{", "``", "~~", "<a", ")a{"]
_NEEDLES = st.one_of(st.sampled_from(_USED + _OTHERS), st.text(_CHARS, max_size=5))
_RUNS = st.sampled_from(["{{", "{{{a", "```", "~~~~", "<<http", "){{", "]]{", "` `"])
_TEXTS = st.one_of(
    st.text(_CHARS, max_size=200),
    st.lists(st.one_of(st.sampled_from(_USED + _OTHERS), _RUNS, st.text(_CHARS, max_size=8)), max_size=40).map("".join),
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


def test_quickfind_contains_past_the_probed_places_of_the_rare_character() -> None:
    """More places of the rare character than are checked one by one: the needle right
    after them, among them, or nowhere."""
    braces = "a{b " * (PROBES + 3)
    for k in range(2 * PROBES):
        text = braces[: 4 * k] + "){" + braces[4 * k :]
        assert contains(text, "){") and contains(text, "a{")
    assert not contains(braces, "){") and not contains(braces + ")", "){")
    assert contains(braces + "){", "){") and contains("{" * 40 + "]{", "]{")
