"""The ``hf-text`` format: text dumps of Hugging Face papers listings (SPEC 2.1).

Every dump style goes through the same three steps:

1. :func:`unwrap` removes what wraps the page: YAML front matter, a fenced block,
   a ``[Content truncated]`` marker.
2. A *style* turns the text into one stream of :class:`Item` (a title, a line of
   text, an author count, an upvote count, ...). Two styles exist: ``plain`` (a
   copy of the page as shown, the seeds: titles told by the shape of their block)
   and ``linked`` (every dump that carries the paper links: Markdown, text-browser
   dumps with reference links, text with a URL line after each element), which
   reads line by line through a table of recognisers (:data:`RECOGNISERS`: one
   link, a URL line, the element lines of :data:`ELEMENT_LINES`, else text). A new
   dump style is one more entry in :data:`STYLES` (a function giving items), a new
   element one more row of :data:`ELEMENT_LINES`.
3. :func:`assemble` turns the stream into papers, one per id (trending pages show
   each card twice).

Plain copy: blocks separated by blank lines; a page header, the digest date, then
entries: a title block, abstract paragraphs and an optional three-line meta block
(``• 7 authors`` or an organisation, ``·``, a date with an optional comment count).
A title is one line of at most 300 characters that neither ends like a sentence
(``.``) nor holds a URL; a paragraph after the first one that looks like a title
starts the next entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from newsletter.digest.model import HF_PAPER_URL, Paper, arxiv_id, extract_links, paper_id, unique_papers
from newsletter.errors import DigestParseError

HEADER_LINES = frozenset(
    {
        "new",
        "get trending papers in your email inbox!",
        "subscribe",
        "daily papers",
        "byak and the research community",
        "by ak and the research community",
    }
)
# Site chrome of the listing pages: menus, tabs, footers. Never part of an entry.
CHROME_LINES = HEADER_LINES | frozenset(
    {
        "hugging face",
        "models",
        "datasets",
        "spaces",
        "docs",
        "enterprise",
        "pricing",
        "posts",
        "community",
        "collections",
        "papers",
        "log in",
        "login",
        "sign up",
        "daily",
        "weekly",
        "monthly",
        "trending",
        "trending papers",
        "search",
        "previous",
        "next",
        "system theme",
        "company",
        "website",
        "tos",
        "privacy",
        "about",
        "jobs",
        "learn",
        "blog",
        "forum",
        "status",
        "discord",
        "github",
        "twitter",
        "linkedin",
        "·",
        "•",
        "-",
        "[-]",
        "menu",
        "sort by",
        "submit",
        "view all",
        "upvote",
        "ai-generated summary",
        "abstract",
    }
)
MONTHS = {
    m: i
    for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)
}
_DATE = re.compile(r"^(?P<mon>[A-Za-z]{3})[a-z]*\.?\s+(?P<day>\d{1,2})(?:,\s*(?P<year>\d{4}))?(?:\s+(?P<votes>\d+))?$")
_AUTHORS = re.compile(r"^(?:[•*\-]\s*)?(?P<n>\d+)\s+authors?$", re.IGNORECASE)
_SEP = "·"
TITLE_MAX = 300

# A paper link: https://huggingface.co/papers/<id> (the id an arXiv id or a slug).
_HF_PAPER = re.compile(
    r"^https?://(?:www\.)?huggingface\.co/papers/(?!(?:date|week|month|trending|search)\b)"
    r"(?P<id>[A-Za-z0-9][\w.\-]*?)/?(?:[?#].*)?$"
)
_HF_PAGE = re.compile(r"^https?://(?:www\.)?huggingface\.co/(?P<seg>[A-Za-z0-9][\w.\-]*)/?$")
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
_NUMBER = r"(?:\d[\d,]*(?:\.\d+)?[kKmM]?|-)"
_LINK = re.compile(r"^\[(?P<label>.*)\](?:\((?P<url>[^)\s]*)(?:\s+\"[^\"]*\")?\)|\[(?P<ref>\d+)\])$")
_HEADING = re.compile(r"^#{1,6}\s+")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)|!\[[^\]]*\]\[\d+\]")
_REFDEF = re.compile(r"^(?:\[(?P<a>\d+)\]:\s*|(?P<b>\d+)\.\s+)(?P<url>https?://\S+)$")
_REFDEFS = re.compile(r"^[ \t]*(?:\[(\d+)\]:[ \t]*|(\d+)\.[ \t]+)(https?://\S+)[ \t]*$", re.MULTILINE)
_URL_LINE = re.compile(r"^<?(?P<url>https?://\S+?)>?$")
_TRUNCATED = re.compile(r"\s*\[(?:content truncated|truncated)[^\]]*\]\s*", re.IGNORECASE)
_NUMBER_RE = re.compile(_NUMBER)
_UPVOTE_LINE = re.compile(rf"(?:\[\s*[-+x]?\s*\]|upvote)\s*({_NUMBER})", re.IGNORECASE)
_SUBMITTED = re.compile(r"submitted by\b[:\s]*(.*)", re.IGNORECASE)
_STARS = re.compile(rf"github\s+({_NUMBER})", re.IGNORECASE)
_PUBLISHED = re.compile(r"published on\s+(.+)", re.IGNORECASE)
_BARE_COUNT = re.compile(r"\d[\d,]*(?:\.\d+)?[kK]?")
_LINK_CLOSE = re.compile(r"\](\(|\[)")
_OPEN_SPACE = re.compile(r"\[\s+")
_CLOSE_SPACE = re.compile(r"\s+\]")
_NON_WORD = re.compile(r"[\W_]+")
_FENCE = re.compile(r"^(?:```|~~~)[\w-]*$")
_REFERENCES = frozenset({"references", "visible links", "links:", "references:"})


# --------------------------------------------------------------------------- shared pieces


@dataclass(frozen=True, slots=True)
class Block:
    line: int  # 1-based number of the block's first line
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


@dataclass(frozen=True, slots=True)
class Meta:
    authors: int | None
    organization: str | None
    month: int | None
    day: int | None
    year: int | None
    comments: int | None


class Item(NamedTuple):
    """One element of a dump, whatever its style (immutable; a NamedTuple because a
    dump makes ten of them per paper).

    ``kind``: ``header`` (page header seen), ``date`` (a date line: ``when`` and
    ``number`` = comments), ``title`` (``text``, ``url``), ``text`` (a line or
    paragraph; ``brk``: a blank line before it), ``authors``, ``org``, ``upvotes``,
    ``comments``, ``published`` (``when``), ``stars`` (``number``, ``url``), ``code``,
    ``project`` (``url``), ``summary`` (the next text is an AI summary)."""

    kind: str
    line: int
    text: str = ""
    number: int | None = None
    url: str | None = None
    when: tuple[int, int, int | None] | None = None
    brk: bool = False


def unwrap(text: str) -> list[str]:
    """The lines of ``text`` without what wraps the page (front matter, fences, the
    ``[Content truncated]`` marker); lines keep their numbers (removed ones are blank)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if not (text.lstrip()[:3] == "---" or "```" in text or "~~~" in text or "runcated" in text):
        return lines  # nothing wraps it (the plain copies)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].strip() == "---":
        end = next((i for i in range(first + 1, min(len(lines), first + 60)) if lines[i].strip() == "---"), None)
        if end is not None:
            for i in range(first, end + 1):
                lines[i] = ""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if _FENCE.match(stripped):
            lines[i] = ""
        elif "[" in stripped and _TRUNCATED.search(stripped):
            lines[i] = _TRUNCATED.sub(" ", stripped).strip()
    return lines


