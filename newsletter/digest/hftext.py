"""The ``hf-text`` format: text dumps of Hugging Face "Daily Papers" pages (SPEC 2.1).

The text is split into blocks at blank lines. A page header is skipped and the
digest date read; then each entry is a title block, zero or more abstract
paragraphs, and an optional three-line meta block (``• 7 authors`` or an
organisation, ``·``, a date with an optional vote count).

Telling a second abstract paragraph from the next title uses the shape of the
block: a title is one line of at most 300 characters that neither ends like a
sentence (``.``) nor holds a URL; a paragraph after the first one that looks like
a title starts the next entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from newsletter.digest.model import Paper, extract_links, paper_id
from newsletter.errors import DigestParseError

HEADER_LINES = frozenset(
    {
        "new",
        "get trending papers in your email inbox!",
        "subscribe",
        "daily papers",
        "byak and the research community",
    }
)
MONTHS = {
    m: i
    for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)
}
_DATE = re.compile(r"^(?P<mon>[A-Za-z]{3})[a-z]*\.?\s+(?P<day>\d{1,2})(?:,\s*(?P<year>\d{4}))?(?:\s+(?P<votes>\d+))?$")
_AUTHORS = re.compile(r"^(?:•\s*)?(?P<n>\d+)\s+authors?$", re.IGNORECASE)
_SEP = "·"
TITLE_MAX = 300


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
    votes: int | None


def blocks(text: str) -> list[Block]:
    """Split into blank-line separated blocks (CRLF/LF, trailing spaces tolerated)."""
    out: list[Block] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
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
    """``Sep 15`` / ``Mar 12, 2024`` / ``Sep 10 2`` -> (month, day, year, votes)."""
    m = _DATE.match(line)
    if not m or m.group("mon").lower() not in MONTHS:
        return None
    day = int(m.group("day"))
    if not 1 <= day <= 31:
        return None
    year = int(m.group("year")) if m.group("year") else None
    votes = int(m.group("votes")) if m.group("votes") else None
    return MONTHS[m.group("mon").lower()], day, year, votes


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


def organization(line: str) -> str:
    """The page repeats an organisation's name: ``ByteDance ByteDance`` -> ``ByteDance``."""
    words = line.lstrip("•").split()
    half = len(words) // 2
    if len(words) % 2 == 0 and half and words[:half] == words[half:]:
        return " ".join(words[:half])
    return " ".join(words)


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
    month, day, year, votes = parsed if parsed else (None, None, None, None)
    return Meta(authors, org, month, day, year, votes)


def is_header(block: Block) -> bool:
    return all(line.casefold() in HEADER_LINES for line in block.lines)


def looks_like_title(block: Block) -> bool:
    if len(block.lines) != 1:
        return False
    line = block.lines[0]
    return len(line) <= TITLE_MAX and not line.endswith(".") and "://" not in line


def parse(text: str, *, source: str, reference: date) -> tuple[date | None, tuple[Paper, ...]]:
    """Parse hf-text; returns (digest date, papers). ``reference`` is the file's mtime date."""
    items = blocks(text)
    i = 0
    while i < len(items) and is_header(items[i]):
        i += 1
    digest_date: date | None = None
    if i < len(items) and len(items[i].lines) == 1:
        parsed = parse_date_line(items[i].lines[0])
        if parsed and parsed[3] is None:
            month, day, year, _ = parsed
            digest_date = resolve(month, day, year, reference)
            i += 1
    anchor = digest_date or reference

    papers: list[Paper] = []
    while i < len(items):
        head = items[i]
        if as_meta(head) is not None:
            raise DigestParseError("meta block (authors, date) without a title before it", path=source, line=head.line)
        if len(head.lines) != 1:
            raise DigestParseError(
                f"expected a paper title, found {len(head.lines)} lines of text", path=source, line=head.line
            )
        title = head.lines[0]
        i += 1
        paragraphs: list[str] = []
        meta: Meta | None = None
        while i < len(items):
            block = items[i]
            meta = as_meta(block)
            if meta is not None:
                i += 1
                break
            if paragraphs and looks_like_title(block):
                break
            if not paragraphs and looks_like_title(block) and i + 1 < len(items):
                # Title directly followed by another title: this entry has no abstract.
                following = items[i + 1]
                if as_meta(following) is None and not looks_like_title(following):
                    break
            paragraphs.append(block.text)
            i += 1
        if not paragraphs and meta is None:
            raise DigestParseError(
                f"entry {title[:60]!r} has neither an abstract nor a meta block; not a digest",
                path=source,
                line=head.line,
            )
        abstract = "\n\n".join(paragraphs)
        published = None
        if meta is not None and meta.month is not None and meta.day is not None:
            published = resolve(meta.month, meta.day, meta.year, anchor)
        papers.append(
            Paper(
                title=title,
                abstract=abstract,
                id=paper_id(title),
                source=source,
                authors=meta.authors if meta else None,
                organization=meta.organization if meta else None,
                published=published,
                upvotes=meta.votes if meta else None,
                links=extract_links(abstract),
            )
        )
    if not papers:
        raise DigestParseError("no paper entries found; not a digest", path=source, line=items[-1].line if items else 1)
    return digest_date, tuple(papers)
