"""The entries of a JSON digest with the line each starts on (SPEC 2.2, 6c).

A JSON digest is an array of entries, or JSON values one after the other (JSON Lines:
``jq -c '.[]'``; several answers in one file: ``cat day1.json day2.json``, their arrays
joined). Each entry is decoded on its own (``json.JSONDecoder.raw_decode``, in C) so a
bad one can be named by its index and line. In a sequence of values, a value that is not
JSON (a line cut short, a stray line) is set aside as one bad entry and the reader goes on
at the next line that starts a value; inside one array, broken JSON leaves no way to tell
where the next entry starts: the file is not JSON, an error naming its line.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from newsletter.base.errors import DigestParseError

_DECODER = json.JSONDecoder()
_BLANK = re.compile(r"\s*")
_NEXT_VALUE = re.compile(r"\n(?=[\[{])")  # a line that starts a value (JSON Lines, pretty-printed answers)


class Entry(NamedTuple):
    """One entry: its decoded value (or None when ``error`` says it is not JSON) and the
    line it starts on (None: not known, inside a wrapper object)."""

    value: Any
    line: int | None
    error: str | None = None


class _Cursor:
    """A position in the text and its line number, counted forward once."""

    def __init__(self, text: str) -> None:
        self.text, self.at, self.line, self._counted = text, 0, 1, 0

    def skip_blank(self) -> None:
        self.at = _BLANK.match(self.text, self.at).end()  # type: ignore[union-attr]

    def line_at(self) -> int:
        self.line += self.text.count("\n", self._counted, self.at)
        self._counted = self.at
        return self.line

    def decode(self) -> Any:
        value, self.at = _DECODER.raw_decode(self.text, self.at)
        return value

    def decode_value(self) -> Any:
        """The value at the cursor, decoded up to the next line that starts a value (JSON
        Lines: its own line; a pretty-printed document, as ``jq`` and ``json.dumps(indent=
        2)`` write: its indented lines), so a broken value never swallows the next ones and
        each costs its own length. An error counts lines from the value's first."""
        m = _NEXT_VALUE.search(self.text, self.at + 1)
        value, end = _DECODER.raw_decode(self.text[self.at : m.start() if m else len(self.text)])
        self.at += end
        return value


def _error(
    exc: json.JSONDecodeError | RecursionError, source: str, line: int, *, relative: bool = False
) -> DigestParseError:
    """The error of a value that starts on ``line`` (``relative``: ``exc`` counts lines
    from there, else in the file)."""
    if isinstance(exc, RecursionError):
        return DigestParseError("JSON nested too deeply; not a digest", path=source, line=line)
    return DigestParseError(f"invalid JSON: {exc.msg}", path=source, line=exc.lineno + (line - 1 if relative else 0))


def _array(cur: _Cursor, out: list[Entry], source: str) -> None:
    """The items of the array that starts at the cursor, each with its line."""
    cur.at += 1
    cur.skip_blank()
    if cur.text[cur.at : cur.at + 1] == "]":
        cur.at += 1
        return
    while True:
        cur.skip_blank()
        line = cur.line_at()
        try:
            out.append(Entry(cur.decode(), line))
        except (json.JSONDecodeError, RecursionError) as exc:
            raise _error(exc, source, line) from None
        cur.skip_blank()
        sep = cur.text[cur.at : cur.at + 1]
        cur.at += 1
        if sep == "]":
            return
        if sep != ",":
            where = cur.text.count("\n", 0, cur.at - 1) + 1
            raise DigestParseError("invalid JSON: expected ',' or ']' between entries", path=source, line=where)


def _skip_bad(cur: _Cursor, out: list[Entry], exc: json.JSONDecodeError | RecursionError) -> None:
    """A value of a sequence that is not JSON: one bad entry; on at the next line that
    starts a value (or the end)."""
    line = cur.line_at()
    msg = "nested too deeply" if isinstance(exc, RecursionError) else exc.msg
    out.append(Entry(None, line, f"invalid JSON: {msg}"))
    m = _NEXT_VALUE.search(cur.text, cur.at + 1)
    cur.at = m.end() if m else len(cur.text)


def entries(text: str, *, source: str) -> tuple[list[Entry], bool]:
    """The entries of ``text`` in order, and whether it was one array (or one object)
    rather than a sequence of values. A top-level array gives its items; a lone object
    gives itself (a wrapper ``{"papers": [...]}`` is the caller's to open)."""
    cur = _Cursor(text)
    out: list[Entry] = []
    values = 0
    cur.skip_blank()
    while cur.at < len(text):
        values += 1
        if text[cur.at] == "[":
            _array(cur, out, source)
        else:
            line = cur.line_at()
            try:
                out.append(Entry(cur.decode_value(), line))
            except (json.JSONDecodeError, RecursionError) as exc:
                if values == 1 and _NEXT_VALUE.search(text, cur.at + 1) is None:
                    raise _error(exc, source, line, relative=True) from None  # one value, not JSON: not a digest
                _skip_bad(cur, out, exc)
        cur.skip_blank()
    return out, values == 1
