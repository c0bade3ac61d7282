"""Learning from feedback (issue 24, SPEC 4): a per-subscriber linear model.

Once a subscriber has rated enough papers (likes, dislikes, library entries, the email's
feedback links), :func:`fit_scorer` trains a logistic regression on the same vectors the
similarity uses, at pass time, and gives each paper of the pass its probability of being
liked. Plain numpy, in the kernel (dual) form: ``f(x) = sum_i a_i <x_i, x> + b``, so that
it needs only cosines between papers, which both spaces give (sparse tf-idf rows have no
small dense form; embeddings do, and the dual is the same model for them).

Training set: liked rows (label 1, their library weights), disliked rows (label 0) and,
as arxiv-sanity does with its per-user SVM, a sample of the corpus as background
negatives (label 0, together weighing as much as the likes): most papers are not liked.
L2-regularised, :data:`STEPS` steps of gradient descent with a step size bounded by the
kernel's largest eigenvalue (Gershgorin), deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from newsletter.matching.similarity import Against

__all__ = ["fit_scorer", "train"]

BACKGROUND = 200  # at most this many background negatives
STEPS = 300
L2 = 0.05


def train(gram: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, float]:
    """The dual coefficients and bias of a weighted, L2-regularised logistic regression
    on the kernel ``gram`` (n x n)."""
    n = len(labels)
    alpha = np.zeros(n)
    bias = 0.0
    total = float(weights.sum())
    bound = float(np.abs(gram).sum(axis=1).max()) if n else 1.0
    # steps preconditioned by the kernel: the curvature is then at most 0.25 * w_max / W * bound + L2
    step = 1.0 / (0.25 * float(weights.max(initial=1.0)) / total * bound + L2)
    for _ in range(STEPS):
        f = gram @ alpha + bias
        p = 1.0 / (1.0 + np.exp(-np.clip(f, -30, 30)))
        residual = weights * (p - labels) / total
        alpha -= step * (residual + L2 * alpha)
        bias -= 2.0 * float(residual.sum())
    return alpha, bias


def _background(n_corpus: int, exclude: set[int], count: int) -> list[int]:
    """``count`` corpus rows spread evenly over the corpus, none of ``exclude``."""
    pool = [r for r in range(n_corpus) if r not in exclude]
    if len(pool) <= count:
        return pool
    picks = np.linspace(0, len(pool) - 1, count).round().astype(int)
    return [pool[i] for i in dict.fromkeys(picks.tolist())]


def fit_scorer(
    ctx: Against, liked: Sequence[int], weights: np.ndarray, disliked: Sequence[int]
) -> np.ndarray | None:
    """Each paper of ``ctx``'s index: its probability of being liked (None: nothing to learn)."""
    if not liked:
        return None
    rated = {*liked, *disliked}
    background = _background(len(ctx.model.papers), rated, min(BACKGROUND, 2 * len(liked) + 10))
    rows = [*liked, *disliked, *background]
    labels = np.array([1.0] * len(liked) + [0.0] * (len(disliked) + len(background)))
    bg_weight = float(weights.sum()) / max(len(background), 1)
    w = np.concatenate([weights, np.ones(len(disliked)), np.full(len(background), bg_weight)])
    alpha, bias = train(ctx.gram(rows), labels, w)
    f = alpha @ ctx.sims(rows).astype(np.float64) + bias
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(f, -30, 30))))
