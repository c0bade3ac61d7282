"""The two bounds an HTTP answer must keep whatever the server does (SPEC 2.5, 6c).

- :class:`Deadline`: the whole answer within ``fetch.timeout``. httpx's timeouts are
  per operation (connect, each read), so a server that drips its header lines one
  every few seconds, each within the read timeout, would hold a fetch (and the
  daemon's fetch job) for ever. The deadline learns each connection's socket through
  httpx's public ``trace`` request extension and shuts it down when the time is up;
  the blocked read then fails at once and the request is reported as timed out.
  Connections are not kept alive between requests (a fetch makes a handful), so
  every request's connection is one the deadline saw being opened.
- :class:`Decoder`: the ``Content-Encoding`` undone by us, never more than
  ``max_bytes`` of output in memory. httpx decodes every chunk whole and chains
  layered encodings (``Content-Encoding: gzip, gzip``), so 2 KB of doubly gzipped
  zeros became 1 GiB in memory before any size check could refuse it. One layer of
  ``gzip`` or ``deflate`` (what httpx asks for) is decoded with zlib's
  ``max_length``; layered or unknown encodings are refused.
"""

from __future__ import annotations

import socket
import zlib
from collections.abc import Mapping
from typing import Any

from newsletter.base.cutoff import SocketDeadline

_OPENED = (".connect_tcp.complete", ".start_tls.complete")


class Deadline(SocketDeadline):
    """Shuts the request's connection down ``seconds`` after the ``with`` block starts;
    pass :meth:`trace` as the request's ``trace`` extension (it learns the socket when
    the connection opens). ``expired`` says it fired."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if not event.endswith(_OPENED):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            self.attach(sock)


class TooLarge(Exception):
    """The decoded answer is larger than the cap."""


class BadEncoding(Exception):
    """The answer's Content-Encoding is refused, or its data does not decode."""


class Decoder:
    """The body of an answer with ``Content-Encoding`` ``encoding`` decoded, chunk by
    chunk, into at most ``limit`` bytes (:class:`TooLarge` past it)."""

    def __init__(self, encoding: str | None, limit: int) -> None:
        codings = [c.strip().lower() for c in (encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1:
            raise BadEncoding(f"layered content encodings ({', '.join(codings)}) are refused")
        if codings and codings[0] not in ("gzip", "x-gzip", "deflate"):
            raise BadEncoding(f"content encoding {codings[0][:40]!r} is not one we asked for")
        self.coding = codings[0] if codings else None
        self.limit = limit
        self.size = 0
        self._zlib: Any = None
        self._first = True

    def feed(self, data: bytes) -> bytes:
        if self.coding is None:
            return self._count(data)
        if self._zlib is None:
            self._zlib = zlib.decompressobj(31 if "gzip" in self.coding else 15)
        try:
            out = self._zlib.decompress(data, self.limit - self.size + 1)
        except zlib.error:
            if not (self._first and self.coding == "deflate"):
                raise BadEncoding("the answer's content encoding is broken") from None
            self._zlib = zlib.decompressobj(-15)  # raw deflate, as some servers send it
            self._first = False
            return self.feed(data)
        self._first = False
        if self._zlib.unconsumed_tail:
            raise TooLarge
        return self._count(out)

    def finish(self) -> None:
        if self._zlib is not None and not self._zlib.eof and not self._first:
            raise BadEncoding("the answer's content encoding is broken (cut short)")

    def _count(self, data: bytes) -> bytes:
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge
        return data
