"""Stemming (SPEC 4): the C stemmer that snowballstemmer hands out when PyStemmer is
installed (a dependency, for speed: issue 26) gives exactly the stems of snowballstemmer's
own pure-Python English stemmer, the plain way, on real words and on any word."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from snowballstemmer.english_stemmer import EnglishStemmer

from newsletter.matching import text
from newsletter.matching.text import stem

ROOT = Path(__file__).resolve().parent.parent
PLAIN = EnglishStemmer()


def test_stem_uses_the_c_stemmer() -> None:
    import Stemmer

    assert isinstance(text._stemmer(), Stemmer.Stemmer)


def test_stem_equals_the_pure_python_stemmer_on_every_word_of_the_seeds() -> None:
    words = sorted({w for f in (ROOT / "seeds").glob("*") for w in re.findall(r"[a-z]+", f.read_text().lower())})
    assert len(words) > 2000
    assert [stem(w) for w in words] == [PLAIN.stemWord(w) for w in words]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(categories=("Ll", "Nd")), min_size=1, max_size=24))
def test_stem_equals_the_pure_python_stemmer_on_any_word(word: str) -> None:
    assert stem(word) == PLAIN.stemWord(word)
