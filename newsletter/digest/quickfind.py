"""``needle in text`` for the whole-file tests of the text readers (the speed fence).

CPython finds a needle of two or more characters with a skip loop that costs about a
millisecond a megabyte when the needle's characters are common (``){``, ``~~~``), and a
single character with ``memchr``, some fifty times faster. A text dump is tested for a
handful of markers that are seldom there (a fence, a Pandoc attribute, an address in
angle brackets), so :func:`contains` first looks for a character of the needle that
text dumps seldom hold: when it is absent, so is the needle. It gives ``needle in
text`` for every text and needle (property test in ``tests/test_digest_quickfind.py``).
"""

from __future__ import annotations

from functools import lru_cache

#: Characters text dumps seldom hold (a Markdown or text dump of a listing page: none of
#: these, or a few).
RARE = "`~{<"


@lru_cache(maxsize=64)
def _rare_char(needle: str) -> str | None:
    """A character of ``needle`` of :data:`RARE` (None: none is)."""
    return next((c for c in needle if c in RARE), None) if len(needle) > 1 else None


def contains(text: str, needle: str) -> bool:
    """``needle in text``, a rare character of ``needle`` looked for first."""
    rare = _rare_char(needle)
    if rare is not None and rare not in text:
        return False
    return needle in text
