"""What every style of the ``hf-text`` reader shares: the element record
(:class:`Item`), the page's fixed lines (header, chrome), dates, counts,
organisation lines and the paper id a link names (SPEC 2.1)."""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import NamedTuple

from newsletter.digest.model import arxiv_id

HEADER_LINES = frozenset(
    {
        "new",
        "get trending papers in your email inbox!",
        "get trending papers in your email inbox once a day!",
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
SUMMARY_LABELS = frozenset({"ai-generated summary", "ai summary", "tl;dr"})
MONTHS = {
    m: i
    for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)
}
DATE = re.compile(r"^(?P<mon>[A-Za-z]{3})[a-z]*\.?\s+(?P<day>\d{1,2})(?:,\s*(?P<year>\d{4}))?(?:\s+(?P<votes>\d+))?$")
AUTHORS = re.compile(r"^(?:[•*\-·]\s*)*(?P<n>\d+)\s+authors?$", re.IGNORECASE)
NUMBER = r"(?:\d[\d,]*(?:\.\d+)?[kKmM]?|-)"
NUMBER_RE = re.compile(NUMBER)
UPVOTE_LINE = re.compile(rf"(?:\[\s*[-+x]?\s*\]|upvote)\s*({NUMBER})", re.IGNORECASE)
BARE_COUNT = re.compile(r"\d[\d,]*(?:\.\d+)?[kK]?")
TITLE_MAX = 300
_NON_WORD = re.compile(r"[\W_]+")

# The paper a link names: its Hugging Face page (any fragment or query: ``#community``),
# the login link of its upvote button (``login?next=%2Fpapers%2F<id>``), its arXiv page.
_HF_PAPERS = "huggingface.co/papers/"
_HF_SHORT = "hf.co/papers/"  # the short host Hugging Face links with (hf.co/papers/<id>)
_HF_NEXT = "huggingface.co/login?next=%2Fpapers%2F"
#: (where a paper's slug starts, whether it is URL-escaped), in the order they are looked for
_HF_PREFIXES = (
    (_HF_PAPERS, False),
    (_HF_SHORT, False),
    (_HF_NEXT, True),
    ("hf.co/login?next=%2Fpapers%2F", True),
)
_ARXIV = re.compile(r"(?:export\.)?arxiv\.org/(?:abs|pdf)/(?P<ax>[\w.\-]+(?:/\d{7}(?:v\d+)?)?)", re.IGNORECASE)
_SLUG = re.compile(r"[A-Za-z0-9][\w.\-]*")
_NOT_PAPERS = frozenset({"date", "week", "month", "trending", "search", "submit"})


class Item(NamedTuple):
    """One element of a dump, whatever its style (immutable; a NamedTuple because a
    dump makes ten of them per paper).

    ``kind``: ``header`` (page header seen), ``date`` (a date line: ``when`` and
    ``number`` = comments), ``title`` (``text``), ``text`` (a line or paragraph; ``brk``:
    a blank line before it), ``abstract`` (the abstract as the text of a link),
    ``thumb`` (a thumbnail linking to a paper), ``authors``, ``org``, ``upvotes``,
    ``comments``, ``published`` (``when``), ``stars`` (``number``, ``url``), ``code``,
    ``project`` (``url``), ``summary`` (the next text is an AI summary), ``section``
    (a heading that is no paper's: the card before it takes no more text), ``page`` (the
    header of the next of several page copies in one file; ``when``: its date).
    ``pid``: the paper the element's link names (:func:`paper_ref`), ``hf`` whether
    that link is a Hugging Face one."""

    kind: str
    line: int
    text: str = ""
    number: int | None = None
    url: str | None = None
    when: tuple[int, int, int | None] | None = None
    brk: bool = False
    pid: str | None = None
    hf: bool = False


def _host_at(url: str, i: int) -> bool:
    """Whether the host part of ``url`` ends at ``i`` as (www.)huggingface.co, hf.co / arxiv.org."""
    head = url[:i].lower()
    return head in ("https://", "http://", "https://www.", "http://www.", "https://export.", "http://export.")


def _hf_slug(url: str, start: int, *, escaped: bool) -> str | None:
    m = _SLUG.match(url, start)
    if m is None:
        return None
    rest = url[m.end() :]
    # login?next=%2Fpapers%2F<id>[%23community]; else a fragment, a query or a page of the paper
    ok = not rest or (rest[0] == "%" if escaped else rest[0] in "?#/")
    slug = m.group()
    return slug if ok and slug.lower() not in _NOT_PAPERS else None


@lru_cache(maxsize=1 << 14)  # a card names its paper four or five times
def paper_ref(url: str | None) -> tuple[str, bool] | None:
    """``(paper id, is a Hugging Face link)`` of a link to a paper, else None. An arXiv
    id loses its version; the login link of an upvote button names its paper too; the
    short host (``https://hf.co/papers/<id>``) is the same page, over http or https, with
    or without ``www.``, a query (``?utm_source=x``) or a fragment (``#community``)."""
    if not url:
        return None
    for prefix, escaped in _HF_PREFIXES:
        i = url.find(prefix)
        if i >= 0:
            slug = _hf_slug(url, i + len(prefix), escaped=escaped) if _host_at(url, i) else None
            return (arxiv_id(slug) or slug, True) if slug else None
    return _arxiv_ref(url)


def _arxiv_ref(url: str) -> tuple[str, bool] | None:
    i = url.find("arxiv.org/")
    if i < 0:
        return None
    m = _ARXIV.match(url, i - 7 if url[:i].lower().endswith("export.") else i)
    if m is None or not _host_at(url, m.start()) or url[m.end() :] not in ("", "/", ".pdf"):
        return None
    ax = arxiv_id(m.group("ax").removesuffix(".pdf"))
    return (ax, False) if ax else None


@lru_cache(maxsize=1 << 12)  # pure; a dump's dates recur ("Oct 30", a card's "Oct 1" with its count)
def parse_date_line(line: str) -> tuple[int, int, int | None, int | None] | None:
    """``Sep 15`` / ``Mar 12, 2024`` / ``Sep 10 2`` -> (month, day, year, comments)
    (memoised: ``parse_date_line.__wrapped__`` is the plain function)."""
    m = DATE.match(line)
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


def _initial_handle(handle: str, rest: list[str]) -> bool:
    """``SUDA`` before ``Soochow University``: an upper-case handle with the name's initial."""
    if len(rest) < 2 or len(handle) < 2 or not (handle.isupper() and handle.isalpha()):
        return False
    return rest[0][:1].isupper() and handle[0] == rest[0][0] and not rest[0].isupper()


@lru_cache(maxsize=1 << 12)  # a page names few organisations, many times
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
        first, rest = words[0], words[1:]
        if _squash(first) == _squash(" ".join(rest)) or (rest[0] == first and len(rest) > 1):
            return " ".join(rest)  # "IBM IBM Research"
        if _initial_handle(first, rest):
            return " ".join(rest)
    return " ".join(words)


def number(text: str) -> int:
    """``19`` / ``1,204`` / ``3.29k`` / ``-`` (none: 0) -> int."""
    if text.isdigit():
        return int(text)
    text = text.replace(",", "").strip()
    if text in ("-", ""):
        return 0
    scale = 1
    if text[-1] in "kK":
        scale, text = 1000, text[:-1]
    elif text[-1] in "mM":
        scale, text = 1_000_000, text[:-1]
    return round(float(text) * scale)


def is_count(line: str) -> bool:
    """A line that is only an upvote count (``19``, ``1.2k``, ``-``, ``[-] 19``, ``Upvote 3``)."""
    return line == "-" or BARE_COUNT.fullmatch(line) is not None or UPVOTE_LINE.fullmatch(line) is not None


def count_of(line: str) -> int:
    """The number of a line :func:`is_count` accepts."""
    m = UPVOTE_LINE.fullmatch(line)
    return number(m.group(1) if m else line)


# A paper page's abstract block as a scraper takes its text: the label, the AI summary, the
# model line under it, then the abstract ("Abstract Retrieved ... traps.  Generated by
# org/Model Memory has become ..."); a paper without a summary leaves the label, then two
# spaces ("Abstract  Customer-service agents ...").
_PAGE_ABSTRACT = re.compile(
    r"Abstract(?:\s+(?P<summary>\S.*?[.!?])\s+Generated by [\w.-]+/[\w.-]+\s+|[ \t]{2,})(?P<abstract>\S.*)",
    re.DOTALL,
)


def page_abstract(text: str) -> tuple[str | None, str]:
    """(the AI summary, the abstract) of a paper page's abstract block run together; (None,
    the text) for any other text."""
    m = _PAGE_ABSTRACT.fullmatch(text.strip())
    return (m.group("summary"), m.group("abstract")) if m else (None, text)
