"""The view model of an email: pure functions from matches to what templates show.

No I/O, no Jinja, no MIME. Values stay plain text here; escaping is the HTML
template's job (autoescape is forced on for it). Highlighted words come as
:class:`Segment` runs so a template decides how a highlight looks; the text part
gets them as ``*word*`` (:func:`star_marked`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from functools import lru_cache
from typing import NamedTuple

from markupsafe import Markup, escape

from newsletter.digest import Paper
from newsletter.matching import CompiledProfile, Hit, Match, highlight_spans

Span = tuple[int, int]

# gaps between two highlighted words that join them into one highlight
_JOIN = re.compile(r"[\s\-‐‑–—/]{1,2}")
_CUT_TRAIL = " ,;:-–—(/"


class Segment(NamedTuple):
    """A run of text, highlighted (``mark``) or not."""

    text: str
    mark: bool


class HitView(NamedTuple):
    """Why a paper matched: one entry and where it occurred ("title", "abstract" or both)."""

    keyword: str
    fields: tuple[str, ...]

    @property
    def where(self) -> str:
        return " + ".join(self.fields)


class PaperView(NamedTuple):
    """One paper as the templates show it (a NamedTuple: built ~10 times per email)."""

    id: str
    title: str
    title_segments: tuple[Segment, ...]
    title_marked: str  # with *highlights*, for the text part
    link: str | None
    meta: tuple[str, ...]  # e.g. ("7 authors", "15 Sep 2025", "12 votes")
    hits: tuple[HitView, ...]
    abstract: str  # cut to abstract_chars, whitespace collapsed
    abstract_segments: tuple[Segment, ...]
    abstract_marked: str
    cut: bool  # the abstract was shortened
    links: tuple[str, ...]
    score: int
    upvotes: int | None

    @property
    def meta_line(self) -> str:
        return " · ".join(self.meta)

    @property
    def matched(self) -> str:
        """The matching entries, comma-separated."""
        return ", ".join(h.keyword for h in self.hits)


def collapse(text: str) -> str:
    """Every run of whitespace (line breaks included) as one space, stripped."""
    return " ".join(text.split())


def cut_at_word(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut at a word boundary to at most ``limit`` characters; (text, was_cut).

    A word longer than ``limit`` on its own is cut hard. ``limit`` 0 means no text.
    """
    if len(text) <= limit:
        return text, False
    if limit <= 0:
        return "", bool(text)
    head = text[: limit + 1]
    space = head.rfind(" ")
    cut = head[:space] if space > 0 else text[:limit]
    return cut.rstrip(_CUT_TRAIL), True


def join_spans(text: str, spans: Sequence[Span]) -> list[Span]:
    """Spans clipped to ``text``; neighbours separated only by a space or hyphen joined,
    so ``self-supervised`` is one highlight, not two."""
    out: list[Span] = []
    end_of_text = len(text)
    for s, e in spans:
        if s >= end_of_text:
            break
        e = min(e, end_of_text)
        if out and _JOIN.fullmatch(text, out[-1][1], s):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def segments(text: str, spans: Sequence[Span]) -> tuple[Segment, ...]:
    """``text`` split into plain and highlighted runs (``spans`` sorted, disjoint)."""
    out: list[Segment] = []
    pos = 0
    for s, e in spans:
        if s > pos:
            out.append(Segment(text[pos:s], False))
        out.append(Segment(text[s:e], True))
        pos = e
    if pos < len(text):
        out.append(Segment(text[pos:], False))
    return tuple(out)


@lru_cache(maxsize=64)
def _open_tag(style: str, cls: str) -> str:
    return "<span" + (f' class="{escape(cls)}"' if cls else "") + (f' style="{escape(style)}"' if style else "") + ">"


def highlight(segs: Sequence[Segment], style: str = "", cls: str = "hl") -> Markup:
    """Jinja filter: segments as HTML, highlights in ``<span class=cls style=style>``;
    every piece escaped (``style`` and ``cls`` too)."""
    tag = _open_tag(style, cls)
    return Markup("".join(f"{tag}{escape(s.text)}</span>" if s.mark else str(escape(s.text)) for s in segs))


def star_marked(segs: Sequence[Segment]) -> str:
    """Highlights as ``*word*`` for the plain-text part."""
    return "".join(f"*{s.text}*" if s.mark else s.text for s in segs)


