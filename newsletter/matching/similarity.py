"""More like these (SPEC 4, issues 17 and 24): similarity to the papers a subscriber likes.

Two spaces of paper vectors, one scoring:

- **lexical**: tf-idf rows (:class:`~newsletter.matching.lexical.TfIdf`, plain Python);
- **semantic** (the ``semantic`` extra): sentence embeddings
  (:mod:`newsletter.matching.semantic`), cached in the ledger, centred on the corpus mean
  and each smoothed with its :data:`NEIGHBOURS` nearest papers of the corpus (document
  expansion: a paper also stands for the papers around it; +0.03 to +0.05 precision@10
  on the relevance set).

:func:`fit` builds a :class:`SimilarityModel` of a corpus (the ledger's papers, the
digests at hand, library entries) in one mode; models are cached by corpus and mode.
:func:`like_matches` scores the papers of one pass for one subscriber:

1. ``s`` = the weighted mean cosine to every liked paper (all likes together; library
   entries weigh by recency), plus pseudo-relevance feedback in the lexical space (the
   :data:`PRF_TOP` best papers of the pass pull their neighbours up, weight
   :data:`PRF_WEIGHT`).
2. With at least :data:`LEARN_MIN` ratings (likes and dislikes), the order comes from a
   per-subscriber logistic regression on the same vectors (:mod:`~newsletter.matching.learn`).
3. A paper is selected when ``s`` reaches ``like_threshold`` or it is among the
   ``like_top`` best (over all likes together); ``require``/``exclude`` apply; liked and
   disliked papers are never sent.
4. Dislikes push down (Rocchio, gently): a paper nearer to a disliked paper than to
   every liked one loses ``DISLIKE_WEIGHT`` x the difference; never up, never adding a
   paper. (With a learned model the dislikes are among its ratings instead.)

Papers order by keyword score + 10 x the (float) similarity: rounded for display only.
Every hit names the nearest liked paper and up to three shared phrases
(:func:`~newsletter.matching.lexical.shared_phrases`); a semantic neighbour that shares no
phrase with it names, as "related terms", its own weightiest phrases (what it is about):
never a hit without a reason.

The arithmetic goes through :mod:`~newsletter.matching.kernels` (plain Python: the base
install has no numpy) or, where numpy is installed, :mod:`~newsletter.matching.kernels_numpy`
(the same results, faster; the semantic mode needs it). ``fit(..., plain=True)`` forces
the plain one (tests/test_kernels.py compares the two).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from newsletter.digest import Paper
from newsletter.matching.arithmetic import kernels
from newsletter.matching.engine import Hit, Match
from newsletter.matching.index import PaperIndex
from newsletter.matching.learn import fit_scorer
from newsletter.matching.lexical import SHOWN, TfIdf, generic_stems, own_phrases, shared_phrases
from newsletter.matching.profile import compile_entry
from newsletter.matching.refs import Likes, ref_keys

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "LikeHit",
    "Likes",
    "Mode",
    "SimilarityModel",
    "fit",
    "like_matches",
    "rated_rows",
    "ref_keys",
    "resolve_mode",
]

log = logging.getLogger("newsletter.similarity")

Mode = Literal["lexical", "semantic"]
#: Semantic: how many nearest papers of the corpus smooth each paper's vector, and how much.
NEIGHBOURS = 5
NEIGHBOUR_WEIGHT = 1.0
#: Pseudo-relevance feedback (per mode): the best papers of a pass whose neighbours rise.
PRF_TOP = 5
PRF_WEIGHT: dict[str, float] = {"lexical": 1.0, "semantic": 0.5}
#: A dislike's push-down (bench/bench_relevance.py measured 0 to 2: every push cost
#: precision when the disliked papers are near the liked topic; 0.25 costs least).
DISLIKE_WEIGHT = 0.25
#: Ratings (likes + dislikes) from which a per-subscriber model orders the papers.
LEARN_MIN = 10
#: like_threshold when none is configured, per mode (cosines of different scales).
DEFAULT_THRESHOLD: dict[str, float] = {"lexical": 0.25, "semantic": 0.5}


class LikeHit(Hit):
    """A hit by similarity: ``keyword`` is the explanation ("like T: a, b, c"), ``fields``
    ``("like",)`` or ``("dislike",)``; ``like`` the liked (or disliked) paper's title,
    ``terms`` the shared phrases (or, where none is shared, the related terms the
    explanation names), ``similarity`` the paper's similarity.

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


_NOTICE_LOCK = threading.Lock()
_NOTICED: set[str] = set()


