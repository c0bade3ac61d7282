"""The pool: :class:`SmtpSender` runs ``smtp.connections`` sessions over one bounded
queue, retries with backoff and jitter, checks the connection once before the first
message (:meth:`SmtpSender.preflight`), and counts the outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable

from newsletter.base.tls import tls_context
from newsletter.config import Smtp
from newsletter.delivery.smtp.classify import (
    Fatal,
    LostReply,
    Permanent,
    Temporary,
    plain_first,
    plain_hint,
    ssl_cause,
    tls_hint,
)
from newsletter.delivery.smtp.records import CLAIM_EXPIRED, MAY_HAVE_ARRIVED, Outgoing, Result, SendStats
from newsletter.delivery.smtp.session import Session, plain_extensions
from newsletter.delivery.smtp.throttle import RateLimiter, Throttle

log = logging.getLogger("newsletter.delivery.smtp")  # one logger for the whole sender (as before)


GREETING_WAIT = 5.0  # seconds the pre-flight check waits for the 220 greeting


class SmtpSender:
    """Send messages over ``settings.connections`` reused sessions.

    ``on_result`` runs for every message and is awaited before the session's next
    DATA (and before ``send_all`` returns).
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
        self.limiter = RateLimiter(settings.max_per_second) if settings.max_per_second else None
        self.stats = SendStats()
        self.throttle = Throttle(backoff, backoff_cap, self.rng)
        self.auth_lock = asyncio.Lock()
        self.auth_ok = False  # a login of this run went through
        self.auth_failed: str | None = None  # a login of this run was refused: no second try
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
        iterator = aiter(items)
        first = await anext(iterator, None)
        if first is None:
            await _aclose(iterator)
            return self.stats
        problem = await self.preflight()
        if problem is not None:
            # one connection check instead of retrying every session against a server that
            # is not there (or not speaking what we expect): everything stays pending
            await _aclose(iterator)
            self._stop(problem)
            result = Result(first, "pending", 0, f"not sent: {problem}")
            self._count(result)
            if self.on_result is not None:
                await self.on_result(result)
            return self.stats

        async def feed() -> None:
            try:
                await queue.put(first)
                async for item in iterator:
                    if self.stats.stopped or self._stopping():
                        # the rest would not go anyway: leave it to the producer's next run
                        break
                    await queue.put(item)
            finally:
                await _aclose(iterator)
                current = asyncio.current_task()
                for _ in range(workers):
                    if current is not None and current.cancelling():
                        break  # the sessions are cancelled too: nobody would take it (a full queue: a hang)
                    await queue.put(None)

        tasks = [asyncio.create_task(self._work(n, queue)) for n in range(workers)]
        feeder = asyncio.create_task(feed())
        try:
            await asyncio.gather(feeder, *tasks)
        except BaseException:
            for task in (feeder, *tasks):
                task.cancel()
            await asyncio.gather(feeder, *tasks, return_exceptions=True)
            raise
        return self.stats

    async def _work(self, number: int, queue: asyncio.Queue[Outgoing | None]) -> None:
        """One session: messages from ``queue`` until its end marker, each outcome handed
        to ``on_result`` (which runs on while the next message's MAIL and RCPT go out)."""
        session = Session(self, number)
        try:
            while (item := await queue.get()) is not None:
                result = await self._deliver(session, item)
                self._count(result)
                if self.on_result is not None:
                    await session.settled()  # (already, unless this one never reached DATA)
                    session.unsettled = asyncio.ensure_future(self.on_result(result))
            await session.settled()
        except BaseException:
            session.abandon()
            raise
        finally:
            await session.close()

    async def preflight(self) -> str | None:
        """One connection check before the pass: None when the server greets us with
        SMTP over the configured security; else one line saying why not, with a hint
        for each port/security mix-up: STARTTLS or plain pointed at an implicit-TLS
        port (no greeting, but a TLS handshake works: ``tls``); implicit TLS pointed at
        a plain port (``WRONG_VERSION_NUMBER``: ``starttls`` when its EHLO offers
        STARTTLS, else ``none``); ``starttls`` at a server that offers no STARTTLS."""
        s = self.settings
        host, port = s.host, s.effective_port
        where = f"{host}:{port}"
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    host,
                    port,
                    ssl=self.tls if s.security == "tls" else None,
                    server_hostname=host if s.security == "tls" else None,
                ),
                s.timeout,
            )
        except TimeoutError:
            return f"cannot connect to {where}: no answer within {s.timeout:g} s (smtp.host, smtp.port)"
        except OSError as exc:  # ssl.SSLError included
            return await self._connect_problem(exc)
        wait = min(s.timeout, GREETING_WAIT)
        try:
            line = await asyncio.wait_for(reader.readline(), wait)
        except (TimeoutError, OSError):
            line = b""
        finally:
            with contextlib.suppress(OSError, ssl.SSLError):
                if line:
                    writer.write(b"QUIT\r\n")
                writer.close()
        if line:
            return await self._starttls_offered(wait)  # a greeting (or a refusal the sessions report as usual)
        if s.security != "tls" and await _speaks_tls(host, port, wait):
            return (
                f"{where} sent no SMTP greeting within {wait:g} s but answers a TLS handshake: it expects implicit "
                f"TLS; set security: tls for port {port} (security: starttls is for port 587)"
            )
        return f"{where} sent no SMTP greeting within {wait:g} s"

    async def _connect_problem(self, exc: OSError) -> str:
        s = self.settings
        host, port = s.host, s.effective_port
        where = f"{host}:{port}"
        cause = ssl_cause(exc)
        if cause is not None:
            hint = tls_hint(cause, port)
            if plain_first(cause):  # ask the server what it offers: starttls or none
                hint = plain_hint(where, port, await plain_extensions(host, port, min(s.timeout, GREETING_WAIT)))
            return f"TLS with {where} failed: {cause}{hint}"
        if isinstance(exc, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(exc, socket.gaierror):
            reason = f"cannot resolve {host!r} ({exc.strerror or exc})"
        else:
            reason = exc.strerror or str(exc)
        return f"cannot connect to {where}: {reason} (is the SMTP server running? smtp.host, smtp.port)"

    async def _starttls_offered(self, wait: float) -> str | None:
        """With ``security: starttls``: None when the server's EHLO offers STARTTLS."""
        s = self.settings
        if s.security != "starttls":
            return None
        extensions = await plain_extensions(s.host, s.effective_port, wait)
        if extensions is None or "starttls" in extensions:
            return None  # the session says what goes wrong, if anything does
        return (
            f"{s.host}:{s.effective_port} does not offer STARTTLS (security: starttls): refusing to go on without "
            "TLS; a server without TLS (a local one such as `newsletter sink`) needs security: none"
        )

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
            log.debug("stopping delivery: %s", reason)  # the caller reports it (once): SendStats.stopped

    async def _deliver(self, session: Session, item: Outgoing) -> Result:
        attempts = 0
        while True:
            held = await self._held(item, attempts)
            if held is not None:
                return held
            attempts += 1
            try:
                if self.limiter is not None:
                    await self.limiter.wait()
                await session.transaction(item)
                self.throttle.ok()
                return Result(item, "sent", attempts)
            except Permanent as exc:
                log.debug("%s: refused: %s", item.recipient, exc)  # the caller reports it (once): the Result
                return Result(item, "failed", attempts, str(exc), bounce=exc.bounce)
            except Fatal as exc:
                self._stop(str(exc))
                return Result(item, "pending", attempts, str(exc))
            except LostReply as exc:
                self.stats.lost_replies += 1
                log.warning(
                    "%s: %s; the message %s may have been delivered: left pending, it will be "
                    "re-sent with the same Message-ID",
                    item.recipient,
                    exc,
                    item.message_id or "",
                )
                return Result(item, "pending", attempts, f"{exc}{MAY_HAVE_ARRIVED}")
            except Temporary as exc:
                gave_up = await self._retry(session, item, exc, attempts)
                if gave_up is not None:
                    return gave_up

    async def _held(self, item: Outgoing, attempts: int) -> Result | None:
        """The message is not tried (again): the run stopped, or is stopping; else None,
        after any pool-wide pause for a rate limit."""
        if self.stats.stopped:
            return Result(item, "pending", attempts, f"not sent: {self.stats.stopped}")
        if self._stopping():
            return Result(item, "pending", attempts, "not sent: shutting down")
        await self.throttle.wait(self.stop)
        if self._stopping():
            return Result(item, "pending", attempts, "not sent: shutting down")
        if item.expired is not None and item.expired():
            return Result(item, "pending", attempts, CLAIM_EXPIRED)
        return None

    async def _retry(self, session: Session, item: Outgoing, exc: Temporary, attempts: int) -> Result | None:
        """Temporary trouble: a pending result after ``smtp.retries`` retries; else None,
        after the pool-wide pause (a rate limit) or this message's backoff."""
        if attempts > self.settings.retries:
            log.warning(
                "%s: %s; giving up for this run after %d attempts (left pending)", item.recipient, exc, attempts
            )
            if session.client is None and str(exc).startswith("cannot connect"):
                self._stop(str(exc))
            return Result(item, "pending", attempts, str(exc))
        if exc.rate_limited:
            # slow the whole pool down, not just this message: every session waits
            self.throttle.hit(str(exc))
            return None
        delay = min(self.backoff * 2 ** (attempts - 1), self.backoff_cap)
        delay *= 0.5 + self.rng.random()
        log.info("%s: %s; retry %d/%d in %.2f s", item.recipient, exc, attempts, self.settings.retries, delay)
        if self.stop is None:
            await asyncio.sleep(delay)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)
        return None


