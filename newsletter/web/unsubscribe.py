"""The one-click unsubscribe endpoint (RFC 8058): ``newsletter serve``, and the same
app inside ``newsletter run`` (in the daemon's own loop) when ``sender.unsubscribe.listen``
is set.

Routes (everything else is 404; HEAD works wherever GET does):

``GET /unsubscribe/{token}``
    A small confirmation page (the address partly masked) with an "Unsubscribe"
    button, a form that POSTs ``List-Unsubscribe=One-Click`` back to the same URL,
    and a "pause for N weeks" form. A GET never changes anything: mail scanners
    and link previewers follow links.
``POST /unsubscribe/{token}``
    Body ``List-Unsubscribe=One-Click`` (``application/x-www-form-urlencoded``,
    ``multipart/form-data`` or ``text/plain``; chunked or not): the address goes
    into the ledger's suppression table for good; 200 and a small page.
    Idempotent. Body ``pause_weeks=N`` (1..12 weeks): suppressed
    until then (never shortens an unsubscribe for good). Other fields beside the
    action are ignored (a form's button name, a client's extra field); a body
    with no action, a wrong value, a repeated or two conflicting actions is 400
    and changes nothing. A body over 8 KiB is 413.
``GET /healthz``
    ``ok`` (for a reverse proxy or a readiness probe).

A token is resolved against the configured subscribers only: the token of every
subscriber is computed once (:class:`TokenIndex`, rebuilt on a configuration
reload) and the candidate is confirmed with :func:`hmac.compare_digest`. The
index is keyed by the SHA-256 of the token, so the dictionary look-up's timing
says nothing about the token itself. An unknown, forged or malformed token, or
one made with another secret, is 404 and changes nothing.

Each ledger call runs in a worker thread (:func:`asyncio.to_thread`) on its own
short-lived connection (SQLite WAL lets it write while a ``send`` pass or the
daemon holds its own), so the event loop is never blocked. Tokens are bearer
credentials for unsubscribing: the access log never holds one
(:func:`newsletter.web.app.clean`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from aiohttp import web

from newsletter.base.cron import timezone
from newsletter.base.errors import NewsletterError
from newsletter.config import Config, load_config, load_off_loop
from newsletter.render.links.tokens import TokenIndex, accepted_secrets, fallback_reason, mask, secret_for
from newsletter.render.pages import render_page
from newsletter.store import Suppression
from newsletter.store.choose import open_ledger, open_ledger_readonly
from newsletter.web.app import (
    MAX_BODY,
    Server,
    body_deadline,
    html_response,
    make_app,
    parse_networks,
    security_headers,
)
from newsletter.web.feedback import feedback_routes

log = logging.getLogger("newsletter.unsubscribe")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8026
MAX_PAUSE_WEEKS = 12  # the page offers 1, 2, 4, 8 or 12 weeks
PAUSE_CHOICES = (1, 2, 4, 8, 12)
SECURITY_HEADERS = security_headers(
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_ERRORS = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    408: "Too slow",
    413: "Too large",
    500: "Error",
    503: "Try again later",
}
_NOT_FOUND = "This unsubscribe link is not valid (it may be incomplete, or from another list)."
_TOO_SLOW = "The request did not arrive in time; nothing was changed. Please try again."


class BadRequest(ValueError):
    """The POST body is not one of the accepted forms."""


# --------------------------------------------------------------------------- request bodies


@dataclass(frozen=True, slots=True)
class Action:
    """What a valid POST asks for: ``weeks`` None is an unsubscribe for good."""

    weeks: int | None = None


def form_fields(content_type: str | None, body: bytes) -> dict[str, list[str]]:
    """The fields of an urlencoded or ``text/plain`` body (surrounding whitespace, such
    as a trailing CRLF, ignored); :class:`BadRequest` for anything else."""
    ctype = (content_type or "application/x-www-form-urlencoded").split(";")[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", "text/plain"):
        raise BadRequest(f"unsupported content type {ctype!r}")
    try:
        return parse_qs(body.decode("ascii").strip(), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the body is not form-encoded") from None


def action_of(fields: Mapping[str, list[str]]) -> Action:
    """The one action in ``fields``; :class:`BadRequest` when there is none, or two."""
    one_click, weeks = fields.get("List-Unsubscribe"), fields.get("pause_weeks")
    if one_click is not None and weeks is not None:
        raise BadRequest("either List-Unsubscribe=One-Click or pause_weeks, not both")
    if one_click == ["One-Click"]:
        return Action()
    if (
        weeks is not None
        and len(weeks) == 1
        and weeks[0].isascii()
        and weeks[0].isdigit()
        and 1 <= int(weeks[0]) <= MAX_PAUSE_WEEKS
    ):
        return Action(weeks=int(weeks[0]))
    raise BadRequest("expected List-Unsubscribe=One-Click (RFC 8058)")


def parse_body(content_type: str | None, body: bytes) -> Action:
    """The action of an urlencoded or text/plain POST body; :class:`BadRequest` otherwise."""
    return action_of(form_fields(content_type, body))


async def request_action(request: web.Request) -> Action:
    """The action of the request's body, read through the framework (413 beyond
    ``client_max_size``; multipart by aiohttp's own parser)."""
    ctype = request.headers.get("Content-Type")
    if request.content_type == "multipart/form-data":
        try:
            form = await request.post()
        except web.HTTPException:
            raise
        except Exception:  # aiohttp's parser: malformed boundaries, parts, encodings
            raise BadRequest("malformed multipart body") from None
        fields: dict[str, list[str]] = {}
        for name, value in form.items():
            if not isinstance(value, str):
                raise BadRequest("file fields are not accepted")
            fields.setdefault(name, []).append(value.strip())
        return action_of(fields)
    return parse_body(ctype, await request.read())


