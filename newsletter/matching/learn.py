"""Learning from feedback (issue 24, SPEC 4): a per-subscriber linear model.

Once a subscriber has rated enough papers (likes, dislikes, library entries, the email's
feedback links), :func:`fit_scorer` trains a logistic regression on the same vectors the
similarity uses, at pass time, and scores each paper of the pass (the arithmetic of
:mod:`newsletter.matching.kernels`: plain Python, or numpy where installed), in the
kernel (dual) form ``f(x) = PRIOR * s(x) + sum_i a_i <x_i, x> + b``, so that it needs only
cosines between papers, which both spaces give (sparse tf-idf rows have no small dense
form; for embeddings the dual is the same model).

``s(x)`` is the subscriber's similarity (the weighted mean cosine to the liked papers):
the model starts from it and learns how the ratings depart from it. Without that prior a
logistic regression on a few ratings ranked worse than the similarity on the relevance
set (0.60 against 0.70 precision@10 with 10 likes and 5 dislikes, scikit-learn's too);
with it, it keeps the similarity's ranking and learns from dislikes far better than a
push-down does (0.69 against 0.62 with the same dislikes). See bench/bench_relevance.py.

Training set: liked rows (label 1, their library weights), disliked rows (label 0) and,
as arxiv-sanity does with its per-user SVM, :data:`BACKGROUND` papers of the corpus as
background negatives (label 0, together weighing as much as the likes). L2-regularised
(:data:`L2`), :data:`STEPS` steps of gradient descent preconditioned by the kernel, with a
step size bounded by the kernel's largest eigenvalue (Gershgorin); deterministic. In
plain Python (no numpy: the base install) a subscriber with 10 to 20 ratings trains in
about half a second; a large library (up to :data:`MAX_LIKED` rows) takes longer. Of
many dislikes, the latest :data:`MAX_DISLIKED` are trained on (every dislike still pushes
papers down, :func:`newsletter.matching.similarity.like_matches`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["fit_scorer", "train"]


class Model(Protocol):
    """What the learner reads of a similarity model: its arithmetic and its corpus."""

    @property
    def kernels(self) -> Any: ...

    @property
    def papers(self) -> Sequence[Any]: ...


class Corpus(Protocol):
    """The rows a subscriber's scorer is trained on (``similarity.Against`` is one): the
    Gram matrix of corpus rows, and their similarities with every paper of the pass."""

    @property
    def model(self) -> Model: ...

    def gram(self, rows: Sequence[int]) -> Any: ...

    def sims(self, rows: Sequence[int]) -> Any: ...


BACKGROUND = 50
MAX_LIKED = 200  # liked rows trained on at most (the pass stays fast with a large library)
MAX_DISLIKED = 200  # and disliked rows: the latest (10,000 dislikes were a 10,000^2 Gram matrix, 1.4 GB)
STEPS = 300
L2 = 0.2
PRIOR = 10.0


def train(
    gram: Any, labels: Sequence[float], weights: Sequence[float], offset: Any, kernels: Any = None
) -> tuple[Any, float]:
    """The dual coefficients and bias of a weighted, L2-regularised logistic regression
    on the kernel ``gram`` (n x n), each sample's score starting at ``offset``; the
    arithmetic of ``kernels`` (numpy's where installed: see
    :func:`newsletter.matching.arithmetic.kernels`)."""
    if kernels is None:
        from newsletter.matching.arithmetic import kernels as choose

        kernels = choose()
    result: tuple[Any, float] = kernels.train(gram, labels, weights, offset, steps=STEPS, l2=L2)
    return result


def _background(n_corpus: int, exclude: set[int], count: int) -> list[int]:
    """``count`` corpus rows spread evenly over the corpus, none of ``exclude``."""
    pool = [r for r in range(n_corpus) if r not in exclude]
    if len(pool) <= count:
        return pool
    last = len(pool) - 1
    picks = [round(i * last / (count - 1)) for i in range(count)]  # numpy's linspace, rounded
    return [pool[i] for i in dict.fromkeys(picks)]


def fit_scorer(
    ctx: Corpus, liked: Sequence[int], weights: Sequence[float], disliked: Sequence[int], similarity: Any
) -> Any:
    """Each paper of ``ctx``'s index: its learned score, on the scale of ``similarity``
    (the subscriber's similarity per paper of the index); None: nothing to learn."""
    if not liked:
        return None
    k = ctx.model.kernels
    if len(liked) > MAX_LIKED:  # a large library: its heaviest (most recent) entries
        keep = sorted(sorted(range(len(liked)), key=lambda i: -weights[i])[:MAX_LIKED])
        liked, weights = [liked[i] for i in keep], [weights[i] for i in keep]
    disliked = disliked[-MAX_DISLIKED:]  # the YAML's first, then the email's feedback: the latest last
    background = _background(len(ctx.model.papers), {*liked, *disliked}, BACKGROUND)
    rows = [*liked, *disliked, *background]
    labels = [1.0] * len(liked) + [0.0] * (len(disliked) + len(background))
    bg_weight = sum(weights) / max(len(background), 1)
    w = [*weights, *([1.0] * len(disliked)), *([bg_weight] * len(background))]
    gram = ctx.gram(rows)
    prior = k.weighted_mean(gram[: len(liked)], weights)
    centre = k.mean(prior)
    alpha, bias = k.train(gram, labels, w, k.affine(prior, PRIOR, centre), steps=STEPS, l2=L2)
    return k.apply(alpha, ctx.sims(rows), bias, PRIOR, similarity, centre)