async def try_relay(settings: Smtp, *, password: str | None = None) -> str:
    """``check --connect``: connect, TLS, AUTH (one mechanism, once) and QUIT, no mail;
    returns one line saying what worked. :class:`DeliveryError` names what did not,
    with the hint of a port/security mix-up."""
    from newsletter.base.errors import DeliveryError

    sender = SmtpSender(settings, password=password)
    where = f"{settings.host}:{settings.effective_port}"
    problem = await sender.preflight()
    if problem is not None:
        raise DeliveryError(problem)
    session = Session(sender, 0)
    try:
        client = await session.ensure()
        ssl_object = client.get_transport_info("ssl_object")
        version = ssl_object.version() if ssl_object is not None else None
    except (Fatal, Temporary) as exc:
        raise DeliveryError(str(exc)) from None
    finally:
        await session.close()
    if settings.security == "none":
        tls = "no TLS (security: none)"
    else:
        how = "implicit TLS" if settings.security == "tls" else "STARTTLS"
        checked = "certificate verified" if settings.verify else "certificate NOT verified (smtp.verify: false)"
        tls = f"{how} ({version or 'TLS'}, {checked})"
    auth = f"AUTH as {settings.username} accepted" if settings.username else "no AUTH (smtp.username not set)"
    return f"{where}: connected, {tls}, {auth}; no mail sent"


async def _aclose(iterator: AsyncIterator[Outgoing]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


async def _speaks_tls(host: str, port: int, timeout: float) -> bool:
    """Whether ``host:port`` completes a TLS handshake (certificate not checked: this
    only tells implicit TLS from plain SMTP, nothing is sent over it)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=ctx), timeout)
    except (OSError, TimeoutError, ssl.SSLError):
        return False
    with contextlib.suppress(OSError, ssl.SSLError):
        writer.close()
    return True


async def iterate(items: list[Outgoing]) -> AsyncIterator[Outgoing]:
    """An async iterator over a list (tests, small batches)."""
    for item in items:
        yield item