def meta_of(paper: Paper) -> tuple[str, ...]:
    """Authors or organisation, publication date, votes: whichever are known."""
    parts: list[str] = []
    if paper.organization:
        parts.append(paper.organization)
    elif paper.authors is not None:
        parts.append(f"{paper.authors} author{'s' if paper.authors != 1 else ''}")
    if paper.published is not None:
        parts.append(format_day(paper.published))
    if paper.upvotes:
        parts.append(f"{paper.upvotes} vote{'s' if paper.upvotes != 1 else ''}")
    return tuple(parts)


def format_day(day: date) -> str:
    """``15 Sep 2025``: unambiguous in every locale."""
    return f"{day.day} {day.strftime('%b')} {day.year}"


class PaperBase(NamedTuple):
    """What is the same for every subscriber: computed once per paper and run."""

    title: str  # whitespace collapsed
    abstract: str  # whitespace collapsed, not cut
    meta: tuple[str, ...]
    link: str | None


def paper_base(paper: Paper, link: str | None) -> PaperBase:
    return PaperBase(collapse(paper.title), collapse(paper.abstract), meta_of(paper), link)


def paper_view(match: Match, profile: CompiledProfile, *, abstract_chars: int, base: PaperBase) -> PaperView:
    """The view of one matched paper for a subscriber's (compiled) profile."""
    paper = match.paper
    title = base.title
    title_segs = segments(title, join_spans(title, highlight_spans(title, profile, field="title")))
    full = base.abstract
    abstract, cut = cut_at_word(full, abstract_chars)
    spans = highlight_spans(full, profile, field="abstract") if abstract else []
    abstract_segs = segments(abstract, join_spans(abstract, spans))
    return PaperView(
        id=paper.id,
        title=title,
        title_segments=title_segs,
        title_marked=star_marked(title_segs),
        link=base.link,
        meta=base.meta,
        hits=tuple(hit_view(h) for h in match.hits),
        abstract=abstract,
        abstract_segments=abstract_segs,
        abstract_marked=star_marked(abstract_segs),
        cut=cut,
        links=paper.links,
        score=match.score,
        upvotes=paper.upvotes,
    )


_HIT_VIEWS: dict[Hit, HitView] = {}


def hit_view(hit: Hit) -> HitView:
    """The view of a hit (hits are immutable and shared: their views are too)."""
    view = _HIT_VIEWS.get(hit)
    if view is None:
        if len(_HIT_VIEWS) > 4096:
            _HIT_VIEWS.clear()
        view = _HIT_VIEWS[hit] = HitView(hit.keyword, hit.fields)
    return view


def paper_views(
    matches: Sequence[Match],
    profile: CompiledProfile,
    *,
    abstract_chars: int,
    base_of: Callable[[Paper], PaperBase],
) -> list[PaperView]:
    """Views of every match, in delivery order."""
    return [paper_view(m, profile, abstract_chars=abstract_chars, base=base_of(m.paper)) for m in matches]


@lru_cache(maxsize=64)
def _line(width: int) -> re.Pattern[str]:
    """One line of at most ``width`` characters ending at a word end, else one long word."""
    if width < 2:
        return re.compile(r"(\S+)(?:\s+|$)")
    return re.compile(rf"(\S(?:.{{0,{width - 2}}}\S)?|\S+)(?:\s+|$)")


def wrap(text: str, width: int = 78, indent: str = "", first: str | None = None) -> str:
    """Greedy word wrap for the text part: lines at most ``width`` characters.

    ``first`` prefixes the first line (default ``indent``), ``indent`` the others.
    A single word longer than the line (a URL) stands alone on its line. Line
    breaks in ``text`` start new lines. One regular expression per line instead
    of :mod:`textwrap`'s Python loop: this runs ~50 times per email.
    """
    lead = indent if first is None else first
    out: list[str] = []
    rest_re = _line(width - len(indent))
    for para in text.split("\n"):
        para = para.strip()
        if not para:
            out.append(lead.rstrip())
        else:
            m = _line(width - len(lead)).match(para)
            assert m is not None
            out.append(lead + m.group(1))
            out.extend(indent + line for line in rest_re.findall(para, m.end()))
        lead = indent
    return "\n".join(out)