def blocks(lines: list[str]) -> list[Block]:
    """Split into blank-line separated blocks (trailing spaces tolerated)."""
    out: list[Block] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if line:
            if not current:
                start = number
            current.append(line)
        elif current:
            out.append(Block(start, tuple(current)))
            current = []
    if current:
        out.append(Block(start, tuple(current)))
    return out


def parse_date_line(line: str) -> tuple[int, int, int | None, int | None] | None:
    """``Sep 15`` / ``Mar 12, 2024`` / ``Sep 10 2`` -> (month, day, year, comments)."""
    m = _DATE.match(line)
    if not m or m.group("mon").lower() not in MONTHS:
        return None
    day = int(m.group("day"))
    if not 1 <= day <= 31:
        return None
    year = int(m.group("year")) if m.group("year") else None
    comments = int(m.group("votes")) if m.group("votes") else None
    return MONTHS[m.group("mon").lower()], day, year, comments


def resolve(month: int, day: int, year: int | None, reference: date) -> date | None:
    """The date itself if it has a year, else the most recent such date not after ``reference``."""
    if year is not None:
        try:
            return date(year, month, day)
        except ValueError:
            return None
    for y in range(reference.year, reference.year - 9, -1):
        try:
            candidate = date(y, month, day)
        except ValueError:  # Feb 29 in a common year, Sep 31
            continue
        if candidate <= reference:
            return candidate
    return None


