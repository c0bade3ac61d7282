"""A single paper's page (``huggingface.co/papers/<id>``) saved as text or Markdown: a
one-paper digest (SPEC 2.1).

A paper page is told from a listing by what only it has: ``Models citing this paper``
(``Datasets``/``Spaces``), or the ``Title: Paper page - ...`` line a reader proxy writes,
together with its ``Abstract`` label. Read from it:

* the title: the page's first level-1 heading (``# Title``), else the ``Title: Paper
  page - Title`` line, else (a plain copy) the first line before ``Published on``,
  ``Submitted by`` or ``Authors:`` that is no chrome;
* the id: from the page's own address (``URL Source: https://huggingface.co/papers/<id>``,
  a link of the title), else from its own arXiv link (``View arXiv page``, ``View PDF``);
  never from the papers the page lists below (``Models citing this paper``, the
  community's recommendations): reading stops at those sections;
* ``Published on``, ``Authors:``, ``Upvote N``, the AI summary, the abstract (the
  paragraphs after ``Abstract``), the GitHub link with its stars, the project page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from newsletter.digest.hfshared import CHROME_LINES, NUMBER, SUMMARY_LABELS, number, paper_ref, parse_date_line, resolve
from newsletter.digest.mdlinks import inline_links, label_text, unescape
from newsletter.digest.model import ARXIV_PDF_URL, HF_PAPER_URL, Paper, arxiv_id, extract_links, paper_id

_SIGN = re.compile(
    r"^[ \t]*(?:title:[ \t]*paper page[ \t]*[-–—]|(?:#{1,6}[ \t]+)?(?:models|datasets|spaces) citing this paper)",
    re.IGNORECASE | re.MULTILINE,
)
_ABSTRACT = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]+)?(?:\*\*)?abstract(?:\*\*)?[ \t]*:?[ \t\r]*$", re.IGNORECASE | re.MULTILINE
)
_END = re.compile(
    r"(?:#{1,6}[ \t]+)?(?:(?:models|datasets|spaces) citing this paper|collections including this paper"
    r"|community|cite arxiv\.org/abs/\S+ in a model\S*.*)(?:[ \t]+\d+)?",
    re.IGNORECASE,
)
_HEADING = re.compile(r"(#{1,6})[ \t]+(.*)")
_PAGE_TITLE = re.compile(r"title:[ \t]*paper page[ \t]*[-–—][ \t]*(?P<t>.+)", re.IGNORECASE)
_URL_SOURCE = re.compile(r"url source:[ \t]*(?P<u>\S+)", re.IGNORECASE)
_UPVOTE = re.compile(rf"upvote[ \t]+(?P<n>{NUMBER})", re.IGNORECASE)
_STARS = re.compile(rf"github[ \t]+(?P<n>{NUMBER})", re.IGNORECASE)
_PUBLISHED = re.compile(r"published on[ \t]+(?P<d>.+)", re.IGNORECASE)
_AUTHORS = re.compile(r"authors?[ \t]*:[ \t]*(?P<names>.*)", re.IGNORECASE)
_BEFORE_TITLE = re.compile(r"(?:published on|submitted by|authors?[ \t]*:)", re.IGNORECASE)
_ARXIV_BADGE = re.compile(r"arxiv:[ \t]*(?P<id>\S+)", re.IGNORECASE)
# The page's buttons under the abstract (a plain copy shows them as lines): the abstract ends
_BUTTONS = frozenset({"view arxiv page", "view pdf", "add to collection", "project page", "cite", "share"})
_COUNT = re.compile(NUMBER)
_HEAD = 65536  # the signs of a paper page are near its start


def is_paper_page(text: str) -> bool:
    """Whether ``text`` is the dump of one paper's page (not of a listing)."""
    head = text[:_HEAD]
    return _SIGN.search(head) is not None and _ABSTRACT.search(head) is not None


