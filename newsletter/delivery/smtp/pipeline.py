"""RFC 2920 PIPELINING for the envelope of a message: ``MAIL FROM``, ``RCPT TO`` and
``DATA`` in one write, their three replies read together; the body then goes as usual.

Why: each SMTP round trip costs the sending process an event-loop wake-up, a read and
a reply parse (about a fifth of a millisecond of CPU each); a message stepwise takes
four (MAIL, RCPT, DATA, the body), pipelined two. When: the server's EHLO advertised
``PIPELINING`` and both addresses are plain (:func:`~.session.envelope_address`);
otherwise the session goes step by step, as before.

aiosmtplib (5.1) reads one reply per command written: its protocol keeps a single
reply waiter and drops bytes that arrive while a parsed reply waits to be picked up,
so the second and third replies of a pipelined batch would be lost (a read timeout).
:class:`PipeliningProtocol` is aiosmtplib's protocol with one addition: while a batch
is outstanding, every byte received is kept and the replies are parsed from it in
order (:meth:`PipeliningProtocol.batch_reply`); outside a batch it is aiosmtplib's
own code. :class:`PipeliningSMTP` is the client that uses it.
"""

from __future__ import annotations

import asyncio

import aiosmtplib
from aiosmtplib.protocol import SMTPProtocol
from aiosmtplib.response import SMTPResponse

MAX_BATCH_BYTES = 16384  # replies of one batch kept at most (aiosmtplib's own cap is 10 KB a reply)


class PipeliningProtocol(SMTPProtocol):
    """aiosmtplib's protocol, able to read the replies of a pipelined batch."""

    outstanding = 0  # replies of the batch not read yet (0: aiosmtplib's own reading)
    arrived: asyncio.Event | None = None
    overflow = False

    def send_batch(self, commands: bytes, replies: int) -> None:
        """Write ``commands`` (``replies`` of them) in one write."""
        self.outstanding, self.overflow = replies, False
        self.arrived = asyncio.Event()
        self.write(commands)

    async def batch_reply(self, timeout: float | None) -> SMTPResponse:
        """The next reply of the batch, waiting at most ``timeout`` seconds for all of it
        (as aiosmtplib does for a reply: a server dripping it a byte at a time, each
        within the timeout, is cut off all the same)."""
        arrived = self.arrived
        assert arrived is not None and self.outstanding > 0
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if self.overflow:
                raise aiosmtplib.SMTPResponseException(-1, "Response too long")
            reply = self._read_response_from_buffer()
            if reply is not None:
                self.outstanding -= 1
                return reply
            if self.transport is None or self.transport.is_closing():
                raise aiosmtplib.SMTPServerDisconnected("Connection lost")
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), None if deadline is None else max(0.0, deadline - loop.time()))
            except TimeoutError as exc:
                raise aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response") from exc

    def data_received(self, data: bytes) -> None:
        if self.outstanding <= 0:
            super().data_received(data)
            return
        self._buffer.extend(data)
        if len(self._buffer) > MAX_BATCH_BYTES:
            del self._buffer[:]
            self.overflow = True
        self._wake()

    def eof_received(self) -> bool:
        self._wake()
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._wake()

    def _wake(self) -> None:
        if self.arrived is not None:
            self.arrived.set()


class PipeliningSMTP(aiosmtplib.SMTP):
    """``aiosmtplib.SMTP`` whose connections use :class:`PipeliningProtocol`.

    aiosmtplib builds its protocol inside ``_create_connection`` with no way to name
    another class; the instance is given the subclass right after (it adds methods
    and three class-level defaults, no state of its own to initialise)."""

    async def _create_connection(self, timeout: float | None) -> SMTPResponse:
        reply = await super()._create_connection(timeout)
        if type(self.protocol) is SMTPProtocol:
            self.protocol.__class__ = PipeliningProtocol
        return reply

    async def greet(self) -> None:
        """EHLO (HELO if EHLO is refused) unless said in this session: what ``mail()``
        does first, said before the first envelope so that it can be pipelined too."""
        if not self.is_ehlo_or_helo_needed:
            return
        try:
            await self.ehlo()
        except aiosmtplib.SMTPHeloError:
            if not self.is_connected:
                raise
            await self.helo()


def batch_protocol(client: aiosmtplib.SMTP) -> PipeliningProtocol | None:
    """The protocol to pipeline a message's envelope on: the server advertised
    PIPELINING and the connection reads batches; else None (step by step)."""
    protocol = client.protocol
    if not isinstance(protocol, PipeliningProtocol) or client.last_ehlo_response is None:
        return None
    return protocol if client.supports_extension("pipelining") else None


def envelope_batch(sender: bytes, recipient: bytes) -> bytes:
    """The three commands of a pipelined envelope (addresses already ``<quoted>``)."""
    return b"MAIL FROM:" + sender + b"\r\nRCPT TO:" + recipient + b"\r\nDATA\r\n"