def _squash(text: str) -> str:
    return _NON_WORD.sub("", text).casefold()


def organization(line: str, handle: str | None = None) -> str:
    """The organisation of a meta line: the page shows the Hub handle, then the display
    name. ``ByteDance ByteDance`` -> ``ByteDance``; ``ByteDance-Seed ByteDance Seed`` ->
    ``ByteDance Seed``; ``SUDA Soochow University`` -> ``Soochow University`` (an
    upper-case handle with the display name's initial); else the line as it is."""
    words = line.lstrip("•").split()
    if handle:  # the Hub handle is known (from the link): drop it from the front
        for n in range(1, len(words)):
            if _squash(" ".join(words[:n])) == _squash(handle):
                return " ".join(words[n:])
    half = len(words) // 2
    if len(words) % 2 == 0 and half and words[:half] == words[half:]:
        return " ".join(words[:half])
    if len(words) >= 2:
        handle, rest = words[0], words[1:]
        if _squash(handle) == _squash(" ".join(rest)):
            return " ".join(rest)
        if rest[0] == handle and len(rest) > 1:  # "IBM IBM Research"
            return " ".join(rest)
        if (
            len(rest) >= 2
            and len(handle) >= 2
            and handle.isupper()
            and handle.isalpha()
            and rest[0][:1].isupper()
            and handle[0] == rest[0][0]
            and not rest[0].isupper()
        ):
            return " ".join(rest)
    return " ".join(words)


def _number(text: str) -> int:
    """``19`` / ``1,204`` / ``3.29k`` / ``-`` (none: 0) -> int."""
    text = text.replace(",", "").strip()
    if text in ("-", ""):
        return 0
    scale = 1
    if text[-1] in "kK":
        scale, text = 1000, text[:-1]
    elif text[-1] in "mM":
        scale, text = 1_000_000, text[:-1]
    return round(float(text) * scale)


# --------------------------------------------------------------------------- style: plain copy


def as_meta(block: Block) -> Meta | None:
    """A meta block, or None when the block is something else."""
    lines = block.lines
    if _SEP not in lines and not _AUTHORS.match(lines[0]):
        return None
    if len(lines) > 3:
        return None
    who = lines[0] if lines[0] != _SEP else None
    authors: int | None = None
    org: str | None = None
    if who is not None:
        m = _AUTHORS.match(who)
        if m:
            authors = int(m.group("n"))
        else:
            org = organization(who)
    when = lines[-1] if lines[-1] not in (_SEP, who) else None
    parsed = parse_date_line(when) if when else None
    if when is not None and parsed is None:
        return None
    month, day, year, comments = parsed if parsed else (None, None, None, None)
    return Meta(authors, org, month, day, year, comments)


def is_header(block: Block) -> bool:
    return all(line.casefold() in HEADER_LINES for line in block.lines)


def looks_like_title(block: Block) -> bool:
    if len(block.lines) != 1:
        return False
    line = block.lines[0]
    return len(line) <= TITLE_MAX and not line.endswith(".") and "://" not in line


def _is_count(line: str) -> bool:
    """A block that is only an upvote count (``19``, ``1.2k``, ``-``)."""
    return line == "-" or _BARE_COUNT.fullmatch(line) is not None or _UPVOTE_LINE.fullmatch(line) is not None


def _meta_items(meta: Meta, line: int) -> list[Item]:
    out: list[Item] = []
    if meta.authors is not None:
        out.append(Item("authors", line, number=meta.authors))
    if meta.organization is not None:
        out.append(Item("org", line, text=meta.organization))
    if meta.month is not None and meta.day is not None:
        out.append(Item("date", line, number=meta.comments, when=(meta.month, meta.day, meta.year)))
    return out


