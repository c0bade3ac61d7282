"""The matching engine (SPEC 4) on the seed digests, and against a naive reference."""

from __future__ import annotations

import dataclasses
import gc
import re
import sys
import unicodedata
import weakref
from collections.abc import Collection, Sequence
from pathlib import Path

import pytest
import snowballstemmer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.base.keywords import MARKS
from newsletter.digest import Paper
from newsletter.digest.scan import read_digest
from newsletter.matching import (
    CompiledProfile,
    Hit,
    Match,
    PaperIndex,
    Profile,
    compile_entry,
    compile_profile,
    highlight_spans,
    keyword_stats,
    match_papers,
    validate_keyword,
)
from newsletter.matching.text import normalize, tokenize, words

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _load(key: str) -> tuple[Paper, ...]:
    return read_digest(next(SEEDS.glob(f"{key}_*.txt"))).papers


PAPERS_002 = _load("002")
PAPERS_003 = _load("003")
INDEX_002 = PaperIndex(PAPERS_002)
INDEX_003 = PaperIndex(PAPERS_003)


T, A, TA = ("title",), ("abstract",), ("title", "abstract")


def run(*keywords: str, index: PaperIndex = INDEX_002, limit: int | None = 100, **kw: object) -> list[Match]:
    return match_papers(index, Profile("a@example.org", keywords, **kw), limit=limit)  # type: ignore[arg-type]


def positions(matches: Sequence[Match]) -> list[int]:
    return [m.position for m in matches]


def summary(matches: Sequence[Match]) -> list[tuple[int, int]]:
    return [(m.position, m.score) for m in matches]


# -- reference implementation: tokenize every paper on every call, scan naively ----------


