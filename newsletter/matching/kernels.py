"""The arithmetic of "more like these" (issue 24) in plain Python: the plain way.

:mod:`newsletter.matching.similarity` scores a subscriber's likes through these functions,
on vectors (one float per paper of a pass, by bit) and matrices (a list of such vectors).
The base install has no numpy (SPEC 9: a plain install <= 150 MB), so the lexical mode
runs on these; where numpy is installed (the ``semantic`` extra brings it),
:mod:`newsletter.matching.kernels_numpy` does the very same with arrays, faster:
tests/test_kernels.py proves the two give the same matches.

Ties order by bit (the lower first), in both.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from typing import Any

from newsletter.matching.lexical import TfIdf

NAME = "plain"
Vec = list[float]
Mask = list[bool]
Mat = list[list[float]]


def bits(mask: int, n: int) -> Mask:
    """Bit set -> booleans (bit ``i`` at index ``i``)."""
    return [bool(mask >> i & 1) for i in range(n)]


def zeros(n: int) -> Vec:
    return [0.0] * n


def empty(n: int) -> Mat:
    return []


def rows_of(lines: Sequence[Vec], n: int) -> Mat:
    return [list(line) for line in lines]


def lexical_block(tfidf: TfIdf, cols: Sequence[int]) -> Any:
    """What :func:`lexical_sims` multiplies with: the inverted index of ``cols``."""
    return (tfidf.postings(cols), len(cols))


def lexical_sims(tfidf: TfIdf, rows: Sequence[int], block: Any) -> Mat:
    postings, width = block
    return tfidf.cosines(rows, postings, width)


def zero_columns(mat: Mat, cols: Sequence[int]) -> Mat:
    for line in mat:
        for c in cols:
            line[c] = 0.0
    return mat


def weighted_mean(rows: Mat, weights: Sequence[float]) -> Vec:
    total = math.fsum(weights)
    out = [0.0] * (len(rows[0]) if rows else 0)
    for line, w in zip(rows, weights, strict=True):
        for i, v in enumerate(line):
            out[i] += w * v
    return [v / total for v in out]


def top(values: Vec, allowed: Mask, k: int) -> list[int]:
    """The ``k`` allowed indices of the largest values (ties: the lower index)."""
    return heapq.nsmallest(k, (i for i, ok in enumerate(allowed) if ok), key=lambda i: (-values[i], i))


def mean_rows(rows: Mat) -> Vec:
    return [math.fsum(col) / len(rows) for col in zip(*rows, strict=True)]


def blend(a: Vec, b: Vec, weight: float) -> Vec:
    """(a + weight * b) / (1 + weight)."""
    return [(x + weight * y) / (1.0 + weight) for x, y in zip(a, b, strict=True)]


def count(mask: Mask) -> int:
    return sum(mask)


def at_least(values: Vec, threshold: float, allowed: Mask) -> Mask:
    return [ok and v >= threshold for v, ok in zip(values, allowed, strict=True)]


def with_bits(mask: Mask, idx: Sequence[int]) -> Mask:
    out = list(mask)
    for i in idx:
        out[i] = True
    return out


def either(a: Mask, b: Mask) -> Mask:
    return [x or y for x, y in zip(a, b, strict=True)]


def combine(base: Vec, picked: Mask, ordering: Vec, pushed: Vec) -> Vec:
    """The order of a pass: keyword score + 10 x the similarity of picked papers - 10 x push."""
    return [b + (10.0 * o if p else 0.0) - 10.0 * d for b, p, o, d in zip(base, picked, ordering, pushed, strict=True)]


def true_bits(mask: Mask) -> list[int]:
    return [i for i, ok in enumerate(mask) if ok]


def best_row(rows: Mat, col: int) -> int:
    """The row with the largest value in column ``col`` (ties: the first)."""
    return max(range(len(rows)), key=lambda r: (rows[r][col], -r))


def dislikes(dis: Mat, liked: Mat, chosen: Mask) -> tuple[list[int], Vec, Vec]:
    """Per bit: the nearest disliked row, its cosine (>= 0), and the margin by which it
    is nearer than every liked row (0 where not ``chosen``)."""
    nearest = [best_row(dis, b) for b in range(len(chosen))]
    strongest = [max(dis[r][b], 0.0) for b, r in enumerate(nearest)]
    liked_max = [max(max(line[b] for line in liked), 0.0) if liked else 0.0 for b in range(len(chosen))]
    margin = [max(s - q, 0.0) if c else 0.0 for s, q, c in zip(strongest, liked_max, chosen, strict=True)]
    return nearest, strongest, margin


def affine(values: Vec, factor: float, shift: float) -> Vec:
    """factor * (values - shift)."""
    return [factor * (v - shift) for v in values]


def scaled(values: Vec, factor: float) -> Vec:
    return [factor * v for v in values]


# --------------------------------------------------------------------------- learning (see learn.py)


def train(
    gram: Mat, labels: Sequence[float], weights: Sequence[float], offset: Vec, *, steps: int, l2: float
) -> tuple[Vec, float]:
    """The dual coefficients and bias of a weighted, L2-regularised logistic regression on
    the kernel ``gram`` (see :func:`newsletter.matching.learn.train`)."""
    n = len(labels)
    alpha = [0.0] * n
    bias = 0.0
    total = math.fsum(weights)
    bound = max((math.fsum(abs(v) for v in line) for line in gram), default=1.0) if n else 1.0
    step = 1.0 / (0.25 * max([*weights, 1.0]) / total * bound + l2)
    for _ in range(steps):
        residual = []
        for i in range(n):
            f = math.fsum(g * a for g, a in zip(gram[i], alpha, strict=True)) + bias + offset[i]
            p = 1.0 / (1.0 + math.exp(-min(max(f, -30.0), 30.0)))
            residual.append(weights[i] * (p - labels[i]) / total)
        alpha = [a - step * (r + l2 * a) for a, r in zip(alpha, residual, strict=True)]
        bias -= 2.0 * math.fsum(residual)
    return alpha, bias


def apply(alpha: Vec, sims: Mat, bias: float, prior: float, similarity: Vec, centre: float) -> Vec:
    """alpha @ sims + bias + prior * (similarity - centre), divided by prior, + centre."""
    width = len(similarity)
    out = [bias + prior * (similarity[b] - centre) for b in range(width)]
    for a, line in zip(alpha, sims, strict=True):
        for b in range(width):
            out[b] += a * line[b]
    return [v / prior + centre for v in out]


def mean(values: Vec) -> float:
    return math.fsum(values) / len(values) if values else 0.0
