"""What every web app of the tool shares, on aiohttp.web.

- the pages themselves are rendered by :func:`newsletter.render.pages.render_page`
  (one Jinja environment over the page templates, shared with ``preview --out``);
- :func:`make_app`: an :class:`aiohttp.web.Application` with one routes table,
  a security-headers hook (CSP, X-Content-Type-Options, Referrer-Policy,
  X-Frame-Options, ``Cache-Control: no-store``) on every response it prepares,
  and a middleware that turns every HTTP error and every unexpected exception
  into the app's own error page (never a traceback on the wire): a ledger that
  cannot be used now (locked, damaged) is 503 with ``Retry-After``, a client gone
  mid-body one INFO line; ``loopback_only`` apps answer only loopback Host names
  (DNS rebinding).
- :func:`body_deadline`: a request body not complete within :data:`BODY_SECONDS` is 408.
- at most :func:`connection_cap` connections at once (the rest are closed at once,
  one warning a minute): a flood never takes the descriptors the daemon's pass needs.
- a request aiohttp's parser refuses gets the app's error page and headers too
  (:class:`_ProtocolPages`), never aiohttp's text echoing the request line.
- :class:`AccessLog`: one line per request that never holds a raw control byte
  (escaped as ``\\xNN``) nor a whole token (any run of 20 or more token
  characters is cut to its first six); the client address is the peer's, or
  the ``X-Forwarded-For`` hop before a *trusted* proxy (:func:`client_address`).
- :class:`Server`: an app on a socket bound at construction (so a busy port is
  an error at once, and the URL is known before serving), run in the caller's
  asyncio loop (:meth:`Server.start` / :meth:`Server.close`: ``serve``,
  ``preview --serve`` and the daemon).
- :func:`security_headers`: the headers every page of every app carries.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Self, cast

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from newsletter.base.errors import LedgerError

BACKLOG = 128  # pending connections the kernel queues (the old hand-written server queued 5)
KEEPALIVE_SECONDS = 15.0
MAX_BODY = 8192  # client_max_size: larger request bodies are answered 413
BODY_SECONDS = 10.0  # a request body not complete by then is answered 408 (a slow client holds nothing)
RETRY_SECONDS = 60  # Retry-After of a 503: the ledger was busy, nothing was recorded
FULL_LOG_SECONDS = 60.0  # at most one "connections full" warning per minute


def _descriptors() -> int:
    """The process's soft ``RLIMIT_NOFILE`` (4,096 where there is none or it is unlimited)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):  # not on POSIX
        return 4096
    return 4096 if soft == resource.RLIM_INFINITY or soft <= 0 else soft