def plain_items(lines: list[str], *, source: str) -> list[Item]:
    """The plain copy of a listing page (the seeds) as an item stream."""
    items = blocks(lines)
    out: list[Item] = []
    i = 0
    while i < len(items) and is_header(items[i]):
        out.append(Item("header", items[i].line))
        i += 1
    if i < len(items) and len(items[i].lines) == 1:
        parsed = parse_date_line(items[i].lines[0])
        if parsed and parsed[3] is None:
            out.append(Item("date", items[i].line, when=parsed[:3]))
            i += 1
    if i < len(items) and not out and not any(as_meta(b) for b in items[i:]):
        # No page header, no meta block, no paper link: a note, a README, not a digest.
        n = len(items) - i
        what = "one paragraph of text" if n == 1 else f"{n} paragraphs of text without a page header or meta block"
        raise DigestParseError(f"{what}: not a digest", path=source, line=items[i].line)
    while i < len(items):
        head = items[i]
        if len(head.lines) == 1 and i + 1 < len(items) and _is_count(head.lines[0]):
            count = _UPVOTE_LINE.fullmatch(head.lines[0])
            number = _number(count.group(1) if count else head.lines[0])
            out.append(Item("upvotes", head.line, number=number))  # the upvote element
            i += 1
            continue
        if as_meta(head) is not None:
            raise DigestParseError("meta block (authors, date) without a title before it", path=source, line=head.line)
        if len(head.lines) != 1:
            raise DigestParseError(
                f"expected a paper title, found {len(head.lines)} lines of text", path=source, line=head.line
            )
        out.append(Item("title", head.line, text=head.lines[0]))
        i += 1
        paragraphs = 0
        meta: Meta | None = None
        while i < len(items):
            block = items[i]
            meta = as_meta(block)
            if meta is not None:
                out.extend(_meta_items(meta, block.line))
                i += 1
                break
            if paragraphs and looks_like_title(block):
                break
            if not paragraphs and looks_like_title(block) and i + 1 < len(items):
                # Title directly followed by another title: this entry has no abstract.
                following = items[i + 1]
                if as_meta(following) is None and not looks_like_title(following):
                    break
            out.append(Item("text", block.line, text=block.text, brk=True))
            paragraphs += 1
            i += 1
        if not paragraphs and meta is None:
            raise DigestParseError(
                f"entry {head.lines[0][:60]!r} has neither an abstract nor a meta block; not a digest",
                path=source,
                line=head.line,
            )
    return out


# --------------------------------------------------------------------------- style: linked dumps


@dataclass(slots=True)
class _State:
    """What the line recognisers of a linked dump share while they read."""

    refs: dict[str, str]
    out: list[Item]
    awaiting_submitter: bool = False
    brk: bool = False

    def last(self, kind: str) -> Item | None:
        return self.out[-1] if self.out and self.out[-1].kind == kind else None

    def current_id(self) -> str | None:
        for item in reversed(self.out):
            if item.kind == "title":
                return _hf_id(item.url)
        return None


def _hf_id(url: str | None) -> str | None:
    if not url:
        return None
    m = _HF_PAPER.match(url)
    return m.group("id") if m else None


def _label_text(label: str) -> str:
    """A link label without images and markup: ``![](a.png) ByteDance`` -> ``ByteDance``."""
    if "!" in label:
        label = _IMAGE.sub(" ", label)
    if "*" in label:
        label = label.replace("**", "")
    return " ".join(label.split())


def _link(state: _State, label: str, url: str | None, line: int, *, heading: bool) -> bool:
    """A line that is one link (Markdown inline or reference style)."""
    text = _label_text(label)
    out = state.out
    if _NUMBER_RE.fullmatch(text):
        discussion = url is not None and ("#community" in url or "/discussion" in url)
        out.append(Item("comments" if discussion else "upvotes", line, number=_number(text)))
        return True
    for kind, pattern in _COUNT_LABELS:
        m = pattern.fullmatch(text)
        if m:
            out.append(Item(kind, line, number=_number(m.group(1)), url=url if kind == "stars" else None))
            return True
    day = _HF_DAY.match(url or "")
    if day and not state.current_id():
        out.append(Item("date", line, when=(int(day.group(2)), int(day.group(3)), int(day.group(1)))))
        return True
    if _hf_id(url) and (heading or (text and _hf_id(url) != state.current_id())):
        out.append(Item("title", line, text=text, url=url))
        state.awaiting_submitter = False
        return True
    if heading and text:
        out.append(Item("title", line, text=text, url=url))
        return True
    if url and "github.com/" in url:
        out.append(Item("code", line, url=url))
        return True
    if url and text.casefold() in ("project page", "website", "project"):
        out.append(Item("project", line, url=url))
        return True
    page = _HF_PAGE.match(url or "")
    if page and text and page.group("seg").casefold() not in _HF_RESERVED:
        if state.awaiting_submitter:
            state.awaiting_submitter = False  # the submitter's profile
        else:
            out.append(Item("org", line, text=organization(text, page.group("seg"))))
    return True  # any other link is page chrome


