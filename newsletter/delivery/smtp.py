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

Kind to real servers (issue 14):

- one connection check (:meth:`SmtpSender.preflight`) before the first message: an
  unreachable server, or a port/security mix-up (STARTTLS or plain pointed at an
  implicit-TLS port: no greeting but a TLS handshake works; implicit TLS pointed at
  a plain port: ``WRONG_VERSION_NUMBER``), stops the run at once with one line and a
  hint, everything pending;
- one failed AUTH per run: the first login goes alone (the other sessions wait for
  it), with ONE mechanism (aiosmtplib's ``login`` tries them all), and a refusal
  stops the run before any other session tries;
- a rate-limiting reply (421, 450/451/452 with ``4.7.x``, "too many", "rate limit",
  "slow down") pauses every session (:class:`_Throttle`), not just the message;
- a 5xx for the recipient is marked a hard bounce on its :class:`Result` (not a
  ``5.7.x`` policy refusal), which the caller records.

The ``on_result`` callback of a message runs while the session starts its next
transaction (MAIL FROM, RCPT TO) and is awaited before that transaction's DATA, so
the caller can commit each outcome durably (an fsync) without the session waiting
for it, and still: after a crash at most one message per connection can have been
accepted without being recorded (a server accepts a message only at the end of DATA).

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
import re
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib

from newsletter.base.tls import tls_context
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
    bounce: str | None = None  # "hard": a 5xx for the recipient at RCPT/DATA (not a 5.7.x policy refusal)


@dataclass(slots=True)
class SendStats:
    sent: int = 0
    failed: int = 0
    pending: int = 0
    lost_replies: int = 0
    stopped: str | None = None  # why the run stopped early, if it did
    errors: list[str] = field(default_factory=list)


class _Temporary(Exception):
    def __init__(self, message: str, *, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.rate_limited = rate_limited


_RATE_TEXT = re.compile(r"too many|rate.?limit|slow down|throttl", re.IGNORECASE)
GREETING_WAIT = 5.0  # seconds the pre-flight check waits for the 220 greeting


def is_rate_limit(code: int, message: str) -> bool:
    """A reply asking us to slow down: 421, 450/451/452 with a 4.7.x code, or words to
    that effect ("too many", "rate limit", "slow down")."""
    status = enhanced_status(message) or ""
    return code == 421 or (code in (450, 451, 452) and status.startswith("4.7.")) or bool(_RATE_TEXT.search(message))


def plain_first(exc: BaseException) -> bool:
    """An SSL error that means the server spoke plain SMTP to our TLS handshake."""
    text = str(exc)
    return "WRONG_VERSION_NUMBER" in text or "wrong version number" in text or "record layer failure" in text


def tls_hint(exc: BaseException, port: int) -> str:
    """A hint for an SSL error that means the port speaks plain SMTP first (implicit TLS
    pointed at a STARTTLS or plain port), without asking the server what it offers
    (:meth:`SmtpSender.preflight` asks, and says which of the two it is)."""
    if not plain_first(exc):
        return ""
    return (
        f"; port {port} speaks plain SMTP first: set security: starttls if the server offers STARTTLS "
        "(port 587), else security: none (security: tls is implicit TLS, usually port 465)"
    )


def plain_hint(where: str, port: int, extensions: frozenset[str] | None) -> str:
    """What to set for a server that speaks plain SMTP first, from what its EHLO offers."""
    if extensions is None:
        return tls_hint(ssl.SSLError("WRONG_VERSION_NUMBER"), port)
    if "starttls" in extensions:
        return f"; {where} speaks plain SMTP and offers STARTTLS: set security: starttls"
    return (
        f"; {where} speaks plain SMTP and offers no TLS at all: set security: none (a local server such as "
        "`newsletter sink`), or point smtp.port at the relay's TLS port (465 for security: tls)"
    )


async def plain_extensions(host: str, port: int, timeout: float) -> frozenset[str] | None:
    """The EHLO keywords (lowercase) of a plain SMTP server at ``host:port``; None when
    no SMTP session comes about. Nothing but EHLO and QUIT is said."""
    client = aiosmtplib.SMTP(hostname=host, port=port, timeout=timeout, use_tls=False, start_tls=False)
    try:
        await client.connect()
        await client.ehlo()
        found = frozenset(client.esmtp_extensions)
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await client.quit()
        return found
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        return None
    finally:
        client.close()


class _Permanent(Exception):
    def __init__(self, message: str, *, bounce: str | None = None) -> None:
        super().__init__(message)
        self.bounce = bounce


_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


def enhanced_status(message: str) -> str | None:
    """The RFC 3463 enhanced status code at the start of a reply text (``5.1.1``), if any."""
    m = _ENHANCED.match(message)
    return ".".join(m.groups()) if m else None


def is_hard_bounce(code: int, message: str) -> bool:
    """A 5xx for the recipient is a hard bounce, except a policy refusal (``5.7.x``: relay
    denied, spam, DMARC), which is about the sender or the content, never the address."""
    status = enhanced_status(message)
    return code >= 500 and not (status or "").startswith("5.7.")


class _Fatal(Exception):
    """A problem no retry fixes and that concerns every message (TLS, AUTH, sender refused)."""


class _LostReply(Exception):
    """No reply after the message data: it may have been delivered."""


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


class _Throttle:
    """Pool-wide backoff on rate-limit replies: every session waits until ``until``.
    Each rate-limit reply without an accepted message since doubles the pause
    (``backoff`` .. ``cap``, times a jitter in [1, 1.5)); an accepted message resets it."""

    def __init__(self, backoff: float, cap: float, rng: random.Random) -> None:
        self.backoff, self.cap, self.rng = backoff, cap, rng
        self.until = 0.0
        self.streak = 0
        self.events = 0

    def hit(self, reason: str) -> float:
        loop = asyncio.get_running_loop()
        delay = min(self.backoff * 2.0**self.streak, self.cap) * (1.0 + 0.5 * self.rng.random())
        self.streak += 1
        self.events += 1
        self.until = max(self.until, loop.time() + delay)
        log.warning("rate limited (%s): all sessions pause %.2f s", reason, delay)
        return delay

    def ok(self) -> None:
        self.streak = 0

    async def wait(self, stop: asyncio.Event | None) -> None:
        loop = asyncio.get_running_loop()
        while (left := self.until - loop.time()) > 0:
            if stop is None:
                await asyncio.sleep(left)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), left)
                if stop.is_set():
                    return


