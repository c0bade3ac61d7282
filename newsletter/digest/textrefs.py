"""Numbered-reference dumps of text browsers (SPEC 2.1): ``lynx -dump`` and ``w3m -dump``
(``-o display_link_number=1``) write each link as its number before its text,
``[12]Title``, and list the addresses at the end::

    References

       1. https://huggingface.co/
      12. https://huggingface.co/papers/2611.01234

(w3m: ``References:`` and ``[12] https://...``). :func:`as_reference_links` rewrites
such a dump, line for line (line numbers kept), into the reference-link Markdown the
linked reader already knows (``[Title][12]``, ``[12]: https://...``): a link's text runs
to the next link's number or the end of its line, and a title that runs over the next
line(s) of its paragraph (lynx wraps at 79 columns) is joined on. Ids come from the
references only, through the link of each paper's own title (and its upvote and author
links), never from a neighbour.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# The references header, then a numbered address within a few lines.
_HEADER = re.compile(
    r"^[ \t]*(?:references|visible links)[ \t]*:?[ \t]*\n(?:[ \t]*\n){0,3}[ \t]*(?:\d+\.|\[\d+\])[ \t]+\S+://",
    re.IGNORECASE | re.MULTILINE,
)
# "[12]Text": a link's number right before its text (not Markdown: no "]" or "!" before it;
# its text starts at once, with no space, bracket or punctuation: "[1]." cites a reference).
# The "[" comes first and the look back after it (``(?<![\]!\\])\[`` written the other way
# round): a pattern opening with a literal is searched for in C, one opening with a look
# back is tried at every character (a line without links: 0.09 against 1.2 microseconds).
_MARKER = re.compile(r"\[(?<![\]!\\]\[)(\d{1,5})\](?=[^\s\[\]():.,;!?])")
# "[12][IMG]", "[12][thumb.png]": a link that is only an image (lynx's placeholder or the
# image's file name): a thumbnail, no text
_IMAGE_LINK = re.compile(r"\[(?<![\]!\\]\[)(\d{1,5})\]\[[^\[\]\n]{0,120}\]")
_IMAGE_PLACE = re.compile(r"\[\]\[\d{1,5}\]")  # an image link once rewritten
_ALONE = re.compile(r"[ \t]*\[(\d{1,5})\][ \t]*")
# An avatar row: images that link nowhere, shown as their name ("* [b.png]", w3m's "• [a]")
# or, without one, as a bare bullet ("*"); never text of a paper
_IMAGES_ONLY = re.compile(r"[ \t]*(?:[*•][ \t]*|(?:[*•+-][ \t]*)?(?:\[(?!\d+\])[^\[\]\n]{1,120}\][ \t]*)+)")
_W3M_REF = re.compile(r"^[ \t]*\[(\d{1,5})\][ \t]+(\S+://\S+)[ \t]*$")
_PARAGRAPH_MAX = 3  # lines a wrapped title may run over
_TITLE_MAX = 300


_HEADER_WORDS = ("References", "REFERENCES", "references", "Visible links", "Visible Links")
_BODY_HEAD = 65536  # a dump's first link numbers (the site menu, the first cards) come early


def _references(text: str) -> re.Match[str] | None:
    """The references header (the last one: the list ends the dump), found with ``rfind``
    first: a regular expression over a whole dump costs ~40 instructions a character."""
    for word in _HEADER_WORDS:
        i = text.rfind(word)
        if i >= 0 and (m := _HEADER.match(text, text.rfind("\n", 0, i) + 1)) is not None:
            return m
    return None


def is_numbered_dump(text: str) -> bool:
    """Whether ``text`` is a text browser's dump with numbered links: a references list
    at its end and link numbers (``[12]Text``) in its body."""
    if "[" not in text:
        return False
    m = _references(text)
    return m is not None and _MARKER.search(text, 0, min(m.start(), _BODY_HEAD)) is not None


def _split(line: str) -> str:
    """A body line with each ``[N]text`` as ``[text][N]`` (``[N][IMG]``: ``[][N]``). A
    link's text ends at the next link, an image link included: w3m writes a card's
    comment count and the next card's thumbnail on one line (``[12]3 [13][thumb2]``)."""
    images: list[int] = []
    if "][" in line:
        line = _IMAGE_LINK.sub(r"[][\1]", line)
        images = [m.start() for m in _IMAGE_PLACE.finditer(line)]
    marks = list(_MARKER.finditer(line))
    if not marks:
        return line
    parts = [line[: marks[0].start()]]
    for k, m in enumerate(marks):
        stop = marks[k + 1].start() if k + 1 < len(marks) else len(line)
        end = next((at for at in images if m.end() <= at < stop), stop)
        label = line[m.end() : end]
        tail = label[len(label.rstrip()) :]
        label = label.strip().replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
        parts.append(f"[{label}][{m.group(1)}]{tail}{line[end:stop]}")
    return "".join(parts)