@dataclass(slots=True)
class _Page:
    """What the lines of the page said so far."""

    title: str | None = None
    fallback_title: str | None = None
    ref: tuple[str, bool] | None = None  # (id, a Hugging Face link) from the page's own address
    arxiv: str | None = None  # from the page's own arXiv link
    when: tuple[int, int, int | None] | None = None
    names: list[str] = field(default_factory=list)
    upvotes: int | None = None
    summary: str | None = None
    paragraphs: list[list[str]] = field(default_factory=list)
    code: str | None = None
    stars: int | None = None
    project: str | None = None
    section: str = "head"  # head, abstract (its text), summary (the AI summary's), after
    last_plain: str | None = None  # the latest line of a plain copy that may be its title
    brk: bool = True
    votes_next: bool = False  # a plain copy's "Upvote" line: the count is the next line


def _links(page: _Page, line: str) -> bool:
    """A line of links (``[View arXiv page](...) [GitHub 1.2k](...)``): what they point to
    (True: the line was only links)."""
    links = inline_links(line)
    if not links:
        return False
    for link in links:
        _link(page, label_text(link.label), link.url or "")
    rest = line
    for link in reversed(links):
        rest = rest[: link.start] + rest[link.end :]
    return not rest.strip(" |·•-*,")


def _link(page: _Page, label: str, url: str) -> None:
    ref = paper_ref(url)
    folded = label.casefold()
    if (up := _UPVOTE.fullmatch(label)) is not None:
        page.upvotes = number(up.group("n"))  # the upvote button (its link: login?next=…)
    elif ref is not None:
        if not ref[1] and page.arxiv is None:
            page.arxiv = ref[0]  # the page's own arXiv page or PDF (another paper's page: no id)
    elif "github.com/" in url:
        page.code = page.code or url
        stars = _STARS.fullmatch(label)
        page.stars = number(stars.group("n")) if stars else page.stars
    elif "project" in folded and page.project is None:
        page.project = url


def _meta(page: _Page, s: str) -> bool:
    """A line of the page's head (the title, the date, the authors, the counts)."""
    if (m := _PAGE_TITLE.fullmatch(s)) is not None:
        page.fallback_title = unescape(m.group("t"))
    elif (m := _URL_SOURCE.fullmatch(s)) is not None:
        page.ref = paper_ref(m.group("u")) or page.ref
    elif (m := _PUBLISHED.fullmatch(s)) is not None:
        parsed = parse_date_line(label_text(m.group("d")).strip())
        page.when = parsed[:3] if parsed else page.when
    elif (m := _AUTHORS.fullmatch(s)) is not None:
        page.names = _names(m.group("names"))
        page.section = "head" if page.names else "authors"  # a plain copy: a name a line
    elif (m := _UPVOTE.fullmatch(s)) is not None:
        page.upvotes = number(m.group("n"))
    elif (m := _ARXIV_BADGE.fullmatch(s)) is not None and page.section == "head":
        page.arxiv = page.arxiv or arxiv_id(m.group("id"))
    else:
        return False
    return True


def _names(text: str) -> list[str]:
    """``[Ana B](url), [Carl D](url)`` or ``Ana B, Carl D`` -> the names."""
    for link in reversed(inline_links(text)):
        text = text[: link.start] + label_text(link.label).replace(",", " ") + text[link.end :]
    return [name for part in text.split(",") if (name := unescape(part))]


def _title_link(page: _Page, ref: tuple[str, bool] | None) -> None:
    """The paper the title links to: its Hugging Face page, or its arXiv page."""
    if ref is not None and ref[1]:
        page.ref = page.ref or ref
    elif ref is not None:
        page.arxiv = page.arxiv or ref[0]


def _heading(page: _Page, level: int, body: str) -> None:
    links = inline_links(body)
    if level == 1 and page.title is None:
        if links and links[0].start == 0:
            _title_link(page, paper_ref(links[0].url))
            body = links[0].label
        page.title = label_text(body)
    elif page.section in ("abstract", "summary"):
        page.section = "after"  # the abstract ends at the next heading