_COUNT_LABELS = (
    ("upvotes", re.compile(rf"upvote\s+({_NUMBER})", re.IGNORECASE)),
    ("authors", re.compile(r"(?:[•*\-]\s*)?(\d+)\s+authors?", re.IGNORECASE)),
    ("stars", re.compile(rf"github\s+({_NUMBER})", re.IGNORECASE)),
)
_HF_DAY = re.compile(r"https?://(?:www\.)?huggingface\.co/papers/date/(\d{4})-(\d{2})-(\d{2})\b")
_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\([^)]*\)")


def _url_line(state: _State, url: str, line: int) -> None:
    """A bare URL after an element (text dumps with links): it tells what the element was."""
    out = state.out
    pid = _hf_id(url)
    prev = state.last("text")
    if pid is not None:
        if pid != state.current_id() and prev is not None and len(prev.text) <= TITLE_MAX:
            out[-1] = Item("title", prev.line, text=prev.text, url=url)
        return
    stars = state.last("stars")
    if stars is not None and stars.url is None:
        out[-1] = stars._replace(url=url)
        return
    page = _HF_PAGE.match(url)
    if page and prev is not None and page.group("seg").casefold() not in _HF_RESERVED:
        if state.awaiting_submitter:
            state.awaiting_submitter = False
        else:
            out[-1] = Item("org", prev.line, text=organization(prev.text, page.group("seg")))
        return
    if "github.com/" in url and prev is None:
        out.append(Item("code", line, url=url))


def _submitted(state: _State, m: re.Match[str], line: int) -> Item | None:
    state.awaiting_submitter = not _label_text(m.group(1)).strip()  # the name on the next line
    return None


def _published(state: _State, m: re.Match[str], line: int) -> Item | None:
    parsed = parse_date_line(m.group(1))
    return Item("published", line, when=parsed[:3]) if parsed else None


def _tab_day(state: _State, m: re.Match[str], line: int) -> Item | None:
    if state.current_id():
        return None
    return Item("date", line, when=(int(m.group(2)), int(m.group(3)), int(m.group(1))))


_Element = Callable[[_State, re.Match[str], int], "Item | None"]

#: Element lines that are not links: (pattern, what the line becomes). A pattern whose
#: handler gives None still takes the line when it is ``_submitted``; else the next
#: pattern is tried.
ELEMENT_LINES: tuple[tuple[re.Pattern[str], _Element], ...] = (
    (_UPVOTE_LINE, lambda st, m, ln: Item("upvotes", ln, number=_number(m.group(1)))),
    (_SUBMITTED, _submitted),
    (_STARS, lambda st, m, ln: Item("stars", ln, number=_number(m.group(1)))),
    (_AUTHORS, lambda st, m, ln: Item("authors", ln, number=int(m.group("n")))),
    (_PUBLISHED, _published),
    (_DATE, lambda st, m, ln: (p := parse_date_line(m.group(0))) and Item("date", ln, number=p[3], when=p[:3])),
    (_HF_DAY, _tab_day),  # the Daily/Weekly/Monthly tabs name the day
    (_BARE_COUNT, lambda st, m, ln: Item("upvotes", ln, number=_number(m.group(0)))),  # a bare upvote count
)
_SUMMARY_LABELS = frozenset({"ai-generated summary", "ai summary", "tl;dr"})


