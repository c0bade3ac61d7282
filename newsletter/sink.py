"""A local catch-all SMTP server that stores every message in a Maildir (``newsletter sink``).

For trying the tool out: it accepts any sender and recipient on 127.0.0.1, writes
each message into a Maildir (``tmp/``, then renamed into ``new/``, as the Maildir
protocol has it), and reports one line per message. Nothing is relayed anywhere.

As lenient as a real MTA and as exact as a test needs: a line of 1,000 characters
or more is accepted (RFC 5321 caps lines at 1,000 octets; aiosmtpd answers ``500
Line too long``, Postfix accepts and splits them; the sink accepts them whole, up
to ``LINE_LIMIT``), a bare CR stays a bare CR, and the file holds exactly the bytes
received after the SMTP dot-unstuffing (the stdlib :mod:`mailbox` writer would turn
CRLF and lone CRs into LF, so the sink writes the file itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

DEFAULT_PORT = 1025
DEFAULT_MAILDIR = "maildir"


LINE_LIMIT = 1 << 20  # one line of a message may be up to 1 MiB (memory stays bounded)


TLS_RECORD = (b"\x16\x03",)  # a TLS handshake record: what an implicit-TLS client sends first


class LenientSMTP(SMTP):
    """aiosmtpd's server with lines longer than RFC 5321's 1,000 octets accepted, and a
    client that opens with a TLS handshake (``security: tls``) told apart: one line
    saying so, the connection closed, instead of aiosmtpd's warnings about the
    handshake's bytes read as commands."""

    line_length_limit = LINE_LIMIT
    _first_data = True

    def data_received(self, data: bytes) -> None:
        if self._first_data:
            self._first_data = False
            if data.startswith(TLS_RECORD):
                peer = self.transport.get_extra_info("peername") if self.transport is not None else None
                tls_client = getattr(self.event_handler, "tls_client", None)
                if tls_client is not None:
                    tls_client(peer)
                if self.transport is not None:
                    self.transport.close()
                return
        super().data_received(data)


class MaildirHandler:
    """aiosmtpd handler: every accepted message goes into the Maildir, byte for byte."""

    def __init__(self, directory: str | Path, *, report: Callable[[str], None] = print) -> None:
        self.directory = Path(directory)
        for sub in ("tmp", "new", "cur"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self.report = report
        self.count = 0
        self._host = socket.gethostname().replace("/", "_").replace(":", "_") or "sink"

    def store(self, data: bytes) -> str:
        """Write ``data`` as a new message (tmp/, fsync, rename into new/); returns its name."""
        name = f"{time.time_ns()}.P{os.getpid()}Q{self.count + 1}.{self._host}"
        tmp = self.directory / "tmp" / name
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.directory / "new" / name)
        return name

    def tls_client(self, peer: Any) -> None:
        """A client opened with a TLS handshake: the sink speaks plain SMTP only."""
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "a client"
        self.report(
            f"{datetime.now().strftime('%H:%M:%S')} {where} began a TLS handshake: this sink speaks plain SMTP "
            "(set smtp.security: none for it); connection closed"
        )

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or envelope.content
        headers = BytesHeaderParser(policy=default_policy).parsebytes(data)
        key = self.store(data)
        self.count += 1
        subject = " ".join(str(headers.get("Subject", "")).split())
        rcpts = ", ".join(envelope.rcpt_tos)
        stamp = datetime.now().strftime("%H:%M:%S")
        self.report(
            f"{stamp} #{self.count} {envelope.mail_from} -> {rcpts}: {subject!r} "
            f"({len(data)} bytes) {self.directory / 'new' / key}"
        )
        return "250 2.0.0 OK: stored"


async def run_sink(
    port: int = DEFAULT_PORT,
    directory: str | Path = DEFAULT_MAILDIR,
    *,
    host: str = "127.0.0.1",
    report: Callable[[str], None] = print,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run the sink until ``stop`` is set (or SIGINT/SIGTERM); returns how many messages it stored."""
    handler = MaildirHandler(directory, report=report)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: LenientSMTP(handler, hostname="paper-digest-sink", enable_SMTPUTF8=True, decode_data=False),
        host=host,
        port=port,
    )
    bound = server.sockets[0].getsockname()[1]
    stop = stop or asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(RuntimeError, ValueError):  # not in the main thread
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready(bound)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        server.close()
        await server.wait_closed()
    return handler.count