def resolve_mode(wanted: str) -> Mode:
    """``auto``/``semantic``/``lexical`` -> the mode used: semantic where the extra is
    installed; ``semantic`` without it is lexical, with one notice per process."""
    if wanted == "lexical":
        return "lexical"
    from newsletter.matching.semantic import available

    if available():
        return "semantic"
    if wanted == "semantic":
        with _NOTICE_LOCK:
            if "semantic" not in _NOTICED:
                _NOTICED.add("semantic")
                log.warning(
                    "similarity: semantic needs the semantic extra (pip install 'paper-digest[semantic]'): "
                    "using lexical similarity"
                )
    return "lexical"


# --------------------------------------------------------------------------- the model of a corpus


@dataclass(frozen=True, slots=True)
class SimilarityModel:
    """The vectors of ``papers`` in one mode: tf-idf rows (always: they name the shared
    phrases), and for ``semantic`` the centred embeddings (row ``i`` is paper ``i``)."""

    mode: Mode
    papers: tuple[Paper, ...]
    rows: Mapping[str, int]  # every identity of every paper (Paper.keys) -> its row
    tfidf: TfIdf
    vectors: np.ndarray | None = None
    kernels: ModuleType = field(default=None, compare=False, repr=False)  # type: ignore[assignment]
    _against: dict[int, Against] = field(default_factory=dict, compare=False, repr=False)
    _refs: dict[str, int | None] = field(default_factory=dict, compare=False, repr=False)
    _smoothed: dict[int, Any] = field(default_factory=dict, compare=False, repr=False)
    _keys: dict[int, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)
    _generic: list[frozenset[str]] = field(default_factory=list, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def keys_of(self, row: int) -> tuple[str, ...]:
        """The identities of the paper of ``row`` (cached)."""
        found = self._keys.get(row)
        if found is None:
            found = self._keys[row] = self.papers[row].keys
        return found

    def row(self, ref: str) -> int | None:
        """The row of the paper ``ref`` names (see :func:`ref_keys`), or None (cached)."""
        if ref in self._refs:
            return self._refs[ref]
        found = next((self.rows[k] for k in ref_keys(ref) if k in self.rows), None)
        if len(self._refs) >= 1 << 16:
            self._refs.clear()
        self._refs[ref] = found
        return found

    def row_of(self, paper: Paper) -> int | None:
        return next((self.rows[k] for k in paper.keys if k in self.rows), None)

    @property
    def generic(self) -> frozenset[str]:
        """The stems too generic to explain a hit in this corpus (computed once)."""
        with self._lock:
            if not self._generic:
                self._generic.append(generic_stems(self.papers))
            return self._generic[0]

    @property
    def idf(self) -> dict[str, float]:
        return {term: float(self.tfidf.idf[i]) for term, i in self.tfidf.vocabulary.items()}

    def against(self, index: PaperIndex) -> Against:
        """The :class:`Against` of ``index`` (cached while the index lives)."""
        with self._lock:
            cached = self._against.get(id(index))
            if cached is not None and cached.index is index:
                return cached
            made = Against(self, index, tuple(self.row_of(p) for p in index.by_bit))
            if len(self._against) >= 4:
                self._against.clear()
            self._against[id(index)] = made
            return made

    def semantic_rows(self, rows: Sequence[int]) -> np.ndarray:
        """The smoothed embeddings of ``rows`` (each with its nearest corpus papers; cached)."""
        import numpy as np

        assert self.vectors is not None
        missing = [r for r in dict.fromkeys(rows) if r not in self._smoothed]
        for start in range(0, len(missing), 512):
            part = missing[start : start + 512]
            base = self.vectors[part]
            if NEIGHBOURS and len(self.vectors) > 1:
                sims = base @ self.vectors.T
                sims[np.arange(len(part)), part] = -np.inf  # not itself
                m = min(NEIGHBOURS, len(self.vectors) - 1)
                near = np.argpartition(-sims, m - 1, axis=1)[:, :m]
                base = base + NEIGHBOUR_WEIGHT * self.vectors[near].mean(axis=1)
            for r, vec in zip(part, _normed(base), strict=True):
                self._smoothed[r] = vec
        return np.stack([self._smoothed[r] for r in rows]) if rows else np.zeros((0, self.vectors.shape[1]))


def _normed(rows: np.ndarray) -> np.ndarray:
    import numpy as np

    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.asarray(np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0))


