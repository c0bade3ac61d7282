"""Per-run memos of what is the same in many emails of a pass (the render speed fence).

A pass renders thousands of emails from a few dozen papers, and subscribers with
the same keywords see the same paper the same way. Three memos take that repeated
work off the per-email path; each gives exactly what the plain call gives
(``tests/test_render_memo.py`` holds them to it, with the memos on and off):

* :class:`ViewMemo`: a paper's :class:`~newsletter.render.content.PaperView` per
  (paper, score, hits, the profile's keywords, require and stemming, ``abstract_chars``):
  everything :func:`~newsletter.render.content.paper_view` reads (the address and the
  excluded words are not among them: a view highlights and explains what matched);
* :class:`MemoTemplate`: a macro of a template imported without context (``{% from
  '_paper.html.j2' import paper %}``) answers a call with the same arguments once
  seen with the same text: such a macro sees only its arguments, its template's own
  names and the environment's filters, all fixed for the run. A template that uses
  an impure builtin (the ``random`` filter, ``lipsum``) is never memoized, nor a call
  with ``caller``, keyword arguments or an argument that is not a value (str,
  numbers, None, Markup, tuples of these: the view records are NamedTuples);
* :func:`memo_filter`: a pure filter (``wrap``) keeps its recent answers.

Each memo is bounded (:data:`LIMIT` entries, then cleared), so a long-running
daemon or a pass over many distinct profiles keeps its memory (peak RSS of ``send``
under 200 MB, render workers included).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import jinja2
from jinja2 import nodes
from jinja2.runtime import Macro

if TYPE_CHECKING:  # the view model is imported when views are made, not when templates are checked
    from newsletter.digest import Paper
    from newsletter.matching import CompiledProfile, Match
    from newsletter.render.content import PaperBase, PaperView

LIMIT = 4_000  # entries of each memo (a paper's HTML is ~3 KB: ~12 MB at most), then cleared
_VALUES = (str, int, float, type(None))  # bool is an int; Markup a str
_IMPURE_FILTERS = frozenset({"random"})
_IMPURE_CALLS = frozenset({"lipsum"})

F = TypeVar("F", bound=Callable[..., Any])


class ViewMemo:
    """Paper views, each built once per (paper, score, hits, keywords, require, stemming, cut)."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._views: dict[tuple[Any, ...], PaperView] = {}
        self._limit = limit

    def views(
        self,
        matches: Sequence[Match],
        profile: CompiledProfile,
        *,
        abstract_chars: int,
        base_of: Callable[[Paper], PaperBase],
    ) -> list[PaperView]:
        """What :func:`~newsletter.render.content.paper_views` gives for these arguments."""
        from newsletter.render.content import paper_view

        p = profile.profile
        terms = (p.keywords, p.require, p.stemming, abstract_chars)  # all a view reads (not ``exclude``)
        out = []
        for m in matches:
            key = (m.paper, m.score, m.hits, terms)
            view = self._views.get(key)
            if view is None:
                if len(self._views) >= self._limit:
                    self._views.clear()
                view = self._views[key] = paper_view(m, profile, abstract_chars=abstract_chars, base=base_of(m.paper))
            out.append(view)
        return out


def _is_value(obj: object) -> bool:
    """str, numbers, None, Markup, or tuples (NamedTuples too) of these."""
    if isinstance(obj, tuple):
        return all(_is_value(item) for item in obj)
    return isinstance(obj, _VALUES)


class MemoMacro:
    """A macro that keeps its output per (argument types, arguments)."""

    def __init__(self, macro: Macro, limit: int = LIMIT) -> None:
        self.macro = macro
        self._out: dict[tuple[Any, ...], Any] = {}
        self._limit = limit
        # what Jinja's code generator and Context.call look up on a macro
        self.name = macro.name
        self.arguments = macro.arguments
        self.catch_kwargs = macro.catch_kwargs
        self.catch_varargs = macro.catch_varargs
        self.caller = macro.caller

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            return self.macro(*args, **kwargs)
        key = (*map(type, args), *args)
        try:
            return self._out[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable argument
            return self.macro(*args)
        out = self.macro(*args)
        if _is_value(args):
            if len(self._out) >= self._limit:
                self._out.clear()
            self._out[key] = out
        return out

    def __repr__(self) -> str:
        return f"<MemoMacro {self.name!r}>"


def pure_template(source: str, env: jinja2.Environment) -> bool:
    """No ``random`` filter and no ``lipsum()`` call in ``source``."""
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError:
        return False
    if any(f.name in _IMPURE_FILTERS for f in tree.find_all(nodes.Filter)):
        return False
    return not any(isinstance(c.node, nodes.Name) and c.node.name in _IMPURE_CALLS for c in tree.find_all(nodes.Call))


class MemoTemplate(jinja2.Template):
    """A template whose modules (what ``{% from ... import ... %}`` reads) have their
    macros memoized (:class:`MemoMacro`) when the template is pure and the module is
    the one shared by every import without context."""

    def make_module(
        self,
        vars: dict[str, Any] | None = None,
        shared: bool = False,
        locals: Mapping[str, Any] | None = None,
    ) -> jinja2.environment.TemplateModule:
        module = super().make_module(vars, shared, locals)
        if vars or shared or locals or not self._memoizable():
            return module  # imported with context: it sees the caller's names
        for name, value in list(module.__dict__.items()):
            if isinstance(value, Macro) and not value.caller:
                setattr(module, name, MemoMacro(value))
        return module

    def _memoizable(self) -> bool:
        loader = self.environment.loader
        if self.name is None or loader is None:
            return False
        try:
            source = loader.get_source(self.environment, self.name)[0]
        except jinja2.TemplateNotFound:
            return False
        return pure_template(source, self.environment)


def memo_filter(fn: F, maxsize: int = 4096) -> F:
    """``fn`` (a pure filter of hashable arguments) with an LRU memo of ``maxsize``."""
    cached = functools.lru_cache(maxsize=maxsize, typed=True)(fn)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return cached(*args, **kwargs)
        except TypeError:  # an unhashable argument
            return fn(*args, **kwargs)

    return call  # type: ignore[return-value]
