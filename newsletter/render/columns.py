"""Display columns of the text part: where a character takes two columns on screen.

A terminal or a mail client's monospaced view shows East Asian wide and fullwidth
characters (CJK ideographs, kana, Hangul syllables, most emoji: ``east_asian_width``
``W``/``F``) in two columns, combining marks and format characters (zero-width joiner,
variation selectors, soft hyphen) in none; a narrow character followed by the emoji
variation selector U+FE0F (``❤️``) is drawn as an emoji, two columns. Everything else
takes one. This is the rule of POSIX ``wcwidth`` as far as the standard library can
tell it (:mod:`unicodedata`); ``wcwidth`` itself is not a dependency for it.

:func:`wrap_wide` is the greedy word wrap of :func:`newsletter.render.content.wrap`
counted in columns, for the paragraphs that hold any character not one column wide
(plain ASCII and Latin text keep the faster character-counting path, byte for byte).
Besides at spaces, a line may break beside a wide character (Chinese and Japanese
put no spaces between words; Korean does, so Hangul words stay whole), never before
closing punctuation (``、。）」``) nor after opening punctuation (``（「``).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_VS16 = "\ufe0f"
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
URLISH = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:\S")  # a word that is a URL: never cut
_URL_INSIDE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")
_NO_START = frozenset({"Pe", "Pf", "Po"})  # closing punctuation: never first on a line
_NO_END = frozenset({"Ps", "Pi"})  # opening punctuation: never last on a line
# Korean separates its words by spaces: a Hangul word is kept whole, as Latin words are
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")


@lru_cache(maxsize=8192)
def char_columns(ch: str) -> int:
    """Columns one character takes: 2 wide/fullwidth, 0 combining or format, else 1."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def columns(text: str) -> int:
    """Display columns of ``text`` (one line)."""
    if text.isascii():
        return len(text)
    total = 0
    last = 0
    for ch in text:
        w = char_columns(ch)
        if ch == _VS16 and last == 1:
            w = 1  # the narrow character before it is drawn as a two-column emoji
        total += w
        last = w if w else last
    return total


def all_narrow(text: str) -> bool:
    """Whether every character of ``text`` takes exactly one column."""
    return text.isascii() or all(char_columns(ch) == 1 for ch in set(_NON_ASCII.findall(text)))


@lru_cache(maxsize=65536)
def _breakable(before: str, after: str) -> bool:
    """A line may break between ``before`` and ``after`` (inside a word) only beside a
    wide character, and not where punctuation would be stranded."""
    if char_columns(after) == 0 or after == _VS16:
        return False
    if char_columns(before) != 2 and char_columns(after) != 2:
        return False
    if _HANGUL.match(before) or _HANGUL.match(after):
        return False
    return unicodedata.category(after) not in _NO_START and unicodedata.category(before) not in _NO_END


def _units(word: str) -> list[str]:
    """``word`` cut where a line may break inside it (a URL is never cut; one glued to
    the text before it, ``代码：https://…``, is a unit of its own)."""
    if word.isascii() or URLISH.match(word):
        return [word]
    url = _URL_INSIDE.search(word)
    if url:
        return [*_units(word[: url.start()]), url.group(0)]
    units: list[str] = []
    start = 0
    for i in range(1, len(word)):
        if _breakable(word[i - 1], word[i]):
            units.append(word[start:i])
            start = i
    units.append(word[start:])
    return units


def _cut(unit: str, room: int) -> list[str]:
    """``unit`` in pieces of at most ``room`` columns (a URL stays whole; a character
    wider than ``room`` gets a piece of its own; zero-width characters stay with the one
    before)."""
    if 2 * len(unit) <= room or columns(unit) <= room or URLISH.match(unit):
        return [unit]
    pieces = [""]
    for ch in unit:
        if pieces[-1] and char_columns(ch) and columns(pieces[-1] + ch) > room:
            pieces.append("")
        pieces[-1] += ch
    return pieces


def wrap_wide(para: str, width: int, lead: str, indent: str) -> list[str]:
    """The lines of one paragraph (stripped, non-empty), at most ``width`` columns each:
    the first prefixed by ``lead``, the others by ``indent``. A URL wider than the line
    stands alone on its line (the one exception to the width)."""
    room = max(width - max(columns(lead), columns(indent)), 1)
    lines: list[str] = []
    line, used, empty = lead, columns(lead), True
    for word in para.split():
        for k, unit in enumerate(piece for u in _units(word) for piece in _cut(u, room)):
            gap = " " if k == 0 and not empty else ""
            w = columns(unit)
            if not empty and used + len(gap) + w > width:
                lines.append(line)
                line, used, gap = indent, columns(indent), ""
            line, used, empty = line + gap + unit, used + len(gap) + w, False
    lines.append(line)
    return lines