@dataclass(slots=True)
class Against:
    """What matching many subscribers on one index needs, computed once per row: the
    cosines of a corpus row with every paper of the index (by bit), cached."""

    model: SimilarityModel
    index: PaperIndex
    cols: tuple[int | None, ...]
    _rows: dict[int, Any] = field(default_factory=dict)
    _block: Any = None
    _terms: dict[tuple[int, int], tuple[str, ...]] = field(default_factory=dict)
    _related: dict[tuple[int, int], tuple[str, ...]] = field(default_factory=dict)
    _idf: dict[str, float] | None = None
    bit_of: dict[str, int] = field(default_factory=dict)

    _present: list[int] = field(default_factory=list)
    _absent: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bit_of = {p.id: bit for bit, p in enumerate(self.index.by_bit)}
        self._present = [c if c is not None else 0 for c in self.cols]
        self._absent = [bit for bit, c in enumerate(self.cols) if c is None]

    def _compute(self, rows: Sequence[int]) -> Any:
        model, k = self.model, self.model.kernels
        if model.mode == "semantic":
            if self._block is None:
                self._block = model.semantic_rows(self._present)
            out = (model.semantic_rows(rows) @ self._block.T).astype("float64")
        else:
            if self._block is None:
                self._block = k.lexical_block(model.tfidf, self._present)
            out = k.lexical_sims(model.tfidf, rows, self._block)
        return k.zero_columns(out, self._absent)

    def sims(self, rows: Sequence[int]) -> Any:
        """(len(rows) x bits) cosines of corpus ``rows`` with the papers of the index."""
        todo = [r for r in dict.fromkeys(rows) if r not in self._rows]
        if todo:
            for r, line in zip(todo, self._compute(todo), strict=True):
                self._rows[r] = line
        return self.model.kernels.rows_of([self._rows[r] for r in rows], len(self.cols))

    def pass_sims(self, bits: Sequence[int]) -> Any:
        """The cosines of the papers ``bits`` of the index with every paper of the index."""
        return self.sims([self._present[b] for b in bits])

    def gram(self, rows: Sequence[int]) -> Any:
        """(len(rows) x len(rows)) cosines among corpus ``rows`` (for learning)."""
        model, k = self.model, self.model.kernels
        if model.mode == "semantic":
            vecs = model.semantic_rows(rows)
            return (vecs @ vecs.T).astype("float64")
        return k.rows_of(k.lexical_sims(model.tfidf, rows, k.lexical_block(model.tfidf, rows)), len(rows))

    def phrases(self, liked: int, bit: int) -> tuple[str, ...]:
        """The phrases liked row ``liked`` and paper ``bit`` share (cached)."""
        key = (liked, bit)
        found = self._terms.get(key)
        if found is None:
            if self._idf is None:
                self._idf = self.model.idf
            found = shared_phrases(
                self.model.papers[liked], self.index.by_bit[bit], self._idf, generic=self.model.generic
            )
            self._terms[key] = found
        return found

    def related(self, liked: int, bit: int) -> tuple[str, ...]:
        """Semantic mode, for a paper ``bit`` that shares no phrase with liked row ``liked``:
        up to :data:`SHOWN` of its own weightiest phrases (what it is about; empty in the
        lexical mode). Nothing is embedded here: matching runs on the sending path, where
        embedding a phrase for each such hit cost 70 s for 10,000 subscribers (bench)."""
        key = (liked, bit)
        found = self._related.get(key)
        if found is None:
            found = self._related[key] = self._own_terms(self.index.by_bit[bit])
        return found

    def _own_terms(self, paper: Paper) -> tuple[str, ...]:
        if self.model.mode != "semantic":
            return ()
        if self._idf is None:
            self._idf = self.model.idf
        return own_phrases(paper, self._idf, self.model.generic, SHOWN)


_MODELS: dict[tuple[str, bool, tuple[tuple[str, str, str], ...]], SimilarityModel] = {}
_MODELS_LOCK = threading.Lock()


def fit(
    papers: Sequence[Paper], mode: Mode = "lexical", vectors: Mapping[str, bytes] | None = None, *, plain: bool = False
) -> SimilarityModel:
    """The model of ``papers`` in ``mode`` (cached by mode and the papers' ids and texts: a
    run fits once; the same ids with another text, such as a digest read again after a
    correction in a long-running daemon, are a new model, never a stale one).
    ``vectors``: stored embeddings by text key (semantic; the others are embedded now).
    ``plain``: the plain-Python arithmetic even where numpy is installed (lexical only)."""
    key = (mode, plain, tuple((p.id, p.title, p.abstract) for p in papers))
    with _MODELS_LOCK:
        found = _MODELS.get(key)
    if found is not None:
        return found
    rows: dict[str, int] = {}
    for i, paper in enumerate(papers):
        for k in paper.keys:
            rows.setdefault(k, i)
    matrix = _embeddings(papers, vectors or {}) if mode == "semantic" else None
    model = SimilarityModel(mode, tuple(papers), rows, TfIdf.fit(papers), matrix, kernels(plain and mode == "lexical"))
    with _MODELS_LOCK:
        if len(_MODELS) >= 8:
            _MODELS.clear()
        _MODELS[key] = model
    return model


