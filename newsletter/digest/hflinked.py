"""Linked and Markdown dumps of a listing page as an item stream (SPEC 2.1): every dump
that is not a plain copy. Markdown (``### [Title](https://huggingface.co/papers/<id>)``,
crawler Markdown with the abstract wrapped in the paper link, paperswithcode-style lists
of heading titles without links), text-browser dumps with reference links
(``### [Title][32]``) and text with a URL line after each element.

One pass over the lines. A line is, in this order: an HTML anchor or tag (skipped), a
line of prose (the fast path), one link (:func:`_link_line`: what the link is, from its
label and its target), a line with links inside (:func:`_inline_line`), a bare URL
(:func:`_url_line`: it tells what the line before it was), a heading without a link
(:func:`_heading`), an element line (:data:`_ELEMENT`: counts, ``Submitted by``,
``GitHub 3.29k``, ``- 9 authors``, ``Published on``, dates), chrome, else text.

Generic rules, whatever tool saved the page:

* A link, avatar, count or heading is an element, never text: its words never reach a
  title or an abstract. A label is read without its images (``[- ![](a.png)\\\\ - 3
  authors](url)`` is 3 authors; ``[![](t.png)](url)`` and ``[[Image: no alt]](url)`` are
  thumbnails), and a number as a label is a count (upvotes, or comments when the link
  goes to the discussion, ``#community``).
* A paper link whose label runs over several lines or past :data:`TITLE_MAX`, or that
  repeats the paper of the title before it in a sentence, is the abstract.
* A heading without a link is a title only where titles are such headings: in a dump
  whose headings never link to a paper (the level most such headings have), or right
  after a thumbnail or upvote link waiting for its title. Any other heading
  (``## Extracted Text``, ``### Measurement``) is a section: the card before it takes
  no more text.
* The paper ids the dump links to, outside running text, are counted
  (``Reading.linked``): links as lines or elements, URL lines, the references list.
  A link inside a sentence of an abstract cites another paper and is not counted.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from newsletter.digest.hfshared import (
    CHROME_LINES,
    HEADER_LINES,
    NUMBER,
    NUMBER_RE,
    SUMMARY_LABELS,
    TITLE_MAX,
    Item,
    number,
    organization,
    paper_ref,
    parse_date_line,
)
from newsletter.digest.mdlinks import (
    IMAGE,
    Link,
    depth_after,
    inline_links,
    join_link,
    label_text,
    unescape,
    whole_link,
)
from newsletter.digest.mdlinks import without_links as _without
from newsletter.errors import DigestParseError

_HEADING = re.compile(r"(#{1,6})[ \t]+")
_HEADINGS = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.*)", re.MULTILINE)
_REFDEF = re.compile(r"^(?:\[(?P<a>\d+)\]:\s*|(?P<b>\d+)\.\s+)(?P<url>https?://\S+)$")
_REFDEFS = re.compile(r"^[ \t]*(?:\[(\d+)\]:[ \t]*|(\d+)\.[ \t]+)(https?://\S+)[ \t]*$", re.MULTILINE)
_URL_LINE = re.compile(r"<?(?P<url>https?://\S+?)>?")
_ANCHOR = re.compile(r"<a\b[^<>]*>\s*</a>", re.IGNORECASE)
_ONLY_TAGS = re.compile(r"(?:\s*</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>)+\s*")
_HF_DAY = re.compile(r"https?://(?:www\.)?huggingface\.co/papers/date/(\d{4})-(\d{2})-(\d{2})\b")
_HF_PAGE = re.compile(r"https?://(?:www\.)?huggingface\.co/(?P<seg>[A-Za-z0-9][\w.\-]*)/?")
_IMAGE_ONLY = re.compile(r"(?:image|img|picture|thumbnail|图片|圖片|画像)\s*[:：].*", re.IGNORECASE)
_LINK_TAG = re.compile(r"(?:link|链接|鏈接)\s*[:：]\s*", re.IGNORECASE)
_COUNT_LABEL = re.compile(
    rf"upvote\s+(?P<up>{NUMBER})|(?:[•*\-·]\s*)*(?P<authors>\d+)\s+authors?|github\s+(?P<stars>{NUMBER})",
    re.IGNORECASE,
)
#: The element lines that are not links, one expression (one match a line).
_ELEMENT = re.compile(
    rf"(?:\[\s*[-+x]?\s*\]|upvote)\s*(?P<up>{NUMBER})"
    r"|submitted\s+by\b[:\s]*(?P<sub>.*)"
    rf"|github\s+(?P<stars>{NUMBER})"
    r"|(?:[•*\-·]\s*)*(?P<authors>\d+)\s+authors?"
    r"|published\s+on\s+(?P<pub>.+)"
    r"|(?P<date>[A-Za-z]{3}[a-z]*\.?\s+\d{1,2}(?:,\s*\d{4})?(?:\s+\d+)?)"
    r"|(?P<count>\d[\d,]*(?:\.\d+)?[kK]?)",
    re.IGNORECASE,
)
_COUNT_START = frozenset("0123456789-uUgG•*·")  # how a count label starts (NUMBER, _COUNT_LABEL)
_DATE_COUNT = re.compile(r"([A-Za-z]{3}[a-z]*\.?\s+\d{1,2}(?:,\s*\d{4})?)\s*\[[^\]]*\]\([^()\s]*\)")
_HF_RESERVED = frozenset(
    {
        "models",
        "datasets",
        "spaces",
        "docs",
        "pricing",
        "enterprise",
        "login",
        "join",
        "papers",
        "posts",
        "collections",
        "blog",
        "learn",
        "settings",
        "organizations",
        "new",
        "chat",
        "search",
        "privacy",
        "terms-of-service",
        "huggingface",
        "tasks",
        "changelog",
    }
)
_REFERENCES = frozenset({"references", "visible links", "links:", "references:"})
_PROJECT_LABELS = frozenset({"project page", "website", "project"})
_PROSE = 60  # longer than any element line (counts, dates, chrome) but these:
_NOT_PROSE = ("Submitted", "submitted", "http://", "https://", "Get trending")
_ELEMENT_START = frozenset("[#*-•!<0123456789")


@dataclass(slots=True)
class _State:
    """What the line readers of a dump share while they read."""

    refs: dict[str, str]
    title_level: int | None  # the level of link-less title headings (None: only after a thumbnail)
    out: list[Item] = field(default_factory=list)
    linked: dict[str, None] = field(default_factory=dict)  # paper ids linked, in page order
    awaiting_submitter: bool = False
    brk: bool = False  # a blank line before this one
    continues: bool = False  # an indented line right after a heading title: the title goes on
    title_open: bool = False
    title_pid: str | None = None  # the paper of the latest title

    def last(self, kind: str) -> Item | None:
        return self.out[-1] if self.out and self.out[-1].kind == kind else None

    def link(self, pid: str | None) -> None:
        if pid is not None:
            self.linked[pid] = None

    def waiting(self) -> bool:
        """Whether a thumbnail or upvote link naming a paper waits for its title."""
        for item in reversed(self.out):
            if item.kind in ("title", "section"):
                return False
            if item.kind in ("thumb", "upvotes") and item.pid is not None:
                return True
        return False


# --------------------------------------------------------------------------- one link


class _Link(NamedTuple):
    """One link as an element: its label's text, target and the paper it names."""

    text: str
    raw: str  # the label as written
    url: str | None
    pid: str | None
    hf: bool
    line: int
    heading: bool


