"""The one-click unsubscribe endpoint (RFC 8058): ``newsletter serve``, and the same
listener inside ``newsletter run`` when ``sender.unsubscribe.listen`` is set.

Routes (everything else is 404):

``GET /unsubscribe/<token>``
    A small confirmation page (the address partly masked) with an "Unsubscribe"
    button, a form that POSTs ``List-Unsubscribe=One-Click`` back to the same URL,
    and a "pause for N weeks" form. A GET never changes anything: mail scanners
    and link previewers follow links.
``POST /unsubscribe/<token>``
    Body ``List-Unsubscribe=One-Click`` (``application/x-www-form-urlencoded`` or
    ``multipart/form-data``, as RFC 8058 allows; this is what Gmail and Apple Mail
    send for the ``List-Unsubscribe-Post`` header): the address goes into the
    ledger's suppression table for good; 200 and a small page. Idempotent.
    Body ``pause_weeks=N`` (1..52, the page's pause form): suppressed until then
    (never shortens an unsubscribe for good). Any other body: 400, nothing changes.
``GET /healthz``
    ``ok`` (for a reverse proxy or a readiness probe).

A token is resolved against the configured subscribers only: the token of every
subscriber is computed once (:class:`TokenIndex`, rebuilt on a configuration
reload) and the candidate is confirmed with :func:`hmac.compare_digest`. The
index is keyed by the SHA-256 of the token, so the dictionary look-up's timing
says nothing about the token itself. An unknown, forged or malformed token, or
one made with another secret, is 404 and changes nothing.

The server is a standard-library :class:`~http.server.ThreadingHTTPServer`; each
request uses its own short-lived ledger connection (SQLite WAL lets it write
while a ``send`` pass or the daemon holds its own), so inside the daemon it runs
in a thread and never blocks the event loop. Tokens are bearer credentials for
unsubscribing: they never appear in the log (only their first characters).
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import hashlib
import hmac
import logging
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from markupsafe import Markup

from newsletter.config import Config, load_config
from newsletter.delivery.ledger import Ledger, Suppression
from newsletter.errors import NewsletterError
from newsletter.pages import BASE_STYLE, PAGE_ENV
from newsletter.unsubscribe import secret_for, unsubscribe_token

log = logging.getLogger("newsletter.unsubscribe")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8026
MAX_BODY = 8192
MAX_PAUSE_WEEKS = 52
PAUSE_CHOICES = (1, 2, 4, 8, 12)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_PATH = re.compile(r"/unsubscribe/(?P<token>[^/]*)/?")
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the URL
}


class BadRequest(ValueError):
    """The POST body is not one of the accepted forms."""


# --------------------------------------------------------------------------- tokens


class TokenIndex:
    """Token -> subscriber address, for the configured subscribers under ``secret``."""

    def __init__(self, config: Config, secret: str) -> None:
        self._by_hash: dict[bytes, tuple[str, str]] = {}
        for sub in config.subscribers:
            token = unsubscribe_token(sub.email, secret)
            self._by_hash[_key(token)] = (token, sub.email)

    def __len__(self) -> int:
        return len(self._by_hash)

    def resolve(self, token: str) -> str | None:
        """The address whose token this is, or None."""
        if not _TOKEN.fullmatch(token):
            return None
        entry = self._by_hash.get(_key(token))
        if entry is None or not hmac.compare_digest(entry[0].encode(), token.encode()):
            return None
        return entry[1]


def _key(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


def mask(address: str) -> str:
    """``alice@example.org`` -> ``al***@example.org`` (enough to recognise, not to harvest)."""
    local, _, domain = address.rpartition("@")
    keep = 2 if len(local) > 4 else 1
    return f"{local[:keep]}***@{domain}"


# --------------------------------------------------------------------------- request bodies


@dataclass(frozen=True, slots=True)
class Action:
    """What a valid POST asks for: ``weeks`` None is an unsubscribe for good."""

    weeks: int | None = None


def parse_body(content_type: str | None, body: bytes) -> Action:
    """The action of a POST body; :class:`BadRequest` for anything else."""
    ctype = (content_type or "application/x-www-form-urlencoded").split(";")[0].strip().lower()
    if ctype in ("application/x-www-form-urlencoded", "text/plain"):
        try:
            fields = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("the body is not form-encoded") from None
    elif ctype == "multipart/form-data":
        fields = _multipart(content_type or "", body)
    else:
        raise BadRequest(f"unsupported content type {ctype!r}")
    if fields == {"List-Unsubscribe": ["One-Click"]}:
        return Action()
    weeks = fields.get("pause_weeks")
    if (
        set(fields) == {"pause_weeks"}
        and weeks
        and len(weeks) == 1
        and weeks[0].isdigit()
        and 1 <= int(weeks[0]) <= MAX_PAUSE_WEEKS
    ):
        return Action(weeks=int(weeks[0]))
    raise BadRequest("expected List-Unsubscribe=One-Click (RFC 8058)")


def _multipart(content_type: str, body: bytes) -> dict[str, list[str]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not msg.is_multipart() or msg.defects:
        raise BadRequest("malformed multipart body")
    fields: dict[str, list[str]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            raise BadRequest("malformed multipart field")
        try:
            fields.setdefault(name, []).append(payload.decode("utf-8").strip())
        except UnicodeDecodeError:
            raise BadRequest("malformed multipart field") from None
    return fields


# --------------------------------------------------------------------------- pages

_ENV = PAGE_ENV

_STYLE = (
    BASE_STYLE
    + """
