"""The two arithmetics of "more like these" (issue 24) give the same matches: the plain
Python one (newsletter/matching/kernels.py, what the base install runs: it has no numpy)
and numpy's (kernels_numpy.py, the speed trick), on random corpora and subscribers, with
dislikes, libraries, require/exclude, keyword hits, ties and the per-subscriber model."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.digest import Paper
from newsletter.matching import PaperIndex, Profile, match_papers
from newsletter.matching import kernels as plain
from newsletter.matching import kernels_numpy as fast
from newsletter.matching.similarity import LikeHit, Likes, fit, like_matches

WORDS = (
    "protein",
    "folding",
    "speech",
    "audio",
    "graph",
    "neural",
    "robot",
    "grasp",
    "quantum",
    "circuit",
    "market",
    "price",
    "vision",
    "image",
    "language",
    "kernel",
    "sparse",
    "attention",
    "diffusion",
    "contact",
    "structure",
    "recognition",
    "transducer",
    "policy",
)


@st.composite
def corpora(draw: Any) -> list[Paper]:
    n = draw(st.integers(min_value=4, max_value=24))
    papers = []
    for i in range(n):
        title = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=5)))
        abstract = " ".join(draw(st.lists(st.sampled_from([*WORDS, f"rare{i}"]), max_size=25)))
        papers.append(Paper(f"{title} {i}", abstract, f"p{i}", "digest"))
    return papers


@st.composite
def cases(draw: Any) -> tuple[list[Paper], Likes, dict[str, Any]]:
    papers = draw(corpora())
    ids = [p.id for p in papers]
    like = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=12, unique=True))
    dislike = draw(st.lists(st.sampled_from(ids), max_size=4, unique=True))
    library = draw(st.lists(st.sampled_from(papers), max_size=3, unique_by=lambda p: p.id))
    weights = tuple(draw(st.floats(min_value=0.2, max_value=1.0)) for _ in library)
    likes = Likes(
        like=tuple(like),
        dislike=tuple(dislike),
        threshold=draw(st.sampled_from([None, 0.05, 0.3, 1.0])),
        top=draw(st.integers(min_value=0, max_value=8)),
        library=tuple(library),
        library_weights=weights,
    )
    options = {
        "require": draw(st.lists(st.sampled_from(WORDS), max_size=1)),
        "exclude": draw(st.lists(st.sampled_from(WORDS), max_size=1)),
        "keywords": draw(st.lists(st.sampled_from(WORDS), max_size=2)),
        "limit": draw(st.integers(min_value=0, max_value=12)),
    }
    return papers, likes, options


def _run(papers: list[Paper], likes: Likes, options: dict[str, Any], *, use_plain: bool) -> list[tuple[Any, ...]]:
    index = PaperIndex(papers)
    keyword = match_papers(index, Profile("a@example.org", keywords=tuple(options["keywords"])), limit=len(papers))
    model = fit(papers, "lexical", plain=use_plain)
    assert model.kernels is (plain if use_plain else fast)
    got = like_matches(
        index,
        model,
        keyword if options["keywords"] else [],
        likes,
        require=options["require"],
        exclude=options["exclude"],
        limit=options["limit"],
    )
    out = []
    for m in got:
        hits = tuple(
            (h.keyword, h.fields, h.like, h.terms, h.similarity) if isinstance(h, LikeHit) else tuple(h) for h in m.hits
        )
        out.append((m.paper.id, m.score, hits))
    return out


@settings(max_examples=150, deadline=None)
@given(cases())
def test_kernels_plain_and_numpy_give_the_same_matches(case: tuple[list[Paper], Likes, dict[str, Any]]) -> None:
    papers, likes, options = case
    expected = _run(papers, likes, options, use_plain=False)
    got = _run(papers, likes, options, use_plain=True)
    assert [g[:2] for g in got] == [e[:2] for e in expected]  # the same papers, order and scores
    for (_, _, mine), (_, _, theirs) in zip(got, expected, strict=True):
        assert len(mine) == len(theirs)
        for a, b in zip(mine, theirs, strict=True):
            assert a[:-1] == b[:-1] if len(a) == 5 else a == b  # explanation, nearest paper, phrases
            if len(a) == 5:
                assert math.isclose(a[-1], b[-1], abs_tol=1e-3)  # the similarity, rounded to 3 places


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, -0.5]), min_size=1, max_size=30),
    seed=st.integers(min_value=0, max_value=2**30),
    k=st.integers(min_value=0, max_value=12),
)
def test_kernels_top_breaks_ties_by_the_lower_bit_in_both(values: list[float], seed: int, k: int) -> None:
    import random

    import numpy as np

    allowed = [random.Random(seed + i).random() < 0.7 for i in range(len(values))]
    mine = plain.top(values, allowed, k)
    assert mine == fast.top(np.array(values), np.array(allowed), k)
    assert mine == sorted((i for i, ok in enumerate(allowed) if ok), key=lambda i: (-values[i], i))[:k]


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=2, max_value=12), st.integers(min_value=0, max_value=2**30))
def test_kernels_logistic_regression_is_the_same_in_both(n: int, seed: int) -> None:
    import random

    import numpy as np

    rng = random.Random(seed)
    points = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(n)]
    gram = [[sum(a * b for a, b in zip(p, q, strict=True)) for q in points] for p in points]
    labels = [float(rng.random() < 0.5) for _ in range(n)]
    weights = [rng.uniform(0.2, 2.0) for _ in range(n)]
    offset = [rng.uniform(-1, 1) for _ in range(n)]
    alpha, bias = plain.train(gram, labels, weights, offset, steps=50, l2=0.2)
    alpha_np, bias_np = fast.train(np.array(gram), labels, weights, np.array(offset), steps=50, l2=0.2)
    assert np.allclose(alpha, alpha_np, atol=1e-9) and math.isclose(bias, bias_np, abs_tol=1e-9)


def test_kernels_zero_similarity_ties_fill_like_top_by_bit_in_both() -> None:
    """like_top larger than the papers that share any word: the rest tie at 0 and the
    lower bits fill the places, in both arithmetics."""
    papers = [Paper("protein folding", "contact maps of protein structure", "liked", "d")]
    papers += [Paper(f"protein structure {i}", "folding", f"near{i}", "d") for i in range(2)]
    papers += [Paper(f"market price {i}", f"auction w{i}", f"far{i}", "d") for i in range(6)]
    likes = Likes(like=("liked",), top=5, threshold=1.0)
    options: dict[str, Any] = {"require": [], "exclude": [], "keywords": [], "limit": 10}
    expected = _run(papers, likes, options, use_plain=False)
    assert [e[0] for e in expected] == ["near0", "near1", "far0", "far1", "far2"]
    assert _run(papers, likes, options, use_plain=True) == expected


def test_kernels_learned_model_is_the_same_in_both() -> None:
    """Twelve ratings: the per-subscriber model orders the papers, in both arithmetics."""
    papers = [
        Paper(f"{WORDS[i % 8]} {WORDS[(i * 3) % 11]} {i}", " ".join(WORDS[i % 13 :]), f"p{i}", "d") for i in range(30)
    ]
    likes = Likes(like=tuple(f"p{i}" for i in range(0, 20, 2)), dislike=("p1", "p3"), top=6)
    options: dict[str, Any] = {"require": [], "exclude": [], "keywords": [], "limit": 6}
    expected = _run(papers, likes, options, use_plain=False)
    assert len(expected) == 6
    assert _run(papers, likes, options, use_plain=True) == expected


def test_kernels_same_ids_with_new_texts_are_matched_on_the_new_texts() -> None:
    """A model is cached per run; papers with the same ids but other texts (a digest read
    again after a correction, in a long-running daemon) are matched on what they say now."""
    likes = Likes(like=("p0",), dislike=(), threshold=None, top=1, library=(), library_weights=())
    options: dict[str, Any] = {"require": [], "exclude": [], "keywords": [], "limit": 1}
    first = [
        Paper("protein folding structure", "protein folding", "p0", "digest"),
        Paper("protein folding contact structure", "protein folding", "p1", "digest"),
        Paper("market price policy", "market price", "p2", "digest"),
    ]
    corrected = [
        first[0],
        Paper(first[2].title, first[2].abstract, "p1", "digest"),
        Paper(first[1].title, first[1].abstract, "p2", "digest"),
    ]
    for use_plain in (False, True):
        assert [m[0] for m in _run(first, likes, options, use_plain=use_plain)] == ["p1"]
        assert [m[0] for m in _run(corrected, likes, options, use_plain=use_plain)] == ["p2"]