def _count_link(ln: _Link) -> Item | None:
    """A link whose label is a count: upvotes, comments, authors, GitHub stars."""
    text = ln.text
    if len(text) > 40:
        return None
    if NUMBER_RE.fullmatch(text):
        url = ln.url or ""
        kind = "comments" if "#community" in url or "/discussion" in url else "upvotes"
        return Item(kind, ln.line, "", number(text), None, None, False, ln.pid, ln.hf)
    m = _COUNT_LABEL.fullmatch(text)
    if m is None:
        return None
    if m.group("up"):
        return Item("upvotes", ln.line, "", number(m.group("up")), None, None, False, ln.pid, ln.hf)
    if m.group("authors"):
        return Item("authors", ln.line, "", int(m.group("authors")), None, None, False, ln.pid, ln.hf)
    return Item("stars", ln.line, "", number(m.group("stars")), ln.url)


def _is_image(ln: _Link) -> bool:
    """A label that is only an image: ``![](t.png)``, ``[Image: no alt text]``, ``Image: x``."""
    if not ln.text:
        return True
    raw = ln.raw.strip()
    if raw[:1] == "[" and raw[-1:] == "]" and raw.count("]") == 1:
        return True
    return (":" in ln.text or "：" in ln.text) and _IMAGE_ONLY.fullmatch(ln.text) is not None