def connection_cap() -> int:
    """How many connections a web app of the tool holds open at most: a quarter of the
    process's file descriptors (soft ``RLIMIT_NOFILE``), between 16 and 1,024. The
    listener often runs inside the daemon (``sender.unsubscribe.listen``), whose pass
    needs descriptors for the ledger, digest files and SMTP sessions: a flood of
    connections (idle, or sending headers a byte at a time) must never take them. The
    connections past the cap are closed at once; aiohttp closes a connection that has
    not sent a whole request within :data:`KEEPALIVE_SECONDS`."""
    return max(16, min(1024, _descriptors() // 4))


def backlog() -> int:
    """Pending connections the kernel queues: :data:`BACKLOG`, less where descriptors
    are few. asyncio accepts up to this many in one go before the app sees any of them,
    and a refused one holds its descriptor until the next turn of the loop: so a flood
    holds at most the cap plus two batches, half the descriptors."""
    return max(8, min(BACKLOG, _descriptors() // 8))


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ErrorPage = Callable[[web.Request, int, str], web.Response]

HEADERS_KEY = web.AppKey("security_headers", dict[str, str])
ERROR_PAGE_KEY: web.AppKey[ErrorPage] = web.AppKey("error_page")
TRUSTED_KEY = web.AppKey("trusted_proxies", tuple[Network, ...])
LOG_KEY = web.AppKey("log", logging.Logger)


# --------------------------------------------------------------------------- pages


def security_headers(csp: str, *, frames: str = "DENY") -> dict[str, str]:
    """What every response of an app carries: its Content-Security-Policy ``csp``, no
    caching, no MIME sniffing, no referrer (tokens are in URLs), and ``frames``
    (X-Frame-Options: ``DENY``, or ``SAMEORIGIN`` for the preview's own iframe)."""
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": csp,
        "X-Frame-Options": frames,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def html_response(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/html", charset="utf-8")


# --------------------------------------------------------------------------- logging


_CONTROL = re.compile(r"[^\x21-\x7e]")
_CONTROL_BUT_SPACE = re.compile(r"[^\x20-\x7e]")
_TOKENISH = re.compile(r"([A-Za-z0-9_-]{6})[A-Za-z0-9_-]{14,}")


def clean(text: str, limit: int = 300, *, spaces: bool = False) -> str:
    """``text`` safe for one log line: every byte outside printable ASCII escaped
    (``\\x00``, ``\\u2028``...), every run of 20+ token characters cut to its first
    six (``abcdef…``: no whole token, whatever path a proxy forwards), at most
    ``limit`` characters; a space is escaped too unless ``spaces``."""
    escaped = (_CONTROL_BUT_SPACE if spaces else _CONTROL).sub(lambda m: _escape(m.group()), text[: limit * 2])
    redacted = _TOKENISH.sub(r"\1…", escaped)
    return redacted if len(redacted) <= limit else redacted[:limit] + "…"


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "127.0.0.1"]`` -> networks (ValueError for a bad one)."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy; then the
    nearest ``X-Forwarded-For`` hop that is not itself trusted (read right to left,
    as each proxy appends). Untrusted peers cannot choose what is logged."""
    address = peer or "-"
    if not trusted or not _trusted(address, trusted):
        return address
    hops = [h.strip() for value in forwarded_for for h in value.split(",")]
    for hop in reversed(hops):
        try:
            ip = ipaddress.ip_address(hop)
        except ValueError:
            break  # a forged or garbled entry: stop at the last good one
        address = str(ip)
        if not _trusted(address, trusted):
            break
    return address


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


class AccessLog(AbstractAccessLogger):
    """``CLIENT METHOD PATH STATUS BYTES MS``, each part through :func:`clean`;
    ``trusted`` are the proxies whose ``X-Forwarded-For`` is believed."""

    trusted: tuple[Network, ...] = ()

    @classmethod
    def trusting(cls, trusted: Sequence[Network]) -> type[AccessLog]:
        return type("AccessLog", (cls,), {"trusted": tuple(trusted)})

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        # a request the parser refused has a plain dict of headers: items() serves both
        forwarded = [v for k, v in request.headers.items() if k.lower() == "x-forwarded-for"]
        client = client_address(request.remote, forwarded, self.trusted)
        path = request.path + (f"?{request.query_string}" if request.query_string else "")
        self.logger.info(
            "%s %s %s %d %d %.1fms",
            clean(client, 64),
            clean(request.method, 16),
            clean(path),
            response.status,
            response.body_length,
            time * 1000,
        )


class ProtocolErrors(logging.Filter):
    """For aiohttp's protocol logger: a request the parser refused (bad request line,
    ``Content-Length: ²``, control bytes) is one clean line at INFO, never a traceback
    with the raw bytes; other errors keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else "-"
            lines = str(exc.message).strip().splitlines()
            record.msg = "bad request from %s: %d %s"
            record.args = (clean(str(peer), 64), exc.code, clean(lines[0] if lines else "", 120, spaces=True))
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


# --------------------------------------------------------------------------- the app


def make_app(
    routes: Sequence[web.AbstractRouteDef],
    *,
    headers: Mapping[str, str],
    error_page: ErrorPage,
    log: logging.Logger,
    trusted_proxies: Sequence[Network] = (),
    client_max_size: int = MAX_BODY,
    loopback_only: bool = False,
) -> web.Application:
    """An application serving ``routes`` (its one routes table); ``loopback_only``: it
    answers only requests whose Host names the loopback (see :func:`_loopback_host`)."""
    middlewares = [_error_pages, _loopback_host] if loopback_only else [_error_pages]
    app = web.Application(middlewares=middlewares, client_max_size=client_max_size)
    app[HEADERS_KEY] = dict(headers)
    app[ERROR_PAGE_KEY] = error_page
    app[TRUSTED_KEY] = tuple(trusted_proxies)
    app[LOG_KEY] = log
    app.add_routes(routes)
    app.on_response_prepare.append(_security_headers)
    return app


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in request.app[HEADERS_KEY].items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = "paper-digest"  # not the framework's name and version


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


@web.middleware
async def _loopback_host(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """421 unless the Host header names the loopback (``127.0.0.1``, ``localhost``,
    ``[::1]``, any port): a web page whose own name an attacker re-points at 127.0.0.1
    (DNS rebinding) reaches the socket, but with its own name as Host, so it reads
    nothing of a local-only app (the preview shows every subscriber's address)."""
    host = request.headers.get("Host", "")
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name.lower() not in LOOPBACK_NAMES:
        raise web.HTTPMisdirectedRequest(reason="This page answers only at 127.0.0.1 or localhost")
    return await handler(request)


@asynccontextmanager
async def body_deadline() -> AsyncIterator[None]:
    """Around the reading of a request body: 408 when it is not complete within
    :data:`BODY_SECONDS` (a client that sends its body a byte a minute, or never,
    holds a connection that long at most; the idle and header timeout is aiohttp's
    keep-alive timeout)."""
    try:
        async with asyncio.timeout(BODY_SECONDS):
            yield
    except TimeoutError:
        raise web.HTTPRequestTimeout() from None


@web.middleware
async def _error_pages(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    page, log = request.app[ERROR_PAGE_KEY], request.app[LOG_KEY]
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = page(request, exc.status, exc.reason)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        if exc.status in (408, 413):
            response.force_close()  # the rest of the body is not read
        return response
    except LedgerError as exc:  # busy (a backup, a long pass), damaged, read-only: nothing was recorded
        log.error("%s %s: not done: %s", request.method, clean(request.path), clean(str(exc), spaces=True))
        response = page(request, 503, "The list's records are busy; nothing was changed. Try again in a minute.")
        response.headers["Retry-After"] = str(RETRY_SECONDS)
        return response
    except (ConnectionError, HttpProcessingError) as exc:  # the client went away or cut its body short
        log.info(
            "%s %s: request body not received (%s)",
            request.method,
            clean(request.path),
            clean(str(exc), 80, spaces=True),
        )
        response = page(request, 400, "The request was not received completely.")
        response.force_close()
        return response
    except Exception:
        log.exception("%s %s failed", request.method, clean(request.path))
        return page(request, 500, "Something went wrong; try again later.")


# --------------------------------------------------------------------------- serving


class _ProtocolPages(RequestHandler):
    """aiohttp's connection handler, but a request its parser refuses (an unknown
    method, a header too large, a NUL in the path, Content-Length with chunked) is
    answered with the app's own error page and headers, not aiohttp's plain text that
    echoes the request line (with its token) and names the framework and its version.
    The app is a class attribute of a subclass made per app (see :meth:`Server.start`)."""

    __slots__ = ()
    app: web.Application
    cap: int  # connections held open at most (see :func:`connection_cap`)
    full: list[float]  # when the "connections full" warning was last logged (one per app)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        manager = self._manager
        if manager is not None and len(manager.connections) >= self.cap:
            self._manager = None  # so connection_lost has nothing to undo
            cast(asyncio.Transport, transport).abort()
            now = asyncio.get_running_loop().time()
            if now - self.full[0] >= FULL_LOG_SECONDS:
                self.full[0] = now
                self.app[LOG_KEY].warning(
                    "web: %d connections open, the most allowed: closing new ones until some end", self.cap
                )
            return
        super().connection_made(transport)

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs (ProtocolErrors), raises when output began
        reason = "Something went wrong; try again later." if status >= 500 else "The request could not be read."
        response = self.app[ERROR_PAGE_KEY](request, status, reason)  # type: ignore[arg-type]
        for name, value in self.app[HEADERS_KEY].items():
            response.headers.setdefault(name, value)
        response.headers["Server"] = "paper-digest"
        response.force_close()
        return response


class _PagesServer(web.Server):
    """aiohttp's server whose connections are :class:`_ProtocolPages` of one app."""

    handler_class: type[_ProtocolPages]

    def __call__(self) -> RequestHandler:
        handler = super().__call__()
        try:
            handler.__class__ = self.handler_class  # same slots: only handle_error differs
        except TypeError:  # another aiohttp's handler layout: its own error pages, nothing worse
            logging.getLogger(__name__).debug("aiohttp cannot be specialised here: its own error pages")
        return handler


def _answer_parser_errors_with_pages(server: web.Server, app: web.Application, cap: int) -> None:
    attributes = {"__slots__": (), "app": app, "cap": cap, "full": [float("-inf")]}
    handler_class = type("ProtocolPages", (_ProtocolPages,), attributes)
    server.__class__ = type("PagesServer", (_PagesServer,), {"handler_class": handler_class})


def _protocol_log(log: logging.Logger) -> logging.Logger:
    """``LOG.http``: where aiohttp reports protocol errors, through :class:`ProtocolErrors`."""
    logger = logging.getLogger(f"{log.name}.http")
    if not any(isinstance(f, ProtocolErrors) for f in logger.filters):
        logger.addFilter(ProtocolErrors())
    return logger


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when ``host`` has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=backlog())


class Server:
    """``app`` on a socket bound now; see the module docstring for the two ways to run it."""

    def __init__(
        self, app: web.Application, host: str, port: int, *, log: logging.Logger, max_connections: int | None = None
    ) -> None:
        self.app = app
        self.log = log
        self.max_connections = connection_cap() if max_connections is None else max_connections
        self.socket = bind(host, port)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.socket.close()

    @property
    def server_address(self) -> tuple[str, int]:
        name = self.socket.getsockname()
        return str(name[0]), int(name[1])

    @property
    def url(self) -> str:
        host, port = self.server_address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    # ------------------------------------------------------------------ in the caller's loop

    async def start(self) -> None:
        """Serve from the running loop (returns once accepting)."""
        trusted: tuple[Network, ...] = self.app.get(TRUSTED_KEY, ())
        runner = web.AppRunner(
            self.app,
            access_log_class=AccessLog.trusting(trusted),
            access_log=self.log,
            logger=_protocol_log(self.log),
            keepalive_timeout=KEEPALIVE_SECONDS,
            shutdown_timeout=5.0,
            handle_signals=False,
        )
        await runner.setup()
        assert runner.server is not None
        _answer_parser_errors_with_pages(runner.server, self.app, self.max_connections)
        await web.SockSite(runner, self.socket, backlog=backlog()).start()
        self._runner = runner

    async def close(self) -> None:
        """Stop serving and close the socket (requests in flight may finish, 5 s at most)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        self.socket.close()
