"""Quoted-printable bodies line by line, each distinct line encoded once per run
(a speed fence: ``tests/test_render_qpmemo.py`` holds it to ``binascii.b2a_qp``).

Quoted-printable of text (``binascii.b2a_qp(data, istext=True)`` with ``\\n`` line
breaks) encodes every line on its own: the state (the length of the output line,
what a trailing space or a lone dot becomes) starts afresh after each line break.
So the encoding of a body is the encodings of its lines joined by the line
separator, and the lines of a pass's emails repeat: the HTML head and styles in
every email, a paper's lines in every email that shows it (the paper's HTML comes
from one memo, :mod:`newsletter.render.memo`). :class:`QuotedPrintableMemo` keeps
the encoded lines of the run (bounded) and encodes only the lines it has not seen,
with :func:`~newsletter.render.fastmime.quoted_printable`.
"""

from __future__ import annotations

from newsletter.render.fastmime import quoted_printable

LIMIT = 50_000  # distinct lines kept (then the memo starts afresh)
MAX_BYTES = 4_000_000  # characters of the lines kept, with their encodings (the long HTML lines)


class QuotedPrintableMemo:
    """``quoted_printable(text, linesep)`` for the texts of a run, line by line."""

    def __init__(self, linesep: bytes = b"\r\n", limit: int = LIMIT, max_bytes: int = MAX_BYTES) -> None:
        self.linesep = linesep
        self._inner: dict[str, bytes] = {}  # a line followed by a line break
        self._last: dict[str, bytes] = {}  # the last line (no line break after it)
        self._limit = limit
        self._max_bytes = max_bytes
        self._bytes = 0

    def encode(self, text: str) -> bytes:
        """The bytes of ``quoted_printable(text, self.linesep)``."""
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        last = lines.pop()
        inner = self._inner
        if len(inner) + len(lines) > self._limit or self._bytes + 3 * len(text) > self._max_bytes:
            inner.clear()
            self._last.clear()
            self._bytes = 0
        out = []
        for line in lines:
            done = inner.get(line)
            if done is None:
                done = inner[line] = self._line(line + "\n")
                self._bytes += len(line) + len(done)
            out.append(done)
        done = self._last.get(last)
        if done is None:
            done = self._last[last] = quoted_printable(last, self.linesep)
            self._bytes += len(last) + len(done)
        out.append(done)
        return self.linesep.join(out)

    def _line(self, line: str) -> bytes:
        """One line followed by its line break, encoded without that break."""
        return quoted_printable(line, self.linesep)[: -len(self.linesep)]
