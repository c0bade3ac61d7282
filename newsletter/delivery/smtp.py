"""The SMTP sender: pooled, retrying, TLS-verifying, on aiosmtplib (SPEC 6, 6b).

:class:`SmtpSender` opens ``smtp.connections`` sessions, each a worker that pulls
ready messages from one bounded queue and sends many messages over its session.
Messages come from an async iterator, so they are produced (rendered, recorded)
as they are sent and memory stays bounded.

Each message ends as a :class:`Result`:

``sent``     the server accepted it (250 after the final ``.``);
``failed``   a permanent refusal of the recipient or the message (5xx to ``RCPT``
             or after ``DATA``), with the server's reply; not retried;
``pending``  temporary trouble (connection refused or dropped, timeouts, 4xx)
             that outlasted ``smtp.retries`` retries with exponential backoff and
             jitter, a reply lost after the final ``.`` (the message may have been
             delivered: it is logged and left pending, never retried under a new
             id), or a run stopped by a problem no retry can fix (TLS, AUTH,
             the server refusing our sender).

The ``on_result`` callback is awaited before the worker starts its next SMTP
transaction, so the caller can commit each outcome durably first: after a crash
at most one message per connection can have been accepted without being
recorded.

Security: ``none`` never upgrades (no opportunistic STARTTLS with an unverified
certificate); ``starttls`` passes ``start_tls=True`` and refuses to go on when the
server does not offer STARTTLS (never AUTH in clear, SPEC 6b); ``tls`` is
implicit TLS. Certificates are verified by default against the system store plus
``smtp.ca_file``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib

from newsletter.config import Smtp

log = logging.getLogger(__name__)

Status = Literal["sent", "failed", "pending"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One ready message. ``key`` is the caller's handle (the ledger's delivery id)."""

    key: int
    sender: str
    recipient: str
    message: bytes
    message_id: str = ""


@dataclass(frozen=True, slots=True)
class Result:
    item: Outgoing
    status: Status
    attempts: int
    error: str | None = None


@dataclass(slots=True)
class SendStats:
    sent: int = 0
    failed: int = 0
    pending: int = 0
    lost_replies: int = 0
    stopped: str | None = None  # why the run stopped early, if it did
    errors: list[str] = field(default_factory=list)


class _Temporary(Exception):
    pass


class _Permanent(Exception):
    pass


class _Fatal(Exception):
    """A problem no retry fixes and that concerns every message (TLS, AUTH, sender refused)."""


class _LostReply(Exception):
    """No reply after the message data: it may have been delivered."""


def tls_context(settings: Smtp) -> ssl.SSLContext:
    """Verifying context: the system's CAs plus ``smtp.ca_file``; ``verify: false`` turns
    verification off (logged loudly)."""
    ctx = ssl.create_default_context()
    if settings.ca_file is not None:
        ctx.load_verify_locations(cafile=str(settings.ca_file))
    if not settings.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _reply(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}".strip()


