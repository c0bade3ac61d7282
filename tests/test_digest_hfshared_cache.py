"""The memoised date-line reader (``newsletter/digest/hfshared.py``, ``parse_date_line``)
against the plain function: the same answer for every line, asked once or many times."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.digest.hfshared import parse_date_line

_plain = parse_date_line.__wrapped__
_PIECES = st.sampled_from(
    [
        "Oct",
        "oct",
        "Sept",
        "Sep.",
        "Mar",
        "Xyz",
        " ",
        "  ",
        "\t",
        ",",
        "1",
        "15",
        "31",
        "32",
        "0",
        "2024",
        "7",
        "x",
        "é",
    ]
)
_LINES = st.one_of(st.lists(_PIECES, max_size=8).map("".join), st.text(max_size=30))


@settings(max_examples=800, deadline=None)
@given(st.lists(_LINES, min_size=1, max_size=6))
def test_hfshared_date_line_cached_answers_as_the_plain_function(lines: list[str]) -> None:
    for line in [*lines, *lines]:  # each asked twice: the second answer comes from the cache
        assert parse_date_line(line) == _plain(line)


def test_hfshared_date_line_answers_are_immutable() -> None:
    """A cached answer is shared by every caller: a tuple, never a list one could change."""
    assert parse_date_line("Mar 12, 2024") == (3, 12, 2024, None)
    assert parse_date_line("Oct 1 9") == (10, 1, None, 9)
    assert isinstance(parse_date_line("Oct 1 9"), tuple)
    assert parse_date_line("Oct 32") is None and parse_date_line("Xyz 3") is None
