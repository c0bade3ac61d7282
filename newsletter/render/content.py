"""The view model of an email: pure functions from matches to what templates show.

No I/O, no Jinja, no MIME. Values stay plain text here; escaping is the HTML
template's job (autoescape is forced on for it). Highlighted words come as
:class:`Segment` runs so a template decides how a highlight looks; the text part
gets them as ``*word*`` (:func:`star_marked`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from markupsafe import Markup, escape

from newsletter.base.wording import format_day
from newsletter.digest import Paper, revision_label
from newsletter.matching import CompiledProfile, Hit, Match, highlight_spans
from newsletter.matching.index import text_index
from newsletter.render.columns import URLISH, all_narrow, wrap_wide
from newsletter.render.latex import readable

Span = tuple[int, int]

# gaps between two highlighted words that join them into one highlight
_JOIN = re.compile(r"[\s\-‐‑–—/]{1,2}")
_CUT_TRAIL = " ,;:-–—(/"


class Segment(NamedTuple):
    """A run of text, highlighted (``mark``) or not."""

    text: str
    mark: bool


class HitView(NamedTuple):
    """Why a paper matched: one entry and where it occurred ("title", "abstract", both,
    "author" or "org")."""

    keyword: str
    fields: tuple[str, ...]

    @property
    def where(self) -> str:
        return " + ".join(self.fields)


def revised_note(count: int, revised: int) -> str:
    """What the heading adds after "N new papers matched your keywords" when ``revised``
    of the ``count`` papers are arXiv revisions of older papers (the count keeps SPEC 5's
    words; each such paper is labelled too)."""
    if not revised:
        return ""
    if revised == count:
        return " (a revised version of an older paper)" if count == 1 else " (all revised versions of older papers)"
    if revised == 1:
        return " (1 of them a revised version of an older paper)"
    return f" ({revised} of them revised versions of older papers)"


SHORT_TITLE = 50  # characters of a title in the accessible names of its links


class PaperView(NamedTuple):
    """One paper as the templates show it (a NamedTuple: built ~10 times per email)."""

    id: str
    title: str
    title_segments: tuple[Segment, ...]
    title_marked: str  # with *highlights*, for the text part
    link: str | None
    meta: tuple[str, ...]  # e.g. ("Ana Quiroga, Ben Osei", "TIDE Lab", "15 Sep 2025", "12 upvotes")
    hits: tuple[HitView, ...]
    abstract: str  # cut to abstract_chars, whitespace collapsed
    abstract_segments: tuple[Segment, ...]
    abstract_marked: str
    cut: bool  # the abstract was shortened
    links: tuple[str, ...]  # URLs found in the abstract, less those shown as resources
    score: int
    upvotes: int | None
    resources: tuple[tuple[str, str], ...] = ()  # (label, URL): arXiv, PDF, code, project page
    summary: str | None = None  # the source's AI summary / TL;DR
    snippets: tuple[tuple[Segment, ...], ...] = ()  # evidence of hits after the abstract cut
    snippets_marked: tuple[str, ...] = ()
    feedback: tuple[tuple[str, str], ...] = ()  # issue 17: ("More like this", URL), ("Fewer like this", URL)
    revision: str | None = None  # an arXiv revision of an older paper: "Revised (v3; first announced 4 Oct 2026)"

    @property
    def meta_line(self) -> str:
        return " · ".join(self.meta)

    @property
    def short_title(self) -> str:
        """The title cut at a word to :data:`SHORT_TITLE` characters (``…`` where cut),
        its bidi overrides closed: what names the paper in the accessible name of its
        "PDF", "Code" and "More like this" links (short: a screen reader reads it for
        each of them)."""
        short, cut = cut_at_word(self.title, SHORT_TITLE)
        return short + bidi_tail(short) + ("…" if cut else "")

    @property
    def matched(self) -> str:
        """The matching entries, comma-separated."""
        return ", ".join(h.keyword for h in self.hits)


def collapse(text: str) -> str:
    """Every run of whitespace (line breaks included) as one space, stripped."""
    return " ".join(text.split())


# explicit bidi formatting (UAX #9): embeddings and overrides (LRE, RLE, LRO, RLO) end at
# PDF, isolates (LRI, RLI, FSI) at PDI
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_PDF, _PDI = "\u202c", "\u2069"


def bidi_tail(text: str) -> str:
    """What closes the bidi embeddings, overrides and isolates ``text`` leaves open
    (U+202C and U+2069 as needed; usually ""), so that a right-to-left override in an
    author's name or a title cannot reverse what the email shows after it."""
    embeds = isolates = 0
    for ch in _BIDI.findall(text):
        if ch == _PDF:
            embeds = max(embeds - 1, 0)
        elif ch == _PDI:
            isolates = max(isolates - 1, 0)
        elif ch >= "\u2066":
            isolates += 1
        else:
            embeds += 1
    return _PDF * embeds + _PDI * isolates