main { max-width: 520px; margin: 48px auto; padding: 24px; background: #fff; border-radius: 12px;
       box-shadow: 0 1px 3px rgba(0,0,0,.08); }
h1 { font-size: 22px; margin: 0 0 12px; }
p { margin: 0 0 16px; }
.muted { color: #64748b; font-size: 14px; }
button { font: inherit; font-weight: 600; border: 0; border-radius: 8px; padding: 10px 20px; cursor: pointer; }
.primary { background: #b91c1c; color: #fff; }
.secondary { background: #e2e8f0; color: #1f2937; }
form { margin: 0 0 16px; }
select { font: inherit; padding: 8px; border-radius: 8px; border: 1px solid #cbd5e1; }
@media (max-width: 560px) { main { margin: 0; border-radius: 0; } }
"""
)

_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }}</title><style>{{ style | safe }}</style></head>
<body><main>
{{ content }}
</main></body></html>
"""

_CONFIRM = _ENV.from_string("""
<h1 id="title">Unsubscribe from {{ list_name }}</h1>
{% if state and not state.until %}
<p id="state">{{ address }} is unsubscribed: it gets no more digests.</p>
{% else %}
<p>Stop sending research digests to <strong id="address">{{ address }}</strong>?</p>
{% if state %}<p id="state">Digests to this address are paused until {{ until }}.</p>{% endif %}
<form method="post" id="unsubscribe-form">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit" class="primary" id="unsubscribe">Unsubscribe</button>
</form>
{% if not state %}
<form method="post" id="pause-form">
<label for="pause_weeks">Or pause them for</label>
<select name="pause_weeks" id="pause_weeks">
{% for n in choices %}<option value="{{ n }}"{% if n == 4 %} selected{% endif %}>{{ n }} week{{ "s" if n > 1 }}</option>
{% endfor %}
</select>
<button type="submit" class="secondary" id="pause">Pause</button>
</form>
{% endif %}
{% endif %}
<p class="muted">Nothing changes until you press a button.</p>
""")

_DONE = _ENV.from_string("""
{% if until %}
<h1 id="done">Digests paused</h1>
<p>{{ address }} gets no digests from {{ list_name }} until {{ until }}.</p>
{% else %}
<h1 id="done">You are unsubscribed</h1>
<p>{{ address }} will get no more digests from {{ list_name }}.</p>
{% endif %}
{% if contact %}<p class="muted">By mistake? Write to {{ contact }}.</p>{% endif %}
""")

_MESSAGE = _ENV.from_string("""<h1 id="title">{{ title }}</h1><p>{{ text }}</p>""")


_LAYOUT_TEMPLATE = _ENV.from_string(_LAYOUT)


def _page(title: str, content: str) -> str:
    # ``content`` comes from the autoescaping templates above: already escaped
    return _LAYOUT_TEMPLATE.render(title=title, content=Markup(content), style=_STYLE)


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d %B %Y").lstrip("0")


# --------------------------------------------------------------------------- the server


def endpoint(config: Config, host: str | None = None, port: int | None = None) -> tuple[str, int]:
    """Where to listen: ``host``/``port`` when given, else ``sender.unsubscribe.listen``,
    else 127.0.0.1:8026."""
    listen = config.sender.unsubscribe.listen_address
    return (
        host if host is not None else (listen[0] if listen else DEFAULT_HOST),
        port if port is not None else (listen[1] if listen else DEFAULT_PORT),
    )


class UnsubscribeServer(ThreadingHTTPServer):
    """The endpoint for ``config``; :meth:`update` swaps in a reloaded configuration."""

    daemon_threads = True
    config: Config
    index: TokenIndex
    insecure_secret: bool

    def __init__(
        self, config: Config, *, host: str | None = None, port: int | None = None, secret: str | None = None
    ) -> None:
        host, port = endpoint(config, host, port)
        if ":" in host:
            self.address_family = socket.AF_INET6
        self._fixed_secret = secret
        self._state_lock = threading.Lock()
        self.update(config)
        self.thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    def update(self, config: Config) -> None:
        """Use ``config`` from now on (token index rebuilt; the ledger path is kept)."""
        secret, insecure = (self._fixed_secret, False) if self._fixed_secret else secret_for(config)
        index = TokenIndex(config, secret)
        with self._state_lock:
            if getattr(self, "config", None) is not None and config.state != self.config.state:
                log.error("the ledger path changed (%s): restart the endpoint to use it", config.state)
                config = _with_state(config, self.config.state)
            self.config, self.index, self.insecure_secret = config, index, insecure
        if insecure:
            log.warning(
                "%s is not set: unsubscribe tokens use the fallback secret derived from the "
                "configuration path, which anyone who knows the path can reproduce",
                config.sender.unsubscribe.secret_env or "sender.unsubscribe.secret_env",
            )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}/"

    def resolve(self, token: str) -> str | None:
        with self._state_lock:
            index = self.index
        return index.resolve(token)

    # ------------------------------------------------------------------ ledger

    def suppression(self, address: str) -> Suppression | None:
        ledger = Ledger.open_readonly(self.config.state)
        if ledger is None:
            return None
        with ledger:
            return ledger.suppression(address)

    def apply(self, address: str, action: Action) -> Suppression | None:
        until = None if action.weeks is None else time.time() + action.weeks * 7 * 86400
        source = "one-click" if action.weeks is None else "pause"
        with Ledger.open(self.config.state) as ledger:
            changed = ledger.suppress(address, source=source, until=until)
            state = ledger.suppression(address)
        if changed or action.weeks is not None:
            log.info(
                "%s: %s",
                address,
                "unsubscribed (one-click)"
                if action.weeks is None
                else f"paused for {action.weeks} weeks"
                if state and state.until
                else "unsubscribed already",
            )
        return state

    # ------------------------------------------------------------------ in a thread (the daemon)

    def start_background(self) -> None:
        """Serve from a thread (the daemon's event loop is never blocked)."""
        self.thread = threading.Thread(target=self.serve_forever, name="unsubscribe-http", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving (from any thread but the serving one) and close the socket."""
        if self.thread is not None:
            self.shutdown()
            self.thread.join(timeout=10)
            self.thread = None
        self.server_close()


def _with_state(config: Config, state: Path) -> Config:
    from dataclasses import replace

    return replace(config, state=state)


class _Handler(BaseHTTPRequestHandler):
    server: UnsubscribeServer
    server_version = "newsletter-unsubscribe"
    protocol_version = "HTTP/1.1"
    timeout = 15  # a slow client cannot hold a thread for long

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s %s", self.address_string(), _redact(format % args))

    # ------------------------------------------------------------------ responses

    def _send(self, status: int, body: bytes, ctype: str, *, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in _SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _html(self, status: int, title: str, content: str, *, head: bool = False) -> None:
        self._send(status, _page(title, content).encode("utf-8"), "text/html; charset=utf-8", head=head)

    def _message(self, status: int, title: str, text: str, *, head: bool = False) -> None:
        self._html(status, title, _MESSAGE.render(title=title, text=text), head=head)

    def _not_found(self, head: bool = False) -> None:
        self._message(
            HTTPStatus.NOT_FOUND,
            "Not found",
            "This unsubscribe link is not valid (it may be incomplete, or from another list).",
            head=head,
        )

    def _token(self) -> str | None:
        m = _PATH.fullmatch(urlsplit(self.path).path)
        return m.group("token") if m else None

    def _context(self, address: str) -> dict[str, Any]:
        config = self.server.config
        sender = config.sender.mailbox
        return {
            "address": mask(address),
            "list_name": sender.name or sender.address,
            "contact": config.sender.reply_to or sender.address,
        }

    # ------------------------------------------------------------------ methods

    def do_HEAD(self) -> None:
        self._get(head=True)

    def do_GET(self) -> None:
        self._get(head=False)

    def _get(self, *, head: bool) -> None:
        try:
            if urlsplit(self.path).path == "/healthz":
                self._send(HTTPStatus.OK, b"ok\n", "text/plain; charset=utf-8", head=head)
                return
            token = self._token()
            address = self.server.resolve(token) if token is not None else None
            if address is None:
                self._not_found(head)
                return
            state = self.server.suppression(address)
            content = _CONFIRM.render(
                **self._context(address),
                state=state,
                choices=PAUSE_CHOICES,
                until=_day(state.until) if state and state.until else "",
            )
            self._html(HTTPStatus.OK, "Unsubscribe", content, head=head)
        except Exception:
            log.exception("unsubscribe page failed")
            self._message(
                HTTPStatus.INTERNAL_SERVER_ERROR, "Error", "Something went wrong; try again later.", head=head
            )

    def do_POST(self) -> None:
        try:
            body = self._body()
            token = self._token()
            address = self.server.resolve(token) if token is not None else None
            if address is None:
                self._not_found()
                return
            if body is None:
                return  # answered already (400/413)
            try:
                action = parse_body(self.headers.get("Content-Type"), body)
            except BadRequest as exc:
                self._message(HTTPStatus.BAD_REQUEST, "Bad request", str(exc))
                return
            state = self.server.apply(address, action)
            until = _day(state.until) if state and state.until else ""
            self._html(
                HTTPStatus.OK,
                "Unsubscribed" if not until else "Paused",
                _DONE.render(**self._context(address), until=until),
            )
        except Exception:
            log.exception("unsubscribe failed")
            self._message(HTTPStatus.INTERNAL_SERVER_ERROR, "Error", "Something went wrong; try again later.")

    def _body(self) -> bytes | None:
        """The request body (always read, so the connection stays in sync); None after
        answering 400/413 itself."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._message(HTTPStatus.BAD_REQUEST, "Bad request", "chunked bodies are not accepted")
            return None
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._message(HTTPStatus.BAD_REQUEST, "Bad request", "Content-Length is required")
            return None
        if int(length) > MAX_BODY:
            self.close_connection = True
            self._message(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Too large", "the body is too large")
            return None
        return self.rfile.read(int(length))


def _redact(text: str) -> str:
    return re.sub(r"(/unsubscribe/[A-Za-z0-9_-]{6})[A-Za-z0-9_%-]*", r"\1…", text)


# --------------------------------------------------------------------------- `newsletter serve`


@contextlib.contextmanager
def _signals(server: UnsubscribeServer, config_path: str | Path) -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        threading.Thread(target=server.shutdown, daemon=True).start()

    def reload(signum: int, frame: FrameType | None) -> None:
        try:
            server.update(load_config(config_path))
        except NewsletterError as exc:
            log.error("reload refused, keeping the running configuration: %s", " / ".join(str(exc).splitlines()))
            return
        log.info("configuration reloaded: %d subscribers", len(server.index))

    old = {
        sig: signal.signal(sig, handler)
        for sig, handler in ((signal.SIGTERM, stop), (signal.SIGINT, stop), (signal.SIGHUP, reload))
    }
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def serve(config_path: str | Path, *, host: str | None = None, port: int | None = None) -> None:
    """``newsletter serve``: run the endpoint until SIGTERM/SIGINT; SIGHUP reloads."""
    config = load_config(config_path)
    Ledger.open(config.state).close()  # create or migrate the ledger now, not on the first click
    host, port = endpoint(config, host, port)
    try:
        server = UnsubscribeServer(config, host=host, port=port)
    except OSError as exc:
        raise NewsletterError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    with server, _signals(server, config_path):
        print(
            f"Unsubscribe endpoint on {server.url}unsubscribe/<token> for {len(server.index)} subscriber(s) "
            "(Ctrl-C to stop)",
            flush=True,
        )
        server.serve_forever()
    log.info("unsubscribe endpoint stopped")
