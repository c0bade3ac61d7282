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
- :func:`shared_phrases` names up to three phrases (up to three adjacent content words)
  that two papers share, those that make them similar first: never boilerplate ("code is
  available at", "we propose", "in this paper" consist of stop words only), links, TeX,
  glued scrape words ("usethe") or words generic in the corpus at hand
  (:func:`generic_stems`: used once by most papers that use them), and no stem twice.
"""

from __future__ import annotations

import gzip
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from newsletter.digest import Paper
from newsletter.matching.text import stem, words

__all__ = ["SHOWN", "TITLE_WEIGHT", "TfIdf", "analyze", "generic_stems", "own_phrases", "shared_phrases"]

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

#: Text that is not prose (a link, an e-mail address, TeX: an inline formula or a command
#: such as ``\\mathbb``) and the punctuation that ends a phrase: a phrase never spans them.
_NOT_PROSE = re.compile(
    r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+\.[\w.]+|\b[\w.-]+\.(?:com|org|net|io|ai|edu)\b\S*"
    r"|\$[^$]*\$|\\[A-Za-z]+|[.,;:!?()\[\]{}\"\u201c\u201d]"
)
#: The function words a scrape glues to the next or previous word at a line break
#: ("usethe", "theproposed"): the articles, "and", and the prepositions that are never an
#: English prefix or suffix of a content word.
_GLUE = ("the", "and", "of", "to", "for", "with", "that", "this", "is", "are", "we")
#: Those no English word ends with: glued after any word ("endoscopewith"), known or not.
_GLUE_AFTER = ("the", "with", "that", "this")


@lru_cache(maxsize=1)
def _lexicon() -> frozenset[str]:
    """The whole words of the sentence model's WordPiece vocabulary (BERT's 30,522 tokens,
    shipped with the package): a general English word list."""
    data = resources.files("newsletter.matching").joinpath("minilm-vocab.txt.gz").read_bytes()
    return frozenset(w for w in gzip.decompress(data).decode("utf-8").split() if w.isalpha())


@lru_cache(maxsize=1 << 15)
def _glued(word: str) -> bool:
    """Whether ``word`` is two words a scrape ran together ("toaddress", "inthe"): no
    English word itself, it is a glue word followed (or preceded) by one, two stop words,
    or a word followed by one of :data:`_GLUE_AFTER`."""
    known = _lexicon()
    if word in known or not word.isalpha():
        return False
    if any(word[:i] in STOP and word[i:] in STOP for i in range(1, len(word))):
        return True
    if any(word.endswith(glue) and len(word) - len(glue) >= 3 for glue in _GLUE_AFTER):
        return True
    return any(_glued_to(word, glue, known) for glue in _GLUE)


def _glued_to(word: str, glue: str, known: frozenset[str]) -> bool:
    """Whether ``word`` is ``glue`` and a known word of 4 letters or more, or a known word
    of 3 or more and ``glue``."""
    if word.startswith(glue) and len(word) - len(glue) >= 4 and word[len(glue) :] in known:
        return True
    return word.endswith(glue) and len(word) - len(glue) >= 3 and word[: -len(glue)] in known


def _content(word: str) -> bool:
    return len(word) >= 3 and not word.isdigit() and word not in STOP and not _glued(word)


#: The nouns of :data:`STOP` that head a topic's name ("language models", "diffusion
#: model", "segmentation tasks"): alone they say nothing, after a content word they end
#: its phrase (no longer cut to "large language").
HEADS = frozenset(["model", "models", "method", "methods", "approach", "approaches", "task", "tasks", "framework"])
_HEAD_STEMS = frozenset(["model", "method", "approach", "task", "framework"])  # their stems


@lru_cache(maxsize=1 << 14)
def _phrases(title: str, abstract: str) -> dict[tuple[str, ...], str]:
    """Stem phrase -> its first surface form: single content words and runs of two or three
    adjacent ones within a clause of prose (links, TeX and punctuation end a run), a run
    possibly ended by one of :data:`HEADS`."""
    out: dict[tuple[str, ...], str] = {}
    for text in (title, abstract):
        for piece in _NOT_PROSE.split(text):
            run: list[tuple[str, str]] = []
            for word in words(piece):
                if word in HEADS and run:
                    _add_runs(out, [*run[-2:], (stem(word), word)], alone=False)
                if not _content(word):
                    run = []
                    continue
                run = [*run[-2:], (stem(word), word)]
                _add_runs(out, run, alone=True)
    return out


def _add_runs(out: dict[tuple[str, ...], str], run: list[tuple[str, str]], *, alone: bool) -> None:
    """The phrases of ``run`` that end with its last word (that word alone too if ``alone``)."""
    for n in range(len(run), 0 if alone else 1, -1):
        part = run[-n:]
        out.setdefault(tuple(k for k, _ in part), " ".join(w for _, w in part))


@lru_cache(maxsize=1 << 14)
def _counts(title: str, abstract: str) -> Counter[str]:
    return Counter(_terms(title, abstract))


#: A stem is generic in a corpus (an adjective or adverb every topic uses: "promising",
#: "recent", "real world") when at least GENERIC_DF of its papers use it and fewer than
#: GENERIC_REPEAT of those use it more than once: a topic word, once used, is used again
#: (Church and Gale's adaptation). Measured on the seeds and the relevance set, topic words
#: repeat in 0.4 to 0.8 of their papers, such fillers in 0.0 to 0.2.
GENERIC_DF = 10
GENERIC_REPEAT = 0.25


def generic_stems(papers: Sequence[Paper]) -> frozenset[str]:
    """The stems generic in ``papers`` (see :data:`GENERIC_DF`): never the end of a phrase
    that explains a hit."""
    used: Counter[str] = Counter()
    repeated: Counter[str] = Counter()
    for paper in papers:
        counts = _counts(paper.title, paper.abstract)
        used.update(counts.keys())
        repeated.update(s for s, n in counts.items() if n > 1)
    return frozenset(s for s, n in used.items() if n >= GENERIC_DF and repeated[s] < GENERIC_REPEAT * n)


def shared_phrases(
    a: Paper, b: Paper, idf: dict[str, float], count: int = SHOWN, generic: frozenset[str] = frozenset()
) -> tuple[str, ...]:
    """Up to ``count`` phrases ``a`` and ``b`` share, as ``b`` writes them, those that make
    the two papers similar first.

    A phrase weighs what its stems add to the two papers' tf-idf cosine (the product of
    their weights in ``a`` and in ``b``, summed): a topic both keep coming back to outweighs
    a word each uses once. Shown are only phrases with a stem one of the papers repeats
    (its title counts twice): a word each paper uses once ("making", "real world") is no
    reason, unless nothing else is shared. No two phrases shown share a stem ("language
    model" and "language models" are one phrase, "self supervised" and "supervised
    learning" overlap); links, TeX and glued scrape words are never phrases, and a phrase
    neither starts nor ends with a ``generic`` stem ("real world", "promising"): the one
    such phrase is named only when the two papers share nothing else."""
    ranked = _ranked(a, b, idf)
    ranked = [k for k in ranked if k[0] not in generic and k[-1] not in generic] or ranked[:1]
    counts = _counts(a.title, a.abstract), _counts(b.title, b.abstract)
    salient = [k for k in ranked if any(c[s] > 1 for s in k for c in counts)]
    chosen: list[tuple[str, ...]] = []
    covered: set[str] = set()
    for key in salient or ranked[:1]:
        if len(chosen) < count and not covered.intersection(key):
            chosen.append(key)
            covered.update(key)
    theirs = _phrases(b.title, b.abstract)
    return tuple(theirs[k] for k in chosen)


def _ranked(a: Paper, b: Paper, idf: dict[str, float]) -> list[tuple[str, ...]]:
    """The phrases ``a`` and ``b`` share, heaviest first (what their stems add to the
    cosine; a head noun of :data:`HEADS` adds nothing)."""
    mine, theirs = _phrases(a.title, a.abstract), _phrases(b.title, b.abstract)
    ca, cb = _counts(a.title, a.abstract), _counts(b.title, b.abstract)

    def weight(k: tuple[str, ...]) -> float:
        both = [s for s in k if ca[s] and cb[s]]
        return sum((1.0 + math.log(ca[s])) * (1.0 + math.log(cb[s])) * idf.get(s, 1.0) ** 2 for s in both)

    common = [k for k in theirs if k in mine and all(ca[s] and cb[s] for s in k if s not in _HEAD_STEMS)]
    return sorted(common, key=lambda k: (-weight(k), -len(k), theirs[k]))  # the longer phrase of a tie


def own_phrases(paper: Paper, idf: dict[str, float], generic: frozenset[str], count: int) -> tuple[str, ...]:
    """Up to ``count`` phrases of ``paper`` itself, its weightiest first (tf-idf, summed over
    their stems), those it repeats before the others, no stem twice, none starting or ending
    with a ``generic`` stem: the candidates for "related terms" where a hit shares no
    phrase with the liked paper."""
    phrases, counts = _phrases(paper.title, paper.abstract), _counts(paper.title, paper.abstract)

    def weight(k: tuple[str, ...]) -> float:
        return sum((1.0 + math.log(counts[s])) * idf.get(s, 1.0) for s in k if counts[s])

    keys = [k for k in phrases if k[0] not in generic and k[-1] not in generic and any(counts[s] for s in k)]
    keys.sort(key=lambda k: (not any(counts[s] > 1 for s in k), -weight(k), -len(k), phrases[k]))
    chosen: list[tuple[str, ...]] = []
    covered: set[str] = set()
    for key in keys:
        if len(chosen) < count and not covered.intersection(key):
            chosen.append(key)
            covered.update(key)
    return tuple(phrases[k] for k in chosen)