def _paper_link(ln: _Link, state: _State) -> Item:
    """A link to a paper that is no count: its title, its abstract or its thumbnail."""
    if _is_image(ln):
        return Item("thumb", ln.line, "", None, None, None, False, ln.pid, ln.hf)
    long = "\n" in ln.raw or len(ln.text) > TITLE_MAX
    same = ln.pid == state.title_pid and (len(ln.text) > 120 or ln.text.endswith("."))
    kind = "abstract" if not ln.heading and (long or same) else "title"
    return Item(kind, ln.line, ln.text, None, None, None, False, ln.pid, ln.hf)


def _other_link(ln: _Link, state: _State) -> Item | None:
    """A link to no paper: a title with a cut reference, the day tab, code, project, org."""
    url = ln.url or ""
    if ln.heading and ln.text and not _is_image(ln):
        return Item("title", ln.line, text=ln.text)
    day = _HF_DAY.match(url)
    if day:
        return None if state.title_pid else Item("date", ln.line, when=(int(day[2]), int(day[3]), int(day[1])))
    if "github.com/" in url:
        return Item("code", ln.line, url=url)
    if ln.text.casefold() in _PROJECT_LABELS:
        return Item("project", ln.line, url=url)
    page = _HF_PAGE.fullmatch(url)
    if page and ln.text and page.group("seg").casefold() not in _HF_RESERVED:
        if state.awaiting_submitter:
            state.awaiting_submitter = False  # the submitter's profile
            return None
        return Item("org", ln.line, text=organization(ln.text, page.group("seg")))
    return None  # any other link is page chrome


def _element(state: _State, link: Link, line: int, heading: bool) -> None:
    """A link standing as an element of the page (a whole line, or beside a date)."""
    url = link.url if link.ref is None else state.refs.get(link.ref)
    ref = paper_ref(url)
    pid, hf = ref if ref else (None, False)
    text = label_text(link.label)
    tag = _LINK_TAG.match(text) if text[:1] in "Ll链鏈" else None  # "[LINK: GitHub 11.3k](url)"
    if tag is not None:
        text = text[tag.end() :]
    ln = _Link(text, link.label, url, pid, hf, line, heading)
    if pid is not None:
        state.linked[pid] = None
    item = _count_link(ln) if text[:1] in _COUNT_START else None
    if item is None:
        item = _paper_link(ln, state) if pid else _other_link(ln, state)
    if item is None:
        return
    if item.kind == "title":
        state.title_pid, state.awaiting_submitter = item.pid, False
    elif item.kind in ("thumb", "upvotes"):
        state.title_pid = None
    state.out.append(item)


# --------------------------------------------------------------------------- other lines


