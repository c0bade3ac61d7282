"""Markdown lists of papers, as people and LLM tools write them when they copy a listing
(SPEC 2.1): one list item a paper, its title a link, the abstract after a dash or a
colon on the same line, or on the next (indented) line::

    1. **[Title](https://huggingface.co/papers/<id>)** — abstract text
    - **[Title](https://hf.co/papers/<id>)**: abstract text
    * [Title](https://huggingface.co/papers/<id>)
      abstract text

:func:`list_paper` reads such a line (pure); the linked reader
(:mod:`~newsletter.digest.hflinked`) makes the link the card's title when it names a
paper, and the rest its first text. A list item whose link does not open the item
(``- see [this paper](url) for more``) is a sentence, read as before.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from newsletter.digest.mdlinks import Link, inline_links, label_text, unescape

#: A list item's marker (``1.``, ``12)``, ``-``, ``*``, ``+``, ``•``) and the emphasis that
#: may open its title (``**``, ``__``, ``*``, ``_``).
_ITEM = re.compile(r"(?:\d{1,4}[.)]|[-*+•])[ \t]+(?P<em>\*\*|__|\*|_)?(?=\[)")
#: What may stand between the title and the abstract: the closing emphasis, a dash or a colon.
_SEPARATOR = re.compile(r"(?:\*\*|__|\*|_)?[ \t]*(?::|[—–]|--?|\|)?[ \t]*")
LIST_START = frozenset("0123456789-*+•")
# A list item opening with a link to a paper whose label is no count (``- [3 authors](…)``,
# ``- [19](…)`` are a card's elements), searched in "\n" + text
_LIST_TITLE = re.compile(
    r"\n[ \t]*(?:\d{1,4}[.)]|[-*+•])[ \t]+(?:\*\*|__|\*|_)?"
    r"\[(?![-•*\s\d.,kK]*(?:authors?)?\s*\])[^\[\]\n]+\]\(\s*<?https?://(?:www\.)?"
    r"(?:(?:huggingface|hf)\.co/papers/[A-Za-z0-9]|arxiv\.org/abs/\d)"
)


class ListPaper(NamedTuple):
    """A list item that opens with a link: the link, and the text after it (maybe "")."""

    link: Link
    rest: str


def list_paper(body: str) -> ListPaper | None:
    """``body`` (a stripped line) as a list item opening with a link, else None."""
    m = _ITEM.match(body)
    if m is None:
        return None
    links = inline_links(body)
    if not links or links[0].start != m.end():
        return None
    first = links[0]
    sep = _SEPARATOR.match(body, first.end)
    end = sep.end() if sep is not None else first.end
    rest = body[end:]
    if rest and m.group("em") and rest.startswith(m.group("em")):
        rest = rest[len(m.group("em")) :]
    return ListPaper(first, _words(rest, [lk for lk in links[1:] if lk.start >= end], shift=end))


def _words(rest: str, links: list[Link], *, shift: int) -> str:
    """The text after the title, each link in it its label (``(after [TabNet](url))``
    is ``(after TabNet)``)."""
    parts: list[str] = []
    pos = 0
    for link in links:
        parts.append(rest[pos : link.start - shift])
        parts.append(label_text(link.label))
        pos = link.end - shift
    parts.append(rest[pos:])
    return unescape("".join(parts))


def list_titles(text: str) -> bool:
    """Whether some list item of ``text`` opens with a link to a paper (its titles are
    list items, not headings)."""
    return "](" in text and _LIST_TITLE.search("\n" + text) is not None
