"""Matching throughput: generated keyword profiles against the 78-paper seed.

"cold" is the realistic path of a run: :class:`Profile` objects (as a run builds
them from the configuration) matched against a fresh index with the module caches
cleared, so every distinct entry is compiled and looked up on the way. A plain
Profile is matched by its entries' texts (answers cached per index and text),
without building a compiled profile. "precompiled+warm" matches the
:func:`compile_profile` results again against the now warm index.
"""

from __future__ import annotations

import itertools
import random
import resource
import time
import tracemalloc
from pathlib import Path

from newsletter.digest import Paper
from newsletter.digest.scan import read_digest
from newsletter.matching import PaperIndex, Profile, clear_caches, compile_profile, match_papers
from newsletter.matching.text import words

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SIZES = (1_000, 10_000, 100_000)
_STOP = frozenset(
    (
        "also",
        "and",
        "are",
        "based",
        "both",
        "but",
        "can",
        "each",
        "for",
        "from",
        "has",
        "have",
        "into",
        "its",
        "more",
        "most",
        "not",
        "our",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "these",
        "they",
        "this",
        "those",
        "through",
        "which",
        "while",
        "with",
        "when",
        "where",
        "what",
        "were",
        "will",
    )
)


def _papers() -> tuple[Paper, ...]:
    return read_digest(next(SEEDS.glob("002_*.txt"))).papers


def make_profiles(papers: tuple[Paper, ...], count: int, seed: int = 0, *, broad: bool = False) -> list[Profile]:
    """``count`` profiles of 3 to 8 keywords drawn from the words of ``papers``.

    Mostly single words, some two-word phrases taken from the texts, some ``prefix*``
    and some ``title:`` entries; one profile in ten excludes a word, one in twenty
    requires one. Words are drawn uniformly from the vocabulary (words of 4 letters or
    more, stop words left out), or by frequency when ``broad`` (common words such as
    "model" or "learning": most profiles then fill their 20 papers).
    """
    rng = random.Random(seed)
    texts = [words(f"{p.title} {p.abstract}") for p in papers]
    tokens = [w for t in texts for w in t if len(w) >= 4 and w.isalpha() and w not in _STOP]
    pairs = [
        f"{a} {b}"
        for t in texts
        for a, b in itertools.pairwise(t)
        if a not in _STOP and b not in _STOP and a.isalpha() and b.isalpha()
    ]
    if not broad:
        tokens = sorted(set(tokens))
        pairs = sorted(set(pairs))

    def entry() -> str:
        r = rng.random()
        if r < 0.65:
            return rng.choice(tokens)
        if r < 0.80:
            return rng.choice(pairs)
        if r < 0.92:
            w = rng.choice(tokens)
            return w[: max(3, len(w) - 3)] + "*"
        return "title:" + rng.choice(tokens)

    profiles = []
    for i in range(count):
        keywords = tuple(entry() for _ in range(rng.randint(3, 8)))
        require = (rng.choice(tokens),) if rng.random() < 0.05 else ()
        exclude = (rng.choice(tokens),) if rng.random() < 0.10 else ()
        profiles.append(Profile(f"s{i}@example.org", keywords, require, exclude, stemming=rng.random() < 0.9))
    return profiles


def _measure(papers: tuple[Paper, ...], profiles: list[Profile], label: str) -> None:
    """Match every profile twice: from cold caches as given (entries compiled on the way),
    then precompiled against the now warm index."""
    size = len(profiles)
    entries = len({(e, p.stemming) for p in profiles for e in (*p.keywords, *p.require, *p.exclude)})
    clear_caches()
    index = PaperIndex(papers)
    started = time.perf_counter()
    found = sum(len(match_papers(index, p)) for p in profiles)
    cold = time.perf_counter() - started
    compiled = [compile_profile(p) for p in profiles]
    started = time.perf_counter()
    for cp in compiled:
        match_papers(index, cp)
    warm = time.perf_counter() - started
    print(
        f"  {size:>7,}{label} profiles: {size / cold:>7,.0f} profiles/s cold ({cold:.2f} s, "
        f"{cold / size * 1e6:.1f} us each), {size / warm:>7,.0f} profiles/s precompiled+warm "
        f"({warm:.2f} s); {found / size:.1f} papers per profile, {entries:,} distinct entries"
    )


def run() -> None:
    papers = _papers()
    print(f"== matching: generated profiles (3-8 keywords) against {len(papers)} papers (seed 002) ==")
    clear_caches()
    started = time.perf_counter()
    PaperIndex(papers)
    print(f"  index build: {(time.perf_counter() - started) * 1e3:.1f} ms (cold caches)")
    for size in SIZES:
        _measure(papers, make_profiles(papers, size, seed=size), "")
    _measure(papers, make_profiles(papers, SIZES[1], seed=1, broad=True), " broad")

    # tracemalloc slows allocation-heavy code about tenfold: measure on 10k profiles.
    profiles = make_profiles(papers, SIZES[1], seed=SIZES[1])
    clear_caches()
    tracemalloc.start()
    index = PaperIndex(papers)
    for p in profiles:
        match_papers(index, p)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"  peak memory: {peak / 2**20:.1f} MiB traced while indexing and matching "
        f"{SIZES[1]:,} profiles (results dropped); max RSS of the run {rss / 1024:.0f} MiB"
    )
