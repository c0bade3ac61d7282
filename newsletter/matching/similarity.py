"""More like these (SPEC 4): tf-idf similarity to the papers a subscriber liked.

- :func:`fit` builds a :class:`SimilarityModel` over a corpus of papers (the papers the
  ledger holds plus the digests at hand) with scikit-learn's ``TfidfVectorizer``: words
  as the keyword engine sees them (NFKC, casefold, Snowball stems), English stop words
  dropped, title words counted :data:`TITLE_WEIGHT` times, sublinear tf, rows L2-normed,
  so the similarity of two papers is their cosine in [0, 1]. Models are cached by the
  corpus (its paper ids), so a run fits once however many subscribers it matches, and a
  new digest costs one refit of a few hundred documents (milliseconds).
- :func:`resolve` turns ``like:`` entries (an arXiv id, a Hugging Face paper URL, an
  arXiv abs/pdf URL or an exact title) into corpus rows.
- :func:`like_matches` merges the similarity hits into a subscriber's keyword matches:
  a paper matches when its similarity to a liked paper reaches ``threshold``, or it is
  among the ``top`` most similar to that liked paper; it scores ``round(10 * s)`` on top
  of its keyword score; ``require``/``exclude`` apply; liked and disliked papers are
  never sent. A disliked paper takes ``round(10 * s)`` off the papers it selects the same
  way (never below 0, never adding a paper).

Everything here is pure over its arguments; the only state is the bounded model cache.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from newsletter.digest import Paper
from newsletter.matching.engine import Hit, Match
from newsletter.matching.index import PaperIndex
from newsletter.matching.profile import compile_entry
from newsletter.matching.refs import Likes, ref_keys
from newsletter.matching.text import stem, words

__all__ = [
    "TITLE_WEIGHT",
    "LikeHit",
    "Likes",
    "SimilarityModel",
    "fit",
    "like_matches",
    "ref_keys",
    "resolve",
]

#: How many times a title word counts against an abstract word (a keyword's title hit
#: scores 3 against 1 in the abstract; 2 balanced best on the labelled bench set).
TITLE_WEIGHT = 2
#: Shared terms named in an explanation.
SHOWN_TERMS = 3
# Words every abstract uses: they carry no topic.
_STOP = frozenset(ENGLISH_STOP_WORDS) | {
    "paper",
    "propose",
    "proposed",
    "approach",
    "method",
    "methods",
    "results",
    "show",
    "shows",
    "new",
    "novel",
    "based",
    "using",
    "use",
    "work",
    "existing",
    "code",
    "available",
    "https",
    "http",
    "github",
    "com",
    "achieves",
    "state",
    "art",
}


class LikeHit(Hit):
    """A hit by similarity: ``keyword`` is the explanation ("like T: shared terms a, b,
    c"), ``fields`` is ``("like",)`` or ``("dislike",)``; ``like`` the liked (or
    disliked) paper's title, ``terms`` the shared terms, ``similarity`` the cosine.

    A :class:`Hit` (the keyword engine's NamedTuple: equal and hashed by its two
    fields) carrying three more attributes.
    """

    like: str
    terms: tuple[str, ...]
    similarity: float

    def __new__(
        cls, keyword: str, fields: tuple[str, ...], like: str, terms: tuple[str, ...], similarity: float
    ) -> LikeHit:
        self = super().__new__(cls, keyword, fields)
        self.like, self.terms, self.similarity = like, terms, similarity
        return self

    @property
    def dislike(self) -> bool:
        return self.fields == ("dislike",)


def _analyze(doc: tuple[str, str], seen: Counter[tuple[str, str]] | None = None) -> list[str]:
    title, abstract = doc
    out: list[str] = []
    for text, weight in ((title, TITLE_WEIGHT), (abstract, 1)):
        for word in words(text):
            if len(word) < 3 or word.isdigit() or word in _STOP:
                continue
            term = stem(word)
            if seen is not None:
                seen[term, word] += 1
            out.extend([term] * weight)
    return out


@dataclass(frozen=True, slots=True)
class Against:
    """What matching many subscribers on one index needs, computed once: ``sims`` is
    (corpus rows x index bits) cosines; ``col_row`` the corpus row of each bit's paper
    (None: not in the corpus); ``bit_of`` paper id -> bit."""

    index: PaperIndex
    sims: Any
    col_row: tuple[int | None, ...]
    bit_of: Mapping[str, int]
    hits: dict[tuple[int, int, str], LikeHit] = field(default_factory=dict, compare=False, repr=False)

    def explain(self, model: SimilarityModel, liked: int, bit: int, kind: str) -> LikeHit:
        """The (shared, immutable) hit of paper ``bit`` by ``liked`` (a corpus row)."""
        key = (liked, bit, kind)
        hit = self.hits.get(key)
        if hit is None:
            hit = self.hits[key] = _explain(model, liked, self.col_row[bit], float(self.sims[liked, bit]), kind)
        return hit


@dataclass(frozen=True, slots=True)
class SimilarityModel:
    """A fitted tf-idf model of ``papers``: ``matrix`` row ``i`` is paper ``i``."""

    papers: tuple[Paper, ...]
    rows: Mapping[str, int]  # every identity of every paper (Paper.keys) -> its row
    matrix: Any  # scipy.sparse CSR, rows L2-normalised
    terms: tuple[str, ...]  # column -> the most common word of that stem
    _against: dict[int, Against] = field(default_factory=dict, compare=False, repr=False)
    _refs: dict[str, int | None] = field(default_factory=dict, compare=False, repr=False)
    _shared: dict[tuple[int, int], tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)

    def row(self, ref: str) -> int | None:
        """The row of the paper ``ref`` names (see :func:`ref_keys`), or None (cached)."""
        if ref in self._refs:
            return self._refs[ref]
        found = None
        for key in ref_keys(ref):
            found = self.rows.get(key)
            if found is not None:
                break
        if len(self._refs) >= 1 << 16:
            self._refs.clear()
        self._refs[ref] = found
        return found

    def against(self, index: PaperIndex) -> Against:
        """The :class:`Against` of ``index`` (cached while the index lives)."""
        cached = self._against.get(id(index))
        if cached is not None and cached.index is index:
            return cached
        cols = tuple(self._row_of_paper(p) for p in index.by_bit)
        present = [c if c is not None else 0 for c in cols]
        empty = np.zeros((len(self.papers), 0))
        sims = (self.matrix @ self.matrix[present].T).toarray() if present else empty
        for bit, c in enumerate(cols):
            if c is None:
                sims[:, bit] = 0.0
        made = Against(index, sims, cols, {p.id: bit for bit, p in enumerate(index.by_bit)})
        if len(self._against) >= 4:
            self._against.clear()
        self._against[id(index)] = made
        return made

    def _row_of_paper(self, paper: Paper) -> int | None:
        for key in paper.keys:
            found = self.rows.get(key)
            if found is not None:
                return found
        return None

    def shared_terms(self, a: int, b: int, count: int = SHOWN_TERMS) -> tuple[str, ...]:
        """The terms that contribute most to the similarity of rows ``a`` and ``b`` (cached)."""
        found = self._shared.get((a, b))
        if found is not None:
            return found
        m = self.matrix
        a_idx, a_val = m.indices[m.indptr[a] : m.indptr[a + 1]], m.data[m.indptr[a] : m.indptr[a + 1]]
        b_idx, b_val = m.indices[m.indptr[b] : m.indptr[b + 1]], m.data[m.indptr[b] : m.indptr[b + 1]]
        common, ia, ib = np.intersect1d(a_idx, b_idx, assume_unique=True, return_indices=True)
        weight = a_val[ia] * b_val[ib]
        order = np.argsort(-weight, kind="stable")[:count]
        found = tuple(self.terms[int(common[i])] for i in order)
        if len(self._shared) >= 1 << 16:
            self._shared.clear()
        self._shared[a, b] = found
        return found


_MODELS: dict[tuple[str, ...], SimilarityModel] = {}


def fit(papers: Sequence[Paper]) -> SimilarityModel:
    """The model of ``papers`` (cached by their ids: a run fits once)."""
    key = tuple(p.id for p in papers)
    found = _MODELS.get(key)
    if found is not None:
        return found
    seen: Counter[tuple[str, str]] = Counter()
    docs = [(p.title, p.abstract) for p in papers]
    vectorizer = TfidfVectorizer(
        analyzer=lambda doc: _analyze(doc, seen),
        sublinear_tf=True,
        lowercase=False,
        norm="l2",
        dtype=np.float64,
    )
    if any(_analyze(d) for d in docs):
        matrix = vectorizer.fit_transform(docs).tocsr()
        names = vectorizer.get_feature_names_out()
    else:  # no usable word at all: an empty model, every similarity 0
        from scipy.sparse import csr_matrix

        matrix = csr_matrix((len(docs), 1))
        names = np.array([""])
    best: dict[str, tuple[int, str]] = {}
    for (term, word), n in seen.items():
        if n > best.get(term, (0, ""))[0]:
            best[term] = (n, word)
    rows: dict[str, int] = {}
    for i, paper in enumerate(papers):
        for k in paper.keys:
            rows.setdefault(k, i)
    model = SimilarityModel(
        papers=tuple(papers),
        rows=rows,
        matrix=matrix,
        terms=tuple(best.get(str(t), (0, str(t)))[1] for t in names),
    )
    if len(_MODELS) >= 8:
        _MODELS.clear()
    _MODELS[key] = model
    return model


def resolve(refs: Sequence[str], model: SimilarityModel) -> tuple[dict[str, int], list[str]]:
    """``refs`` -> (ref -> corpus row for the known ones, the unknown refs in order)."""
    known: dict[str, int] = {}
    unknown: list[str] = []
    for ref in refs:
        row = model.row(ref)
        if row is None:
            unknown.append(ref)
        else:
            known[ref] = row
    return known, unknown


def _selected(sims: Any, rows: Sequence[int], allowed: Any, threshold: float, top: int) -> Any:
    """(len(rows) x bits) booleans: paper ``bit`` is selected by liked row ``r``."""
    block = sims[list(rows)] * allowed  # disallowed papers at 0
    chosen = block >= threshold
    width = block.shape[1]
    if top > 0 and width:
        k = min(top, width)
        best = np.argpartition(-block, k - 1, axis=1)[:, :k]
        rows_at = np.arange(block.shape[0])[:, None]
        chosen[rows_at, best] = True
    chosen &= block > 0
    return chosen


def _explain(model: SimilarityModel, liked: int, bit_row: int | None, sim: float, kind: str) -> LikeHit:
    title = model.papers[liked].title
    terms = model.shared_terms(liked, bit_row) if bit_row is not None else ()
    verb = "like" if kind == "like" else "fewer like"
    text = f"{verb} {title}: shared terms {', '.join(terms)}" if terms else f"{verb} {title}"
    return LikeHit(keyword=text, fields=(kind,), like=title, terms=terms, similarity=round(float(sim), 3))


def _mask_array(mask: int, n: int) -> Any:
    """Bit set -> float array of 0/1 of length ``n`` (bit ``i`` at index ``i``)."""
    raw = np.frombuffer(mask.to_bytes((n + 7) // 8 or 1, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:n].astype(np.float64)


def like_matches(  # noqa: C901  (one pass over the liked papers; its branches are the SPEC 4 rules)
    index: PaperIndex,
    model: SimilarityModel,
    keyword_matches: Sequence[Match],
    likes: Likes,
    *,
    require: Sequence[str] = (),
    exclude: Sequence[str] = (),
    stemming: bool = True,
    exclude_ids: Collection[str] = frozenset(),
    limit: int,
) -> list[Match]:
    """``keyword_matches`` (every keyword match of the subscriber, any order) joined by
    the papers similar to ``likes.like`` and pushed down by ``likes.dislike``; best
    first (score, then upvotes, then digest order), at most ``limit``."""
    like_rows = [r for r in dict.fromkeys(model.row(ref) for ref in likes.like) if r is not None]
    dislike_rows = [r for r in dict.fromkeys(model.row(ref) for ref in likes.dislike) if r is not None]
    never: set[str] = set(exclude_ids)
    for row in (*like_rows, *dislike_rows):
        never.update(model.papers[row].keys)  # a liked (or disliked) paper is never sent
    n = len(index.by_bit)
    allowed_mask = index.all & ~index.id_mask(never)
    for raw in require:
        allowed_mask &= index.entry_masks(compile_entry(raw, stemming))[2]
    for raw in exclude:
        allowed_mask &= ~index.entry_masks(compile_entry(raw, stemming))[2]
    allowed = _mask_array(allowed_mask, n)
    ctx = model.against(index)
    sims = ctx.sims

    scores: dict[int, int] = {}
    keyword_hits: dict[int, tuple[Hit, ...]] = {}
    for m in keyword_matches:
        bit = ctx.bit_of.get(m.paper.id)
        if bit is not None and allowed_mask >> bit & 1:
            scores[bit] = m.score
            keyword_hits[bit] = m.hits
    liked_by: dict[int, list[tuple[float, int]]] = {}
    if like_rows:
        chosen = _selected(sims, like_rows, allowed, likes.threshold, likes.top)
        rs, bs = np.nonzero(chosen)
        for r, b in zip(rs.tolist(), bs.tolist(), strict=True):
            liked_by.setdefault(b, []).append((float(sims[like_rows[r], b]), like_rows[r]))
        for b, picks in liked_by.items():
            picks.sort(key=lambda x: -x[0])
            scores[b] = scores.get(b, 0) + round(10 * picks[0][0])
    disliked_by: dict[int, tuple[float, int]] = {}
    if dislike_rows and scores:
        chosen = _selected(sims, dislike_rows, allowed, likes.threshold, likes.top)
        rs, bs = np.nonzero(chosen)
        for r, b in zip(rs.tolist(), bs.tolist(), strict=True):
            if b in scores:
                pick = (float(sims[dislike_rows[r], b]), dislike_rows[r])
                if pick > disliked_by.get(b, (-1.0, 0)):
                    disliked_by[b] = pick
        for b, (sim, _) in disliked_by.items():
            scores[b] = max(0, scores[b] - round(10 * sim))
    order = sorted(scores, key=lambda b: (-scores[b], b))[: max(limit, 0)]
    out = []
    for b in order:  # explanations for the papers delivered only
        hits = keyword_hits.get(b, ())
        if b in liked_by:
            hits += tuple(ctx.explain(model, row, b, "like") for _, row in liked_by[b])
        if b in disliked_by:
            hits += (ctx.explain(model, disliked_by[b][1], b, "dislike"),)
        out.append(Match(index.by_bit[b], scores[b], hits, index.position_of_bit[b]))
    return out