def _plain_line(state: _State, s: str, line: int) -> bool:
    """Lines that are not links: the elements of :data:`ELEMENT_LINES`, labels, chrome."""
    for pattern, element in ELEMENT_LINES:
        m = pattern.search(s) if pattern is _HF_DAY else pattern.fullmatch(s)
        if m:
            item = element(state, m, line)
            if item is not None:
                state.out.append(item)
                return True
            if pattern is _SUBMITTED:
                return True
    if state.awaiting_submitter:  # the submitter's name
        state.awaiting_submitter = False
        return True
    folded = s.casefold()
    if folded in _SUMMARY_LABELS:
        state.out.append(Item("summary", line))
    elif folded in HEADER_LINES:
        state.out.append(Item("header", line))
    elif not (
        folded in CHROME_LINES
        or not _IMAGE.sub("", s).strip(" *-•|")
        or ("](" in s and " ".join(_INLINE_LINK.sub(" ", s).split()).casefold() in CHROME_LINES | {""})
    ):
        return False  # text
    return True


Recogniser = Callable[[_State, str, int], bool]


def _rec_link(state: _State, s: str, line: int) -> bool:
    if s[0] not in "#[*-•" or "]" not in s:
        return False
    heading = s[0] == "#" and _HEADING.match(s) is not None
    body = _HEADING.sub("", s) if heading else s
    if body[0] != "[":
        body = body.lstrip("*-• ")
    m = _LINK.match(body)
    if not m:
        return False
    label = m.group("label")
    if "](" in label and "](" in _IMAGE.sub("", label):
        return False  # not one link (several on a line)
    url = m.group("url") if m.group("ref") is None else state.refs.get(m.group("ref"))
    return _link(state, label, url, line, heading=heading)


def _rec_url(state: _State, s: str, line: int) -> bool:
    m = _URL_LINE.match(s)
    if not m:
        return False
    _url_line(state, m.group("url"), line)
    return True


def _rec_text(state: _State, s: str, line: int) -> bool:
    state.awaiting_submitter = False
    state.out.append(Item("text", line, text=s, brk=state.brk))
    return True


#: The line recognisers of linked dumps, in order: the first that takes a line wins.
RECOGNISERS: tuple[Recogniser, ...] = (_rec_link, _rec_url, _plain_line, _rec_text)


def _join_label(lines: list[str], i: int, s: str) -> tuple[str, int]:
    """A link whose label wraps (``### [Long`` / ``title](url)``, ``[`` / ``65`` /
    ``][35]``) joined onto its first line ``s`` (line ``i``); (line, next index)."""
    parts = [s]
    for j in range(i + 1, min(len(lines), i + 5)):
        more = lines[j].strip()
        if not more:
            break
        parts.append(more)
        joined = " ".join(parts)
        if joined.count("[") <= joined.count("]") and _LINK_CLOSE.search(joined):
            return _OPEN_SPACE.sub("[", _CLOSE_SPACE.sub("]", joined)), j + 1
    return s, i + 1


def linked_items(lines: list[str], *, source: str) -> list[Item]:
    """Any dump that carries paper links, read line by line through :data:`RECOGNISERS`
    (the references list, wherever it is, read first)."""
    del source
    refs = {a or b: url for a, b, url in _REFDEFS.findall("\n".join(lines))}
    state = _State(refs=refs, out=[])
    i, n = 0, len(lines)
    while i < n:
        s = lines[i].strip()
        number = i + 1
        if not s:
            state.brk = True
            i += 1
            continue
        if len(s) > _PROSE and s[0] not in "[#*-•!<0123456789" and "](" not in s and not state.awaiting_submitter:
            _rec_text(state, s, number)  # a long line of prose: no recogniser takes it
            state.brk = False
            i += 1
            continue
        if "[" in s and s.count("[") > s.count("]") and (s[0] == "[" or _HEADING.match(s)):
            s, i = _join_label(lines, i, s)
        else:
            i += 1
        if (s[0] == "[" or s[0].isdigit()) and _REFDEF.match(s):
            continue
        if len(s) < 16 and s.casefold() in _REFERENCES:
            break  # the references list ends the page
        for recognise in RECOGNISERS:
            if recognise(state, s, number):
                break
        state.brk = False
    return state.out


_PROSE = 80  # longer than any element line (counts, dates, "Submitted by NAME", chrome)


_LINKED = re.compile(r"huggingface\.co/papers/[A-Za-z0-9]|^[ \t]*#{1,6}[ \t]+\[", re.MULTILINE)