# --------------------------------------------------------------------------- pages


def _day(ts: float, tz_name: str) -> str:
    """The day a pause ends, in ``schedule.timezone``: the subscribers' calendar, by which
    their digests come (in UTC, a pause ending at 09:00 in Sydney said the day before)."""
    return datetime.fromtimestamp(ts, timezone(tz_name)).strftime("%d %B %Y").lstrip("0")


def message_page(status: int, text: str) -> web.Response:
    return html_response(status, render_page("message.html", title=_ERRORS.get(status, "Error"), text=text))


def _error_page(request: web.Request, status: int, reason: str) -> web.Response:
    link = request.path.startswith(("/unsubscribe/", "/feedback/"))
    not_found = _NOT_FOUND if link else "There is no page at this address."
    text = {404: not_found, 408: _TOO_SLOW, 413: "the body is too large"}.get(status, reason)
    return message_page(status, text)


# --------------------------------------------------------------------------- the app


def endpoint(config: Config, host: str | None = None, port: int | None = None) -> tuple[str, int]:
    """Where to listen: ``host``/``port`` when given, else ``sender.unsubscribe.listen``,
    else 127.0.0.1:8026."""
    listen = config.sender.unsubscribe.listen_address
    return (
        host if host is not None else (listen[0] if listen else DEFAULT_HOST),
        port if port is not None else (listen[1] if listen else DEFAULT_PORT),
    )


def archive_prefix(config: Config) -> str:
    """Where the endpoint serves ``archive.directory``: the path of ``archive.url``
    (``https://example.org/archive`` -> ``/archive``), else ``/archive``."""
    path = urlparse(config.archive.url).path.rstrip("/") if config.archive.url else ""
    return path or "/archive"


_KEY = "{key:[0-9a-f]{16}}"  # a subscriber's folder (newsletter.render.links.archive)
_PAGE = r"{name:[0-9a-f]{16}\.html|index\.html|feed\.xml}"  # the files the archive writes, nothing else
_ATOM = "application/atom+xml; charset=utf-8"
# the archive's links are secrets (the folder key is in the URL): a link that leaks (a
# forwarded email, a page shared) is not indexed, nor followed to the other issues
_NOINDEX = {"X-Robots-Tag": "noindex, nofollow"}