def _embeddings(papers: Sequence[Paper], stored: Mapping[str, bytes]) -> np.ndarray:
    """The embeddings of ``papers`` (stored ones, the rest embedded now), centred on their
    mean and L2-normed."""
    import numpy as np

    from newsletter.matching.semantic import DIM, embedder, text_key

    keys = [text_key(p.title, p.abstract) for p in papers]
    out = np.zeros((len(papers), DIM), dtype=np.float32)
    todo = []
    for i, key in enumerate(keys):
        blob = stored.get(key)
        if blob is not None and len(blob) == DIM * 4:
            out[i] = np.frombuffer(blob, dtype="<f4")
        else:
            todo.append(i)
    if todo:
        log.debug("embedding %d paper(s) not embedded at pick-up", len(todo))
        out[todo] = embedder().embed([(papers[i].title, papers[i].abstract) for i in todo])
    if len(out):
        out = _normed(out - out.mean(axis=0))
    return out


# --------------------------------------------------------------------------- scoring one subscriber


@dataclass(frozen=True, slots=True)
class _Rated:
    """A subscriber's ratings as corpus rows: liked rows with weights, disliked rows."""

    like: tuple[int, ...]
    weights: tuple[float, ...]
    dislike: tuple[int, ...]


def rated_rows(model: SimilarityModel, likes: Likes) -> tuple[int, ...]:
    """Every corpus row ``likes`` rates (for :meth:`Against.sims` of many subscribers at once)."""
    found = _rated(model, likes)
    return (*found.like, *found.dislike)


def _rated(model: SimilarityModel, likes: Likes) -> _Rated:
    weight: dict[int, float] = {}
    for ref in likes.like:
        row = model.row(ref)
        if row is not None:
            weight[row] = max(weight.get(row, 0.0), 1.0)
    for paper, w in zip(likes.library, likes.library_weights or (1.0,) * len(likes.library), strict=True):
        row = model.row_of(paper)
        if row is not None:
            weight[row] = max(weight.get(row, 0.0), w)
    dislike = [r for r in dict.fromkeys(model.row(ref) for ref in likes.dislike) if r is not None]
    for row in dislike:
        weight.pop(row, None)  # rated both ways: the dislike (from the ledger) wins
    rows = tuple(weight)
    return _Rated(rows, tuple(weight[r] for r in rows), tuple(dislike))


def _allowed(index: PaperIndex, model: SimilarityModel, rated: _Rated, ctx: Against, **kw: Any) -> Any:
    never: set[str] = set(kw["exclude_ids"])
    for row in (*rated.like, *rated.dislike):
        never.update(model.keys_of(row))  # a liked (or disliked) paper is never sent
    mask = index.all & ~index.id_mask(never)
    for raw in kw["require"]:
        mask &= index.entry_masks(compile_entry(raw, kw["stemming"]))[2]
    for raw in kw["exclude"]:
        mask &= ~index.entry_masks(compile_entry(raw, kw["stemming"]))[2]
    return model.kernels.bits(mask, len(ctx.cols))


def _similarity(ctx: Against, rated: _Rated, pool: Any) -> tuple[Any, Any]:
    """(the subscriber's similarity per bit, the liked sims rows) over all likes together.
    ``pool``: the papers feedback may come from (dislikes aside: they never lift a paper)."""
    k = ctx.model.kernels
    sims = ctx.sims(rated.like)
    score = k.weighted_mean(sims, rated.weights)
    prf = PRF_WEIGHT.get(ctx.model.mode, 0.0)
    if prf and k.count(pool) > PRF_TOP:
        top = k.top(score, pool, PRF_TOP)
        score = k.blend(score, k.mean_rows(ctx.pass_sims(top)), prf)
    return score, sims


def _learned(ctx: Against, rated: _Rated, score: Any) -> Any:
    """A learned model's scores (on the similarity's scale), from LEARN_MIN ratings on."""
    if len(rated.like) + len(rated.dislike) < LEARN_MIN or not rated.like:
        return None
    return fit_scorer(ctx, rated.like, rated.weights, rated.dislike, score)