def _inline_line(state: _State, body: str, line: int, heading: int) -> bool:
    """A line with links inside: a heading with a title link, a date with its comment
    link (``May 29[6](url)``), a row of menu links, or a sentence (the labels are text)."""
    links = inline_links(body)
    if not links:
        return False
    if heading:
        paper = next((lk for lk in links if paper_ref(lk.url or state.refs.get(lk.ref or ""))), None)
        if paper is not None:
            _element(state, paper, line, True)
        else:
            _heading(state, _without(body, links, labels=True), heading, line)
        return True
    glued = _DATE_COUNT.fullmatch(body) if len(links) == 1 else None
    if glued is not None:  # "May 29[6](url)": the date, its comment count glued on
        date = parse_date_line(glued.group(1))
        if date is not None:
            state.out.append(Item("date", line, "", date[3], None, date[:3]))
            _element(state, links[0], line, False)
            return True
    bare = _without(body, links, labels=False)
    folded = bare.strip(" *-•|·").casefold()
    date = parse_date_line(bare) if folded else None
    if not folded or folded in CHROME_LINES or date is not None:
        if date is not None:
            state.out.append(Item("date", line, number=date[3], when=date[:3]))
        for link in links:
            _element(state, link, line, False)
        return True
    text = _without(body, links, labels=True)
    if not _plain_line(state, text, line):
        _text(state, text, line)
    return True


def _url_line(state: _State, url: str, line: int) -> None:
    """A bare URL after an element (text dumps with links): it tells what the element was."""
    out = state.out
    prev = state.last("text")
    ref = paper_ref(url)
    if ref is not None:
        _paper_url(state, url, ref, prev, line)
        return
    stars = state.last("stars")
    if stars is not None and stars.url is None:
        out[-1] = stars._replace(url=url)
        return
    page = _HF_PAGE.fullmatch(url)
    if page and prev is not None and page.group("seg").casefold() not in _HF_RESERVED:
        if state.awaiting_submitter:
            state.awaiting_submitter = False
        else:
            out[-1] = Item("org", prev.line, text=organization(prev.text, page.group("seg")))
        return
    if prev is not None and prev.text.casefold() in _PROJECT_LABELS:
        out[-1] = Item("project", prev.line, url=url)
    elif prev is not None and not state.brk:
        out[-1] = prev._replace(text=f"{prev.text} {url}")  # a URL the sentence before names
    elif "github.com/" in url and prev is None:
        out.append(Item("code", line, url=url))


def _paper_url(state: _State, url: str, ref: tuple[str, bool], prev: Item | None, line: int) -> None:
    pid, hf = ref
    if prev is not None and len(prev.text) > TITLE_MAX and not state.brk:
        state.out[-1] = prev._replace(text=f"{prev.text} {url}")  # cited in a sentence: not counted
        return
    state.link(pid)
    count = state.last("upvotes")
    if "#community" in url and count is not None and count.pid is None:
        state.out[-1] = count._replace(kind="comments", pid=pid, hf=hf)  # the count links to the discussion
    elif "/login" in url:
        state.out.append(Item("upvotes", line, pid=pid, hf=hf))  # the upvote button's link
        state.title_pid = None
    elif prev is not None and pid != state.title_pid:
        state.out[-1] = Item("title", prev.line, text=prev.text, pid=pid, hf=hf)
        state.title_pid, state.awaiting_submitter = pid, False


def _heading(state: _State, text: str, level: int, line: int) -> None:
    """A heading without a paper link: the page header, chrome, a title or a section."""
    if text[:1] == "[" and "]" not in text:
        text = text[1:]  # a title link the capture cut off: its label
    text = unescape(text)
    folded = text.casefold()
    if folded in HEADER_LINES:
        state.out.append(Item("header", line))
    elif folded in CHROME_LINES or not text:
        return
    elif level == state.title_level or state.waiting():
        state.out.append(Item("title", line, text=text))
        state.title_pid, state.awaiting_submitter, state.title_open = None, False, True
    else:
        state.out.append(Item("section", line))


_Found = tuple[str, int | None, tuple[int, int, int | None] | None]  # (kind, number, when)
_ELEMENT_KINDS = frozenset({"upvotes", "stars", "authors", "published", "date"})


def _element_of(m: re.Match[str]) -> _Found | None:
    """What a line of :data:`_ELEMENT` is (None: it only looked like one)."""
    kind = m.lastgroup or ""
    value = m.group(kind)
    if kind == "sub":  # 1: the submitter's name is on the next line
        return "sub", 0 if label_text(value).strip() else 1, None
    if kind == "up" or kind == "count":
        return "upvotes", number(value), None
    if kind == "stars":
        return "stars", number(value), None
    if kind == "authors":
        return "authors", int(value), None
    parsed = parse_date_line(value)
    if parsed is None:
        return None
    return ("published", None, parsed[:3]) if kind == "pub" else ("date", parsed[3], parsed[:3])


