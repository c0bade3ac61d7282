"""A real aiosmtpd server on 127.0.0.1 for the delivery tests, with faults injected
at the server: 421 for a fraction of messages, connections dropped after the
message data and before the reply, 550 for chosen recipients (at RCPT, or after
their message data), slow replies.
Faults are drawn from a seeded generator, so a run is reproducible up to the
order in which the client's sessions interleave.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    session: int

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data)

    @property
    def message_id(self) -> str | None:
        return self.message["Message-ID"]


@dataclass
class Faults:
    tempfail: float = 0.0  # fraction of messages answered 421 after DATA
    drop: float = 0.0  # fraction of messages whose connection is dropped before the reply
    reject: frozenset[str] = frozenset()  # recipients answered 550 at RCPT
    slow: float = 0.0  # seconds to wait before replying to DATA (message kept)
    seed: int = 5
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # recipient -> the reply to its RCPT
    rate_limit: tuple[int, ...] = ()  # DATA commands (1-based) answered 451 4.7.1 "Too many messages"
    gate: threading.Event | None = None  # set: DATA commands after the first `gate_after` wait for it
    gate_after: int = 0
    pipelining: bool = False  # EHLO advertises PIPELINING (RFC 2920)
    mail_replies: dict[str, str] = field(default_factory=dict)  # sender -> the reply to its MAIL FROM
    data_start_replies: dict[str, str] = field(default_factory=dict)  # recipient -> the reply to the DATA command
    rcpt_delay: dict[str, float] = field(default_factory=dict)  # recipient -> seconds before its RCPT reply
    data_after_refusal: bool = False  # 354 to DATA with no accepted recipient (RFC 2920 wants 503/554)
    data_replies: dict[str, str] = field(default_factory=dict)  # recipient -> the reply after its message data
    drip: float = 0.0  # seconds between the bytes of the reply to MAIL FROM (a server that drips it)


# Where a body is filed that the server took after a 354 it should not have given (Faults.data_after_refusal)
NOBODY = "nobody@refused.invalid"


@dataclass
class Handler:
    faults: Faults
    received: list[Received] = field(default_factory=list)
    tempfailed: int = 0
    dropped: int = 0
    sessions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    data_count: int = 0
    mail_times: list[float] = field(default_factory=list)  # time.monotonic() of every MAIL FROM
    rate_limited_at: list[float] = field(default_factory=list)  # when a rate-limit reply went out
    held: int = 0  # DATA commands waiting at the gate (Faults.gate) now
    pipelined: int = 0  # reads that brought MAIL FROM, RCPT TO and DATA together (a pipelined envelope)
    mails: int = 0  # MAIL FROM commands
    after_stray_354: int = 0  # bytes the client wrote after a 354 it got with no accepted recipient
    dripped: list[int] = field(default_factory=list)  # per dripped reply: the bytes out before the client left

    def __post_init__(self) -> None:
        self.rng = random.Random(self.faults.seed)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.sessions += 1
            session.number = self.sessions
        if self.faults.pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]) -> str:
        with self.lock:
            self.mail_times.append(time.monotonic())
            self.mails += 1
        if address in self.faults.mail_replies:
            return self.faults.mail_replies[address]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if address in self.faults.rcpt_delay:
            await asyncio.sleep(self.faults.rcpt_delay[address])
        if address in self.faults.rcpt_replies:
            return self.faults.rcpt_replies[address]
        if address in self.faults.reject:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            draw = self.rng.random()
            self.data_count += 1
            count = self.data_count
            if self.data_count in self.faults.rate_limit:
                self.rate_limited_at.append(time.monotonic())
                return "451 4.7.1 Too many messages, slow down"
        gate = self.faults.gate
        if gate is not None and count > self.faults.gate_after and not gate.is_set():
            with self.lock:
                self.held += 1
            try:
                while not gate.is_set():  # the message is in; its reply waits until the test opens the gate
                    await asyncio.sleep(0.01)
            finally:  # also when the client went away meanwhile (the session is cancelled)
                with self.lock:
                    self.held -= 1
        if draw < self.faults.drop:
            with self.lock:
                self.dropped += 1
            server.transport.abort()
            return "421 4.4.2 connection dropped"
        if draw < self.faults.drop + self.faults.tempfail:
            with self.lock:
                self.tempfailed += 1
            return "421 4.7.0 Try again later"
        refused = next((self.faults.data_replies[r] for r in envelope.rcpt_tos if r in self.faults.data_replies), None)
        if refused is not None:
            return refused
        if self.faults.slow:
            await asyncio.sleep(self.faults.slow)
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, getattr(session, "number", 0))
            )
        return "250 2.0.0 OK: queued"


class FaultySmtp(SMTP):
    """aiosmtpd's SMTP with the faults it has no hook for: a reply to the DATA command
    itself (``Faults.data_start_replies``), a 354 with no accepted recipient
    (``Faults.data_after_refusal``); and it counts the reads that bring a whole
    envelope at once (``Handler.pipelined``: 0 unless the client pipelines, since
    step by step RCPT TO is not written before MAIL FROM's reply is read)."""

    stray = False  # a 354 went out with no accepted recipient (Faults.data_after_refusal)

    def data_received(self, data: bytes) -> None:
        handler: Handler = self.event_handler
        with handler.lock:
            if b"MAIL FROM:" in data and b"\r\nRCPT TO:" in data and b"\r\nDATA\r\n" in data:
                handler.pipelined += 1
            if self.stray:
                handler.after_stray_354 += len(data)
        super().data_received(data)

    dripping = False  # the reply being pushed is MAIL FROM's (Faults.drip)

    async def smtp_MAIL(self, arg: str | None) -> None:
        self.dripping = self.event_handler.faults.drip > 0
        try:
            await super().smtp_MAIL(arg)
        finally:
            self.dripping = False

    async def push(self, status: Any) -> None:
        if not self.dripping:
            await super().push(status)
            return
        handler: Handler = self.event_handler
        reply = f"250 {'.' * 60} OK\r\n".encode("ascii")  # a whole reply only after ~60 drips
        handler.dripped.append(0)
        for i in range(len(reply)):
            if self.transport is None or self.transport.is_closing():
                return  # the client hung up
            self._writer.write(reply[i : i + 1])
            handler.dripped[-1] = i + 1
            await asyncio.sleep(handler.faults.drip)

    async def smtp_DATA(self, arg: str) -> None:
        faults: Faults = self.event_handler.faults
        envelope = self.envelope
        if envelope is not None and envelope.mail_from is not None:
            refused = next(
                (faults.data_start_replies[r] for r in envelope.rcpt_tos if r in faults.data_start_replies), None
            )
            if refused is not None:
                await self.push(refused)
                return
            if faults.data_after_refusal and not envelope.rcpt_tos:
                envelope.rcpt_tos.append(NOBODY)
                self.stray = True
        await super().smtp_DATA(arg)


class FaultyController(Controller):
    def factory(self) -> SMTP:
        return FaultySmtp(self.handler, **self.SMTP_kwargs)


class SmtpServer:
    """aiosmtpd in its own thread. ``received`` lists the accepted messages."""

    def __init__(
        self, faults: Faults | None = None, *, port: int | None = None, host: str = "127.0.0.1", **smtp_kwargs: Any
    ) -> None:
        self.handler = Handler(faults or Faults())
        self.host = host
        self.port = port or free_port()
        self.controller = FaultyController(self.handler, hostname=self.host, port=self.port, **smtp_kwargs)

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def by_recipient(self) -> dict[str, list[Received]]:
        out: dict[str, list[Received]] = {}
        for msg in self.received:
            for rcpt in msg.rcpt_tos:
                out.setdefault(rcpt, []).append(msg)
        return out

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@contextmanager
def smtp_server(faults: Faults | None = None, **smtp_kwargs: Any) -> Iterator[SmtpServer]:
    server = SmtpServer(faults, **smtp_kwargs).start()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- TLS and AUTH


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


class Authenticator:
    """Accepts one user/password pair; remembers who logged in."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.logins: list[str] = []
        self.attempts = 0  # every AUTH the server saw, refused or not

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        self.attempts += 1
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if (user, password) == (self.user, self.password):
                self.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


# --------------------------------------------------------------------------- configurations


def write_config(
    directory: Path,
    port: int,
    subscribers: list[dict[str, Any]],
    *,
    smtp: dict[str, Any] | None = None,
    settle_seconds: float = 0,
    **top: Any,
) -> Path:
    """A config.yaml in ``directory`` (digests in ``directory/digests``, ledger beside it)."""
    import yaml

    (directory / "digests").mkdir(exist_ok=True)
    data: dict[str, Any] = {
        "digests": {"directory": "digests", "settle_seconds": settle_seconds},
        "state": "ledger.sqlite3",
        "sender": {"from": "Paper Digest <digest@example.org>"},
        "smtp": {"host": "127.0.0.1", "port": port, "connections": 4, "retries": 5, "timeout": 10, **(smtp or {})},
        "subscribers": subscribers,
        **top,
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


EXAMPLE_SUBSCRIBERS: list[dict[str, Any]] = [
    {
        "email": "alice@example.org",
        "name": "Alice Martin",
        "keywords": ["self-supervised", "contrastive learning", "augment*"],
        "exclude": ["medical"],
        "max_papers": 10,
    },
    {
        "email": "bob@example.org",
        "name": "Bob Okafor",
        "keywords": ["diffusion", "image restoration", "text-to-image", "title:video"],
        "exclude": ["survey"],
    },
    {
        "email": "chen@example.org",
        "name": "Chen Wei",
        "keywords": ["large language models", "reasoning", "reward model*", "title:agent*"],
        "max_papers": 8,
        "schedule": "0 7 * * 1",
    },
]
