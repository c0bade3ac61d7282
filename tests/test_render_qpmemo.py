"""Quoted-printable line by line with a memo (newsletter/render/qpmemo.py) against the
reference, binascii.b2a_qp: the same bytes, on first sight of a line and from the memo."""

from __future__ import annotations

import binascii

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.render.qpmemo import QuotedPrintableMemo

# pieces that reach every branch of the encoder: long lines, "=", whitespace before a line
# break or at the end, a lone ".", tabs, CR and CRLF, non-ASCII, control characters
_pieces = st.sampled_from(["a", "=", " ", "\t", "\n", "\r\n", "\r", ".", "é", "日", "\x0c", "\x7f", "<p>", "x" * 80])
_chars = st.characters(exclude_categories=("Cs",))
_texts = st.one_of(
    st.text(_chars, max_size=400),
    st.lists(_pieces, max_size=120).map("".join),
)


def reference(text: str, linesep: bytes) -> bytes:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", linesep)


SHARED = QuotedPrintableMemo(b"\r\n")


@settings(max_examples=500, deadline=None)
@given(st.lists(_texts, min_size=1, max_size=4))
def test_qpmemo_equals_binascii_first_time_and_from_the_memo(texts: list[str]) -> None:
    for text in texts:
        expected = reference(text, b"\r\n")
        assert SHARED.encode(text) == expected
        assert SHARED.encode(text) == expected  # every line now from the memo
        # the lines of this text inside another one: each line is encoded on its own
        assert SHARED.encode(text + "\n" + text) == reference(text + "\n" + text, b"\r\n")


@given(_texts)
def test_qpmemo_other_line_separator(text: str) -> None:
    assert QuotedPrintableMemo(b"\n").encode(text) == reference(text, b"\n")


def test_qpmemo_is_bounded_and_still_right_after_starting_afresh() -> None:
    memo = QuotedPrintableMemo(b"\r\n", limit=10)
    for i in range(50):
        text = "\n".join(f"line {i} {j} = é " for j in range(4))
        assert memo.encode(text) == reference(text, b"\r\n")
        assert len(memo._inner) <= 10
    by_size = QuotedPrintableMemo(b"\r\n", max_bytes=20_000)
    for i in range(50):
        text = "\n".join(f"{i}-{j} " + "é=x" * 300 for j in range(3))
        assert by_size.encode(text) == reference(text, b"\r\n")
        kept = sum(len(k) + len(v) for k, v in (*by_size._inner.items(), *by_size._last.items()))
        assert kept <= 20_000 + 3 * len(text)