def bidi_closed(text: str) -> str:
    """``text`` with :func:`bidi_tail` appended: one field never changes the direction of
    the next."""
    return text + bidi_tail(text) if _BIDI.search(text) else text


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
    return "<mark" + (f' class="{escape(cls)}"' if cls else "") + (f' style="{escape(style)}"' if style else "") + ">"


def highlight(segs: Sequence[Segment], style: str = "", cls: str = "hl") -> Markup:
    """Jinja filter: segments as HTML, highlights in ``<mark class=cls style=style>``;
    every piece escaped (``style`` and ``cls`` too). A ``<mark>``, not a coloured
    ``<span>``: screen readers say "highlighted", and Windows' high-contrast mode
    keeps a mark's own colours where it drops a span's background."""
    tag = _open_tag(style, cls)
    return Markup("".join(f"{tag}{escape(s.text)}</mark>" if s.mark else str(escape(s.text)) for s in segs))


def star_marked(segs: Sequence[Segment]) -> str:
    """Highlights as ``*word*`` for the plain-text part."""
    return "".join(f"*{s.text}*" if s.mark else s.text for s in segs)


FIRST_AUTHORS = 3


def authors_text(names: Sequence[str], count: int | None, also: Sequence[str] = ()) -> str | None:
    """``Ana Quiroga, Ben Osei and 5 more`` (first authors' names), else ``7 authors``.
    ``also``: names to show beyond the first ones (a matched author)."""
    total = max(count or 0, len(names))
    if names:
        shown = [bidi_closed(readable(n)) for n in names[:FIRST_AUTHORS]]
        shown += [bidi_closed(n) for n in also if bidi_closed(n) not in shown]
        more = total - len(shown)
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    if count is not None:
        return f"{count} author{'s' if count != 1 else ''}"
    return None


def meta_of(paper: Paper, also: Sequence[str] = ()) -> tuple[str, ...]:
    """First authors' names (or their count), organisation, publication date, upvotes:
    whichever are known. Comments are never shown as votes."""
    parts: list[str] = []
    who = authors_text(paper.author_names, paper.authors, also)
    if who:
        parts.append(who)
    if paper.organization:
        parts.append(bidi_closed(readable(paper.organization)))
    if paper.journal:  # a preprint and its published version are one paper: say where (SPEC 2.5)
        journal = bidi_closed(readable(paper.journal))
        parts.append(f"published in {journal}" if paper.published_doi else journal)
    if paper.published is not None:
        parts.append(format_day(paper.published))
    if paper.upvotes:
        parts.append(f"{paper.upvotes} upvote{'s' if paper.upvotes != 1 else ''}")
    return tuple(parts)


def stars_text(stars: int) -> str:
    """``3.3k``, ``950``."""
    if stars >= 1000:
        return f"{stars / 1000:.1f}".rstrip("0").rstrip(".") + "k"
    return str(stars)


def resources_of(paper: Paper, usable: Callable[[str | None], bool]) -> tuple[tuple[str, str], ...]:
    """Links to the paper's arXiv page, PDF, code (with stars) and project page."""
    out: list[tuple[str, str]] = []
    if paper.arxiv_url and usable(paper.arxiv_url):
        out.append(("arXiv", paper.arxiv_url))
    pdf = paper.pdf_url or (f"https://arxiv.org/pdf/{paper.arxiv_id}" if paper.arxiv_id else None)
    if pdf and usable(pdf):
        out.append(("PDF", pdf))
    if paper.code_url and usable(paper.code_url):
        stars = f" ★ {stars_text(paper.code_stars)}" if paper.code_stars else ""
        out.append((f"Code{stars}", paper.code_url))
    if paper.project_url and usable(paper.project_url):
        out.append(("Project page", paper.project_url))
    if paper.published_doi and usable(published := f"https://doi.org/{paper.published_doi}"):
        out.append(("Published version", published))
    return tuple(out)


class PaperBase(NamedTuple):
    """What is the same for every subscriber: computed once per paper and run (TeX
    made readable here: :mod:`newsletter.render.latex`)."""

    title: str  # whitespace collapsed
    abstract: str  # whitespace collapsed, not cut
    meta: tuple[str, ...]
    link: str | None
    resources: tuple[tuple[str, str], ...] = ()
    summary: str | None = None
    links: tuple[str, ...] = ()  # abstract links not among the resources
    revision: str | None = None  # revision_label: an arXiv revision of an older paper, said so