@dataclass(frozen=True, slots=True)
class _Picked:
    """What the likes select: ``picked`` bits, their similarity, the liked rows' cosines
    (rows x bits), the order score of each bit and whether a learned model gave it."""

    picked: Any
    similarity: Any
    liked_sims: Any
    ordering: Any
    learned: bool


def _pick(ctx: Against, rated: _Rated, likes: Likes, allowed: Any) -> _Picked:
    k, width = ctx.model.kernels, len(ctx.cols)
    if not rated.like or not k.count(allowed):
        zeros = k.zeros(width)
        return _Picked(k.bits(0, width), zeros, k.empty(width), zeros, False)
    model = ctx.model
    disliked = k.bits(ctx.index.id_mask({key for r in rated.dislike for key in model.keys_of(r)}), width)
    similarity, liked_sims = _similarity(ctx, rated, k.either(allowed, disliked))
    learned = _learned(ctx, rated, similarity)
    ordering = similarity if learned is None else learned
    threshold = likes.threshold if likes.threshold is not None else DEFAULT_THRESHOLD[model.mode]
    picked = k.with_bits(k.at_least(similarity, threshold, allowed), k.top(ordering, allowed, likes.top))
    return _Picked(picked, similarity, liked_sims, ordering, learned is not None)


def like_matches(
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
    """``keyword_matches`` (every keyword match of the subscriber, any order) joined by the
    papers similar to what ``likes`` likes, pushed down by its dislikes; best first, at
    most ``limit``."""
    ctx = model.against(index)
    k = model.kernels
    rated = _rated(model, likes)
    allowed = _allowed(
        index, model, rated, ctx, exclude_ids=exclude_ids, require=require, exclude=exclude, stemming=stemming
    )
    base = k.zeros(len(ctx.cols))
    keyword_hits: dict[int, tuple[Hit, ...]] = {}
    for m in keyword_matches:
        bit = ctx.bit_of.get(m.paper.id)
        if bit is not None and allowed[bit]:
            base[bit] = m.score
            keyword_hits[bit] = m.hits
    got = _pick(ctx, rated, likes, allowed)
    chosen = k.with_bits(got.picked, list(keyword_hits))
    pushed, disliked_by = _dislikes(ctx, rated, chosen, got.liked_sims, got.learned)
    order = k.combine(base, got.picked, got.ordering, pushed)
    ranked = sorted(k.true_bits(chosen), key=lambda b: (-order[b], b))[: max(limit, 0)]
    out = []
    for b in ranked:  # explanations for the papers delivered only
        hits = keyword_hits.get(b, ())
        if got.picked[b]:
            nearest = rated.like[k.best_row(got.liked_sims, b)]
            hits += (_hit(ctx, nearest, b, float(got.similarity[b]), "like"),)
        if b in disliked_by:
            hits += (_hit(ctx, disliked_by[b][1], b, disliked_by[b][0], "dislike"),)
        out.append(Match(index.by_bit[b], max(0, round(float(order[b]))), hits, index.position_of_bit[b]))
    return out


def _dislikes(
    ctx: Against, rated: _Rated, chosen: Any, liked_sims: Any, learned: bool
) -> tuple[Any, dict[int, tuple[float, int]]]:
    """The push-down of each bit (>= 0) and, for pushed bits, (cosine, nearest disliked row).

    Rocchio, gently: a paper nearer to a disliked paper than to every liked one loses
    ``DISLIKE_WEIGHT`` x the difference (only those: a dislike near the liked topic
    would push the topic itself down). A learned model has the dislikes in its ratings:
    no push on top, only the explanation."""
    k = ctx.model.kernels
    pushed = k.zeros(len(ctx.cols))
    if not rated.dislike or not k.count(chosen):
        return pushed, {}
    nearest, strongest, margin = k.dislikes(ctx.sims(rated.dislike), liked_sims, chosen)
    if not learned:
        pushed = k.scaled(margin, DISLIKE_WEIGHT)
    by = {
        b: (round(float(strongest[b]), 3), rated.dislike[nearest[b]]) for b in range(len(ctx.cols)) if margin[b] > 0.005
    }
    return pushed, by


def _hit(ctx: Against, liked: int, bit: int, sim: float, kind: str) -> LikeHit:
    title = ctx.model.papers[liked].title
    terms, label = ctx.phrases(liked, bit), "shared terms"
    if not terms:  # semantic neighbours may share no word: name what they are about
        terms, label = ctx.related(liked, bit), "related terms"
    verb = "like" if kind == "like" else "fewer like"
    text = f"{verb} {title}: {label} {', '.join(terms)}" if terms else f"{verb} {title}"
    return LikeHit(keyword=text, fields=(kind,), like=title, terms=terms, similarity=round(sim, 3))
