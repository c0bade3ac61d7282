"""The per-run memos of rendering (newsletter/render/memo.py) against the plain way: a
renderer that keeps paper views, macro outputs and wrapped lines across emails gives
the very bytes of one that makes every email from scratch."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2.utils import Namespace

from newsletter.config import Config, Subscriber, load_config
from newsletter.digest import Paper
from newsletter.digest.scan import load_digests
from newsletter.matching import Hit, Match
from newsletter.render import Renderer
from newsletter.render.memo import MemoMacro, MemoTemplate, ViewMemo, memo_filter, pure_template
from newsletter.render.templates import make_environment

ROOT = Path(__file__).resolve().parent.parent
WHEN = datetime(2025, 9, 15, 7, 30, tzinfo=UTC)


def _config(directory: Path, *, feedback: bool) -> Config:
    data = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
    data["digests"]["directory"] = str(ROOT / "seeds")
    data["state"] = str(directory / "state.sqlite3")
    if not feedback:
        data.pop("feedback", None)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_config(path)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both configurations (with and without feedback links), the seed papers, and one
    memoizing renderer each, shared by every example (so memos fill up across them)."""
    plain = _config(tmp_path_factory.mktemp("plain"), feedback=False)
    linked = _config(tmp_path_factory.mktemp("linked"), feedback=True)
    papers = list(load_digests(sorted((ROOT / "seeds").glob("*.txt"))).papers)
    return {
        "configs": (plain, linked),
        "papers": papers,
        "memo": (Renderer(plain, secret="s"), Renderer(linked, secret="s")),
    }


_SERIAL = itertools.count()  # addresses are unique in a run (the renderer keys profiles by address)
_words = st.sampled_from(
    ["diffusion", "model*", "video", "title:agent*", "reasoning", "language models", "contrastive", "robot*"]
)


@st.composite
def _emails(draw: st.DrawFn, papers: list[Paper]) -> tuple[dict[str, Any], list[tuple[int, int, tuple[Hit, ...]]]]:
    keywords = tuple(draw(st.lists(_words, min_size=1, max_size=4, unique=True)))
    subscriber = {
        "email": f"{draw(st.sampled_from(['ana', 'Ben.Osei']))}.{next(_SERIAL)}@example.org",  # one profile each
        "name": draw(st.sampled_from([None, "Ana", "Ben Osei", 'Zoë "Z" Ng'])),
        "keywords": keywords,
        "require": tuple(draw(st.lists(st.sampled_from(["learning", "data"]), max_size=1))),
        "exclude": tuple(draw(st.lists(st.sampled_from(["survey"]), max_size=1))),
        "abstract_chars": draw(st.sampled_from([0, 40, 120, 500, 5000])),
        "stemming": draw(st.booleans()),
    }
    places = draw(st.lists(st.integers(0, len(papers) - 1), max_size=6, unique=True))
    chosen = []
    for place in places:
        hits = tuple(
            Hit(k, draw(st.sampled_from([("title",), ("abstract",), ("title", "abstract")])))
            for k in draw(st.lists(st.sampled_from(keywords), min_size=1, max_size=2, unique=True))
        )
        chosen.append((place, draw(st.integers(1, 12)), hits))
    return subscriber, chosen


def _render(renderer: Renderer, subscriber: Subscriber, matches: list[Match]) -> tuple[bytes, str, str]:
    email = renderer.render(subscriber, matches, message_id=renderer.message_id(subscriber, matches), date=WHEN)
    return email.as_bytes(), email.html, email.text


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_memo_renders_the_bytes_of_rendering_from_scratch(world: dict[str, Any], data: st.DataObject) -> None:
    papers = world["papers"]
    linked = data.draw(st.booleans())
    config = world["configs"][linked]
    batch = data.draw(st.lists(_emails(papers), min_size=1, max_size=4))
    for fields, chosen in batch:
        subscriber = dataclasses.replace(config.subscribers[0], **fields)
        matches = [Match(papers[p], score, hits, i) for i, (p, score, hits) in enumerate(chosen)]
        scratch = Renderer(config, secret="s", memo=False)
        assert _render(world["memo"][linked], subscriber, matches) == _render(scratch, subscriber, matches)


