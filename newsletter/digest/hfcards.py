"""Item stream -> papers, one card at a time, and the check that none was lost (SPEC 2.1).

A card starts at its title, or before it at a thumbnail or upvote element (the page
shows those first); the next card's first element ends it. **An id is given only by
a link inside the paper's own card:** the title's link, a thumbnail or upvote link
right before the title, or (when the title had no link) the first link after it.
An element naming another paper than its card never joins the card: from there to
the next card, nothing does (that card was one the reader could not read). A section
heading ends the card's text; text after an abstract that came as a link is not
abstract either.

:func:`assemble` returns the papers and the ids the dump linked to that no card read
(``missing``): the digest is then ``partial``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from newsletter.digest.hfshared import Item, resolve
from newsletter.digest.model import HF_PAPER_URL, Paper, arxiv_id, extract_links, paper_id, unique_papers


class Card:
    """What the items of one card say (a plain class: the defaults are class attributes,
    so that a card costs two attribute writes to make, not eighteen)."""

    title: str | None = None
    pid: str | None = None
    hf: bool = False
    upvotes: int | None = None
    summary: str | None = None
    authors: int | None = None
    org: str | None = None
    when: tuple[int, int, int | None] | None = None
    comments: int | None = None
    stars: int | None = None
    code: str | None = None
    project: str | None = None
    want_summary: bool = False
    linked_abstract: bool = False  # the abstract came as a link: no more text is abstract
    closed: bool = False  # a section heading came: no more text is this card's
    foreign: bool = False  # an element of another paper came: nothing more is this card's
    anchor: date | None = None  # the date of the page copy the card is on, when not the first

    def __init__(self, line: int) -> None:
        self.line = line
        self.paragraphs: list[list[str]] = []

    def claim(self, pid: str | None, hf: bool) -> bool:
        """Whether an element naming ``pid`` belongs to this card (a card without an id
        takes it)."""
        if pid is None:
            return True
        if self.pid is None:
            self.pid = pid
        if pid != self.pid:
            return False
        self.hf = self.hf or hf
        return True


def _text(card: Card, item: Item) -> None:
    if card.closed or card.linked_abstract:
        return
    if card.want_summary:
        card.summary, card.want_summary = item.text, False
    elif card.paragraphs and not item.brk:
        card.paragraphs[-1].append(item.text)
    else:
        card.paragraphs.append([item.text])


def _abstract(card: Card, item: Item) -> None:
    if card.want_summary:
        card.summary, card.want_summary = item.text, False
    elif not card.linked_abstract:
        card.paragraphs.append([item.text])
        card.linked_abstract = True


def _meta(card: Card, item: Item) -> None:
    kind = item.kind
    if kind == "authors":
        card.authors = item.number
    elif kind == "org":
        card.org = card.org or item.text
    elif kind in ("date", "published"):
        card.when = card.when or item.when
        if item.number is not None:
            card.comments = item.number
    elif kind == "comments":
        card.comments = item.number
    elif kind == "stars":
        card.stars = item.number
        card.code = card.code or item.url
    elif kind == "code":
        card.code = card.code or item.url
    elif kind == "project":
        card.project = card.project or item.url


_ADD = {"text": _text, "abstract": _abstract}


def _add(card: Card, item: Item) -> None:
    """An item after the card's title."""
    if card.foreign:
        return
    pid = item.pid
    if pid is not None and not card.claim(pid, item.hf):
        card.foreign = True  # another paper's element: its card was not read
        return
    kind = item.kind
    if kind in _ADD:
        _ADD[kind](card, item)
    elif kind == "summary":
        card.want_summary = True
    elif kind == "section":
        card.closed = True
    else:
        _meta(card, item)


@dataclass(slots=True)
class _Assembly:
    reference: date
    cards: list[Card] = field(default_factory=list)
    cur: Card | None = None
    digest_date: date | None = None
    anchor: date | None = None  # the date of the page copy being read, after the first

    def feed(self, items: list[Item]) -> None:
        for item in items:
            kind = item[0]
            cur = self.cur
            if kind == "title":
                self._title(item)
            elif kind == "thumb" or kind == "upvotes":
                self._before_title(item)
            elif kind == "page":  # the next of several page copies in one file
                self.cur = None
                self.anchor = resolve(*item.when, self.reference) if item.when else None
            elif cur is not None and cur.title is not None:
                _add(cur, item)
            elif kind == "date":
                self._page_date(item)

    def _page_date(self, item: Item) -> None:
        """The digest date: the first date before any card (not a card's, with comments)."""
        if not self.cards and item.when and self.digest_date is None and item.number is None:
            self.digest_date = resolve(*item.when, self.reference)

    def _title(self, item: Item) -> None:
        cur = self.cur
        if cur is None or cur.title is not None or not cur.claim(item.pid, item.hf):
            cur = self._start(item)
            cur.claim(item.pid, item.hf)
        cur.title, cur.line = item.text, item.line

    def _before_title(self, item: Item) -> None:
        """A thumbnail or upvote element: the start of the next card (or more of its start)."""
        cur = self.cur
        if cur is not None and item.pid is not None and item.pid == cur.pid:
            card = cur  # the card's own (shown after its title, or twice)
        elif cur is not None and cur.title is None and cur.claim(item.pid, item.hf):
            card = cur
        else:
            card = self._start(item)
            card.claim(item.pid, item.hf)
        if item.kind == "upvotes" and item.number is not None:
            card.upvotes = item.number

    def _start(self, item: Item) -> Card:
        card = Card(item.line)
        if self.anchor is not None:
            card.anchor = self.anchor
        self.cards.append(card)
        self.cur = card
        return card


_arxiv_id = lru_cache(maxsize=1 << 14)(arxiv_id)


def _abstract_of(paragraphs: list[list[str]]) -> str:
    if len(paragraphs) == 1 and len(paragraphs[0]) == 1:
        return paragraphs[0][0]  # one line (a summary, a long line, a link's label): most cards
    return "\n\n".join(" ".join(p) for p in paragraphs)


def _paper(card: Card, title: str, *, source: str, anchor: date) -> Paper:
    abstract = _abstract_of(card.paragraphs)
    published = resolve(*card.when, card.anchor or anchor) if card.when else None
    axid = _arxiv_id(card.pid)
    links = extract_links(abstract)
    code = card.code or next((u for u in links if "github.com/" in u), None)
    return Paper(
        title=title,
        abstract=abstract,
        id=axid or card.pid or paper_id(title),
        source=source,
        authors=card.authors,
        organization=card.org,
        published=published,
        upvotes=card.upvotes,
        comments=card.comments,
        url=HF_PAPER_URL.format(id=card.pid) if card.hf and card.pid else None,
        links=links,
        code_url=code,
        code_stars=card.stars,
        project_url=card.project,
        summary=card.summary,
        arxiv_id=axid,
    )


@dataclass(frozen=True, slots=True)
class Assembled:
    digest_date: date | None
    papers: tuple[Paper, ...]
    missing: tuple[str, ...]  # ids linked that no card read, in page order


def assemble(items: list[Item], *, source: str, reference: date, linked: tuple[str, ...] = ()) -> Assembled:
    """The papers of an item stream (the digest date is the first date before any card)
    and the ids of ``linked`` that no card read."""
    run = _Assembly(reference)
    run.feed(items)
    anchor = run.digest_date or reference
    papers = [_paper(c, c.title, source=source, anchor=anchor) for c in run.cards if c.title]
    read = {c.pid for c in run.cards if c.title and c.pid}
    missing = tuple(pid for pid in linked if pid not in read)
    return Assembled(run.digest_date, unique_papers(papers), missing)