def _text(page: _Page, s: str) -> None:
    if page.section == "authors":
        if s.strip(",·• "):
            page.names.append(unescape(s.strip(", ")))
    elif page.section == "summary":
        page.summary = f"{page.summary} {unescape(s)}" if page.summary and not page.brk else unescape(s)
    elif page.section == "abstract":
        if page.paragraphs and not page.brk:
            page.paragraphs[-1].append(unescape(s))
        else:
            page.paragraphs.append([unescape(s)])
    elif page.title is None and page.section == "head" and s.casefold() not in CHROME_LINES:
        page.last_plain = unescape(s)


def _label(page: _Page, folded: str) -> bool:
    """A label line of the page (``Abstract``, ``AI-generated summary``, ``Upvote``, a
    button under the abstract): the part of the page it opens (False: no label)."""
    if folded in ("abstract", "abstract:"):
        page.section = "abstract"
    elif folded in SUMMARY_LABELS:
        page.section = "summary"
    elif folded == "upvote":
        page.votes_next = True
    elif folded in _BUTTONS or folded.startswith("github "):
        page.section = "after" if page.section != "head" else "head"
    else:
        return False
    return True


def _count(page: _Page, s: str) -> bool:
    """The count on the line after a plain copy's ``Upvote``."""
    page.votes_next = False
    if _COUNT.fullmatch(s) is None:
        return False
    page.upvotes = number(s)
    return True


def _line(page: _Page, s: str) -> bool:
    """One stripped line; False: the page's own part ended (its lists follow)."""
    if _END.fullmatch(s):
        return False
    folded = s.casefold().strip("*# ")
    if m := _HEADING.fullmatch(s):
        if not _label(page, folded):
            _heading(page, len(m.group(1)), m.group(2))
    elif (page.votes_next and _count(page, s)) or _label(page, folded):
        pass
    elif page.title is None and page.last_plain and _BEFORE_TITLE.match(s):
        page.title = page.last_plain  # a plain copy: the line before the date is the title
        _meta(page, s)
    elif not _meta(page, s) and not ("](" in s and _links(page, s)):
        _prose(page, s)
    return True


def _prose(page: _Page, s: str) -> None:
    if page.section == "summary" and page.summary and page.brk:
        page.section = "abstract"  # the summary is one paragraph; the abstract follows
    _text(page, s)


def read_page(lines: list[str]) -> _Page:
    page = _Page()
    for raw in lines:
        s = raw.strip()
        if not s:
            page.brk = True
            continue
        if not _line(page, s):
            break
        page.brk = False
    return page


def _ids(page: _Page) -> tuple[str | None, str | None]:
    """(the Hugging Face id, the arXiv id) of the page: its own address first."""
    hf_id = page.ref[0] if page.ref is not None and page.ref[1] else None
    return hf_id, arxiv_id(hf_id) or arxiv_id(page.arxiv)


def paper_of(lines: list[str], *, source: str, reference: date) -> Paper | None:
    """The one paper of a paper page's lines (None: no title could be read)."""
    page = read_page(lines)
    title = page.title or page.fallback_title
    if not title:
        return None
    hf_id, axid = _ids(page)
    page_id = hf_id or axid
    abstract = "\n\n".join(" ".join(p) for p in page.paragraphs)
    links = extract_links(abstract)
    return Paper(
        title=title,
        abstract=abstract,
        id=axid or page_id or paper_id(title),
        source=source,
        authors=len(page.names) or None,
        author_names=tuple(page.names),
        published=resolve(*page.when, reference) if page.when else None,
        upvotes=page.upvotes,
        url=HF_PAPER_URL.format(id=page_id) if page_id else None,  # the page is the paper's
        pdf_url=ARXIV_PDF_URL.format(id=axid) if axid else None,
        links=links,
        code_url=page.code or next((u for u in links if "github.com/" in u), None),
        code_stars=page.stars,
        project_url=page.project,
        summary=page.summary,
        arxiv_id=axid,
    )
