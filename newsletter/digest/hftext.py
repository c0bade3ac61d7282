"""The ``hf-text`` format: text dumps of Hugging Face papers listings (SPEC 2.1).

Every dump style goes through the same three steps:

1. :func:`unwrap` removes what wraps the page: YAML front matter, a fenced block,
   a ``[Content truncated]`` marker.
2. A *style* turns the text into one stream of :class:`~newsletter.digest.hfshared.Item`
   (a title, a line of text, an author count, an upvote count, a thumbnail, ...). Two
   styles exist: ``plain`` (:mod:`~newsletter.digest.hfplain`: a copy of the page as
   shown, the seeds, titles told by the shape of their block) and ``linked``
   (:mod:`~newsletter.digest.hflinked`: every other dump: Markdown, crawler Markdown,
   paperswithcode-style lists, text-browser dumps with reference links, text with a URL
   line after each element; links read by :mod:`~newsletter.digest.mdlinks`). A new
   dump style is one more entry in :data:`STYLES`.
3. :func:`~newsletter.digest.hfcards.assemble` turns the stream into papers, one card
   at a time (ids only from links inside a paper's own card), one paper per id
   (trending pages show each card twice), and names the ids the dump links to that no
   card read: such a digest is ``partial`` (SPEC 2.1, "No silent loss, no wrong ids").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import NamedTuple

from newsletter.base.errors import DigestParseError
from newsletter.digest.hfcards import assemble
from newsletter.digest.hflinked import linked_items
from newsletter.digest.hfpaper import is_paper_page, paper_of
from newsletter.digest.hfplain import plain_items
from newsletter.digest.hfshared import Item
from newsletter.digest.model import Paper
from newsletter.digest.quickfind import contains
from newsletter.digest.textrefs import as_reference_links, is_numbered_dump

_TRUNCATED = re.compile(r"\s*\[(?:content truncated|truncated)[^\]]*\]\s*", re.IGNORECASE)
_FENCE = re.compile(r"^(?:```|~~~)[\w-]*$")
# What makes a dump no plain copy (each searched with a literal first character, fast): a
# Markdown link to a paper, a URL line (or reference) of one, a Markdown heading. A paper's
# address inside a sentence of a plain copy's abstract is none of these.
_PAPER_LINK = re.compile(
    r"\]\(\s*<?https?://(?:www\.)?(?:(?:huggingface|hf)\.co/(?:papers/[A-Za-z0-9]|login\?next=%2Fpapers)"
    r"|arxiv\.org/abs/\d)"
)
_PAPER_URL_LINE = re.compile(
    r"\n[ \t]*(?:\[\d+\]:?[ \t]*|\d+\.[ \t]+)?<?https?://(?:www\.)?(?:huggingface|hf)\.co/(?:papers/[A-Za-z0-9]|login\?next)"
)
_HEADING_LINE = re.compile(r"\n[ \t]{0,3}#{1,6}[ \t]+\S")
_RELATIVE = re.compile(r"(?P<open>\]\(\s*<?)/(?=papers/[A-Za-z0-9]|login\?next=%2Fpapers%2F)")
_ANGLE_LINK = re.compile(
    r"^(?=[^\s<>\[\]])(?P<text>(?:[^<>\[\]\n.]|\.(?!\s)){1,300}?)(?<![,;:!?])[ \t]+<(?P<url>https?://(?:www\.)?"
    r"(?:(?:huggingface|hf)\.co/papers/[A-Za-z0-9][^<>\s]*|arxiv\.org/abs/[^<>\s]+))>[ \t]*$",
    re.MULTILINE,
)
_LINK_START = re.compile(r"[ \t]*(?:#{1,6}[ \t]+|[-*+][ \t]+)?!?\[")
_PANDOC_DIV = re.compile(r":{3,}[ \t]*(?:\{[^{}]*\}|[\w-]+)?[ \t]*:*[ \t]*")
_PANDOC_ATTRS = re.compile(r"(?<=[)\]])\{[#.][^{}\n]*\}|[ \t]+\{#[^{}\n]*\}[ \t]*$")
_REFERENCE_END = re.compile(r"\]\[[^\[\]]*\][ \t]*$")


class Reading(NamedTuple):
    """What a text dump gave: its date, its papers, the ids it links to that were not read."""

    date: date | None
    papers: tuple[Paper, ...]
    missing: tuple[str, ...]


def absolute(text: str) -> str:
    """Links to papers in the one shape the readers know (Markdown, absolute).

    Root-relative links made absolute: an HTML-to-Markdown converter run on a saved page
    (markitdown, html2text, pandoc) does not know the page's address and writes
    ``[Title](/papers/<id>)``, ``[12](/login?next=%2Fpapers%2F<id>)``. A line that ends in
    a paper's address in angle brackets (``Title <https://huggingface.co/papers/<id>>``,
    as mail clients and HTML-to-text converters write links) is that Markdown link, when
    its text is a title (short, no sentence's end in it: an abstract citing a paper stays text)."""
    if "](/" in text or "]( /" in text:
        text = _RELATIVE.sub(r"\g<open>https://huggingface.co/", text)
    if contains(text, " <http"):
        text = _ANGLE_LINK.sub(r"[\g<text>](\g<url>)", text)
    return text


def unwrap(text: str) -> list[str]:
    """The lines of ``text`` without what wraps the page (front matter, fences, the
    ``[Content truncated]`` marker, a link the file ends in the middle of); lines keep
    their numbers (removed ones are blank)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if text.lstrip()[:3] == "---":
        _blank_front_matter(lines)
    fences, truncated = contains(text, "```") or contains(text, "~~~"), "runcated" in text
    if fences or truncated:
        _blank_markers(lines, fences=fences, truncated=truncated)
    if ":::" in text or contains(text, "){") or contains(text, "]{"):
        _strip_pandoc(lines)
    if lines and _cut_link(lines[-1]):  # the file ends inside a link (a capture cut short)
        lines[-1] = ""
    return lines


def _strip_pandoc(lines: list[str]) -> None:
    """Pandoc's Markdown markup (``pandoc -t markdown`` of a saved page) taken out: fenced
    div lines (``::: {.article}``, ``:::``) blanked, attributes after a link, an image or
    a heading (``{.line-clamp-3}``, ``{#id}``) cut."""
    for i, line in enumerate(lines):
        if line[:3] == ":::" and _PANDOC_DIV.fullmatch(line):
            lines[i] = ""
        elif "{" in line:
            lines[i] = _PANDOC_ATTRS.sub("", line)


def _cut_link(line: str) -> bool:
    """Whether ``line`` (the file's last, without its line end) is a Markdown link line the
    file was cut in the middle of (``[3](https:/``, ``[![](https://hugg``, ``### [Tit``)."""
    if _LINK_START.match(line) is None:
        return False
    if line.count("[") != line.count("]") or line.rfind("](") > line.rfind(")"):
        return True
    # ``[3]``, ``[![](a.png)]``: cut before the target's ``(`` (``[Title][32]`` is whole)
    return line.rstrip().endswith("]") and _REFERENCE_END.search(line) is None


def _blank_front_matter(lines: list[str]) -> None:
    """YAML front matter (``---`` ... ``---`` within the first 60 lines) blanked out."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or lines[first].strip() != "---":
        return
    end = next((i for i in range(first + 1, min(len(lines), first + 60)) if lines[i].strip() == "---"), None)
    if end is not None:
        lines[first : end + 1] = [""] * (end + 1 - first)


def _blank_markers(lines: list[str], *, fences: bool, truncated: bool) -> None:
    """Fence lines blanked, ``[Content truncated]`` markers cut out of their line."""
    for i, line in enumerate(lines):
        if fences and line[:1] in "`~ \t" and _FENCE.match(line.strip()):
            lines[i] = ""
        elif truncated and "runcated" in line and _TRUNCATED.search(line):
            lines[i] = _TRUNCATED.sub(" ", line.strip()).strip()


def _is_linked(text: str) -> bool:
    """Whether the dump is no plain copy: it links to papers or has Markdown headings (a
    substring test first: this runs on every file)."""
    if "#" in text and _HEADING_LINE.search("\n" + text):
        return True
    if "huggingface.co/" not in text and "arxiv.org/abs/" not in text and "hf.co/papers/" not in text:
        return False
    return _PAPER_LINK.search(text) is not None or _PAPER_URL_LINE.search("\n" + text) is not None


def _linked(lines: list[str], source: str) -> tuple[list[Item], tuple[str, ...]]:
    found = linked_items(lines, source=source)
    return found.items, found.linked


def _plain(lines: list[str], source: str) -> tuple[list[Item], tuple[str, ...]]:
    return plain_items(lines, source=source), ()


#: The styles, in order: the first whose test accepts the text reads it, giving the
#: items and the paper ids the text links to.
STYLES: tuple[
    tuple[str, Callable[[str], bool], Callable[[list[str], str], tuple[list[Item], tuple[str, ...]]]], ...
] = (
    ("linked", _is_linked, _linked),
    ("plain", lambda text: True, _plain),
)


def _one_paper(lines: list[str], *, source: str, reference: date) -> Reading:
    paper = paper_of(lines, source=source, reference=reference)
    if paper is None:
        first = next((i for i, line in enumerate(lines, 1) if line.strip()), 1)
        raise DigestParseError("a paper's page without its title; not a digest", path=source, line=first)
    return Reading(None, (paper,), ())


def parse(text: str, *, source: str, reference: date) -> Reading:
    """Parse hf-text. ``reference`` is the file's mtime date."""
    if is_numbered_dump(text):  # lynx -dump, w3m -dump: "[12]Title", the references at the end
        text = as_reference_links(text)
    text = absolute(text)
    lines = unwrap(text)
    if is_paper_page(text):  # one paper's page: a one-paper digest
        return _one_paper(lines, source=source, reference=reference)
    items: list[Item] = []
    linked: tuple[str, ...] = ()
    for _name, accepts, items_of in STYLES:
        if accepts(text):
            items, linked = items_of(lines, source)
            break
    done = assemble(items, source=source, reference=reference, linked=linked)
    if not done.papers:
        last = max((i for i, line in enumerate(lines, 1) if line.strip()), default=1)
        if done.missing:  # it links to papers, none of which could be read: failed, never silently empty
            ids = ", ".join(done.missing)
            raise DigestParseError(f"no paper read of the {len(done.missing)} it links to ({ids})", path=source)
        raise DigestParseError("no paper entries found; not a digest", path=source, line=last)
    return Reading(done.digest_date, done.papers, done.missing)