def _any_url(url: str | None) -> bool:
    return bool(url)


def paper_base(paper: Paper, link: str | None, usable: Callable[[str | None], bool] = _any_url) -> PaperBase:
    resources = tuple(r for r in resources_of(paper, usable) if r[1] != link)  # the title is that link
    shown = {u for _, u in resources} | {link}
    # abstract links of a ledger record written before its parser dropped other schemes:
    # only http(s) ever reaches an href
    links = tuple(u for u in paper.links if usable(u) and u not in shown and u.rstrip("/") not in shown)
    summary = bidi_closed(collapse(readable(paper.summary))) if paper.summary else None
    title, abstract = bidi_closed(collapse(readable(paper.title))), collapse(readable(paper.abstract))
    return PaperBase(title, abstract, meta_of(paper), link, resources, summary, links, revision_label(paper))


SNIPPET_CONTEXT = 60  # characters of context on each side of a hit after the cut
MAX_SNIPPETS = 3


def _entries(profile: CompiledProfile, keyword: str) -> list[Any]:
    return [e for e in (*profile.keywords, *profile.require) if e.raw == keyword]


def _first_after(ti: Any, entry: Any, shown: int) -> Span | None:
    """The span of the first occurrence of ``entry`` that is not wholly within the first
    ``shown`` characters, or None when one is (the hit is visible) or none exists."""
    tokens = ti.tokens
    width = len(entry.terms)
    for word in ti.starts(entry):
        span = (tokens[word][1], tokens[min(word + width, len(tokens)) - 1][2])
        if span[1] <= shown:
            return None
        return span
    return None


def snippet_windows(full: str, shown: int, hits: Sequence[Hit], profile: CompiledProfile) -> list[Span]:
    """For every hit seen only in the abstract and only after its first ``shown``
    characters: a window of ``full`` around its first occurrence (merged when they
    overlap), so that each keyword chip has visible evidence (SPEC 5)."""
    ti = text_index(full)
    windows: list[Span] = []
    for hit in hits:
        if hit.fields != ("abstract",):
            continue
        spans = [_first_after(ti, entry, shown) for entry in _entries(profile, hit.keyword)]
        if not spans or None in spans:
            continue
        start, end = min(s for s, _ in spans if s is not None), max(e for _, e in spans if e is not None)  # type: ignore[misc]
        windows.append(_window(full, start, end))
    return _merged(windows)[:MAX_SNIPPETS]


def _window(full: str, start: int, end: int) -> Span:
    """``SNIPPET_CONTEXT`` characters around ``start:end``, cut at word boundaries."""
    lo = max(0, start - SNIPPET_CONTEXT)
    hi = min(len(full), end + SNIPPET_CONTEXT)
    if lo > 0:
        space = full.find(" ", lo, start)
        lo = space + 1 if space >= 0 else start
    if hi < len(full):
        space = full.rfind(" ", end, hi)
        hi = space if space >= 0 else end
    return lo, hi


def _merged(windows: list[Span]) -> list[Span]:
    """Overlapping windows as one, in text order."""
    merged: list[Span] = []
    for lo, hi in sorted(windows):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def snippets_of(full: str, windows: Sequence[Span], spans: Sequence[Span]) -> tuple[tuple[Segment, ...], ...]:
    """Each window of ``full`` as segments, highlights shifted into it, ``…`` around."""
    out: list[tuple[Segment, ...]] = []
    ellipsis = Segment("…", False)
    for lo, hi in windows:
        part = full[lo:hi]
        inner = [(max(s - lo, 0), min(e - lo, len(part))) for s, e in spans if e > lo and s < hi]
        segs = (*segments(part, join_spans(part, inner)), *_tail_segment(part))
        out.append((ellipsis, *segs, ellipsis) if hi < len(full) else (ellipsis, *segs))
    return tuple(out)


def _tail_segment(text: str) -> tuple[Segment, ...]:
    """The :func:`bidi_tail` of ``text`` as a plain segment, or nothing."""
    tail = bidi_tail(text) if _BIDI.search(text) else ""
    return (Segment(tail, False),) if tail else ()


def matched_authors(paper: Paper, hits: Sequence[Hit], profile: CompiledProfile) -> tuple[str, ...]:
    """The names that ``author:`` hits matched, beyond the first authors shown."""
    found: list[str] = []
    for hit in hits:
        if hit.fields != ("author",):
            continue
        for entry in _entries(profile, hit.keyword):
            for name in paper.author_names[FIRST_AUTHORS:]:
                if name not in found and text_index(name).starts(entry):
                    found.append(name)
    return tuple(found)


