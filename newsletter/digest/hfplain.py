"""The plain copy of a listing page (the seeds) as an item stream (SPEC 2.1).

Blocks separated by blank lines; a page header, the digest date, then entries: a title
block, abstract paragraphs and an optional three-line meta block (``• 7 authors`` or
an organisation, ``·``, a date with an optional comment count). A title is one line of
at most 300 characters that neither ends like a sentence (``.``) nor holds a URL; a
paragraph after the first one that looks like a title starts the next entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.base.errors import DigestParseError
from newsletter.digest.hfshared import (
    AUTHORS,
    HEADER_LINES,
    TITLE_MAX,
    Item,
    count_of,
    is_count,
    organization,
    parse_date_line,
)

_SEP = "·"


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


def as_meta(block: Block) -> Meta | None:
    """A meta block, or None when the block is something else."""
    lines = block.lines
    if (_SEP not in lines and not AUTHORS.match(lines[0])) or len(lines) > 3:
        return None
    who = lines[0] if lines[0] != _SEP else None
    authors: int | None = None
    org: str | None = None
    if who is not None:
        m = AUTHORS.match(who)
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


def _meta_items(meta: Meta, line: int) -> list[Item]:
    out: list[Item] = []
    if meta.authors is not None:
        out.append(Item("authors", line, number=meta.authors))
    if meta.organization is not None:
        out.append(Item("org", line, text=meta.organization))
    if meta.month is not None and meta.day is not None:
        out.append(Item("date", line, number=meta.comments, when=(meta.month, meta.day, meta.year)))
    return out


def _page_head(items: list[Block], out: list[Item], source: str, i: int = 0) -> int:
    """The page header and the digest date from block ``i``: the index of the first entry
    block."""
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
    return i


def _ends_abstract(items: list[Block], i: int, paragraphs: int) -> bool:
    """Whether block ``i`` (after ``paragraphs`` abstract paragraphs) starts the next entry."""
    block = items[i]
    if not looks_like_title(block):
        return False
    if paragraphs:
        return True
    # Title directly followed by another title: this entry has no abstract.
    return i + 1 < len(items) and as_meta(items[i + 1]) is None and not looks_like_title(items[i + 1])


def _entry(items: list[Block], i: int, out: list[Item], source: str) -> int:
    """One entry from its title block ``i``: the index after it."""
    head = items[i]
    if as_meta(head) is not None:
        raise DigestParseError("meta block (authors, date) without a title before it", path=source, line=head.line)
    if len(head.lines) != 1:
        raise DigestParseError(
            f"expected a paper title, found {len(head.lines)} lines of text", path=source, line=head.line
        )
    out.append(Item("title", head.line, text=head.lines[0].lstrip("#").strip()))
    i += 1
    paragraphs = 0
    while i < len(items):
        block = items[i]
        meta = as_meta(block)
        if meta is not None:
            out.extend(_meta_items(meta, block.line))
            return i + 1
        if _ends_abstract(items, i, paragraphs):
            break
        out.append(Item("text", block.line, text=block.text, brk=True))
        paragraphs += 1
        i += 1
    if not paragraphs:
        raise DigestParseError(
            f"entry {head.lines[0][:60]!r} has neither an abstract nor a meta block; not a digest",
            path=source,
            line=head.line,
        )
    return i


def plain_items(lines: list[str], *, source: str) -> list[Item]:
    """The plain copy of a listing page (the seeds) as an item stream."""
    items = blocks(lines)
    out: list[Item] = []
    i = _page_head(items, out, source)
    while i < len(items):
        head = items[i]
        if is_header(head):  # the next of several pages copied into one file: its header and date
            page = [Item("header", head.line)]
            i = _page_head(items, page, source, i)
            when = next((item.when for item in page if item.kind == "date"), None)
            out.append(Item("page", head.line, when=when))
            continue
        if len(head.lines) == 1 and i + 1 < len(items) and is_count(head.lines[0]):
            out.append(Item("upvotes", head.line, number=count_of(head.lines[0])))  # the upvote element
            i += 1
            continue
        i = _entry(items, i, out, source)
    return out
