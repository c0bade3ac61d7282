"""``needle in text`` for the whole-file tests of the text readers (the speed fence).

CPython finds a needle of two or more characters with a skip loop that costs about a
millisecond a megabyte when the needle's characters are common (``){``, ``~~~``; more on
text with characters past Latin-1), and a single character with ``memchr``, some fifty
times faster. A text dump is tested for a handful of markers that are seldom there (a
fence, a Pandoc attribute, an address in angle brackets), so :func:`contains` looks for a
character of the needle that text dumps seldom hold, and checks the needle at the first
few places it stands: no such character, no needle. It gives ``needle in text`` for every
text and needle (property test in ``tests/test_digest_quickfind.py``).
"""

from __future__ import annotations

from functools import lru_cache

#: Characters text dumps seldom hold (a Markdown or text dump of a listing page: none of
#: these, or a few).
RARE = "`~{<"
#: The places of the rare character checked one by one; past them, the plain search.
PROBES = 16


@lru_cache(maxsize=64)
def _rare(needle: str) -> tuple[str, int] | None:
    """A character of ``needle`` of :data:`RARE` and its index (None: none is)."""
    if len(needle) < 2:
        return None
    return next(((c, k) for k, c in enumerate(needle) if c in RARE), None)


def contains(text: str, needle: str) -> bool:
    """``needle in text``, found from the places of a rare character of ``needle``."""
    rare = _rare(needle)
    if rare is None:
        return needle in text
    char, offset = rare
    at = text.find(char, offset)  # (the needle holds ``offset`` characters before it)
    for _ in range(PROBES):
        if at < 0:
            return False
        if text.startswith(needle, at - offset):
            return True
        at = text.find(char, at + 1)
    # many places: the needle, if anywhere, has its rare character at ``at`` or after
    return at >= 0 and text.find(needle, at - offset) >= 0
