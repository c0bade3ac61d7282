"""More like these (issue 17): similarity matching beside keyword-only matching, and
precision@10 on a labelled set.

1. Speed: 10,000 subscribers with 3 keywords each against the 78-paper seed digest
   (seeds/002_*), keyword-only, then the same subscribers with 3 liked papers each
   (picked from the 187 papers of all seeds, the "ledger"), through the one matching
   path (:class:`newsletter.matching.matcher.Matcher`); best of 3, side by side in one run; the
   likes once more in plain Python (the base install has no numpy, issue 24).
   Fitting the tf-idf model (once per run) is timed on its own.
2. Precision@10: bench/similarity_topics.yaml groups seed papers by topic (by hand).
   For every pair of papers of a group (at most 10 pairs per group), a subscriber likes
   the pair; of the 10 papers it gets from all seeds, how many are from the group?
   P@10 = that / 10; "of reachable" divides by min(10, group size - 2), since small
   groups cannot fill 10; "random" is what 10 random papers would score.
"""

from __future__ import annotations

import itertools
import random
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from newsletter.config import Subscriber
from newsletter.digest import Paper, unique_papers
from newsletter.digest.scan import read_digest
from newsletter.matching.likes import LikeState
from newsletter.matching.matcher import Matcher
from newsletter.matching.text import words

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
TOPICS = Path(__file__).resolve().parent / "similarity_topics.yaml"
COUNT = 10_000


def _subscriber(i: int, keywords: tuple[str, ...], like: tuple[str, ...] = (), **kw: object) -> Subscriber:
    return Subscriber(
        email=f"s{i}@example.org",
        name=None,
        keywords=keywords,
        require=(),
        exclude=(),
        max_papers=int(kw.get("max_papers", 20)),  # type: ignore[call-overload]
        abstract_chars=500,
        send_empty=False,
        stemming=True,
        schedule=None,
        source="bench",
        like=like,
        like_threshold=float(kw.get("threshold", 0.25)),  # type: ignore[arg-type]
        like_top=int(kw.get("top", 3)),  # type: ignore[call-overload]
        similarity="lexical",
    )


def _all_seed_papers() -> tuple[Paper, ...]:
    return unique_papers(p for f in sorted(SEEDS.glob("*.txt")) for p in read_digest(f).papers)


@contextmanager
def _arithmetic(no_numpy: bool) -> Iterator[None]:
    """The plain-Python arithmetic of the base install (no numpy) for a while, if asked."""
    from newsletter.matching import kernels, similarity

    chosen = similarity.kernels
    if no_numpy:
        similarity.kernels = lambda plain=False: kernels
        similarity._MODELS.clear()
    try:
        yield
    finally:
        similarity.kernels = chosen
        similarity._MODELS.clear()


def speed() -> None:
    from newsletter.matching import similarity

    digest = read_digest(next(SEEDS.glob("002_*.txt"))).papers
    corpus = _all_seed_papers()
    rng = random.Random(17)
    vocab = sorted({w for p in digest for w in words(p.title) if len(w) > 4})
    ids = [p.id for p in corpus]
    plain = [_subscriber(i, tuple(rng.sample(vocab, 3))) for i in range(COUNT)]
    liking = [_subscriber(i, s.keywords, tuple(rng.sample(ids, 3))) for i, s in enumerate(plain)]
    state = LikeState(papers=corpus)

    fits = []
    for _ in range(3):  # the first one analyses every paper (cached after)
        similarity._MODELS.clear()
        started = time.perf_counter()
        similarity.fit(unique_papers([*corpus, *digest]))
        fits.append(time.perf_counter() - started)

    variants = (
        ("keywords only", plain, False),
        ("keywords + 3 likes", liking, False),
        ("keywords + 3 likes, plain Python", liking, True),  # the base install: no numpy
    )
    best = {label: float("inf") for label, _, _ in variants}
    sizes = {label: 0 for label, _, _ in variants}
    for _ in range(3):
        for label, subs, no_numpy in variants:
            with _arithmetic(no_numpy):
                matcher = Matcher(digest, state)
                started = time.perf_counter()
                matcher.prepare(subs)  # as plan() does: the liked papers' similarities in one go
                got = [matcher.match(s) for s in subs]
                best[label] = min(best[label], time.perf_counter() - started)
            sizes[label] = sum(len(g) for g in got)
    print(f"similarity: {COUNT:,} subscribers x {len(digest)} papers (corpus {len(corpus)} papers), best of 3")
    print(
        f"  fit tf-idf on {len(corpus)} papers: first {fits[0] * 1000:.0f} ms (analysing every paper), "
        f"refit {min(fits[1:]) * 1000:.0f} ms (once per run and corpus)"
    )
    for label, seconds in best.items():
        print(
            f"  {label:<32} {seconds:6.2f} s  {seconds / COUNT * 1e6:7.1f} us/subscriber  "
            f"{sizes[label] / COUNT:.1f} papers each"
        )
    print(f"  ratio likes / keywords only: {best['keywords + 3 likes'] / best['keywords only']:.1f}x")
    print(f"  peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def _title_weight(weight: int) -> None:
    from newsletter.matching import lexical, similarity

    lexical.TITLE_WEIGHT = weight
    lexical._terms.cache_clear()
    similarity._MODELS.clear()


def precision(title_weight: int | None = None) -> float:
    if title_weight is not None:
        _title_weight(title_weight)
    corpus = _all_seed_papers()
    by_title = {p.title: p for p in corpus}
    topics: dict[str, list[str]] = yaml.safe_load(TOPICS.read_text(encoding="utf-8"))["topics"]
    state = LikeState(papers=corpus)
    matcher = Matcher(corpus, state)
    rows = []
    for topic, titles in topics.items():
        group = {by_title[t].id for t in titles}
        reachable = min(10, len(group) - 2)
        hits: list[int] = []
        for a, b in list(itertools.combinations(sorted(group), 2))[:10]:
            sub = _subscriber(0, (), (a, b), max_papers=10, top=10, threshold=1.0)
            got = [m.paper.id for m in matcher.match(sub)]
            assert a not in got and b not in got
            hits.append(sum(1 for g in got if g in group))
        mean = sum(hits) / len(hits)
        rows.append((topic, len(group), mean / 10, mean / reachable, reachable / (len(corpus) - 2)))
    p10 = sum(r[2] for r in rows) / len(rows)
    if title_weight is None:
        print(f"precision@10 on {len(rows)} hand-labelled topics of the seeds (2 liked papers per subscriber)")
        print(f"  {'topic':<42} {'n':>3} {'P@10':>6} {'of reachable':>13} {'random':>7}")
        for topic, n, p, reach, rand in rows:
            print(f"  {topic:<42} {n:>3} {p:6.2f} {reach:13.2f} {rand:7.2f}")
        print(
            f"  mean P@10 {p10:.2f}; of reachable {sum(r[3] for r in rows) / len(rows):.2f}; "
            f"random {sum(r[4] for r in rows) / len(rows):.2f}"
        )
    return sum(r[3] for r in rows) / len(rows)


def run() -> None:
    from newsletter.matching import lexical

    speed()
    chosen = lexical.TITLE_WEIGHT
    precision()
    weights = {w: precision(w) for w in (1, 2, 3)}
    _title_weight(chosen)
    print(
        "  title weight (of reachable): "
        + ", ".join(f"{w}: {v:.2f}" for w, v in weights.items())
        + f" (TITLE_WEIGHT = {chosen})"
    )


if __name__ == "__main__":
    run()