async def _connect(client: aiosmtplib.SMTP, where: str, port: int) -> None:
    """Connect (and TLS, as configured); each failure as temporary or fatal."""
    try:
        await client.connect()
    except aiosmtplib.SMTPConnectResponseError as exc:
        raise _Temporary(
            f"{where} refused the session: {_reply(exc)}", rate_limited=is_rate_limit(exc.code, exc.message)
        ) from None
    except (
        aiosmtplib.SMTPConnectError,
        aiosmtplib.SMTPTimeoutError,
        aiosmtplib.SMTPServerDisconnected,
        OSError,
    ) as exc:
        cause = _ssl_cause(exc)
        if cause is not None:
            raise _Fatal(f"TLS with {where} failed: {cause}{tls_hint(cause, port)}") from None
        raise _Temporary(f"cannot connect to {where}: {exc}") from None
    except aiosmtplib.SMTPResponseException as exc:
        client.close()
        if exc.code >= 500:
            raise _Fatal(f"{where} refused the session: {_reply(exc)}") from None
        raise _Temporary(f"{where}: {_reply(exc)}", rate_limited=is_rate_limit(exc.code, exc.message)) from None
    except aiosmtplib.SMTPException as exc:  # e.g. STARTTLS not offered
        client.close()
        raise _Fatal(f"{where}: {exc}; refusing to continue without TLS") from None
    except ssl.SSLError as exc:
        client.close()
        raise _Fatal(f"TLS with {where} failed: {exc}{tls_hint(exc, port)}") from None


