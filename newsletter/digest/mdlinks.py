"""Markdown links in text dumps, as the tools people save pages with write them.

The one tokenizer of the ``hf-text`` reader:

* :func:`join_link` joins a link whose label runs over several lines (a wrapped title,
  an abstract wrapped in its paper link with ``\\\\`` line ends, avatar bullets inside the
  author link, ``[``/``65``/``][35]``) into one logical line. A label never runs over a
  blank line or into a heading (CommonMark: both end a paragraph); escaped brackets
  (``\\[``) do not count.
* :func:`whole_link` reads a line that is one link (``[label](url "title")``,
  ``[label][ref]``, labels holding images or brackets: ``[![](a.png)](url)``,
  ``[[Image: no alt text]](url)``), :func:`inline_links` the links inside a line of text
  (``May 29[6](url)``).
* :func:`label_text` is what a label says once images, emphasis, escapes and line breaks
  are gone.

Brackets are counted with string methods (``count``, ``rfind``, ``split``), a regular
expression only where brackets nest: a regular expression costs ~40 instructions a
character in CPython, a label of 2,000 characters (an abstract) costs a handful of
string calls.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_BRACKET = re.compile(r"\\.|[\[\]]", re.DOTALL)
_BRACKETS = re.compile(r"[\[\]]")
_ESCAPED = re.compile(r"\\.", re.DOTALL)
# The destination of an inline link: ``(url)``, ``(<url>)``, ``(url "title")``; one level
# of parentheses inside the URL (Wikipedia-style).
_DEST = re.compile(r"\(\s*<?(?P<url>[^()\s<>]*(?:\([^()\s]*\)[^()\s<>]*)*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_SIMPLE = re.compile(r"\[([^\[\]\\\n]*)\]\(([^()\s<>]*)\)[ \t]*")
_URL_TO_END = re.compile(r"https?://[^\s()<>]+\s*")
_REF = re.compile(r"\[\s*(?P<ref>\d+)\s*\]")
IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)|!\[[^\]]*\]\[\d+\]")
_LINE_BREAK = re.compile(r"\\+[ \t]*\n|\\+[ \t]*$|\\[ \t]+")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_CLOSING_LINE = re.compile(r"\](?:\([^()\s]*\)|\[\d+\])\s*$")
JOIN_MAX = 120  # lines one label may span (an abstract of 2,000 characters at 20 a line)


class Link(NamedTuple):
    """One link of a line: ``label`` as written, ``url`` (None: a reference link,
    ``ref`` its number), ``start``/``end`` its span in the line."""

    label: str
    url: str | None
    ref: str | None
    start: int
    end: int


def depth_after(text: str, depth: int = 0) -> int:
    """The bracket depth at the end of ``text`` when it starts at ``depth`` (escapes skipped)."""
    if "\\[" in text or "\\]" in text:
        text = _ESCAPED.sub("", text)
    opens, closes = text.count("["), text.count("]")
    if not closes:
        return depth + opens
    if not opens:
        return max(depth - closes, 0)
    for c in _BRACKETS.findall(text):
        if c == "[":
            depth += 1
        elif depth:
            depth -= 1
    return depth


def _balanced(label: str) -> bool:
    """Whether every bracket of ``label`` closes, in order (escapes skipped)."""
    if "\\[" in label or "\\]" in label:
        label = _ESCAPED.sub("", label)
    depth = 0
    for c in _BRACKETS.findall(label):
        depth += 1 if c == "[" else -1
        if depth < 0:
            return False
    return depth == 0


def _stops(line: str) -> bool:
    """A line a label never runs into: blank, or a heading."""
    return not line or (line[0] == "#" and line.lstrip("#")[:1] in (" ", "\t"))


def join_link(lines: list[str], i: int, first: str, depth: int) -> tuple[str, int]:
    """The logical line that starts at line ``i`` (stripped: ``first``) and the index after
    it: ``first`` joined (by newlines, as they are) with the lines its open link label runs over, or
    ``first`` alone when nothing closes the label before a blank line or a heading. A
    label whose brackets never balance (``[0, 1)`` in an abstract) still closes at the
    first line of the paragraph that ends like a link (``...](url)``). ``depth``: the
    bracket depth at the end of ``first`` (:func:`depth_after`)."""
    end = min(len(lines), i + 1 + JOIN_MAX)
    j = i + 1
    while j < end:
        line = lines[j]
        if not line or line.isspace() or ("#" in line and _stops(line.strip())):
            break
        if "[" in line or "]" in line:
            depth = depth_after(line, depth)
            if depth == 0:
                return "\n".join([first, *lines[i + 1 : j + 1]]).rstrip(), j + 1
        j += 1
    for k in range(i + 1, j):  # lenient: the first line that ends like a link closes it
        if _CLOSING_LINE.search(lines[k]):
            return "\n".join([first, *lines[i + 1 : k + 1]]).rstrip(), k + 1
    return first, i + 1


def _close(text: str, start: int) -> int:
    """The index of the ``]`` that closes the ``[`` at ``start``, or -1."""
    first = text.find("]", start)
    if first >= 0 and text.find("[", start + 1, first) < 0 and text.find("\\", start, first) < 0:
        return first  # no bracket nor escape inside: the first "]" closes it
    depth = 0
    for m in _BRACKET.finditer(text, start):
        c = m.group()
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return m.start()
    return -1


def _target(text: str, close: int) -> tuple[str | None, str | None, int] | None:
    """What follows a label's ``]`` at ``close``: (url, ref, end) of ``(url)`` or ``[n]``."""
    nxt = text[close + 1 : close + 2]
    if nxt == "(":
        end = text.find(")", close + 2)
        url = text[close + 2 : end]
        if end > 0 and " " not in url and "(" not in url and "<" not in url:
            return url, None, end + 1  # the plain case: (url)
        m = _DEST.match(text, close + 1)
        if m is None and end < 0 and _URL_TO_END.fullmatch(text, close + 2):
            return text[close + 2 :].rstrip(), None, len(text)  # the line cut before ")"
        return (m.group("url"), None, m.end()) if m else None
    if nxt == "[":
        m = _REF.match(text, close + 1)
        return (None, m.group("ref"), m.end()) if m else None
    return None


def whole_link(text: str) -> Link | None:
    """``text`` (starting with ``[``) as one link, or None when it is anything else."""
    m = _SIMPLE.fullmatch(text) if len(text) < 200 else None  # a regex costs ~40 instructions a character
    if m is not None:  # no brackets, escapes or parentheses inside: most links
        return Link(m.group(1), m.group(2), None, 0, m.end())
    close = text.rfind("](")
    label = text[1:close]
    if close < 0 or (("[" in label or "]" in label) and not _balanced(label)):
        close = _close(text, 0)  # the last "](" is not this label's end: count the brackets
        label = text[1:close]
    if close < 0:
        return None
    target = _target(text, close)
    if target is None or target[2] != len(text.rstrip()):
        return None
    url, ref, end = target
    return Link(label, url, ref, 0, end)


def inline_links(text: str) -> list[Link]:
    """The links of a line of text, left to right (images inside labels stay in the label;
    a bare image is no link)."""
    out: list[Link] = []
    pos = text.find("[")
    while pos >= 0:
        close = _close(text, pos)
        if close < 0:
            break
        target = _target(text, close)
        if target is None or (pos and text[pos - 1] == "!"):
            pos = text.find("[", (target[2] if target else pos + 1))
            continue
        url, ref, end = target
        out.append(Link(text[pos + 1 : close], url, ref, pos, end))
        pos = text.find("[", end)
    return out


def unescape(text: str) -> str:
    """Markdown escapes and hard line breaks gone, whitespace collapsed:
    ``Engage\\  with`` -> ``Engage with``, ``\\[Re\\]`` -> ``[Re]``."""
    if "\\" in text:
        text = text.replace("\\\\\n", " ")  # the line ends of a label a crawler wrapped
        if "\\" in text:
            text = _ESCAPE.sub(r"\1", _LINE_BREAK.sub(" ", text))
    if "  " not in text and (
        text.isprintable() if len(text) < 200 or not text.isascii() else not ("\n" in text or "\t" in text)
    ):
        return text.strip()  # single spaces only (most titles, counts, abstracts): nothing to collapse
    return " ".join(text.split())


def label_text(label: str) -> str:
    """What a label says: images, ``**``/``__`` emphasis, escapes and line breaks removed."""
    if "!" in label:
        label = IMAGE.sub(" ", label)
    if "**" in label or "__" in label:
        label = label.replace("**", "").replace("__", "")
    return unescape(label)


def without_links(text: str, links: list[Link], *, labels: bool) -> str:
    """``text`` with each link replaced by its label text (``labels``) or removed."""
    parts: list[str] = []
    pos = 0
    for link in links:
        parts.append(text[pos : link.start])
        if labels:
            parts.append(label_text(link.label))
        pos = link.end
    parts.append(text[pos:])
    return unescape(" ".join(parts))
