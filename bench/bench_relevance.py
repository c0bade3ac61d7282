"""Relevance of "more like these" on labels no one here wrote (issue 24), and the speed of
semantic similarity.

The set (``$NEWSLETTER_RELEVANCE``, default ``../shared/relevance`` beside the repository;
its README has the protocol): arXiv papers with arXiv's own subject classes and 14 label
sets. For each set, 10 seeded draws of k = 1 and k = 3 liked papers (whose primary
subject is in the set); every other paper is a candidate; relevant: the set's papers
other than the liked ones. Each profile goes through the product's one matching path
(:class:`newsletter.matching.matcher.Matcher`, ``max_papers: 10``, ``like_top: 10``) and we
print precision@10 and binary nDCG@10 per k and mode, and the time to score all.

Also: a per-subscriber model against plain similarity at k = 10 (the model starts at 10
ratings), dislike strengths (the wrong papers of a first top 10 disliked, then scored
again), embedding speed and scoring 10,000 subscribers x 500 papers.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from newsletter.config import Subscriber
from newsletter.digest import Paper
from newsletter.matching import similarity
from newsletter.matching.likes import LikeState
from newsletter.matching.matcher import Matcher, plan

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT.parent / "shared" / "relevance"
DRAWS = 10


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    k: int
    liked: tuple[int, ...]


def relevance_dir() -> Path:
    return Path(os.environ.get("NEWSLETTER_RELEVANCE", str(DEFAULT)))


def _columns(row: dict[str, str]) -> tuple[str, str]:
    """(subjects, abstract) of a row as arXiv wrote them. In 58 rows of the scrape the
    columns slipped: ``subjects`` holds the paper's "Journal-ref: ..." and ``abstract`` its
    "Subjects: ..." line (those pages had no abstract in the scrape). Read as they stand,
    such a paper belongs to no set (its labels unread) while its text is its own subject
    list (so it is the nearest paper to every liked paper of its class, and counted wrong)."""
    subjects, abstract = row["subjects"], row["abstract"]
    if subjects.startswith("Journal-ref:") and abstract.startswith("Subjects:"):
        return abstract.removeprefix("Subjects:"), ""
    return subjects, abstract


def load(directory: Path, *, slipped: bool = False) -> tuple[list[Paper], list[tuple[str, ...]], dict[str, list[str]]]:
    """The papers (one per arXiv id, first row wins), their subject codes, the label sets.

    The set's README counts 821 papers and measured its baselines on them: the 879 arXiv
    ids of the file less the 58 rows whose columns slipped (no abstract in the scrape).
    Those are left out unless ``slipped`` (then they are read title-only, their labels from
    the slipped column). Until 2026-12-04 the bench read all 879, which flattered the
    semantic mode: 0.579 / 0.692 at k = 1 / 3 against 0.554 / 0.668 on the 821 (lexical
    0.440 / 0.554 against 0.404 / 0.574)."""
    papers: list[Paper] = []
    subjects: list[tuple[str, ...]] = []
    seen: set[str] = set()
    with (directory / "arxiv_subjects_ResearchFinder.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["paper_id"] in seen:
                continue
            seen.add(row["paper_id"])
            codes, text = _columns(row)
            if not text.strip() and not slipped:
                continue
            title, abstract = " ".join(row["title"].split()), " ".join(text.split())
            papers.append(Paper(title, abstract, row["paper_id"], "relevance", arxiv_id=row["paper_id"]))
            subjects.append(tuple(re.findall(r"\(([^()]+)\)\s*(?:;|$)", codes)))
    sets = json.loads((directory / "labelsets.json").read_text(encoding="utf-8"))["sets"]
    return papers, subjects, sets


def profiles(subjects: Sequence[tuple[str, ...]], sets: dict[str, list[str]], ks: Sequence[int]) -> list[Profile]:
    out = []
    for name, codes in sets.items():
        primary = [i for i, s in enumerate(subjects) if s and s[0] in codes]
        for k in ks:
            for draw in range(DRAWS):
                rng = random.Random(f"{name}/{k}/{draw}")
                out.append(Profile(name, k, tuple(rng.sample(primary, k))))
    return out


def subscriber(liked: Sequence[str], dislike: Sequence[str] = (), *, mode: str = "auto", top: int = 10) -> Subscriber:
    return Subscriber(
        email="r@example.org",
        name=None,
        keywords=(),
        require=(),
        exclude=(),
        max_papers=10,
        abstract_chars=500,
        send_empty=False,
        stemming=True,
        schedule=None,
        source="bench",
        like=tuple(liked),
        dislike=tuple(dislike),
        like_threshold=1.0,
        like_top=top,
        similarity=mode,
    )


def metrics(got: Sequence[int], relevant: set[int]) -> tuple[float, float]:
    hits = [1.0 if g in relevant else 0.0 for g in got[:10]]
    dcg = sum(h / np.log2(i + 2) for i, h in enumerate(hits))
    ideal = sum(1 / np.log2(i + 2) for i in range(min(10, len(relevant))))
    return sum(hits) / 10, dcg / ideal if ideal else 0.0


@contextmanager
def settings(**values: object) -> Iterator[None]:
    """Module constants of :mod:`newsletter.matching.similarity` set for a while."""
    old = {k: getattr(similarity, k) for k in values}
    for k, v in values.items():
        setattr(similarity, k, v)
    similarity._MODELS.clear()
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(similarity, k, v)
        similarity._MODELS.clear()


class Bench:
    def __init__(self, papers: list[Paper], subjects: list[tuple[str, ...]], sets: dict[str, list[str]]) -> None:
        self.papers, self.subjects, self.sets = papers, subjects, sets
        self.members = {n: {i for i, s in enumerate(subjects) if set(s) & set(c)} for n, c in sets.items()}
        self.row = {p.id: i for i, p in enumerate(papers)}
        self.vectors: dict[str, bytes] = {}

    def run(
        self,
        mode: str,
        profs: Sequence[Profile],
        dislikes: Callable[[Profile], Sequence[str]] | None = None,
        top: int = 10,
    ) -> tuple[dict[int, tuple[float, ...]], float]:
        matcher = Matcher(self.papers, LikeState(vectors=self.vectors))
        matcher.model("semantic" if mode == "semantic" else "lexical")  # fitted before the clock starts
        scores: dict[int, list[tuple[float, float]]] = {}
        started = time.perf_counter()
        for prof in profs:
            liked = [self.papers[i].id for i in prof.liked]
            sub = subscriber(liked, dislikes(prof) if dislikes else (), mode=mode, top=top)
            got = [self.row[m.paper.id] for m in matcher.match(sub)]
            relevant = self.members[prof.name] - set(prof.liked)
            scores.setdefault(prof.k, []).append(metrics(got, relevant))
        elapsed = time.perf_counter() - started
        return {k: tuple(float(x) for x in np.mean(v, axis=0)) for k, v in scores.items()}, elapsed


def _row(label: str, result: dict[int, tuple[float, ...]], elapsed: float, ks: Sequence[int]) -> str:
    cells = "  ".join(f"{result[k][0]:6.3f} {result[k][1]:6.3f}" for k in ks)
    return f"  {label:<34} {cells}  {elapsed:6.2f} s"


def relevance_table(bench: Bench, semantic: bool) -> None:
    profs = profiles(bench.subjects, bench.sets, (1, 3))
    ks = (1, 3)
    print(f"  {'mode':<34} {'k=1 p@10  nDCG':>14}  {'k=3 p@10  nDCG':>14}  scoring {len(profs)} profiles")
    variants: list[tuple[str, str, dict[str, object]]] = [
        ("lexical (tf-idf mean)", "lexical", {"PRF_WEIGHT": {"lexical": 0.0}}),
        ("lexical + feedback (default)", "lexical", {}),
    ]
    if semantic:
        variants += [
            ("semantic (centred mean)", "semantic", {"NEIGHBOURS": 0, "PRF_WEIGHT": {}}),
            ("semantic + neighbours", "semantic", {"PRF_WEIGHT": {}}),
            ("semantic + neighbours + feedback (default)", "semantic", {}),
        ]
    for label, mode, values in variants:
        with settings(**values):
            result, elapsed = bench.run(mode, profs)
        print(_row(label, result, elapsed, ks))


def _wrong_of_first(bench: Bench, mode: str, profs: Sequence[Profile], count: int) -> dict[Profile, list[str]]:
    """Per profile: the first ``count`` wrong papers of its first top 10 (what a reader
    would mark "fewer like this")."""
    first = Matcher(bench.papers, LikeState(vectors=bench.vectors))
    wrong: dict[Profile, list[str]] = {}
    for prof in profs:
        got = [m.paper.id for m in first.match(subscriber([bench.papers[i].id for i in prof.liked], mode=mode))]
        wrong[prof] = [g for g in got if bench.row[g] not in bench.members[prof.name]][:count]
    return wrong


def learning_table(bench: Bench, mode: str) -> None:
    """k = 10 likes plus up to 5 dislikes (the wrong papers of a first top 10): the
    similarity with its push-down against a per-subscriber model (like_top 20)."""
    profs = profiles(bench.subjects, bench.sets, (10,))
    wrong = _wrong_of_first(bench, mode, profs, 5)
    for label, values in (("similarity + dislikes", {"LEARN_MIN": 10**9}), ("per-subscriber model", {})):
        with settings(**values):
            result, elapsed = bench.run(mode, profs, dislikes=lambda p: wrong[p], top=20)
        print(
            f"  {mode} 10 likes + dislikes, {label:<22} p@10 {result[10][0]:.3f}  nDCG {result[10][1]:.3f}"
            f"  ({elapsed:.2f} s)"
        )


def dislike_table(bench: Bench, mode: str) -> None:
    """k = 3, the wrong papers of a first top 10 disliked, scored again (like_top 20: a
    dislike reorders, it never adds a paper)."""
    profs = profiles(bench.subjects, bench.sets, (3,))
    wrong = _wrong_of_first(bench, mode, profs, 3)
    cells = []
    for weight in (0.0, 0.25, 0.5, 1.0, 2.0):
        with settings(DISLIKE_WEIGHT=weight):
            result, _ = bench.run(mode, profs, dislikes=lambda p: wrong[p], top=20)
        cells.append(f"{weight}: {result[3][0]:.3f}")
    print(f"  {mode} k=3 + the wrong papers of the first top 10 disliked, p@10 by DISLIKE_WEIGHT: " + ", ".join(cells))


def embed_all(bench: Bench) -> float:
    """Embed every paper once (the ledger's cache in a pass); papers per second."""
    from newsletter.matching.semantic import embedder, text_key

    docs = [(p.title, p.abstract) for p in bench.papers]
    embedder().embed(docs[:4])  # the model loads before the clock starts
    started, cpu = time.perf_counter(), time.process_time()
    vectors = embedder().embed(docs)
    rate = len(docs) / (time.perf_counter() - started)
    per_paper = (time.process_time() - cpu) / len(docs)
    print(
        f"  embedding: {per_paper * 1000:.0f} ms CPU per paper, all threads ({1 / per_paper:.1f} papers per CPU "
        f"second); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the machine may be shared)"
    )
    bench.vectors = {text_key(t, a): v.astype("<f4").tobytes() for (t, a), v in zip(docs, vectors, strict=True)}
    return rate


def scoring_speed(bench: Bench, count: int = 10_000, width: int = 500) -> None:
    """10,000 subscribers with 3 likes each against ``width`` papers, through :func:`plan`."""
    rng = random.Random(24)
    digest = bench.papers[:width]
    ids = [p.id for p in bench.papers]
    subs = [
        replace(subscriber(rng.sample(ids, 3), top=3), email=f"s{i}@example.org", max_papers=20) for i in range(count)
    ]
    state = LikeState(papers=tuple(bench.papers), vectors=bench.vectors)
    started = time.perf_counter()
    Matcher(digest, state).model("semantic")  # the model of the corpus (cached for the pass)
    fitted = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    sizes = sum(len(matches) for _, matches in plan(subs, digest, likes=state))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"  scoring {count:,} subscribers (3 likes each) x {width} papers: {elapsed:.2f} s, {cpu:.2f} s CPU "
        f"(target < 5 s; model of {len(bench.papers)} papers {fitted:.2f} s before), {sizes / count:.1f} papers each"
    )


def run() -> None:
    directory = relevance_dir()
    if not (directory / "arxiv_subjects_ResearchFinder.csv").is_file():
        print(f"relevance: no relevance set at {directory} (set NEWSLETTER_RELEVANCE): skipped")
        return
    from newsletter.matching.semantic import available

    bench = Bench(*load(directory))
    semantic = available()
    print(
        f"relevance: {len(bench.papers)} arXiv papers, {len(bench.sets)} label sets, {DRAWS} draws each ({directory})"
    )
    print("  (the README's 821: the 58 rows whose columns slipped, with no abstract, are left out)")
    if semantic:
        rate = embed_all(bench)
        print(f"  embedding title + abstract: {rate:.1f} papers/s on {os.cpu_count()} cores (target >= 15)")
    else:
        print("  semantic extra not installed: lexical modes only")
    relevance_table(bench, semantic)
    best = "semantic" if semantic else "lexical"
    learning_table(bench, best)
    dislike_table(bench, best)
    if semantic:
        scoring_speed(bench)


if __name__ == "__main__":
    run()