def _is_linked(text: str) -> bool:
    """Whether the dump carries paper links (a substring test first: this runs on every file)."""
    if "huggingface.co/papers/" not in text and "# [" not in text:
        return False
    return _LINKED.search(text) is not None


#: The styles, in order: the first whose test accepts the text reads it.
STYLES: tuple[tuple[str, Callable[[str], bool], Callable[..., list[Item]]], ...] = (
    ("linked", _is_linked, linked_items),
    ("plain", lambda text: True, plain_items),
)


# --------------------------------------------------------------------------- assembly


@dataclass(slots=True)
class _Entry:
    title: str
    line: int
    url: str | None
    upvotes: int | None
    paragraphs: list[str]
    summary: str | None = None
    authors: int | None = None
    org: str | None = None
    when: tuple[int, int, int | None] | None = None
    comments: int | None = None
    stars: int | None = None
    code: str | None = None
    project: str | None = None
    want_summary: bool = False


def _add(entry: _Entry, item: Item) -> None:
    kind = item.kind
    if kind == "text":
        if entry.want_summary:
            entry.summary, entry.want_summary = item.text, False
        elif entry.paragraphs and not item.brk:
            entry.paragraphs[-1] += " " + item.text
        else:
            entry.paragraphs.append(item.text)
    elif kind == "summary":
        entry.want_summary = True
    elif kind == "authors":
        entry.authors = item.number
    elif kind == "org":
        entry.org = entry.org or item.text
    elif kind in ("date", "published"):
        entry.when = entry.when or item.when
        if item.number is not None:
            entry.comments = item.number
    elif kind == "comments":
        entry.comments = item.number
    elif kind == "stars":
        entry.stars = item.number
        entry.code = entry.code or item.url
    elif kind == "code":
        entry.code = entry.code or item.url
    elif kind == "project":
        entry.project = entry.project or item.url


def _paper(entry: _Entry, *, source: str, anchor: date) -> Paper:
    abstract = "\n\n".join(entry.paragraphs)
    published = resolve(*entry.when, anchor) if entry.when else None
    hf = _hf_id(entry.url)
    axid = arxiv_id(hf)
    pid = axid or hf or paper_id(entry.title)
    links = extract_links(abstract)
    code = entry.code or next((u for u in links if "github.com/" in u), None)
    return Paper(
        title=entry.title,
        abstract=abstract,
        id=pid,
        source=source,
        authors=entry.authors,
        organization=entry.org,
        published=published,
        upvotes=entry.upvotes,
        comments=entry.comments,
        url=HF_PAPER_URL.format(id=hf) if hf else None,
        links=links,
        code_url=code,
        code_stars=entry.stars,
        project_url=entry.project,
        summary=entry.summary,
        arxiv_id=axid,
    )


def assemble(items: list[Item], *, source: str, reference: date) -> tuple[date | None, tuple[Paper, ...]]:
    """The papers of an item stream; the digest date is the first date before any title."""
    digest_date: date | None = None
    entries: list[_Entry] = []
    pending_upvotes: int | None = None
    for item in items:
        if item.kind == "title":
            entries.append(_Entry(item.text, item.line, item.url, pending_upvotes, []))
            pending_upvotes = None
        elif item.kind == "upvotes":
            pending_upvotes = item.number  # the element stands before its title
        elif entries:
            _add(entries[-1], item)
        elif item.kind == "date" and item.when and digest_date is None and item.number is None:
            digest_date = resolve(*item.when, reference)
    anchor = digest_date or reference
    papers = unique_papers(_paper(e, source=source, anchor=anchor) for e in entries if e.title)
    return digest_date, papers


def parse(text: str, *, source: str, reference: date) -> tuple[date | None, tuple[Paper, ...]]:
    """Parse hf-text; returns (digest date, papers). ``reference`` is the file's mtime date."""
    lines = unwrap(text)
    for _name, accepts, items_of in STYLES:
        if accepts(text):
            items = items_of(lines, source=source)
            break
    digest_date, papers = assemble(items, source=source, reference=reference)
    if not papers:
        last = max((i for i, line in enumerate(lines, 1) if line.strip()), default=1)
        raise DigestParseError("no paper entries found; not a digest", path=source, line=last)
    return digest_date, papers