def _line_of(s: str) -> _Found | None:
    """What a line that holds no link is: an element, a label (``summary``, ``header``),
    ``chrome``, or None (text). Pure."""
    m = _ELEMENT.fullmatch(s)
    found = _element_of(m) if m is not None else None
    if found is not None:
        return found
    folded = s.casefold()
    if folded in SUMMARY_LABELS:
        return "summary", None, None
    if folded in HEADER_LINES:
        return "header", None, None
    if folded in CHROME_LINES or not (IMAGE.sub("", s) if "![" in s else s).strip(" *-•|"):
        return "chrome", None, None  # chrome, an avatar bullet
    return None


_short_line_of = lru_cache(maxsize=1 << 12)(_line_of)  # short lines recur: "·", "- 3 authors", "Sep 15"


def _plain_line(state: _State, s: str, line: int) -> bool:
    """Lines that are not links: the elements of :data:`_ELEMENT`, labels, chrome."""
    found = _short_line_of(s) if len(s) <= 64 else _line_of(s)
    kind = found[0] if found is not None else None
    if found is not None and kind in _ELEMENT_KINDS:
        state.out.append(Item(found[0], line, "", found[1], None, found[2]))
        return True
    if kind == "sub":
        state.awaiting_submitter = found[1] == 1  # type: ignore[index]
        return True
    if "huggingface.co/papers/date/" in s:  # the Daily/Weekly/Monthly tabs name the day
        day = _HF_DAY.search(s)
        if day and not state.title_pid:
            state.out.append(Item("date", line, when=(int(day[2]), int(day[3]), int(day[1]))))
            return True
    if state.awaiting_submitter:  # the submitter's name
        state.awaiting_submitter = False
        return True
    if kind == "summary" or kind == "header":
        state.out.append(Item(kind, line))
    return kind is not None


def _text(state: _State, s: str, line: int) -> None:
    state.awaiting_submitter = False
    if state.continues:
        title = state.last("title")
        if title is not None and len(title.text) + len(s) < TITLE_MAX:
            state.out[-1] = title._replace(text=f"{title.text} {unescape(s)}")  # a wrapped heading title
            state.title_open = True
            return
    state.out.append(Item("text", line, s, None, None, None, state.brk))


def _read_line(state: _State, s: str, line: int) -> None:
    """One logical line (stripped, not blank, links joined)."""
    heading = 0
    body = s
    if s[0] == "#":
        m = _HEADING.match(s)
        if m:
            heading, body = len(m.group(1)), s[m.end() :]
            if not body:
                return
    lead = body.lstrip("*-•+ \t") if body[0] in "*-•+" else body
    if lead[:1] == "[":
        link = whole_link(lead)
        if link is not None:
            _element(state, link, line, bool(heading))
            return
    if ("](" in body or "][" in body) and _inline_line(state, body, line, heading):
        return
    if heading:
        _heading(state, body, heading, line)
        return
    if body[0] in "<h" and "://" in body:
        m = _URL_LINE.fullmatch(body)
        if m:
            _url_line(state, m.group("url"), line)
            return
    if not _plain_line(state, body, line):
        _text(state, body, line)


# --------------------------------------------------------------------------- the pass


def _title_level(text: str) -> int | None:
    """The heading level of titles written as headings without a link: the level most
    non-chrome headings have (the deeper one on a tie), when no heading links to a paper;
    else None (there, a link-less heading is a title only after its thumbnail)."""
    levels: Counter[int] = Counter()
    for m in _HEADINGS.finditer(text):
        marks, body = m.groups()
        if "](" in body or "][" in body:
            if "/papers/" in body or "%2Fpapers%2F" in body or "arxiv.org/" in body or "][" in body:
                return None
            continue
        if unescape(body.rstrip(" \t#")).casefold() not in CHROME_LINES:
            levels[len(marks)] += 1
    if not levels:
        return None
    return max(levels, key=lambda level: (levels[level], level))