async def _mechanism(client: aiosmtplib.SMTP, where: str) -> str:
    """The one AUTH mechanism we use with this server (after EHLO, when not yet said)."""
    if client.last_ehlo_response is None:
        try:
            await client.ehlo()
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise _Temporary(f"EHLO with {where}: {exc}") from None
    if not client.supports_extension("auth"):
        client.close()
        raise _Fatal(f"{where} offers no AUTH (smtp.username is set)")
    methods = client.supported_auth_methods
    method = next((m for m in ("plain", "login", "cram-md5") if m in methods), None)
    if method is None:
        client.close()
        raise _Fatal(f"{where} offers no AUTH mechanism we speak ({', '.join(methods) or 'none'})")
    return method


class _Session:
    """One SMTP session of a worker, (re)opened on demand."""

    def __init__(self, owner: SmtpSender, number: int) -> None:
        self.owner = owner
        self.number = number
        self.client: aiosmtplib.SMTP | None = None
        self.messages = 0
        self.unsettled: asyncio.Future[None] | None = None  # the previous message's on_result, running

    async def settle(self) -> BaseException | None:
        """Wait for the previous message's ``on_result`` (its commit ran while this
        message's MAIL FROM and RCPT TO went out); what it raised, if it did."""
        pending, self.unsettled = self.unsettled, None
        if pending is None:
            return None
        try:
            await pending
        except Exception as exc:  # a ledger that cannot be written: the caller raises it
            return exc
        return None

    async def settled(self) -> None:
        failed = await self.settle()
        if failed is not None:
            raise failed

    def abandon(self) -> None:
        """On an error or a cancellation: the previous ``on_result`` is not waited for."""
        pending, self.unsettled = self.unsettled, None
        if pending is not None and not pending.done():
            pending.cancel()

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
        await _connect(client, where, s.effective_port)
        encrypted = client.get_transport_info("sslcontext") is not None
        if s.security != "none" and not encrypted:  # belt and braces: never AUTH/DATA in clear
            client.close()
            raise _Fatal(f"{where}: the session is not encrypted; refusing to continue")
        if s.username:
            await self._authenticate(client, where, encrypted=encrypted)
        self.client = client
        self.messages = 0
        log.debug("session %d: connected to %s", self.number, where)
        return client

    async def _authenticate(self, client: aiosmtplib.SMTP, where: str, *, encrypted: bool) -> None:
        if not encrypted:
            self.owner.warn_once("AUTH without TLS (smtp.security: none): the password travels in clear")
        if self.owner.auth_ok:
            await self._login(client, where)
            return
        # the first login of the run goes alone: a refused password costs ONE failed
        # AUTH, never one per session (servers lock accounts out)
        async with self.owner.auth_lock:
            await self._login(client, where)

    async def _login(self, client: aiosmtplib.SMTP, where: str) -> None:
        """One AUTH with one mechanism (aiosmtplib's ``login`` tries every mechanism the
        server offers: three failed logins for one wrong password)."""
        s = self.owner.settings
        assert s.username is not None
        if self.owner.auth_failed is not None:
            client.close()
            raise _Fatal(self.owner.auth_failed)
        method = await _mechanism(client, where)
        auth = {"plain": client.auth_plain, "login": client.auth_login, "cram-md5": client.auth_crammd5}[method]
        try:
            await auth(s.username, self.owner.password or "")
            self.owner.auth_ok = True
        except aiosmtplib.SMTPException as exc:
            client.close()
            raise self._auth_error(exc, s.username, where) from None

    def _auth_error(self, exc: aiosmtplib.SMTPException, username: str, where: str) -> Exception:
        """A refused login stops the run (and no session tries again); a dropped
        connection or a 4xx is temporary."""
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            self.owner.auth_failed = f"AUTH as {username} refused by {where}: {_reply(exc)}"
            return _Fatal(self.owner.auth_failed)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            if exc.code >= 500:
                self.owner.auth_failed = f"AUTH as {username} with {where}: {_reply(exc)}"
                return _Fatal(self.owner.auth_failed)
            return _Temporary(f"AUTH with {where}: {_reply(exc)}")
        if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError):
            return _Temporary(f"AUTH with {where}: {exc}")
        return _Fatal(f"AUTH as {username} with {where}: {exc}")

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
        unrecorded: BaseException | None = None
        try:
            await client.mail(item.sender)
            stage = "RCPT TO"
            await client.rcpt(item.recipient)
            # the server accepts a message only at the end of DATA: the previous outcome is
            # recorded by then (at most one accepted, unrecorded message per session)
            unrecorded = await self.settle()
            if unrecorded is None:
                stage = "DATA"
                await send_data(client, item.message)
        except aiosmtplib.SMTPResponseException as exc:
            reply = _reply(exc)
            if exc.code == 421:
                self.drop()  # 421: the server is closing the session
            else:
                await self._reset()
            if exc.code >= 500:
                if stage == "MAIL FROM":
                    raise _Fatal(f"the server refused the sender {item.sender}: {reply}") from None
                bounce = "hard" if is_hard_bounce(exc.code, exc.message) else None
                raise _Permanent(f"{reply} ({stage})", bounce=bounce) from None
            raise _Temporary(f"{reply} ({stage})", rate_limited=is_rate_limit(exc.code, exc.message)) from None
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
        if unrecorded is not None:  # the previous outcome could not be recorded: stop here
            self.drop()
            raise unrecorded
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
        self.limiter = _RateLimiter(settings.max_per_second) if settings.max_per_second else None
        self.stats = SendStats()
        self.throttle = _Throttle(backoff, backoff_cap, self.rng)
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
        session = _Session(self, number)
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
        cause = _ssl_cause(exc)
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

    async def _deliver(self, session: _Session, item: Outgoing) -> Result:
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
            except _Permanent as exc:
                log.debug("%s: refused: %s", item.recipient, exc)  # the caller reports it (once): the Result
                return Result(item, "failed", attempts, str(exc), bounce=exc.bounce)
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
        return None

    async def _retry(self, session: _Session, item: Outgoing, exc: _Temporary, attempts: int) -> Result | None:
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


