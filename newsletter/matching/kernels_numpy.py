"""The arithmetic of "more like these" with numpy: :mod:`newsletter.matching.kernels`
(the plain way, which documents each function) done on arrays, for speed where numpy is
installed (the ``semantic`` extra brings it; the semantic mode needs it). Same inputs,
same results: tests/test_kernels.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from newsletter.matching.lexical import TfIdf

NAME = "numpy"
Vec = np.ndarray
Mask = np.ndarray
Mat = np.ndarray


def bits(mask: int, n: int) -> Mask:
    raw = np.frombuffer(mask.to_bytes((n + 7) // 8 or 1, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:n].astype(bool)


def zeros(n: int) -> Vec:
    return np.zeros(n)


def empty(n: int) -> Mat:
    return np.zeros((0, n))


def rows_of(lines: Sequence[Vec], n: int) -> Mat:
    return np.stack(lines) if len(lines) else np.zeros((0, n))


def lexical_block(tfidf: TfIdf, cols: Sequence[int]) -> Any:
    """``cols`` laid out densely over the terms they use (term ids sorted)."""
    used = np.array(sorted({t for c in cols for t in tfidf.rows[c]}), dtype=np.int64)
    matrix = np.zeros((len(cols), len(used)))
    for i, c in enumerate(cols):
        row = tfidf.rows[c]
        if row:
            ids = np.fromiter(row.keys(), dtype=np.int64, count=len(row))
            matrix[i, np.searchsorted(used, ids)] = np.fromiter(row.values(), dtype=np.float64, count=len(row))
    return matrix, used


def lexical_sims(tfidf: TfIdf, rows: Sequence[int], block: Any) -> Mat:
    matrix, used = block
    out = np.zeros((len(rows), matrix.shape[0]))
    if not len(used):
        return out
    for i, r in enumerate(rows):
        row = tfidf.rows[r]
        if not row:
            continue
        ids = np.fromiter(row.keys(), dtype=np.int64, count=len(row))
        vals = np.fromiter(row.values(), dtype=np.float64, count=len(row))
        at = np.searchsorted(used, ids)
        hit = (at < len(used)) & (used[np.minimum(at, len(used) - 1)] == ids)
        if hit.any():
            out[i] = matrix[:, at[hit]] @ vals[hit]
    return out


def zero_columns(mat: Mat, cols: Sequence[int]) -> Mat:
    if len(cols):
        mat[:, list(cols)] = 0.0
    return mat


def weighted_mean(rows: Mat, weights: Sequence[float]) -> Vec:
    w = np.asarray(weights, dtype=np.float64)
    return np.asarray((w @ rows) / w.sum())


def top(values: Vec, allowed: Mask, k: int) -> list[int]:
    candidates = np.flatnonzero(allowed)
    if k <= 0 or not len(candidates):
        return []
    part = values[candidates]
    if k < len(candidates):
        cut = np.partition(-part, k - 1)[k - 1]  # the k-th largest value
        keep = -part <= cut
        candidates, part = candidates[keep], part[keep]
    order = np.lexsort((candidates, -part))[:k]
    return [int(i) for i in candidates[order]]


def mean_rows(rows: Mat) -> Vec:
    return np.asarray(rows.mean(axis=0))


def blend(a: Vec, b: Vec, weight: float) -> Vec:
    return np.asarray((a + weight * b) / (1.0 + weight))


def count(mask: Mask) -> int:
    return int(mask.sum())


def at_least(values: Vec, threshold: float, allowed: Mask) -> Mask:
    return np.asarray(allowed & (values >= threshold))


def with_bits(mask: Mask, idx: Sequence[int]) -> Mask:
    out = mask.copy()
    out[list(idx)] = True
    return out


def either(a: Mask, b: Mask) -> Mask:
    return np.asarray(a | b)


def combine(base: Vec, picked: Mask, ordering: Vec, pushed: Vec) -> Vec:
    return np.asarray(base + 10.0 * np.where(picked, ordering, 0.0) - 10.0 * pushed)


def true_bits(mask: Mask) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]


def best_row(rows: Mat, col: int) -> int:
    return int(np.argmax(rows[:, col]))


def dislikes(dis: Mat, liked: Mat, chosen: Mask) -> tuple[list[int], Vec, Vec]:
    nearest = np.argmax(dis, axis=0)
    strongest = np.maximum(dis.max(axis=0), 0.0)
    liked_max = np.maximum(liked.max(axis=0), 0.0) if liked.shape[0] else np.zeros(len(chosen))
    margin = np.where(chosen, np.maximum(strongest - liked_max, 0.0), 0.0)
    return [int(i) for i in nearest], strongest, margin


def affine(values: Vec, factor: float, shift: float) -> Vec:
    return np.asarray(factor * (values - shift))


def scaled(values: Vec, factor: float) -> Vec:
    return np.asarray(factor * values)


def train(
    gram: Mat, labels: Sequence[float], weights: Sequence[float], offset: Vec, *, steps: int, l2: float
) -> tuple[Vec, float]:
    y = np.asarray(labels, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    n = len(y)
    alpha = np.zeros(n)
    bias = 0.0
    total = float(w.sum())
    bound = float(np.abs(gram).sum(axis=1).max()) if n else 1.0
    step = 1.0 / (0.25 * float(w.max(initial=1.0)) / total * bound + l2)
    for _ in range(steps):
        f = gram @ alpha + bias + offset
        p = 1.0 / (1.0 + np.exp(-np.clip(f, -30, 30)))
        residual = w * (p - y) / total
        alpha = alpha - step * (residual + l2 * alpha)
        bias -= 2.0 * float(residual.sum())
    return alpha, bias


def apply(alpha: Vec, sims: Mat, bias: float, prior: float, similarity: Vec, centre: float) -> Vec:
    f = alpha @ sims + bias + prior * (similarity - centre)
    return np.asarray(f / prior + centre)


def mean(values: Vec) -> float:
    return float(values.mean()) if len(values) else 0.0