def ref_spans(text: str) -> list[tuple[int, int]]:
    """Words the plain way: a letter or digit starts one; letters, digits and combining marks
    go on with it."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, ch in enumerate(text):
        if ch.isalnum() or (start is not None and unicodedata.category(ch).startswith("M")):
            start = i if start is None else start
        elif start is not None:
            spans.append((start, i))
            start = None
    return spans if start is None else [*spans, (start, len(text))]


def ref_normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().replace("i\u0307", "i")


_REF_STEMMER = snowballstemmer.stemmer("english")
_REF_STEMS: dict[str, str] = {}


def ref_stem(word: str) -> str:
    if word not in _REF_STEMS:
        _REF_STEMS[word] = _REF_STEMMER.stemWord(word)
    return _REF_STEMS[word]


def ref_words(text: str) -> list[str]:
    norm = ref_normalize(text)
    return [norm[s:e] for s, e in ref_spans(norm)]


def ref_parse(entry: str) -> tuple[str | None, list[tuple[str, bool]]]:
    text = ref_normalize(entry)
    field = None
    m = re.match(r"\s*(title|abstract)\s*:", text)
    if m:
        field, text = m.group(1), text[m.end() :]
    return field, [(text[s:e], text[e : e + 1] == "*") for s, e in ref_spans(text)]


def ref_same(word: str, prefix: bool, token: str, stemming: bool) -> bool:
    if prefix:
        return token.startswith(word)
    if stemming:
        return ref_stem(word) == ref_stem(token)
    return word == token


def ref_starts(terms: list[tuple[str, bool]], tokens: list[str], stemming: bool) -> list[int]:
    """Every position where the terms start, one after the other (the first term tried
    alone first: the same positions, found without a generator per token)."""
    n = len(terms)
    if n == 0:
        return list(range(len(tokens) + 1))
    (w0, p0), rest = terms[0], terms[1:]
    firsts = [i for i in range(len(tokens) - n + 1) if ref_same(w0, p0, tokens[i], stemming)]
    return [i for i in firsts if all(ref_same(w, p, tokens[i + 1 + k], stemming) for k, (w, p) in enumerate(rest))]


def ref_where(entry: str, fields: tuple[list[str], list[str]], stemming: bool) -> tuple[bool, bool]:
    """Whether ``entry`` occurs in the (title, abstract) words ``fields``."""
    field, terms = ref_parse(entry)
    title = field != "abstract" and bool(ref_starts(terms, fields[0], stemming))
    abstract = field != "title" and bool(ref_starts(terms, fields[1], stemming))
    return title, abstract


def ref_match(
    papers: Sequence[Paper], profile: Profile, exclude_ids: Collection[str] = (), limit: int | None = None
) -> list[tuple[int, int, list[tuple[str, tuple[str, ...]]]]]:
    found = []
    if not profile.keywords and not profile.require:
        return []
    for pos, paper in enumerate(papers):
        if paper.id in exclude_ids:
            continue
        fields = (ref_words(paper.title), ref_words(paper.abstract))
        kw = [(e, ref_where(e, fields, profile.stemming)) for e in profile.keywords]
        req = [(e, ref_where(e, fields, profile.stemming)) for e in profile.require]
        exc = [ref_where(e, fields, profile.stemming) for e in profile.exclude]
        if profile.keywords and not any(t or a for _, (t, a) in kw):
            continue
        if not all(t or a for _, (t, a) in req) or any(t or a for t, a in exc):
            continue
        hits = [(e, ("title",) * t + ("abstract",) * a) for e, (t, a) in kw + req if t or a]
        score = sum(3 * t + a for _, (t, a) in kw + req)
        found.append((score, paper.upvotes or 0, pos, hits))
    found.sort(key=lambda r: (-r[0], -r[1], r[2]))
    cut = profile.max_papers if limit is None else limit
    return [(pos, score, hits) for score, _, pos, hits in found[: max(cut, 0)]]


def explain(matches: Sequence[Match]) -> list[tuple[int, int, list[tuple[str, tuple[str, ...]]]]]:
    return [(m.position, m.score, [(h.keyword, h.fields) for h in m.hits]) for m in matches]


def ref_highlight(text: str, profile: Profile, field: str) -> list[tuple[int, int]]:
    tokens = ref_spans(text)
    norm = [ref_normalize(text[s:e]) for s, e in tokens]
    marked: set[int] = set()
    for entry in (*profile.keywords, *profile.require):
        f, terms = ref_parse(entry)
        if f not in (None, field):
            continue
        for start in ref_starts(terms, norm, profile.stemming):
            marked.update(range(start, start + len(terms)))
    spans: list[list[int]] = []
    for i in sorted(marked):
        s, e = tokens[i]
        if spans and s <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], e)
        else:
            spans.append([s, e])
    return [(s, e) for s, e in spans]


# -- text ---------------------------------------------------------------------------------


def test_text_words_hyphen_space_case_endash_equivalent() -> None:
    assert words("self-supervised") == words("Self Supervised") == words("SELF–SUPERVISED")
    assert words("SELF–SUPERVISED") == ["self", "supervised"]
    assert words("snake_case") == ["snake", "case"]


def test_text_tokenize_spans_in_original_text_after_nfkc() -> None:
    text = "ﬁne-tuning of Ⅻ ＧＰＴ models"
    assert tokenize(text) == (
        ("fine", 0, 3),
        ("tuning", 4, 10),
        ("of", 11, 13),
        ("xii", 14, 15),
        ("gpt", 16, 19),
        ("models", 20, 26),
    )


def test_text_tokenize_combining_marks_compose() -> None:
    text = "Cafe\u0301 crème"
    assert [w for w, _, _ in tokenize(text)] == ["café", "crème"]
    assert [text[s:e] for _, s, e in tokenize(text)] == ["Cafe\u0301", "crème"]


def test_text_words_keep_combining_marks_in_their_word() -> None:
    # Devanagari vowel signs and viramas, Thai tone marks: marks that NFKC cannot compose.
    assert words("संस्कृत भाषा") == ["संस्कृत", "भाषा"]
    assert words("ที่นี่ and ñ") == ["ที่นี่", "and", "ñ"]
    assert [("संस्कृत भाषा")[s:e] for _, s, e in tokenize("संस्कृत भाषा")] == ["संस्कृत", "भाषा"]


def test_text_words_turkish_capital_i_is_the_plain_word() -> None:
    assert words("İstanbul") == words("ISTANBUL") == words("istanbul") == ["istanbul"]
    assert tokenize("Near İstanbul") == (("near", 0, 4), ("istanbul", 5, 13))


def test_keywords_marks_are_every_combining_mark_of_this_python() -> None:
    every = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)).startswith("M")}
    assert every == set(MARKS)


_ALPHABET = st.sampled_from([*"aZé1 -–_.,ﬁﬂß²①½Ⅻ'’ＡｂİiIΣς…सकाृ्ทน่ี", "e\u0301", "\u0301", "\u0307", "\u00a0", "\u3000"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=24).map("".join))
def test_text_tokenize_agrees_with_normalised_findall(text: str) -> None:
    tokens = tokenize(text)
    assert [w for w, _, _ in tokens] == ref_words(text)
    for word, start, end in tokens:
        assert 0 <= start < end <= len(text)
        assert word in normalize(text[start:end])
    assert [(s, e) for _, s, e in tokens] == sorted((s, e) for _, s, e in tokens)


# -- entries, validation --------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["", "   ", "--", "*", "title:", "Abstract: -", "…"])
def test_validate_keyword_rejects_entries_without_words(entry: str) -> None:
    assert validate_keyword(entry)
    with pytest.raises(ValueError, match="no word"):
        compile_entry(entry)


@pytest.mark.parametrize("entry", ["mask", "title:mask*", "contrast* learn*", "GPT-4", "ﬁne-tuning", "β-VAE"])
def test_validate_keyword_accepts_entries_with_words(entry: str) -> None:
    assert validate_keyword(entry) is None


def test_compile_profile_names_the_bad_entry() -> None:
    with pytest.raises(ValueError, match=r"require\[1\].*'title:'.*no word"):
        compile_profile(Profile("a@example.org", ("mask",), require=("image", "title:")))


def test_compile_entry_parses_field_words_and_prefixes() -> None:
    entry = compile_entry("Title: Contrast* Learning", stemming=True)
    assert entry.field == "title"
    assert entry.words == ("contrast", "learning")
    assert [(t.text, t.prefix) for t in entry.terms] == [("contrast", True), ("learn", False)]
    assert compile_entry("abstract:x").field == "abstract"
    assert compile_entry("mask *").terms[0].prefix is False  # a '*' must end the word
    assert compile_entry("self-supervised").key == compile_entry("Self Supervised").key
    assert compile_entry("mask", stemming=True).key != compile_entry("mask", stemming=False).key


def test_compile_profile_is_idempotent() -> None:
    cp = compile_profile(Profile("a@example.org", ("mask",)))
    assert isinstance(cp, CompiledProfile)
    assert compile_profile(cp) is cp
    assert (cp.email, cp.max_papers, cp.stemming) == ("a@example.org", 20, True)


# -- matching rules on the seeds ------------------------------------------------------------


def test_match_hyphen_space_case_endash_equivalent() -> None:
    expected = [(1, 4), (47, 4), (53, 4), (65, 4), (69, 4), (9, 1), (17, 1), (40, 1)]
    for entry in ("self-supervised", "Self Supervised", "SELF–SUPERVISED", "self_supervised"):
        assert summary(run(entry)) == expected


def test_match_phrase_word_order_matters() -> None:
    assert run("supervised self") == []
    assert positions(run("contrastive learning")) == [65, 17, 31, 71]
    assert run("learning contrastive") == []


def test_match_stemming_on_augmentation_matches_augmentations() -> None:
    found = positions(run("augmentation"))
    assert 53 in found  # "augmentations" only
    assert len(found) == 15
    assert positions(run("augmentations")) == found


def test_match_stemming_off_compares_words() -> None:
    assert positions(run("augmentation", stemming=False)) == [3, 69, 27, 47, 58, 65, 70, 72]
    assert positions(run("augmentations", stemming=False)) == [53, 69]


def test_match_stemming_mask_matches_masked() -> None:
    on = positions(run("mask"))
    assert 1 in on and 21 in on  # papers that say "masked" but never "mask"
    assert positions(run("mask", stemming=False)) == [0, 35, 72, 31, 58, 66, 69, 74]
    assert positions(run("masked", stemming=False)) == [66, 0, 1, 21, 58]


def test_match_prefix_matches_unstemmed_words() -> None:
    # "maske*" finds "masked" though its stem is "mask"; only words starting with "maske"
    assert summary(run("maske*")) == [(66, 4), (0, 1), (1, 1), (21, 1), (58, 1)]
    assert positions(run("maske*", stemming=False)) == positions(run("masked", stemming=False))


def test_match_prefix_inside_phrase() -> None:
    assert explain(run("contrast* learn*")) == [
        (65, 3, [("contrast* learn*", ("title",))]),
        (17, 1, [("contrast* learn*", ("abstract",))]),
        (31, 1, [("contrast* learn*", ("abstract",))]),
        (71, 1, [("contrast* learn*", ("abstract",))]),
    ]


def test_match_title_prefix_restricts_to_titles() -> None:
    assert summary(run("title:mask")) == [(0, 3), (35, 3), (58, 3), (66, 3), (72, 3)]
    assert summary(run("TITLE : mask"))[:1] == [(0, 3)]


def test_match_abstract_prefix_restricts_to_abstracts() -> None:
    found = run("abstract:mask")
    assert {m.score for m in found} == {1}
    assert positions(found) == [0, 1, 21, 24, 31, 35, 53, 58, 66, 69, 72, 74]
    assert all(h.fields == ("abstract",) for m in found for h in m.hits)


def test_match_require_only_profile() -> None:
    found = run(require=("self-supervised",))
    assert summary(found) == summary(run("self-supervised"))
    assert [h.keyword for m in found for h in m.hits] == ["self-supervised"] * 8


def test_match_require_with_keywords() -> None:
    assert explain(run("mask", require=("self-supervised",))) == [
        (pos, 5, [("mask", ("abstract",)), ("self-supervised", ("title", "abstract"))]) for pos in (1, 53, 69)
    ]


def test_match_exclude_removes_papers() -> None:
    assert positions(run("mask", exclude=("video", "pretrain*"))) == [35, 58, 21, 24, 53, 69, 74]
    assert run("mask", exclude=("mask",)) == []


def test_match_exclude_with_field_prefix() -> None:
    # papers 0, 35, 58, 66, 72 have mask in the title; only those are excluded
    assert positions(run("mask", exclude=("title:mask",))) == [1, 21, 24, 31, 53, 69, 74]


def test_match_profile_without_keywords_or_require_matches_nothing() -> None:
    assert run() == []
    assert run(exclude=("mask",)) == []


def test_match_scores_title_3_abstract_1_per_entry() -> None:
    assert explain(run("mask", "augmentation", "title:mask*", require=("image",))) == [
        (0, 11, [("mask", TA), ("title:mask*", T), ("image", TA)]),
        (58, 9, [("mask", TA), ("augmentation", A), ("title:mask*", T), ("image", A)]),
        (72, 9, [("mask", TA), ("augmentation", A), ("title:mask*", T), ("image", A)]),
        (66, 8, [("mask", TA), ("title:mask*", T), ("image", A)]),
        (3, 5, [("augmentation", TA), ("image", A)]),
        (21, 5, [("mask", A), ("image", TA)]),
        (27, 5, [("augmentation", A), ("image", TA)]),
        (32, 5, [("augmentation", A), ("image", TA)]),
        (4, 2, [("augmentation", A), ("image", A)]),
        (18, 2, [("augmentation", A), ("image", A)]),
        (24, 2, [("mask", A), ("image", A)]),
        (59, 2, [("augmentation", A), ("image", A)]),
    ]


def test_match_scores_exclude_never_adds() -> None:
    assert summary(run("mask", exclude=("video",)))[:2] == [(0, 4), (35, 4)]


def test_match_ties_order_by_digest_order_when_seeds_show_no_votes() -> None:
    # the number after a seed's date is its comment count: never a vote, never an order
    found = run("language", index=INDEX_003)
    assert [(m.position, m.score) for m in found] == [
        (6, 4),
        (8, 4),
        (16, 4),
        (25, 4),
        (26, 4),
        (39, 4),
        (42, 4),
        (7, 1),
        (15, 1),
        (20, 1),
        (32, 1),
        (33, 1),
        (47, 1),
    ]
    assert found[4].paper.comments == 1 and found[4].paper.upvotes is None


def test_match_ties_order_by_votes_then_digest_order() -> None:
    papers = [dataclasses.replace(p, upvotes=None) for p in PAPERS_003]
    papers[26] = dataclasses.replace(papers[26], upvotes=4)
    papers[42] = dataclasses.replace(papers[42], upvotes=1)
    papers[47] = dataclasses.replace(papers[47], upvotes=3)
    assert positions(run("language", index=PaperIndex(papers))) == [26, 42, 6, 8, 16, 25, 39, 47, 7, 15, 20, 32, 33]


def test_match_author_and_org_qualifiers_score_like_title() -> None:
    base = PAPERS_002[:3]
    papers = [
        dataclasses.replace(base[0], author_names=("Yann LeCun", "Bob Smith"), organization="Meta AI"),
        dataclasses.replace(base[1], author_names=("Ann Lecun",), organization="ByteDance Seed"),
        dataclasses.replace(base[2], author_names=(), organization=None),
    ]
    index = PaperIndex(papers)
    assert explain(run('author:"Yann LeCun"', index=index)) == [(0, 3, [('author:"Yann LeCun"', ("author",))])]
    assert positions(run("author:lecun", index=index)) == [0, 1]
    assert run('author:"lecun bob"', index=index) == []  # a phrase never spans two authors
    assert explain(run("org:bytedance", index=index)) == [(1, 3, [("org:bytedance", ("org",))])]
    assert positions(run("author:lec*", index=index)) == [0, 1]
    # beside a title keyword, scores add up; require/exclude work on them too
    assert summary(run("author:lecun", require=("org:meta",), index=index)) == [(0, 6)]
    assert positions(run("author:lecun", exclude=("org:meta",), index=index)) == [1]


def test_match_ties_missing_votes_count_as_zero() -> None:
    papers = list(PAPERS_002)
    papers[0] = dataclasses.replace(papers[0], upvotes=0)
    papers[35] = dataclasses.replace(papers[35], upvotes=-1)
    papers[72] = dataclasses.replace(papers[72], upvotes=2)
    # 0 (0 votes) and 58, 66 (None) tie in digest order; 35 (-1) comes last
    assert positions(run("title:mask", index=PaperIndex(papers))) == [72, 0, 58, 66, 35]


def test_match_max_papers_and_limit() -> None:
    assert len(run("model", limit=None)) == 20
    assert positions(run("mask", limit=None, max_papers=3)) == [0, 35, 58]
    assert positions(run("mask", limit=2, max_papers=3)) == [0, 35]
    assert run("mask", limit=0) == []
    assert len(run("model", limit=500)) == len(run("model", limit=78))


def test_match_exclude_ids_skips_sent_papers() -> None:
    sent = {PAPERS_002[0].id, PAPERS_002[72].id, "not-in-this-digest"}
    profile = Profile("a@example.org", ("mask",), max_papers=2)
    assert positions(match_papers(INDEX_002, profile, exclude_ids=sent)) == [35, 58]
    many = {p.id for p in PAPERS_002[1:]} | {f"x{i}" for i in range(200)}  # more ids than papers
    assert positions(match_papers(INDEX_002, profile, exclude_ids=many)) == [0]


def test_match_explanations_hits_in_profile_order() -> None:
    (first, *_) = run("title:mask*", "image", "restoration", require=("adaptive",))
    assert first.position == 0
    assert first.paper is PAPERS_002[0]
    assert first.hits == (
        Hit("title:mask*", ("title",)),
        Hit("image", ("title", "abstract")),
        Hit("restoration", ("title", "abstract")),
        Hit("adaptive", ("title", "abstract")),
    )
    assert first.score == 3 + 4 + 4 + 4


def test_match_results_are_plain_frozen_matches() -> None:
    (first, *_) = run("title:mask")
    assert first == Match(PAPERS_002[0], 3, (Hit("title:mask", ("title",)),), 0)
    assert hash(first) == hash(Match(PAPERS_002[0], 3, (Hit("title:mask", ("title",)),), 0))
    assert type(first) is Match and type(first.hits[0]) is Hit
    with pytest.raises(AttributeError):  # immutable (a NamedTuple since the speed fence)
        first.score = 5  # type: ignore[misc]


def test_match_duplicate_entries_count_each_time() -> None:
    assert explain(run("title:mask", "title:mask"))[0] == (0, 6, [("title:mask", ("title",))] * 2)


def test_match_compiled_profile_same_as_profile() -> None:
    profile = Profile("a@example.org", ("mask", "self supervised"), exclude=("video",), max_papers=5)
    assert match_papers(INDEX_002, compile_profile(profile)) == match_papers(INDEX_002, profile)


def test_match_many_entries_use_exact_scores() -> None:
    # more than 63 scoring entries: the engine's slow path
    keywords = ("mask",) * 70
    found = run(*keywords, limit=3)
    assert summary(found) == [(0, 280), (35, 280), (58, 280)]


def test_match_empty_index() -> None:
    assert match_papers(PaperIndex([]), Profile("a@example.org", ("mask",))) == []
    assert keyword_stats(PaperIndex([]), Profile("a@example.org", ("mask",))) == [("mask", 0)]


# -- highlight_spans ------------------------------------------------------------------------


def test_highlight_spans_nfkc_ligature_maps_to_original() -> None:
    text = "Efficient ﬁne-tuning; FINE TUNING and fine-tuned models"
    spans = highlight_spans(text, Profile("a@example.org", ("fine-tuning",)), field="abstract")
    assert [text[s:e] for s, e in spans] == ["ﬁne", "tuning", "FINE", "TUNING", "fine", "tuned"]


def test_highlight_spans_field_restriction_and_require() -> None:
    profile = Profile("a@example.org", ("title:mask", "abstract:image"), require=("restor*",))
    title = PAPERS_002[0].title
    spans = highlight_spans(title, profile, field="title")
    assert [title[s:e] for s, e in spans] == ["Mask", "Restoration"]
    spans = highlight_spans(title, profile, field="abstract")
    assert [title[s:e] for s, e in spans] == ["Image", "Restoration"]


def test_highlight_spans_merges_overlapping_occurrences() -> None:
    text = "self-supervised learning"
    profile = Profile("a@example.org", ("self supervised", "supervised learning", "learn*"))
    assert highlight_spans(text, profile, field="title") == [(0, 4), (5, 15), (16, 24)]
    assert highlight_spans("selfsupervised", profile, field="title") == []


def test_highlight_spans_ignores_exclude_and_rejects_bad_field() -> None:
    profile = Profile("a@example.org", ("mask",), exclude=("image",))
    assert highlight_spans("mask image", profile, field="title") == [(0, 4)]
    with pytest.raises(ValueError, match="field"):
        highlight_spans("mask", profile, field="body")


# -- keyword_stats --------------------------------------------------------------------------


def test_keyword_stats_counts_papers_per_entry() -> None:
    profile = Profile(
        "a@example.org",
        ("mask", "title:mask", "nothing-like-this"),
        require=("self-supervised",),
        exclude=("video",),
    )
    assert keyword_stats(INDEX_002, profile) == [
        ("mask", 12),
        ("title:mask", 5),
        ("nothing-like-this", 0),
        ("self-supervised", 8),
        ("video", 4),
    ]


# -- property-based: the indexed engine agrees with the reference ---------------------------

_TEXTS = [ref_words(f"{p.title}. {p.abstract}") for p in PAPERS_002]
_VOCAB = sorted({w for t in _TEXTS for w in t})
_JOIN = st.sampled_from([" ", "-", "–", "  ", "_", "/"])


@st.composite
def _entry(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["word", "word", "phrase", "prefix", "mixed"]))
    if kind == "word":
        parts = [draw(st.sampled_from(_VOCAB))]
    else:
        text = draw(st.sampled_from(_TEXTS))
        n = draw(st.integers(1, 3))
        i = draw(st.integers(0, max(0, len(text) - n)))
        parts = text[i : i + n]
        if draw(st.booleans()):
            parts = list(reversed(parts))
        if kind in ("prefix", "mixed"):
            k = draw(st.integers(0, len(parts) - 1))
            word = parts[k]
            parts[k] = word[: draw(st.integers(1, len(word)))] + "*"
    out = parts[0]
    for part in parts[1:]:
        out += draw(_JOIN) + part
    out = draw(st.sampled_from([str.lower, str.upper, str.title]))(out)
    return draw(st.sampled_from(["", "", "", "title:", "abstract:", "Title: "])) + out


_ENTRIES = st.lists(_entry(), max_size=4).map(tuple)
_PROFILES = st.builds(
    Profile,
    email=st.just("a@example.org"),
    keywords=_ENTRIES,
    require=st.lists(_entry(), max_size=2).map(tuple),
    exclude=st.lists(_entry(), max_size=2).map(tuple),
    max_papers=st.integers(1, 30),
    stemming=st.booleans(),
)
_IDS = st.lists(st.sampled_from([p.id for p in PAPERS_002]), max_size=10).map(frozenset)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PROFILES, _IDS, st.one_of(st.none(), st.integers(0, 40)))
def test_match_papers_agrees_with_reference(profile: Profile, ids: frozenset[str], limit: int | None) -> None:
    got = match_papers(INDEX_002, profile, exclude_ids=ids, limit=limit)
    assert explain(got) == ref_match(PAPERS_002, profile, ids, limit)
    assert all(m.paper is PAPERS_002[m.position] for m in got)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PROFILES)
def test_keyword_stats_agrees_with_reference(profile: Profile) -> None:
    fields = [(ref_words(p.title), ref_words(p.abstract)) for p in PAPERS_002]
    expected = [
        (e, sum(any(ref_where(e, f, profile.stemming)) for f in fields))
        for e in (*profile.keywords, *profile.require, *profile.exclude)
    ]
    assert keyword_stats(INDEX_002, profile) == expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PROFILES, st.integers(0, len(PAPERS_002) - 1), st.sampled_from(["title", "abstract"]))
def test_highlight_spans_agrees_with_reference(profile: Profile, pos: int, field: str) -> None:
    paper = PAPERS_002[pos]
    text = paper.title if field == "title" else paper.abstract
    assert highlight_spans(text, profile, field=field) == ref_highlight(text, profile, field)


def test_match_answers_go_with_their_index() -> None:
    index = PaperIndex(PAPERS_002)
    assert match_papers(index, Profile("a@example.org", ("image", "title:mask*")))
    alive = weakref.ref(index)
    del index
    gc.collect()
    assert alive() is None  # the engine's per-index answers do not keep an index alive


def test_match_turkish_capital_i_and_hindi_keywords_match_their_words_only() -> None:
    papers = (
        Paper("İstanbul traffic forecasting", "Graphs of roads.", "p1", "t"),
        Paper("Letters", "भ ष and क", "p2", "t"),
        Paper("भाषा मॉडल for Hindi", "A language model.", "p3", "t"),
    )
    index = PaperIndex(papers)
    assert explain(run("istanbul", index=index)) == [(0, 3, [("istanbul", ("title",))])]
    # "भाषा" is one word: two of its letters standing apart are not it.
    assert explain(run("भाषा", index=index)) == [(2, 3, [("भाषा", ("title",))])]
