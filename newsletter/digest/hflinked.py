"""Linked and Markdown dumps of a listing page as an item stream (SPEC 2.1): every dump
that is not a plain copy. Markdown (``### [Title](https://huggingface.co/papers/<id>)``,
crawler Markdown with the abstract wrapped in the paper link, paperswithcode-style lists
of heading titles without links), text-browser dumps with reference links
(``### [Title][32]``) and text with a URL line after each element.

One pass over the lines (:func:`_read_lines`; blank ones skipped in C). A line is, in
this order: an HTML anchor or tag (skipped), a bare URL (:func:`_url_line`: it tells what
the line before it was), a line without links (:func:`_words`: an element line of
:data:`_ELEMENT`: counts, ``Submitted by``, ``GitHub 3.29k``, ``- 9 authors``,
``Published on``, dates; chrome; else prose), one link (:func:`_element`: what the link
is, from its label and its target; ``May 29[6](url)`` a date with its count), else a
logical line (:func:`_logical`: a label running over several lines joined on; a heading,
a line with links inside, a reference).

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
  (:attr:`Linked.linked`): links as lines or elements, URL lines, the references list.
  A link inside a sentence of an abstract cites another paper and is not counted, nor is
  its entry in the references list (text browsers list every link of the page there).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from itertools import compress
from typing import Any

from newsletter.base.errors import DigestParseError
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
from newsletter.digest.mdlist import LIST_START, list_paper, list_titles

#: An Item from all its fields, without a Python-level constructor call (the hot path:
#: eight items a paper); equal to ``Item(*fields)``.
_item: Callable[[tuple[Any, ...]], Item] = partial(tuple.__new__, Item)
_HEADING = re.compile(r"(#{1,6})[ \t]+")
# A line that is one link, maybe a heading: "### [Title](url)", "[12](url)", a label holding
# images, an image placeholder, escapes or line ends ("[- ![](a.png)\\ - 3 authors](url)");
# runs of plain characters are taken at once (possessive), so a long label costs little.
_SIMPLE_LINE = re.compile(
    r"(#{1,6}[ \t]+)?\[((?:[^\[\]\\!]++|\\.|!\[[^\[\]\\]*\]\([^()\s]*\)|\[[^\[\]\\]*\]|!)*+)\]"
    r"\(([^()\s<>]*)\)[ \t]*",
    re.DOTALL,
)
# A line that is one reference link, maybe a heading: "[Title][12]", "### [Title][12]", "[3][7]"
# (a label without brackets, escapes or line ends): what :func:`_logical` would read as
# one link (the fast way past it; tests/test_digest_hflinked_fast.py)
_REF_LINE = re.compile(r"(#{1,6}[ \t]+)?\[([^\[\]\\\n]*)\]\[(\d+)\]")
# A heading line (searched in "\n" + text: a literal first character makes the search fast)
_HEADINGS = re.compile(r"\n[ \t]{0,3}(#{1,6})[ \t]+([^\n]*)")
_REFDEF = re.compile(r"^(?:\[(?P<a>\d+)\]:\s*|(?P<b>\d+)\.\s+)(?P<url>https?://\S+)$")
_REFDEFS = re.compile(r"\n[ \t]*(?:\[(\d+)\]:[ \t]*|(\d+)\.[ \t]+)(https?://\S+)[ \t]*(?=\n)")
_URL_LINE = re.compile(r"<?(?P<url>https?://\S+?)>?")
_ANCHOR = re.compile(r"<a\b[^<>]*>\s*</a>", re.IGNORECASE)
_ONLY_TAGS = re.compile(r"(?:\s*</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>)+\s*")
_HF_DAY = re.compile(r"https?://(?:www\.)?(?:huggingface|hf)\.co/papers/date/(\d{4})-(\d{2})-(\d{2})\b")
_HF_PAGE = re.compile(r"https?://(?:www\.)?(?:huggingface|hf)\.co/(?P<seg>[A-Za-z0-9][\w.\-]*)/?")
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
_DATE_COUNT = re.compile(r"([A-Za-z]{3}[a-z]*\.?\s+\d{1,2}(?:,\s*\d{4})?)\s*\[([^\[\]]*)\]\(([^()\s]*)\)")
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
_LONG = 200  # longer lines are not matched with regular expressions (40 instructions a character)
_PROSE = 60  # longer than any element line (counts, dates, chrome) but these:
_NOT_PROSE = ("Submitted", "submitted", "http://", "https://", "Get trending")
_LINE_START = frozenset("#<h0123456789")  # how headings, tags, URLs and references start


@dataclass(slots=True)
class _State:
    """What the line readers of a dump share while they read."""

    lines: list[str]
    refs: dict[str, str]
    title_level: int | None  # the level of link-less title headings (None: only after a thumbnail)
    out: list[Item] = field(default_factory=list)
    linked: dict[str, None] = field(default_factory=dict)  # paper ids linked, in page order
    cited: set[str] = field(default_factory=set)  # paper ids of reference links inside a sentence
    awaiting_submitter: bool = False
    title_line: int = 0  # the line of a heading title without a link (or of its last line)
    title_pid: str | None = None  # the paper of the latest title
    heading_titles: bool = False  # titles came as headings: a sentence linked to a paper is none

    def last(self, kind: str) -> Item | None:
        return self.out[-1] if self.out and self.out[-1].kind == kind else None

    def target(self, link: Link) -> str | None:
        """The URL of a link (a reference link's from the references list)."""
        return link.url if link.ref is None else self.refs.get(link.ref)

    def after_blank(self, line: int) -> bool:
        """Whether a blank line stands before line number ``line``."""
        return line < 2 or not self.lines[line - 2].strip()

    def continues_title(self, line: int) -> bool:
        """An indented line right after a heading title (wrapped like arXiv titles): more title."""
        return self.title_line == line - 1 and self.lines[line - 1][:1] in " \t"

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


def _count_link(text: str, url: str | None, pid: str | None, hf: bool, line: int) -> Item | None:
    """A link whose label is a count: upvotes, comments, authors, GitHub stars."""
    if len(text) > 40:
        return None
    if NUMBER_RE.fullmatch(text):
        kind = "comments" if url and ("#community" in url or "/discussion" in url) else "upvotes"
        return _item((kind, line, "", number(text), None, None, False, pid, hf))
    m = _COUNT_LABEL.fullmatch(text)
    if m is None:
        return None
    if m.group("up"):
        return _item(("upvotes", line, "", number(m.group("up")), None, None, False, pid, hf))
    if m.group("authors"):
        return _item(("authors", line, "", int(m.group("authors")), None, None, False, pid, hf))
    return Item("stars", line, "", number(m.group("stars")), url)


def _is_image(text: str, label: str) -> bool:
    """A label that is only an image: ``![](t.png)``, ``[Image: no alt text]``, ``Image: x``."""
    if not text:
        return True
    raw = label.strip()
    if raw[:1] == "[" and raw[-1:] == "]" and raw.count("]") == 1:
        return True
    return (":" in text or "：" in text) and _IMAGE_ONLY.fullmatch(text) is not None


def _paper_link(
    state: _State, text: str, label: str, pid: str, hf: bool, line: int, heading: bool, *, login: bool = False
) -> Item:
    """A link to a paper that is no count: its title, its abstract or its thumbnail;
    ``login``: the upvote button's link (``[Upvote][7]``, its count on a line apart)."""
    if login:
        return _item(("upvotes", line, "", None, None, None, False, pid, hf))
    if _is_image(text, label):
        return _item(("thumb", line, "", None, None, None, False, pid, hf))
    if heading:
        kind = "title"
    elif "\n" in label or len(text) > TITLE_MAX:
        kind = "abstract"
    else:
        sentence = len(text) > 120 or text.endswith(".")
        same = pid == state.title_pid or state.heading_titles  # (another paper's: the card takes no more)
        kind = "abstract" if sentence and same else "title"
    return _item((kind, line, text, None, None, None, False, pid, hf))


def _other_link(state: _State, text: str, label: str, url: str | None, line: int, heading: bool) -> Item | None:
    """A link to no paper: a title with a cut reference, the day tab, code, project, org."""
    url = url or ""
    if heading and text and not _is_image(text, label):
        return Item("title", line, text=text)
    day = _HF_DAY.match(url)
    if day:
        return None if state.title_pid else Item("date", line, when=(int(day[2]), int(day[3]), int(day[1])))
    if "github.com/" in url:
        return Item("code", line, url=url)
    if text.casefold() in _PROJECT_LABELS:
        return Item("project", line, url=url)
    page = _HF_PAGE.fullmatch(url)
    if page and text and page.group("seg").casefold() not in _HF_RESERVED:
        if state.awaiting_submitter:
            state.awaiting_submitter = False  # the submitter's profile
            return None
        return Item("org", line, text=organization(text, page.group("seg")))
    return None  # any other link is page chrome


def _element(state: _State, label: str, url: str | None, line: int, heading: bool) -> None:
    """A link standing as an element of the page (a whole line, or beside a date);
    ``url`` resolved (:meth:`_State.target`)."""
    ref = paper_ref(url) if url else None
    text = label_text(label)
    if text[:1] in "Ll链鏈" and (tag := _LINK_TAG.match(text)) is not None:
        text = text[tag.end() :]  # "[LINK: GitHub 11.3k](url)": a tool marking its links
    pid, hf = ref if ref is not None else (None, False)
    item = _count_link(text, url, pid, hf, line) if text[:1] in _COUNT_START else None
    if pid is not None:
        state.linked[pid] = None
        if item is None:
            item = _paper_link(state, text, label, pid, hf, line, heading, login="/login?next=" in (url or ""))
    elif item is None:
        item = _other_link(state, text, label, url, line, heading)
        if item is None:
            return
    kind = item[0]
    if kind == "title":
        state.title_pid, state.awaiting_submitter = item.pid, False
        state.heading_titles = state.heading_titles or heading
    elif kind == "thumb" or kind == "upvotes":
        state.title_pid = None
    state.out.append(item)


# --------------------------------------------------------------------------- other lines


def _date_count(state: _State, m: re.Match[str], line: int) -> None:
    """``May 29[6](url)`` (:data:`_DATE_COUNT`): the date, and its comment count as a link."""
    date = parse_date_line(m.group(1))
    if date is None:
        _text(state, m.group(0), line)
        return
    state.out.append(Item("date", line, "", date[3], None, date[:3]))
    _element(state, m.group(2), m.group(3), line, False)


def _inline_line(state: _State, body: str, line: int, heading: int) -> bool:
    """A line with links inside: a heading with a title link, a date with its comment
    link (``May 29[6](url)``), a row of menu links, or a sentence (the labels are text)."""
    links = inline_links(body)
    if not links:
        return False
    if heading:
        paper = next((lk for lk in links if paper_ref(state.target(lk))), None)
        if paper is not None:
            _element(state, paper.label, state.target(paper), line, True)
        else:
            _heading(state, _without(body, links, labels=True), heading, line)
        return True
    if not _links_as_elements(state, body, links, line):  # a sentence: the labels are its words
        for link in links:
            if link.ref is not None and (ref := paper_ref(state.refs.get(link.ref))) is not None:
                state.cited.add(ref[0])  # a paper cited: its reference is no card's
        text = _without(body, links, labels=True)
        if not _plain_line(state, text, line):
            _text(state, text, line)
    return True


def _links_as_elements(state: _State, body: str, links: list[Link], line: int) -> bool:
    """Links that are what the line holds (a menu, chrome around them, a date beside a count)
    read as elements; False when the words around them are a sentence."""
    bare = _without(body, links, labels=False)
    folded = bare.strip(" *-•|·").casefold()
    date = parse_date_line(bare) if folded else None
    if folded and folded not in CHROME_LINES and date is None:
        return False
    if date is not None:
        state.out.append(Item("date", line, number=date[3], when=date[:3]))
    for link in links:
        _element(state, link.label, state.target(link), line, False)
    return True


def _url_line(state: _State, url: str, line: int) -> None:
    """A bare URL after an element (text dumps with links): it tells what the element was."""
    out = state.out
    last = out[-1] if out else None
    prev = last if last is not None and last[0] == "text" else None
    ref = paper_ref(url)
    if ref is not None:
        _paper_url(state, url, ref, prev, line)
        return
    if last is not None and last[0] == "stars" and last.url is None:
        out[-1] = last._replace(url=url)
        return
    _other_url(state, url, prev, line)


def _other_url(state: _State, url: str, prev: Item | None, line: int) -> None:
    """A URL line naming no paper: a profile (the organisation line before it), a project
    page, a URL the sentence before names, a code link."""
    out = state.out
    page = _HF_PAGE.fullmatch(url)
    if page and prev is not None and page.group("seg").casefold() not in _HF_RESERVED:
        if state.awaiting_submitter:
            state.awaiting_submitter = False
        else:
            out[-1] = Item("org", prev.line, text=organization(prev.text, page.group("seg")))
        return
    if prev is not None and prev.text.casefold() in _PROJECT_LABELS:
        out[-1] = Item("project", prev.line, url=url)
    elif prev is not None and not state.after_blank(line):
        out[-1] = prev._replace(text=f"{prev.text} {url}")  # a URL the sentence before names
    elif "github.com/" in url and prev is None:
        out.append(Item("code", line, url=url))


def _paper_url(state: _State, url: str, ref: tuple[str, bool], prev: Item | None, line: int) -> None:
    pid, hf = ref
    if prev is not None and len(prev.text) > TITLE_MAX and not state.after_blank(line):
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
        state.title_pid, state.awaiting_submitter, state.title_line = None, False, line
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
    """Lines that are not links: the elements of :data:`_ELEMENT`, labels, chrome (False:
    text)."""
    found = _short_line_of(s) if len(s) <= 64 else _line_of(s)
    if found is not None:
        kind, count, when = found
        if kind in _ELEMENT_KINDS:
            state.out.append(_item((kind, line, "", count, None, when, False, None, False)))
            return True
        if kind == "sub":
            state.awaiting_submitter = count == 1
            return True
    if "co/papers/date/" in s and _day_tab(state, s, line):
        return True
    if state.awaiting_submitter:  # the submitter's name
        state.awaiting_submitter = False
        return True
    if found is None:
        return False
    if found[0] == "summary" or found[0] == "header":
        state.out.append(Item(found[0], line))
    return True


def _day_tab(state: _State, s: str, line: int) -> bool:
    """The Daily/Weekly/Monthly tabs name the digest's day (before any title)."""
    day = _HF_DAY.search(s)
    if day is None or state.title_pid:
        return False
    state.out.append(Item("date", line, when=(int(day[2]), int(day[3]), int(day[1]))))
    return True


def _text(state: _State, s: str, line: int) -> None:
    state.awaiting_submitter = False
    if state.title_line and state.continues_title(line):
        title = state.last("title")
        if title is not None and len(title.text) + len(s) < TITLE_MAX:
            state.out[-1] = title._replace(text=f"{title.text} {unescape(s)}")  # a wrapped heading title
            state.title_line = line
            return
    state.out.append(_item(("text", line, s, None, None, None, state.after_blank(line), None, False)))


def _list_item(state: _State, body: str, line: int) -> bool:
    """A list item opening with a paper's link (:mod:`~newsletter.digest.mdlist`): the
    card's title, the text after it its first text (False: any other line)."""
    found = list_paper(body)
    if found is None or paper_ref(state.target(found.link)) is None:
        return False
    _element(state, found.link.label, state.target(found.link), line, False)
    if found.rest:
        _text(state, found.rest, line)
    return True


def _link_line_of(state: _State, body: str, line: int, heading: int) -> bool:
    """A line that opens with a link: a list item titled by a paper link, or one link
    (a bullet before it, maybe); False: any other line."""
    if not heading and body[0] in LIST_START and _list_item(state, body, line):
        return True
    lead = body.lstrip("*-•+ \t") if body[0] in "*-•+" else body
    if lead[:1] == "[":
        link = whole_link(lead)
        if link is not None:
            _element(state, link.label, state.target(link), line, bool(heading))
            return True
    return False


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
    if _link_line_of(state, body, line, heading):
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
    if list_titles(text):
        return None  # the titles are list items: a heading is a section (the page's name)
    levels: Counter[int] = Counter()
    for m in _HEADINGS.finditer("\n" + text):
        marks, body = m.groups()
        if body[:1] == "[" or "][" in body:  # a title link (maybe wrapped onto the next line)
            return None
        if "](" in body:
            if "/papers/" in body or "%2Fpapers%2F" in body or "arxiv.org/" in body:
                return None
            continue  # "## by [AK](...) and the research community"
        if unescape(body.rstrip(" \t#")).casefold() not in CHROME_LINES:
            levels[len(marks)] += 1
    if not levels:
        return None
    return max(levels, key=lambda level: (levels[level], level))


def _clean(lines: list[str], i: int, raw: str) -> str:
    """Line ``i`` without its empty HTML anchors; "" (and the line blanked) when it is only tags."""
    s = _ANCHOR.sub("", raw).strip() if "</a>" in raw else raw.strip()
    if not s or (s[0] == "<" and _ONLY_TAGS.fullmatch(s)):
        s = lines[i] = ""  # a blank line now (what came before it is a paragraph of its own)
    return s


def _has_card(chunks: list[str]) -> bool:
    return any("/papers/" in chunk or chunk.lstrip()[:1] == "#" for chunk in chunks)


def skip_repeats(text: str) -> str:
    """``text`` with each run of blank-line separated blocks that repeats, line for line,
    the run right before it, and holds a title (a heading or a paper link), blanked out
    (its lines kept as empty lines): a trending page shows every card twice, and reading
    the copy again would give the same card, merged into the same paper."""
    chunks = text.split("\n\n")
    if not any(k > 1 and _has_card([c]) for c, k in Counter(chunks).items()):
        return text  # no card's block comes twice: nothing repeats
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
    return _linked_items(lines, source, _short_link)


def linked_items_plain(lines: list[str], *, source: str) -> Linked:
    """:func:`linked_items` without the fast way for reference link lines (the
    reference it is tested against)."""
    return _linked_items(lines, source, _short_link_plain)


def _linked_items(lines: list[str], source: str, short_link: Callable[[str], re.Match[str] | None]) -> Linked:
    text = "\n".join(lines)
    once = skip_repeats(text)
    lines = once.split("\n") if once is not text else list(lines)
    refs = {a or b: url for a, b, url in _REFDEFS.findall(f"\n{text}\n")} if "][" in text or "]: http" in text else {}
    state = _State(lines, refs, _title_level(text) if "#" in text else None)
    _read_lines(state, lines, short_link)
    _check_digest(state, lines, source)
    return Linked(state.out, _with_references(state))


def _with_references(state: _State) -> tuple[str, ...]:
    """The papers linked: the references list's (in its order; a paper the body links to
    only inside sentences is a citation, not counted), then those the body linked."""
    listed = (paper_ref(url) for url in state.refs.values())
    ids = [ref[0] for ref in listed if ref is not None and ref[0] not in state.cited]
    return tuple(dict.fromkeys([*ids, *state.linked]))


def _read_lines(state: _State, lines: list[str], short_link: Callable[[str], re.Match[str] | None]) -> None:
    """Every line, in one pass: the blank ones skipped in C (``compress``), prose and plain
    links (most lines) read at once, anything else as a logical line (:func:`_logical`)."""
    n = len(lines)
    upto = 0  # lines before it were joined into a logical line already
    for i in compress(range(n), map(str.strip, lines)):
        if i < upto:
            continue
        s = lines[i].strip()
        if "<" in s and not (s := _clean(lines, i, s)):
            continue
        if s[0] == "h" and s.startswith(("https://", "http://")) and " " not in s:
            _url_line(state, s, i + 1)  # a URL line: it tells what the line before was
        elif "[" not in s and s[0] not in _LINE_START:  # no link, heading, tag, URL or reference
            if not _words(state, s, i + 1):
                return
        elif (m := short_link(s)) is not None:
            _link_line(state, m, i + 1)
        else:
            upto = _logical(state, lines, i, s)
            if upto >= n:
                return


def _one_link(s: str) -> tuple[str, str | None, bool] | None:
    """(label, url, in a heading) of a logical line that is one link: a regular expression
    for short lines, string methods for long ones (a regular expression costs ~40
    instructions a character; a 2,000-character abstract in a link is one rfind)."""
    if len(s) < _LONG:
        m = _SIMPLE_LINE.fullmatch(s)
        return (m.group(2), m.group(3), m.group(1) is not None) if m is not None else None
    link = whole_link(s) if s[0] == "[" else None
    return (link.label, link.url, False) if link is not None and link.ref is None else None


def _words(state: _State, s: str, line: int) -> bool:
    """A line without links: an element, chrome or prose (False: the references list, the
    end of the page)."""
    if len(s) < 16 and s.casefold() in _REFERENCES:
        return False
    if (len(s) > _PROSE and not s.startswith(_NOT_PROSE)) or not _plain_line(state, s, line):
        _text(state, s, line)  # prose (a long line: no element looks like it)
    return True


def _short_link(s: str) -> re.Match[str] | None:
    """A short line that is one link (:data:`_SIMPLE_LINE`), a date with its count link,
    or one reference link (:data:`_REF_LINE`: text-browser dumps, the fast way)."""
    if len(s) >= _LONG:
        return None
    last = s[-1]
    if last == ")":
        return _SIMPLE_LINE.fullmatch(s) or _DATE_COUNT.fullmatch(s)
    return _REF_LINE.fullmatch(s) if last == "]" else None


def _short_link_plain(s: str) -> re.Match[str] | None:
    """:func:`_short_link` without :data:`_REF_LINE` (such lines read by :func:`_logical`)."""
    if s[-1] != ")" or len(s) >= _LONG:
        return None
    return _SIMPLE_LINE.fullmatch(s) or _DATE_COUNT.fullmatch(s)


def _link_line(state: _State, m: re.Match[str], line: int) -> None:
    """A line :data:`_SIMPLE_LINE`, :data:`_REF_LINE` or :data:`_DATE_COUNT` matched."""
    if m.re is _SIMPLE_LINE:  # one plain link, maybe a heading: most element lines
        _element(state, m.group(2), m.group(3), line, m.group(1) is not None)
    elif m.re is _REF_LINE:  # one reference link: its URL from the references list
        _element(state, m.group(2), state.refs.get(m.group(3)), line, m.group(1) is not None)
    else:  # "May 29[6](url)": a date, its comment count glued on
        _date_count(state, m, line)


def _logical(state: _State, lines: list[str], i: int, s: str) -> int:
    """The logical line at line ``i`` (``s``: stripped): a link label running over the next
    lines joined on; returns the index after it (``len(lines)``: the page ends here)."""
    depth = depth_after(s) if "[" in s and (s.count("[") != s.count("]") or "\\" in s) else 0
    nxt = join_link(lines, i, s, depth) if depth else (s, i + 1)
    s = nxt[0]
    if depth and (found := _one_link(s)) is not None:  # an abstract, avatars, a wrapped title: one link
        _element(state, found[0], found[1], i + 1, found[2])
        return nxt[1]
    if state.refs and (s[0] == "[" or s[0].isdigit()) and _REFDEF.match(s):
        return nxt[1]
    if len(s) < 16 and s.casefold() in _REFERENCES:
        return len(lines)  # the references list ends the page
    _read_line(state, s, i + 1)
    return nxt[1]


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
