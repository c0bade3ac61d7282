"""Lexical vectors and explanations (issues 17, 24): tf-idf in plain Python, and the shared
phrases that explain a similarity hit in every mode.

- :func:`analyze` gives a paper's terms as the keyword engine sees its words (NFKC,
  casefold, Snowball stems), stop words and boilerplate left out, title terms counted
  :data:`TITLE_WEIGHT` times.
- :class:`TfIdf` holds each paper as a sparse row (term id -> weight): sublinear tf,
  smooth idf (``ln((1 + n) / (1 + df)) + 1``), L2-normed, so a cosine lies in 0..1.
  :meth:`TfIdf.cosines` multiplies rows with the inverted index of others (the papers of
  a pass): no matrix of the whole corpus, no numpy (the base install has none;
  :mod:`newsletter.matching.kernels_numpy` does the same with numpy when it is there).
- :func:`shared_phrases` names up to three phrases (two adjacent content words, or one)
  that two papers share, the rarest first: never boilerplate ("code is available at",
  "we propose", "in this paper" consist of stop words only).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from newsletter.digest import Paper
from newsletter.matching.text import stem, words

__all__ = ["TITLE_WEIGHT", "TfIdf", "analyze", "shared_phrases"]

#: How many times a title term counts against an abstract term (2 balanced best on the
#: seed topics of bench/similarity_topics.yaml; 1 to 3 are within noise on the relevance set).
TITLE_WEIGHT = 2
#: Phrases named in an explanation.
SHOWN = 3

# scikit-learn's English stop words (the list tf-idf used before, issue 17) and the words
# every abstract uses, which carry no topic.
STOP = frozenset(
    """a about above across after afterwards again against all almost alone along already also although always
    am among amongst amoungst amount an and another any anyhow anyone anything anyway anywhere are around as at
    back be became because become becomes becoming been before beforehand behind being below beside besides between
    beyond bill both bottom but by call can cannot cant co con could couldnt cry de describe detail do done down due
    during each eg eight either eleven else elsewhere empty enough etc even ever every everyone everything everywhere
    except few fifteen fifty fill find fire first five for former formerly forty found four from front full further
    get give go had has hasnt have he hence her here hereafter hereby herein hereupon hers herself him himself his
    how however hundred i ie if in inc indeed interest into is it its itself keep last latter latterly least less
    ltd made many may me meanwhile might mill mine more moreover most mostly move much must my myself name namely
    neither never nevertheless next nine no nobody none noone nor not nothing now nowhere of off often on once one
    only onto or other others otherwise our ours ourselves out over own part per perhaps please put rather re same
    see seem seemed seeming seems serious several she should show side since sincere six sixty so some somehow
    someone something sometime sometimes somewhere still such system take ten than that the their them themselves
    then thence there thereafter thereby therefore therein thereupon these they thick thin third this those though
    three through throughout thru thus to together too top toward towards twelve twenty two un under until up upon
    us very via was we well were what whatever when whence whenever where whereafter whereas whereby wherein
    whereupon wherever whether which while whither who whoever whole whom whose why will with within without would
    yet you your yours yourself yourselves
    paper papers propose proposed proposes approach approaches method methods result results shows shown new novel
    based using use uses used work works existing code available https http github com www org html achieve
    achieves achieved state art introduce introduces present presents demonstrate demonstrates experiments
    extensive outperforms significantly study studies task tasks model models performance framework able
    """.split()  # noqa: SIM905  (a word list reads best as words)
)


@lru_cache(maxsize=1 << 15)
def _terms(title: str, abstract: str) -> tuple[str, ...]:
    out: list[str] = []
    for text, weight in ((title, TITLE_WEIGHT), (abstract, 1)):
        for word in words(text):
            if len(word) < 3 or word.isdigit() or word in STOP:
                continue
            out.extend([stem(word)] * weight)
    return tuple(out)


def analyze(paper: Paper) -> tuple[str, ...]:
    """The terms of ``paper`` (cached by its text)."""
    return _terms(paper.title, paper.abstract)


@dataclass(frozen=True, slots=True)
class TfIdf:
    """Sparse tf-idf rows of a corpus: row ``i`` maps term ids to weights (L2-normed)."""

    rows: tuple[dict[int, float], ...]
    vocabulary: dict[str, int]
    idf: tuple[float, ...]

    @classmethod
    def fit(cls, papers: Sequence[Paper]) -> TfIdf:
        vocabulary: dict[str, int] = {}
        counted = [Counter(analyze(p)) for p in papers]
        df: Counter[int] = Counter()
        raw: list[dict[int, int]] = []
        for counts in counted:
            ids = {vocabulary.setdefault(t, len(vocabulary)): n for t, n in counts.items()}
            df.update(ids.keys())
            raw.append(ids)
        n = len(papers)
        idf = tuple(math.log((1.0 + n) / (1.0 + df[t])) + 1.0 for t in range(len(vocabulary)))
        rows = []
        for ids in raw:
            row = {t: (1.0 + math.log(c)) * idf[t] for t, c in ids.items()}
            norm = math.sqrt(sum(v * v for v in row.values()))
            rows.append({t: v / norm for t, v in row.items()} if norm else row)
        return cls(tuple(rows), vocabulary, idf)

    def postings(self, cols: Sequence[int]) -> dict[int, list[tuple[int, float]]]:
        """Term id -> [(position in ``cols``, weight)]: the inverted index of some rows."""
        out: dict[int, list[tuple[int, float]]] = {}
        for at, r in enumerate(cols):
            for term, weight in self.rows[r].items():
                out.setdefault(term, []).append((at, weight))
        return out

    def cosines(
        self, rows: Sequence[int], postings: dict[int, list[tuple[int, float]]], width: int
    ) -> list[list[float]]:
        """Cosines of ``rows`` with the ``width`` rows indexed by ``postings``."""
        out = []
        for r in rows:
            line = [0.0] * width
            for term, weight in self.rows[r].items():
                for at, other in postings.get(term, ()):
                    line[at] += weight * other
            out.append(line)
        return out


# --------------------------------------------------------------------------- explanations


@lru_cache(maxsize=1 << 14)
def _phrases(title: str, abstract: str) -> dict[tuple[str, ...], str]:
    """Stem phrase -> its first surface form: single content words and pairs of adjacent ones."""
    out: dict[tuple[str, ...], str] = {}
    for text in (title, abstract):
        previous: tuple[str, str] | None = None
        for word in words(text):
            if len(word) < 3 or word.isdigit() or word in STOP:
                previous = None
                continue
            key = stem(word)
            out.setdefault((key,), word)
            if previous is not None:
                out.setdefault((previous[0], key), f"{previous[1]} {word}")
            previous = (key, word)
    return out


def shared_phrases(a: Paper, b: Paper, idf: dict[str, float], count: int = SHOWN) -> tuple[str, ...]:
    """Up to ``count`` phrases ``a`` and ``b`` share, as ``b`` writes them, rarest first
    (by the summed ``idf`` of their stems; a word inside a phrase shown is not repeated)."""
    mine, theirs = _phrases(a.title, a.abstract), _phrases(b.title, b.abstract)
    common = [k for k in theirs if k in mine]
    ranked = sorted(common, key=lambda k: (-sum(idf.get(s, 1.0) for s in k), theirs[k]))
    chosen: list[tuple[str, ...]] = []
    covered: set[str] = set()
    for key in ranked:
        if len(chosen) >= count:
            break
        if len(key) == 1 and key[0] in covered:
            continue
        chosen.append(key)
        covered.update(key)
    return tuple(theirs[k] for k in chosen)
