"""A local catch-all SMTP server that stores every message in a Maildir (``newsletter sink``).

For trying the tool out: it accepts any sender and recipient on 127.0.0.1, writes
each message into a stdlib :class:`mailbox.Maildir` (``new/``), and reports one
line per message. Nothing is relayed anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import mailbox
import signal
from collections.abc import Callable
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

DEFAULT_PORT = 1025
DEFAULT_MAILDIR = "maildir"


class MaildirHandler:
    """aiosmtpd handler: every accepted message goes into the Maildir."""

    def __init__(self, directory: str | Path, *, report: Callable[[str], None] = print) -> None:
        self.directory = Path(directory)
        self.maildir = mailbox.Maildir(self.directory, create=True)
        self.report = report
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or envelope.content
        headers = BytesHeaderParser(policy=default_policy).parsebytes(data)
        key = self.maildir.add(mailbox.MaildirMessage(data))
        self.count += 1
        subject = " ".join(str(headers.get("Subject", "")).split())
        rcpts = ", ".join(envelope.rcpt_tos)
        stamp = datetime.now().strftime("%H:%M:%S")
        self.report(
            f"{stamp} #{self.count} {envelope.mail_from} -> {rcpts}: {subject!r} "
            f"({len(data)} bytes) {self.directory / 'new' / key}"
        )
        return "250 2.0.0 OK: stored"


async def serve(
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
        lambda: SMTP(handler, hostname="paper-digest-sink", enable_SMTPUTF8=True, decode_data=False),
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
