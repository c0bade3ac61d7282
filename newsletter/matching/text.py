"""Text -> words (SPEC 4): NFKC, casefold, maximal runs of letters and digits (with their
combining marks), Snowball stems.

:func:`tokenize` gives every word with its character span in the *original* text, so
that matched words can be highlighted even where NFKC changes lengths (``ﬁ`` -> ``fi``).
Its words are exactly those of ``WORD_RE.findall(normalize(text))``.
"""

from __future__ import annotations

import itertools
import re
import threading
import unicodedata
from functools import lru_cache
from typing import Any

from newsletter.base.keywords import ASCII_WORD_RE, WORD_RE, normalize

__all__ = ["WORD_RE", "Token", "normalize", "stem", "tokenize", "words"]

# Whitespace, control characters and ASCII punctuation never belong to a word, alone or
# after NFKC: they split the text into pieces that are tokenized independently.
_SEPARATORS = re.compile(r"[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f\s]+")

Token = tuple[str, int, int]
"""A word (normalised) and its ``(start, end)`` character span in the original text."""

_STEM_LOCK = threading.Lock()
_IN_WORD: dict[str, bool] = {}


def words(text: str) -> list[str]:
    """The normalised words of ``text``, in order."""
    if text.isascii():
        return ASCII_WORD_RE.findall(text.lower())
    return WORD_RE.findall(normalize(text))


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    """The English stemmer, made on first use (the package imports all its 30 languages).
    ``snowballstemmer.stemmer`` is PyStemmer's C build of the same Snowball algorithms when
    that is installed (a dependency: about 100x faster per word, which is most of indexing
    a pass's papers); ``tests/test_matching_stem.py`` proves both give the same stems."""
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """The Snowball English stem of a normalised word (cached)."""
    with _STEM_LOCK:  # a snowballstemmer stemmer keeps state while it works
        result: str = _stemmer().stemWord(word)
    return result


def _in_word(ch: str) -> bool:
    """Whether ``ch`` can be part of a word once the text is normalised."""
    known = _IN_WORD.get(ch)
    if known is None:
        known = ch.isalnum() or unicodedata.category(ch).startswith("M") or unicodedata.normalize("NFKC", ch) != ch
        _IN_WORD[ch] = known
    return known


def _chunk_tokens(chunk: str, offset: int, out: list[Token]) -> None:
    """Tokens of a run of non-separator characters starting at ``offset``."""
    norm = normalize(chunk)
    if norm == chunk:
        out.extend((m.group(), offset + m.start(), offset + m.end()) for m in WORD_RE.finditer(chunk))
        return
    # Map normalised offsets back through clusters (a starter and its combining marks),
    # the units NFKC works on; if the text does not normalise cluster by cluster, every
    # word of the chunk spans the whole chunk.
    starts = [i for i, ch in enumerate(chunk) if i == 0 or not unicodedata.combining(ch)]
    bounds = [*starts, len(chunk)]
    origin: list[tuple[int, int]] = []  # normalised index -> original (start, end) of its cluster
    pieces: list[str] = []
    for s, e in itertools.pairwise(bounds):
        piece = normalize(chunk[s:e])
        pieces.append(piece)
        origin.extend([(s, e)] * len(piece))
    exact = "".join(pieces) == norm
    for m in WORD_RE.finditer(norm):
        if exact:
            start, end = origin[m.start()][0], origin[m.end() - 1][1]
        else:
            start, end = 0, len(chunk)
        out.append((m.group(), offset + start, offset + end))


def tokenize(text: str) -> tuple[Token, ...]:
    """Every word of ``text`` with its span in ``text``, in order."""
    if text.isascii():
        return tuple((m.group().lower(), m.start(), m.end()) for m in ASCII_WORD_RE.finditer(text))
    out: list[Token] = []
    pos = 0
    for sep in (*_SEPARATORS.finditer(text), None):
        end = sep.start() if sep is not None else len(text)
        if end > pos:
            piece = text[pos:end]
            if piece.isascii():
                out.append((piece.lower(), pos, end))
            else:
                i, n = 0, len(piece)
                while i < n:
                    if not _in_word(piece[i]):
                        i += 1
                        continue
                    j = i + 1
                    while j < n and _in_word(piece[j]):
                        j += 1
                    _chunk_tokens(piece[i:j], pos + i, out)
                    i = j
        if sep is not None:
            pos = sep.end()
    return tuple(out)
