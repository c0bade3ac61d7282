"""Learning from feedback (SPEC 4, red-team audit): a subscriber with thousands of
dislikes (years of "Fewer like this" clicks, or a pasted list) trains on the latest
:data:`~newsletter.matching.learn.MAX_DISLIKED` of them, as on the heaviest likes: every
dislike made the Gram matrix one row and one column larger (10,000 dislikes: 1.4 GB and
minutes per pass). Real papers (tests/samples/likes.txt and generated ones), the real
tf-idf model."""

from __future__ import annotations

import random
from pathlib import Path

from newsletter.digest import Paper
from newsletter.digest.scan import read_digest
from newsletter.matching.index import PaperIndex
from newsletter.matching.learn import MAX_DISLIKED, fit_scorer
from newsletter.matching.similarity import fit

SAMPLE = Path(__file__).parent / "samples" / "likes.txt"
PROTEIN = ("FoldFast", "Contact Maps", "Diffusion over Protein")


def test_many_dislikes_train_on_the_latest_only() -> None:
    today = read_digest(SAMPLE).papers
    words = " ".join(p.title + " " + p.abstract for p in today).split()
    rnd = random.Random(7)
    old = [
        Paper(" ".join(rnd.choices(words, k=8)), " ".join(rnd.choices(words, k=60)), f"2510.{i:05d}", "old.json")
        for i in range(5 * MAX_DISLIKED)
    ]
    model = fit([*today, *old], "lexical")
    ctx = model.against(PaperIndex(today))
    k = model.kernels
    liked = [next(i for i, p in enumerate(today) if p.title.startswith(t)) for t in PROTEIN]
    weights = [1.0] * len(liked)
    disliked = list(range(len(today), len(today) + len(old)))  # the clicks, oldest first
    similarity = k.weighted_mean(ctx.sims(liked), weights)
    every = fit_scorer(ctx, liked, weights, disliked, similarity)
    latest = fit_scorer(ctx, liked, weights, disliked[-MAX_DISLIKED:], similarity)
    assert [round(float(x), 9) for x in every] == [round(float(x), 9) for x in latest]
    best = sorted(range(len(ctx.cols)), key=lambda b: -float(every[b]))[:6]
    assert sum("protein" in ctx.index.by_bit[b].title.lower() for b in best) >= 3  # still learns the topic