def _clean(raw: str) -> str:
    """A line without its empty HTML anchors; "" when it is only tags."""
    s = _ANCHOR.sub("", raw).strip() if "</a>" in raw else raw.strip()
    if s[:1] == "<" and _ONLY_TAGS.fullmatch(s):
        return ""
    return s


def _has_card(chunks: list[str]) -> bool:
    return any("/papers/" in chunk or chunk.lstrip()[:1] == "#" for chunk in chunks)


def skip_repeats(text: str) -> str:
    """``text`` with each run of blank-line separated blocks that repeats, line for line,
    the run right before it, and holds a title (a heading or a paper link), blanked out
    (its lines kept as empty lines): a trending page shows every card twice, and reading
    the copy again would give the same card, merged into the same paper."""
    chunks = text.split("\n\n")
    seen: dict[str, int] = {}
    changed = False
    k = 0
    while k < len(chunks):
        j = seen.get(chunks[k])
        width = k - j if j is not None else 0
        if width and chunks[j:k] == chunks[k : k + width] and _has_card(chunks[j:k]):
            for m in range(k, k + width):
                chunks[m] = "\n" * chunks[m].count("\n")
            changed = True
            k += width
            continue
        seen[chunks[k]] = k
        k += 1
    return "\n\n".join(chunks) if changed else text


@dataclass(frozen=True, slots=True)
class Linked:
    """The items of a linked dump and the paper ids it links to (page order)."""

    items: list[Item]
    linked: tuple[str, ...]


def linked_items(lines: list[str], *, source: str) -> Linked:
    """Any dump that is not a plain copy, read line by line (the references list,
    wherever it is, read first)."""
    text = "\n".join(lines)
    once = skip_repeats(text)
    if once is not text:
        lines = once.split("\n")
    refs = {a or b: url for a, b, url in _REFDEFS.findall(text)} if "][" in text or "]: http" in text else {}
    state = _State(refs=refs, title_level=_title_level(text) if "#" in text else None)
    for url in refs.values():
        ref = paper_ref(url)
        state.link(ref[0] if ref else None)
    i, n = 0, len(lines)
    while i < n:
        raw = lines[i]
        s = raw.strip()
        if s and "<" in s:
            s = _clean(s)
        if not s:
            state.brk, state.title_open = True, False
            i += 1
            continue
        number = i + 1
        state.continues, state.title_open = state.title_open and raw[:1] in " \t", False
        if len(s) > _PROSE and s[0] not in _ELEMENT_START and "[" not in s and not s.startswith(_NOT_PROSE):
            _text(state, s, number)  # a long line of prose: no element looks like it
            state.brk = False
            i += 1
            continue
        if "[" in s and (s.count("[") != s.count("]") or "\\" in s) and depth_after(s) > 0:
            s, i = join_link(lines, i, s)
        else:
            i += 1
        if refs and (s[0] == "[" or s[0].isdigit()) and _REFDEF.match(s):
            continue
        if len(s) < 16 and s.casefold() in _REFERENCES:
            break  # the references list ends the page
        _read_line(state, s, number)
        state.brk = False
    _check_digest(state, lines, source)
    return Linked(state.out, tuple(state.linked))


_META = frozenset({"header", "authors", "org", "date", "published", "upvotes", "comments", "stars", "thumb"})


def _check_digest(state: _State, lines: list[str], source: str) -> None:
    """A text with neither the page header, nor a meta element, nor a paper link (a note,
    a README in Markdown) is not a digest, whatever its shape (SPEC 2.1)."""
    if state.linked or any(item.kind in _META for item in state.out):
        return
    first = next((i for i, line in enumerate(lines, 1) if line.strip()), 1)
    raise DigestParseError(
        "Markdown text without a page header, meta block or paper link: not a digest", path=source, line=first
    )
