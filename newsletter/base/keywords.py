"""The keyword language (SPEC 4), shared by the configuration (which refuses an entry
with no word, at its line) and the matching engine (which compiles entries): text ->
words (NFKC, casefold, maximal runs of letters and digits), and one entry such as
``title:contrast* learning`` -> (field restriction, words, which words are prefixes)."""

from __future__ import annotations

import re
import unicodedata

WORD_RE = re.compile(r"[^\W_]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")  # a tab is a space
FIELD_PREFIX = re.compile(r"\s*(title|abstract|author|org)\s*:", re.IGNORECASE)


def normalize(text: str) -> str:
    """NFKC then casefold."""
    return unicodedata.normalize("NFKC", text).casefold()


def parse_entry(entry: str) -> tuple[str | None, tuple[str, ...], tuple[bool, ...]]:
    """``entry`` -> (field restriction, normalised words, which words end in ``*``)."""
    field: str | None = None
    text = entry.lower() if entry.isascii() else normalize(entry)  # the same for ASCII
    m = FIELD_PREFIX.match(text)
    if m:
        field = m.group(1)
        text = text[m.end() :]
    if "*" not in text:
        words = tuple(WORD_RE.findall(text))
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