def _wrapped(lines: list[str], i: int, end: int) -> int:
    """How many lines after line ``i`` (one link from its start to its end) continue its
    text: the rest of a short paragraph without links of its own (0: none)."""
    n = 0
    size = len(lines[i].strip())
    while i + n + 1 < end and n < _PARAGRAPH_MAX:
        nxt = lines[i + n + 1]
        if not nxt.strip() or _MARKER.search(nxt) or (nxt[:1] not in " \t" and lines[i][:1] in " \t"):
            break
        size += len(nxt.strip()) + 1
        n += 1
    blank_after = i + n + 1 >= end or not lines[i + n + 1].strip()
    return n if n and blank_after and size <= _TITLE_MAX else 0


def _body_line(lines: list[str], i: int, end: int) -> int:
    """Line ``i`` of the body rewritten (with the lines its link's text wraps onto);
    returns how many lines it took."""
    line = lines[i]
    m = _MARKER.search(line)
    if m is None:
        if "][" in line:
            lines[i] = _split(line)  # image links only
        elif (bare := _ALONE.fullmatch(line)) is not None:
            lines[i] = f"[][{bare.group(1)}]"  # a link with nothing to show (an image without alt)
        elif _IMAGES_ONLY.fullmatch(line):
            lines[i] = ""
        return 1
    alone = not line[: m.start()].strip() and len(_MARKER.findall(line)) == 1
    more = _wrapped(lines, i, end) if alone else 0
    if more:
        line = line.rstrip() + " " + " ".join(s.strip() for s in lines[i + 1 : i + 1 + more])
        lines[i + 1 : i + 1 + more] = [""] * more  # joined on: blank, line numbers kept
    lines[i] = _split(line)
    return 1 + more


# The speed fence of the body rewrite: :func:`_body_line_fast` gives the lines
# :func:`_body_line` gives (property tests in ``tests/test_digest_textrefs_fast.py``), the
# lines most dumps are made of at once: a line without "[" (prose, blank, a bullet), and
# a line that is one link number before its label, alone on its line and not wrapped.
_BULLETS = ("*", "•")  # a line of images without names (_IMAGES_ONLY with no "[" in it)
# "   [12]Label": one link number after blanks, its label (without brackets or escapes) to
# the end of the line (a match of _MARKER, the only one on its line)
_ONE_LINK = re.compile(r"([ \t]*)\[(\d{1,5})\](?=[^\s\[\]():.,;!?])([^\[\]\\]*)")


def _body_line_fast(lines: list[str], i: int, end: int) -> int:
    """:func:`_body_line`, the common lines without its regular expressions."""
    line = lines[i]
    if "[" not in line:  # no link number, no image link: only a row of bare bullets changes
        if line.strip(" \t") in _BULLETS:
            lines[i] = ""
        return 1
    one = _ONE_LINK.fullmatch(line)
    if one is None or _wrapped(lines, i, end):
        return _body_line(lines, i, end)
    label = one.group(3)  # (it starts with no blank: the look ahead)
    shown = label.rstrip()
    lines[i] = f"{one.group(1)}[{shown}][{one.group(2)}]{label[len(shown) :]}"
    return 1


def as_reference_links(text: str) -> str:
    """``text`` (:func:`is_numbered_dump`) with its numbered links as Markdown reference
    links and its references as definitions, line for line."""
    return _rewritten(text, _body_line_fast)


def as_reference_links_plain(text: str) -> str:
    """:func:`as_reference_links` the plain way, every line through :func:`_body_line`
    (the reference the fast way is tested against)."""
    return _rewritten(text, _body_line)


def _rewritten(text: str, body_line: Callable[[list[str], int, int], int]) -> str:
    lines = text.split("\n")
    refs = _references(text)
    body_end = text.count("\n", 0, refs.start()) if refs is not None else len(lines)
    i = 0
    while i < body_end:
        i += body_line(lines, i, body_end)
    for k in range(body_end, len(lines)):
        w3m = _W3M_REF.match(lines[k])
        if w3m is not None:
            lines[k] = f"[{w3m.group(1)}]: {w3m.group(2)}"
    return "\n".join(lines)