def archive_routes(config: Config) -> list[web.AbstractRouteDef]:
    """The archive's pages, or none: ``PREFIX/KEY/`` is the folder's index, ``PREFIX/KEY``
    redirects there, and only the files the archive writes are served (its manifest,
    stray files, listings and symlinks are 404). Every answer says ``X-Robots-Tag:
    noindex, nofollow`` (the feed too; the pages also say it in a ``<meta>``)."""
    root = config.archive.directory
    if root is None:
        return []
    root.mkdir(parents=True, exist_ok=True)
    prefix = archive_prefix(config)

    async def folder(request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect(f"{prefix}/{request.match_info['key']}/", headers=_NOINDEX)

    async def page(request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name", "index.html")
        path = root / request.match_info["key"] / name
        if path.is_symlink() or path.parent.is_symlink() or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={**_NOINDEX, **({"Content-Type": _ATOM} if name == "feed.xml" else {})})

    return [
        web.get(f"{prefix}/{_KEY}", folder),
        web.get(f"{prefix}/{_KEY}/", page),
        web.get(f"{prefix}/{_KEY}/{_PAGE}", page),
    ]


def past_recipients(config: Config) -> list[str]:
    """Every address the ledger delivered to (so that the link in an email sent before
    its subscriber was removed from the configuration still works); none when the
    ledger cannot be read now (one warning)."""
    try:
        ledger = open_ledger_readonly(config)
        if ledger is None:
            return []
        with ledger:
            return list(ledger.delivery_counts_by_email())
    except NewsletterError as exc:
        log.warning("%s: links of removed subscribers are not recognised until the next reload", exc)
        return []


class UnsubscribeServer(Server):
    """The endpoint for ``config`` on a socket bound now; :meth:`update` swaps in a
    reloaded configuration. Run it with :meth:`start`/:meth:`close` in a running
    loop."""

    config: Config
    index: TokenIndex
    insecure_secret: bool
    secret: str
    secrets: tuple[str, ...]  # the secret, then older ones whose links are still accepted

    def __init__(
        self, config: Config, *, host: str | None = None, port: int | None = None, secret: str | None = None
    ) -> None:
        host, port = endpoint(config, host, port)
        self._fixed_secret = secret
        self._state_lock = threading.Lock()
        self.update(config)
        app = make_app(
            [
                web.get("/healthz", self._healthz),
                web.get("/unsubscribe/{token}", self._get),
                web.get("/unsubscribe/{token}/", self._get),
                web.post("/unsubscribe/{token}", self._post),
                web.post("/unsubscribe/{token}/", self._post),
                *feedback_routes(self),  # issue 17: "more/fewer like this"
                *archive_routes(config),  # the archive's static pages, when configured
            ],
            headers=SECURITY_HEADERS,
            error_page=_error_page,
            log=log,
            trusted_proxies=parse_networks(config.sender.unsubscribe.trusted_proxies),
            client_max_size=MAX_BODY,
        )
        super().__init__(app, host, port, log=log)

    def update(self, config: Config) -> None:
        """Use ``config`` from now on (token index rebuilt; the ledger path is kept)."""
        secret, insecure = (self._fixed_secret, False) if self._fixed_secret else secret_for(config)
        older = () if self._fixed_secret else accepted_secrets(config)[1:]
        current = getattr(self, "config", None)
        index = TokenIndex(config, secret, *older, past=past_recipients(current or config))
        with self._state_lock:
            if getattr(self, "config", None) is not None and config.ledger_path != self.config.ledger_path:
                log.error("the ledger path changed (%s): restart the endpoint to use it", config.ledger_path)
                config = replace(config, ledger_path=self.config.ledger_path)
            self.config, self.index, self.insecure_secret = config, index, insecure
            self.secret = secret
            self.secrets = (secret, *older)
        if insecure:
            log.warning(
                "%s: unsubscribe tokens use the fallback secret derived from the configuration path, which anyone "
                "who knows the path can reproduce",
                fallback_reason(config) or "no secret",
            )

    def resolve(self, token: str) -> str | None:
        with self._state_lock:
            index = self.index
        return index.resolve(token)

    # ------------------------------------------------------------------ ledger (worker threads)

    def suppression(self, address: str) -> Suppression | None:
        ledger = open_ledger_readonly(self.config)
        if ledger is None:
            return None
        with ledger:
            return ledger.suppression(address)

    def apply(self, address: str, action: Action) -> Suppression | None:
        until = None if action.weeks is None else time.time() + action.weeks * 7 * 86400
        source = "one-click" if action.weeks is None else "pause"
        with open_ledger(self.config) as ledger:
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

    # ------------------------------------------------------------------ handlers

    def _context(self, address: str) -> dict[str, Any]:
        sender = self.config.sender.mailbox
        return {
            "address": mask(address),
            "list_name": sender.name or sender.address,
            "contact": self.config.sender.reply_to or sender.address,
        }

    def _address(self, request: web.Request) -> str:
        address = self.resolve(request.match_info["token"])
        if address is None:
            raise web.HTTPNotFound()
        return address

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n", content_type="text/plain", charset="utf-8")

    async def _get(self, request: web.Request) -> web.Response:
        address = self._address(request)
        state = await asyncio.to_thread(self.suppression, address)
        page = render_page(
            "confirm.html",
            **self._context(address),
            state=state,
            choices=PAUSE_CHOICES,
            until=_day(state.until, self.config.schedule.timezone) if state and state.until else "",
        )
        return html_response(200, page)

    async def _post(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
        address = self._address(request)
        try:
            async with body_deadline():
                action = await request_action(request)
        except BadRequest as exc:
            return message_page(400, str(exc))
        state = await asyncio.to_thread(self.apply, address, action)
        until = _day(state.until, self.config.schedule.timezone) if state and state.until else ""
        return html_response(200, render_page("done.html", **self._context(address), until=until))


# --------------------------------------------------------------------------- `newsletter serve`


def serve_unsubscribe(config_path: str | Path, *, host: str | None = None, port: int | None = None) -> None:
    """``newsletter serve``: run the endpoint until SIGTERM/SIGINT; SIGHUP reloads."""
    config = load_config(config_path, strict=False)  # a bad subscriber is left out (SPEC 6c)
    open_ledger(config).close()  # create or migrate the ledger now, not on the first click
    host, port = endpoint(config, host, port)
    try:
        server = UnsubscribeServer(config, host=host, port=port)
    except OSError as exc:
        raise NewsletterError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    _log_left_out(config)
    asyncio.run(_serve(server, config_path))
    log.info("unsubscribe endpoint stopped")


def _log_left_out(config: Config) -> None:
    for left in config.left_out:
        log.error("%s", left)


async def reload_endpoint(server: UnsubscribeServer, config_path: str | Path) -> None:
    """SIGHUP: the configuration parsed and the token index built in a thread, so the
    event loop keeps answering requests meanwhile (a file of 100,000 subscribers takes
    seconds); an invalid configuration is logged and the running one kept."""

    def load() -> Config:
        config = load_config(config_path, strict=False)
        server.update(config)  # thread-safe: the index is swapped under the server's lock
        return config

    config = await load_off_loop(load, log)
    if config is None:
        return
    _log_left_out(config)
    log.info("configuration reloaded: %d subscribers", len(config.subscribers))


async def _serve(server: UnsubscribeServer, config_path: str | Path) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    reloading: asyncio.Future[None] | None = None

    def stop(signame: str) -> None:
        log.info("%s received: stopping", signame)
        stopping.set()

    def reload() -> None:  # one reload at a time; a SIGHUP during a reload is the same reload
        nonlocal reloading
        if reloading is None or reloading.done():
            reloading = asyncio.ensure_future(reload_endpoint(server, config_path))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        await server.start()
        print(
            f"Unsubscribe endpoint on {server.url}unsubscribe/<token> for "
            f"{len(server.config.subscribers)} subscriber(s) (Ctrl-C to stop)",
            flush=True,
        )
        await stopping.wait()
    finally:
        if reloading is not None and not reloading.done():
            reloading.cancel()
        await server.close()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