class _RateLimiter:
    """At most ``rate`` message starts per second across all workers (evenly spaced)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        slot = max(now, self.next)
        self.next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class _Session:
    """One SMTP session of a worker, (re)opened on demand."""

    def __init__(self, owner: SmtpSender, number: int) -> None:
        self.owner = owner
        self.number = number
        self.client: aiosmtplib.SMTP | None = None
        self.messages = 0

    async def ensure(self) -> aiosmtplib.SMTP:
        if self.client is not None and self.client.is_connected:
            return self.client
        self.client = None
        s = self.owner.settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.effective_port,
            timeout=s.timeout,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",  # explicit: never the opportunistic None default
            tls_context=self.owner.tls if s.security != "none" else None,
            local_hostname=s.helo,
        )
        where = f"{s.host}:{s.effective_port}"
        try:
            await client.connect()
        except aiosmtplib.SMTPConnectResponseError as exc:
            raise _Temporary(f"{where} refused the session: {_reply(exc)}") from None
        except (
            aiosmtplib.SMTPConnectError,
            aiosmtplib.SMTPTimeoutError,
            aiosmtplib.SMTPServerDisconnected,
            OSError,
        ) as exc:
            cause = _ssl_cause(exc)
            if cause is not None:
                raise _Fatal(f"TLS with {where} failed: {cause}") from None
            raise _Temporary(f"cannot connect to {where}: {exc}") from None
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            if exc.code >= 500:
                raise _Fatal(f"{where} refused the session: {_reply(exc)}") from None
            raise _Temporary(f"{where}: {_reply(exc)}") from None
        except aiosmtplib.SMTPException as exc:  # e.g. STARTTLS not offered
            client.close()
            raise _Fatal(f"{where}: {exc}; refusing to continue without TLS") from None
        except ssl.SSLError as exc:
            client.close()
            raise _Fatal(f"TLS with {where} failed: {exc}") from None
        encrypted = client.get_transport_info("sslcontext") is not None
        if s.security != "none" and not encrypted:  # belt and braces: never AUTH/DATA in clear
            client.close()
            raise _Fatal(f"{where}: the session is not encrypted; refusing to continue")
        if s.username:
            if not encrypted:
                self.owner.warn_once("AUTH without TLS (smtp.security: none): the password travels in clear")
            try:
                await client.login(s.username, self.owner.password or "")
            except aiosmtplib.SMTPAuthenticationError as exc:
                client.close()
                raise _Fatal(f"AUTH as {s.username} refused by {where}: {_reply(exc)}") from None
            except aiosmtplib.SMTPResponseException as exc:
                client.close()
                if exc.code >= 500:
                    raise _Fatal(f"AUTH as {s.username} with {where}: {_reply(exc)}") from None
                raise _Temporary(f"AUTH with {where}: {_reply(exc)}") from None
            except aiosmtplib.SMTPException as exc:
                client.close()
                if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError):
                    raise _Temporary(f"AUTH with {where}: {exc}") from None
                raise _Fatal(f"AUTH as {s.username} with {where}: {exc}") from None
        self.client = client
        self.messages = 0
        log.debug("session %d: connected to %s", self.number, where)
        return client

    async def _reset(self) -> None:
        client = self.client
        if client is None or not client.is_connected:
            return
        try:
            await client.rset()
        except aiosmtplib.SMTPException:
            self.drop()

    def drop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    async def transaction(self, item: Outgoing) -> None:
        client = await self.ensure()
        stage = "MAIL FROM"
        try:
            await client.mail(item.sender)
            stage = "RCPT TO"
            await client.rcpt(item.recipient)
            stage = "DATA"
            await client.data(item.message)
        except aiosmtplib.SMTPResponseException as exc:
            reply = _reply(exc)
            if exc.code == 421:
                self.drop()  # 421: the server is closing the session
            else:
                await self._reset()
            if exc.code >= 500:
                if stage == "MAIL FROM":
                    raise _Fatal(f"the server refused the sender {item.sender}: {reply}") from None
                raise _Permanent(f"{reply} ({stage})") from None
            raise _Temporary(f"{reply} ({stage})") from None
        except aiosmtplib.SMTPTimeoutError as exc:
            self.drop()
            if stage == "DATA":
                raise _LostReply(f"timed out waiting for the reply to DATA ({exc})") from None
            raise _Temporary(f"timeout at {stage}: {exc}") from None
        except (aiosmtplib.SMTPServerDisconnected, OSError) as exc:
            self.drop()
            raise _Temporary(f"connection lost at {stage}: {exc}") from None
        except ValueError as exc:  # an address aiosmtplib refuses to put in an envelope
            await self._reset()
            raise _Permanent(f"bad address: {exc}") from None
        self.messages += 1

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None and client.is_connected:
            try:
                await asyncio.wait_for(client.quit(), timeout=min(5.0, self.owner.settings.timeout))
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


class SmtpSender:
    """Send messages over ``settings.connections`` reused sessions.

    ``on_result`` is awaited for every message before its worker goes on.
    ``backoff`` is the first retry delay in seconds (doubled per retry, up to
    ``backoff_cap``, times a random jitter in [0.5, 1.5)). ``queue_size`` bounds the
    ready messages waiting for a session (default twice the connections). Once
    ``stop`` is set, no new transaction starts: the ones in flight finish, the
    rest (and those waiting for a retry) come back ``pending``.
    """

    def __init__(
        self,
        settings: Smtp,
        *,
        password: str | None = None,
        on_result: Callable[[Result], Awaitable[None]] | None = None,
        backoff: float = 1.0,
        backoff_cap: float = 60.0,
        rng: random.Random | None = None,
        queue_size: int | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.password = password if password is not None else settings.password()
        self.on_result = on_result
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.rng = rng or random.Random()
        self.queue_size = queue_size or settings.connections * 2
        self.stop = stop
        self.tls = tls_context(settings)
        self.limiter = _RateLimiter(settings.max_per_second) if settings.max_per_second else None
        self.stats = SendStats()
        self._warned: set[str] = set()
        if not settings.verify and settings.security != "none":
            self.warn_once("smtp.verify is false: the server's TLS certificate is NOT verified")

    def warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s", message)

    async def send_all(self, items: AsyncIterable[Outgoing]) -> SendStats:
        """Send every message of ``items``; returns the counts. Exceptions raised by
        ``items`` or ``on_result`` propagate after the sessions are closed."""
        workers = self.settings.connections
        queue: asyncio.Queue[Outgoing | None] = asyncio.Queue(maxsize=self.queue_size)

        async def feed() -> None:
            iterator = aiter(items)
            try:
                async for item in iterator:
                    if self.stats.stopped or self._stopping():
                        # the rest would not go anyway: leave it to the producer's next run
                        break
                    await queue.put(item)
            finally:
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:
                    await aclose()
                current = asyncio.current_task()
                for _ in range(workers):
                    if current is not None and current.cancelling():
                        break  # the sessions are cancelled too: nobody would take it (a full queue: a hang)
                    await queue.put(None)

        async def work(number: int) -> None:
            session = _Session(self, number)
            try:
                while (item := await queue.get()) is not None:
                    result = await self._deliver(session, item)
                    self._count(result)
                    if self.on_result is not None:
                        await self.on_result(result)
            finally:
                await session.close()

        tasks = [asyncio.create_task(work(n)) for n in range(workers)]
        feeder = asyncio.create_task(feed())
        try:
            await asyncio.gather(feeder, *tasks)
        except BaseException:
            for task in (feeder, *tasks):
                task.cancel()
            await asyncio.gather(feeder, *tasks, return_exceptions=True)
            raise
        return self.stats

    def _count(self, result: Result) -> None:
        if result.status == "sent":
            self.stats.sent += 1
        elif result.status == "failed":
            self.stats.failed += 1
        else:
            self.stats.pending += 1

    def _stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def _stop(self, reason: str) -> None:
        if not self.stats.stopped:
            self.stats.stopped = reason
            log.error("stopping delivery: %s (the remaining messages stay pending)", reason)

    async def _deliver(self, session: _Session, item: Outgoing) -> Result:
        attempts = 0
        while True:
            if self.stats.stopped:
                return Result(item, "pending", attempts, f"not sent: {self.stats.stopped}")
            if self._stopping():
                return Result(item, "pending", attempts, "not sent: shutting down")
            attempts += 1
            try:
                if self.limiter is not None:
                    await self.limiter.wait()
                await session.transaction(item)
                return Result(item, "sent", attempts)
            except _Permanent as exc:
                log.warning("%s: refused: %s", item.recipient, exc)
                return Result(item, "failed", attempts, str(exc))
            except _Fatal as exc:
                self._stop(str(exc))
                return Result(item, "pending", attempts, str(exc))
            except _LostReply as exc:
                self.stats.lost_replies += 1
                log.warning(
                    "%s: %s; the message %s may have been delivered: left pending, it will be "
                    "re-sent with the same Message-ID",
                    item.recipient,
                    exc,
                    item.message_id or "",
                )
                return Result(item, "pending", attempts, f"{exc} (may have been delivered)")
            except _Temporary as exc:
                if attempts > self.settings.retries:
                    log.warning(
                        "%s: %s; giving up for this run after %d attempts (left pending)", item.recipient, exc, attempts
                    )
                    if session.client is None and str(exc).startswith("cannot connect"):
                        self._stop(str(exc))
                    return Result(item, "pending", attempts, str(exc))
                delay = min(self.backoff * 2 ** (attempts - 1), self.backoff_cap)
                delay *= 0.5 + self.rng.random()
                log.info("%s: %s; retry %d/%d in %.2f s", item.recipient, exc, attempts, self.settings.retries, delay)
                if self.stop is None:
                    await asyncio.sleep(delay)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), delay)


async def iterate(items: list[Outgoing]) -> AsyncIterator[Outgoing]:
    """An async iterator over a list (tests, small batches)."""
    for item in items:
        yield item