def wire_data(message: bytes) -> bytes | None:
    """What goes on the wire after DATA for a message whose lines all end in CRLF (ours
    do): dot-stuffed, ended by ``.``; None for any other message. The very bytes
    aiosmtplib's ``data()`` would send, without its two regular-expression passes over
    the whole message (0.6 ms for 38 KB, half of what a bare aiosmtplib loop spends on a
    message): a few C scans instead (tests/test_delivery_smtp.py compares the two)."""
    crlf = message.count(b"\r\n")
    if message.count(b"\r") != crlf or message.count(b"\n") != crlf:
        return None  # a lone CR or LF: aiosmtplib's own path normalises it
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


async def send_data(client: aiosmtplib.SMTP, message: bytes) -> None:
    """``client.data(message)``, with the message prepared by :func:`wire_data` when it
    can be: DATA, the 354, the prepared bytes, the 250 (what aiosmtplib does, through
    its protocol's ``write`` and ``read_response``)."""
    wire = wire_data(message)
    protocol = client.protocol
    if wire is None or protocol is None:
        await client.data(message)
        return
    start = await client.execute_command(b"DATA")
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    try:
        protocol.write(wire)
        reply = await protocol.read_response(timeout=client.timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()
        raise
    if reply.code != 250:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)


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
    session = _Session(sender, 0)
    try:
        client = await session.ensure()
        ssl_object = client.get_transport_info("ssl_object")
        version = ssl_object.version() if ssl_object is not None else None
    except (_Fatal, _Temporary) as exc:
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