def paper_view(match: Match, profile: CompiledProfile, *, abstract_chars: int, base: PaperBase) -> PaperView:
    """The view of one matched paper for a subscriber's (compiled) profile."""
    paper = match.paper
    title = base.title
    title_segs = segments(title, join_spans(title, highlight_spans(title, profile, field="title")))
    full = base.abstract
    abstract, cut = cut_at_word(full, abstract_chars)
    spans = highlight_spans(full, profile, field="abstract") if full else []
    abstract_segs = segments(abstract, join_spans(abstract, spans))
    if tail := _tail_segment(abstract):  # the cut may have dropped what closed an override
        abstract, abstract_segs = abstract + tail[0].text, (*abstract_segs, *tail)
    snippets: tuple[tuple[Segment, ...], ...] = ()
    if cut and spans and spans[-1][1] > len(abstract):
        snippets = snippets_of(full, snippet_windows(full, len(abstract), match.hits, profile), spans)
    meta = base.meta
    if paper.author_names[FIRST_AUTHORS:] and any(h.fields == ("author",) for h in match.hits):
        also = matched_authors(paper, match.hits, profile)
        if also:
            meta = meta_of(paper, also)
    return PaperView(
        id=paper.id,
        title=title,
        title_segments=title_segs,
        title_marked=star_marked(title_segs),
        link=base.link,
        meta=meta,
        hits=tuple(hit_view(h) for h in match.hits),
        abstract=abstract,
        abstract_segments=abstract_segs,
        abstract_marked=star_marked(abstract_segs),
        cut=cut,
        links=base.links,
        score=match.score,
        upvotes=paper.upvotes,
        resources=base.resources,
        summary=base.summary,
        snippets=snippets,
        snippets_marked=tuple(star_marked(sn) for sn in snippets),
        revision=base.revision,
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


# punctuation after a space ("about .", "x ;"): joined to the word before it, so that a
# wrapped line never starts with a lone "." (an orphan)
_LOOSE_PUNCT = re.compile(r"(?<=\S)\s+(?=[.,;:!?…]+(?:\s|$))")


@lru_cache(maxsize=64)
def _long_word(width: int) -> re.Pattern[str]:
    return re.compile(rf"\S{{{width + 1},}}")


def _split_long_words(text: str, width: int) -> str:
    """Words longer than ``width`` cut into pieces of ``width`` (a URL stays whole)."""

    def cut(m: re.Match[str]) -> str:
        word = m.group(0)
        if URLISH.match(word):
            return word
        return " ".join(word[i : i + width] for i in range(0, len(word), width))

    return _long_word(width).sub(cut, text)


@lru_cache(maxsize=64)
def _line(width: int) -> re.Pattern[str]:
    """One line of at most ``width`` characters ending at a word end, else one long word."""
    if width < 2:
        return re.compile(r"(\S+)(?:\s+|$)")
    return re.compile(rf"(\S(?:.{{0,{width - 2}}}\S)?|\S+)(?:\s+|$)")


def wrap(text: str, width: int = 78, indent: str = "", first: str | None = None) -> str:
    """Greedy word wrap for the text part: lines at most ``width`` display columns.

    ``first`` prefixes the first line (default ``indent``), ``indent`` the others.
    A URL longer than the line stands alone on its line: the one exception to the
    width (a link cut in two no longer works); any other longer word is cut. Line
    breaks in ``text`` start new lines. Punctuation never starts a line on its own
    (a space before it is dropped). One regular expression per line instead of
    :mod:`textwrap`'s Python loop: this runs ~50 times per email. A paragraph with
    characters that are not one column wide (CJK, emoji, combining marks) is wrapped by
    :func:`~newsletter.render.columns.wrap_wide`, counting columns (it may also break
    between two wide characters).
    """
    lead = indent if first is None else first
    out: list[str] = []
    rest_re = _line(width - len(indent))
    room = max(width - max(len(lead), len(indent)), 1)
    for para in text.split("\n"):
        para = _LOOSE_PUNCT.sub("", para.strip())
        if not para:
            out.append(lead.rstrip())
        elif not all_narrow(para):
            out.extend(wrap_wide(para, width, lead, indent))
        else:
            if len(para) > room:
                para = _split_long_words(para, room)
            m = _line(width - len(lead)).match(para)
            assert m is not None
            out.append(lead + m.group(1))
            out.extend(indent + line for line in rest_re.findall(para, m.end()))
        lead = indent
    return "\n".join(out)
