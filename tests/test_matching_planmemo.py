"""Keyword matching once per distinct profile (newsletter/matching/planmemo.py) against
the plain way: for any sequence of profiles, exclusions and limits asked of one memo,
the very matches match_papers gives, each subscriber with a list of its own; and a
plan over many subscribers is the plan of each one matched alone."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.config import Subscriber
from newsletter.digest.scan import read_digest
from newsletter.matching import PaperIndex, Profile, match_papers
from newsletter.matching.matcher import plan, profile_of
from newsletter.matching.planmemo import KeywordMemo

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
PAPERS = read_digest(sorted(SEEDS.glob("002_*.txt"))[0]).papers
INDEX = PaperIndex(PAPERS)
IDS = sorted({k for p in PAPERS for k in p.keys})

ENTRIES = ["model*", "diffusion", "language models", "title:agent*", "reasoning", "graph", "abstract:learning", "zzz"]
_entries = st.lists(st.sampled_from(ENTRIES), max_size=3, unique=True).map(tuple)
_profiles = st.builds(
    Profile,
    email=st.sampled_from(["a@example.org", "b@example.org"]),
    keywords=_entries,
    require=st.lists(st.sampled_from(ENTRIES), max_size=1).map(tuple),
    exclude=st.lists(st.sampled_from(ENTRIES), max_size=1).map(tuple),
    max_papers=st.integers(0, 6),
    stemming=st.booleans(),
)
_excludes = st.one_of(st.just(frozenset()), st.frozensets(st.sampled_from([*IDS, "arxiv:0000.00000"]), max_size=4))
_limits = st.one_of(st.none(), st.integers(0, 8))
_asks = st.tuples(_profiles, _excludes, _limits)


def reader(email: str, keywords: list[str]) -> Subscriber:
    return Subscriber(email, None, tuple(keywords), (), (), 5, 300, False, True, None, "config.yaml")


@settings(max_examples=300, deadline=None)
@given(st.lists(_asks, min_size=1, max_size=12))
def test_keyword_memo_is_match_papers(asks: list[tuple[Profile, frozenset[str], int | None]]) -> None:
    memo = KeywordMemo(INDEX)
    answers = []
    for profile, exclude, limit in asks:
        for left_out in (frozenset(), exclude):  # the same profile, with and without papers left out
            got = memo.match(profile, exclude_ids=left_out, limit=limit)
            assert got == match_papers(INDEX, profile, exclude_ids=left_out, limit=limit)
            assert all(got is not other for other in answers)  # a list of its own
            answers.append(got)


_also = st.frozensets(st.sampled_from(IDS), max_size=6)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_profiles, _excludes, _limits, st.sampled_from([0, 1])), min_size=1, max_size=12), _also, _also
)
def test_keyword_memo_also_is_one_more_exclusion(
    asks: list[tuple[Profile, frozenset[str], int | None, int]], first: frozenset[str], second: frozenset[str]
) -> None:
    """``also`` (the pass's arXiv revisions, for ``revisions: false``) leaves out what
    ``exclude_ids`` would, its bits kept between asks: never those of another set."""
    memo = KeywordMemo(INDEX)
    for profile, exclude, limit, which in asks:
        also = (first, second)[which]
        got = memo.match(profile, exclude_ids=exclude, limit=limit, also=also)
        assert got == match_papers(INDEX, profile, exclude_ids=exclude | also, limit=limit)


def test_keyword_memo_also_two_sets_in_turn() -> None:
    wide = Profile(email="a@example.org", keywords=("model*", "learning"), max_papers=500)
    every = [m.paper.id for m in match_papers(INDEX, wide)]
    assert len(every) >= 6
    memo = KeywordMemo(INDEX)
    for also in (frozenset(every[:3]), frozenset(every[3:6]), frozenset(every[:3])):
        got = [m.paper.id for m in memo.match(wide, also=also)]
        assert got == [i for i in every if i not in also]


def test_plan_many_alike_subscribers_each_as_if_alone() -> None:
    """5 profiles over 200 subscribers, some with papers already sent: each gets what
    matching it alone gives."""
    profiles = [["model*"], ["diffusion", "title:agent*"], ["language models"], ["reasoning"], ["zzz"]]
    subs = [reader(f"u{i}@example.org", profiles[i % 5]) for i in range(200)]
    sent = {s.email: set(IDS[i % 7 :: 5]) for i, s in enumerate(subs) if i % 3 == 0}
    planned = plan(subs, PAPERS, already_sent=sent)
    for sub, matches in planned:
        assert matches == match_papers(INDEX, profile_of(sub), exclude_ids=sent.get(sub.email, frozenset()))
