"""The keyword language (SPEC 4), shared by the configuration (which refuses an entry
with no word, at its line) and the matching engine (which compiles entries): text ->
words (NFKC, casefold, maximal runs of letters and digits with their combining marks), and
one entry such as
``title:contrast* learning`` -> (field restriction, words, which words are prefixes)."""

from __future__ import annotations

import re
import unicodedata

#: Every combining mark (Unicode category M) this Python knows. They all live in planes 0, 1
#: and 14 (a full scan takes a second; these planes 30 ms, once at import).
MARKS = "".join(
    ch for ch in map(chr, (*range(0x20000), *range(0xE0000, 0xE1000))) if unicodedata.category(ch)[0] == "M"
)


def _char_class(chars: str) -> str:
    """``chars`` as the body of a regular-expression class, runs of code points as ranges."""
    points = sorted(map(ord, chars))
    runs: list[list[int]] = []
    for cp in points:
        if runs and cp == runs[-1][1] + 1:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp])
    return "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in runs)


#: A word: a letter or digit, then letters, digits and combining marks. A mark belongs to the
#: word it sits on (Unicode's word boundaries, UAX 29, say so too): NFKC composes most Latin
#: accents into letters, but Devanagari's vowel signs, Thai tone marks or Hebrew points stay
#: marks, and a word of Hindi split at every mark would become single letters.
WORD_RE = re.compile(r"[^\W_]+(?:[" + _char_class(MARKS) + r"]+[^\W_]*)*")
#: The same on ASCII text, which has no marks (twice as fast: the hot path of English text).
ASCII_WORD_RE = re.compile(r"[^\W_]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")  # a tab is a space
FIELD_PREFIX = re.compile(r"\s*(title|abstract|author|org)\s*:", re.IGNORECASE)


def normalize(text: str) -> str:
    """NFKC then casefold; the dot above that casefolding leaves on a Turkish capital ``İ``
    (``i`` + U+0307) is dropped, so ``İstanbul``, ``ISTANBUL`` and ``istanbul`` are one word."""
    return unicodedata.normalize("NFKC", text).casefold().replace("i\u0307", "i")


def parse_entry(entry: str) -> tuple[str | None, tuple[str, ...], tuple[bool, ...]]:
    """``entry`` -> (field restriction, normalised words, which words end in ``*``)."""
    field: str | None = None
    text = entry.lower() if entry.isascii() else normalize(entry)  # the same for ASCII
    m = FIELD_PREFIX.match(text)
    if m:
        field = m.group(1)
        text = text[m.end() :]
    if "*" not in text:
        words = tuple((ASCII_WORD_RE if text.isascii() else WORD_RE).findall(text))
        return field, words, (False,) * len(words)
    found = list(WORD_RE.finditer(text))
    return (
        field,
        tuple(w.group() for w in found),
        tuple(text[w.end() : w.end() + 1] == "*" for w in found),
    )


def entry_problem(field: str | None, words: tuple[str, ...]) -> str | None:
    if words:
        return None
    if field:
        return f"no word after '{field}:' (a keyword needs letters or digits)"
    return "no word in keyword (a keyword needs letters or digits)"


def validate_keyword(entry: str) -> str | None:
    """``None`` when ``entry`` is a usable keyword entry, else the reason it is not."""
    if not isinstance(entry, str):
        return f"a keyword must be text, not {type(entry).__name__}"
    if _CONTROL.search(entry):  # shown in the email, `subscribers list`, logs: never a line break of its own
        return "a keyword must not contain control characters (a line break, ESC)"
    field, words, _ = parse_entry(entry)
    return entry_problem(field, words)