def test_memo_renders_the_example_subscribers_as_from_scratch(world: dict[str, Any]) -> None:
    """Every example subscriber twice through one memoizing renderer (the second time
    from the memos alone) and once from scratch: the same bytes."""
    config = world["configs"][1]
    renderer = Renderer(config, secret="s")
    from newsletter.matching.matcher import plan

    jobs = list(plan(config.subscribers, world["papers"]))
    assert any(matches for _, matches in jobs)
    first = [_render(renderer, sub, list(m)) for sub, m in jobs]
    again = [_render(renderer, sub, list(m)) for sub, m in jobs]
    scratch = [_render(Renderer(config, secret="s", memo=False), sub, list(m)) for sub, m in jobs]
    assert first == again == scratch


def test_view_memo_keeps_one_view_per_profile_terms_and_is_bounded(world: dict[str, Any]) -> None:
    config = world["configs"][0]
    renderer = Renderer(config, secret="s")
    sub = config.subscribers[0]
    matches = [Match(p, 1, (Hit(sub.keywords[0], ("title",)),), i) for i, p in enumerate(world["papers"][:3])]
    memo = ViewMemo(limit=4)
    profile = renderer.profile(sub)
    first = memo.views(matches, profile, abstract_chars=100, base_of=renderer.paper_base)
    again = memo.views(matches, profile, abstract_chars=100, base_of=renderer.paper_base)
    assert all(a is b for a, b in zip(first, again, strict=True))  # from the memo
    other = memo.views(matches, profile, abstract_chars=50, base_of=renderer.paper_base)  # another cut
    assert [v.abstract for v in other] != [v.abstract for v in first] or all(len(v.abstract) <= 50 for v in other)
    assert len(memo._views) <= 4  # cleared when full, never past its limit


def _module(env: jinja2.Environment, name: str) -> Any:
    return env.get_template(name).module


def _env(tmp_path: Path, files: dict[str, str]) -> jinja2.Environment:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return make_environment(tmp_path, memo=True)


def test_memo_template_memoizes_macros_of_templates_imported_without_context(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        {
            "_m.j2": "{% macro show(p) %}<b>{{ p[0] }}</b>{% endmacro %}",
            "page.j2": "{% from '_m.j2' import show %}{% for p in items %}{{ show(p) }}{% endfor %}",
        },
    )
    assert env.template_class is MemoTemplate
    page = env.get_template("page.j2")
    assert page.render(items=[("a",), ("<",), ("a",)]) == "<b>a</b><b>&lt;</b><b>a</b>"
    module = _module(env, "_m.j2")
    assert isinstance(module.show, MemoMacro)
    assert len(module.show._out) == 2  # ("a",) once, ("<",) once


def test_memo_template_leaves_impure_and_context_bound_macros_alone(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        {
            "_rand.j2": "{% macro pick(xs) %}{{ xs | random }}{% endmacro %}",
            "_ctx.j2": "{% macro who(p) %}{{ p }} for {{ name }}{% endmacro %}",
            "page.j2": "{% from '_ctx.j2' import who with context %}{{ who('x') }}",
        },
    )
    assert not isinstance(_module(env, "_rand.j2").pick, MemoMacro)
    page = env.get_template("page.j2")
    assert page.render(name="Ana") == "x for Ana"
    assert page.render(name="Ben") == "x for Ben"  # imported with context: never from a memo
    assert not pure_template("{{ lipsum() }}", env)
    assert pure_template("{{ x | wrap(10) }}", env)


def test_memo_macro_calls_through_for_keywords_and_unhashable_or_mutable_arguments(tmp_path: Path) -> None:
    env = _env(tmp_path, {"_m.j2": "{% macro show(p, sep='-') %}{{ p | join(sep) }}{% endmacro %}"})
    show = _module(env, "_m.j2").show
    assert isinstance(show, MemoMacro)
    items = ["a", "b"]
    assert show(items) == "a-b"
    items.append("c")
    assert show(items) == "a-b-c"  # a list is no key
    assert show(("a", "b"), sep="+") == "a+b"  # keywords: no key either
    ns = Namespace()  # hashable by identity, not a value: never kept
    assert show((ns,)) == show((ns,)) and not show._out


def test_memo_filter_equals_the_filter_and_calls_through_unhashable() -> None:
    calls: list[Any] = []

    def twice(x: Any) -> str:
        calls.append(x)
        return str(x) * 2

    memo = memo_filter(twice)
    assert memo("ab") == memo("ab") == "abab" and calls == ["ab"]
    assert memo(["x"]) == "['x']['x']"  # unhashable: the plain call
    assert memo(1) == "11" and memo(True) == "TrueTrue"  # typed: 1 and True are two keys
