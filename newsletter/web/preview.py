"""``newsletter preview --serve``: a local web page of every subscriber's email (127.0.0.1 only).

Routes: ``/`` (subscribers, paper count, subject; ``?q=`` finds by address or
name, ``?page=N`` pages through them, :data:`PAGE_SIZE` a page),
``/s/{slug}`` (that one email: HTML part in an iframe, why each paper matched,
headers, text part; ``?width=375``), ``/raw/{slug}.html|.txt|.eml``.

Fast at any size (:class:`PreviewSource`): the configuration, the digests and
the templates are read and compiled once, and again only when one of their
files changed (size or modification time), so editing a template and reloading
shows the change at once. An index page matches only the subscribers it shows
and renders no email (the subject comes from ``sender.subject``); a subscriber
page renders that one email. Matching is :func:`newsletter.matching.matcher.plan`'s
(:func:`~newsletter.matching.match_papers` over one shared paper index), so
the page shows what ``send`` would deliver. An error (bad config, template
error) is shown on the page instead of stopping the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from newsletter.app.preview import IndexRow, Preview, slug_of, suppressed_addresses
from newsletter.base.errors import NewsletterError
from newsletter.config import Config, Subscriber, load_config, select_subscribers
from newsletter.digest.scan import Loaded, digest_files, load_digests
from newsletter.matching import Match, PaperIndex, match_papers
from newsletter.matching.likes import read_like_state
from newsletter.matching.matcher import Matcher, profile_of, revised_ids, without_revisions
from newsletter.render import Renderer
from newsletter.render.pages import render_page
from newsletter.web.app import Server, html_response, make_app, security_headers

log = logging.getLogger("newsletter.preview")

HOST = "127.0.0.1"
PAGE_SIZE = 50
# the page sizes its iframe with an inline handler; the email (srcdoc) may show images
SECURITY_HEADERS = security_headers(
    "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'",
    frames="SAMEORIGIN",
)

Stamp = tuple[tuple[str, int, int], ...]


# --------------------------------------------------------------------------- what the pages show


def _stamp(paths: Iterable[Path]) -> Stamp:
    """(name, size, mtime) of every path that exists: changes when any file does."""
    out = []
    for path in paths:
        with contextlib.suppress(OSError):
            st = path.stat()
            out.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _files_in(directory: Path | None) -> list[Path]:
    if directory is None or not directory.is_dir():
        return []
    return sorted(Path(e.path) for e in os.scandir(directory) if e.is_file())


@dataclass(frozen=True)
class Snapshot:
    """The configuration, the compiled templates and the parsed digests, as of ``stamp``."""

    config: Config
    renderer: Renderer
    subscribers: tuple[Subscriber, ...]
    by_slug: dict[str, Subscriber]
    loaded: Loaded
    index: PaperIndex
    digests: tuple[Path, ...]
    stamp: Stamp


@dataclass(frozen=True)
class Pager:
    """Which slice of the (found) subscribers an index page shows."""

    page: int
    pages: int
    query: str
    matching: int

    @property
    def first(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1

    @property
    def last(self) -> int:
        return min(self.page * PAGE_SIZE, self.matching)

    def href(self, page: int) -> str:
        params = {"q": self.query} if self.query else {}
        return "/?" + urlencode({**params, "page": page})


class PreviewSource:
    """Builds the pages of ``config_path``; ``emails`` and ``digests`` as for
    :func:`newsletter.app.preview.build_previews`. Thread-safe (one page at a time)."""

    def __init__(
        self, config_path: str | Path, *, emails: Sequence[str] = (), digests: Sequence[str | Path] | None = None
    ) -> None:
        self.config_path = Path(config_path)
        self.emails = tuple(emails)
        self.digests = [Path(p) for p in digests] if digests else None
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self.rebuilds = 0

    def _inputs(self, config: Config) -> list[Path]:
        paths = [self.config_path]
        paths += _files_in(config.templates)
        subscribers_dir = getattr(config, "subscribers_dir", None)
        if isinstance(subscribers_dir, Path):
            paths += _files_in(subscribers_dir)
        paths += self.digests if self.digests is not None else digest_files(config)
        return paths

    def snapshot(self) -> Snapshot:
        """The current snapshot: rebuilt when a file it was built from changed."""
        with self._lock:
            old = self._snapshot
            if old is not None and _stamp(self._inputs(old.config)) == old.stamp:
                return old
            self._snapshot = None
            config = load_config(self.config_path, strict=False)
            renderer = Renderer(config)
            subscribers = select_subscribers(config, self.emails)
            paths = tuple(self.digests if self.digests is not None else digest_files(config))
            loaded = load_digests(paths, fmt=config.digests.format)
            new = Snapshot(
                config=config,
                renderer=renderer,
                subscribers=subscribers,
                by_slug={slug_of(s.email): s for s in subscribers},
                loaded=loaded,
                index=PaperIndex(loaded.papers),
                digests=paths,
                stamp=_stamp(self._inputs(config)),
            )
            self._snapshot = new
            self.rebuilds += 1
            return new

    def index_page(self, query: str = "", page: int = 1, *, when: datetime | None = None) -> str:
        """One page of the subscriber list (``query``: a part of an address or name)."""
        snap = self.snapshot()
        with self._lock:
            when = when or datetime.now(UTC)
            wanted = query.strip().casefold()
            found = [
                s
                for s in snap.subscribers
                if not wanted
                or wanted in s.email.casefold()  # address-key: a search, not a comparison
                or wanted in (s.name or "").casefold()
            ]
            pages = max(1, math.ceil(len(found) / PAGE_SIZE))
            page = min(max(page, 1), pages)
            shown = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
            suppressed = suppressed_addresses(snap.config)
            rows = []
            for sub in shown:
                if suppressed.active(sub.email):
                    rows.append(IndexRow.of(sub, 0, None, suppressed=True))
                    continue
                matches = _match(snap, sub)
                has_email = bool(matches) or sub.send_empty
                revised = sum(1 for m in matches if m.paper.revised)
                subject = snap.renderer.subject(sub, len(matches), when, revised=revised) if has_email else None
                rows.append(IndexRow.of(sub, len(matches), subject))
            return render_page(
                "index.html",
                rows=rows,
                total=len(snap.subscribers),
                papers=len(snap.loaded.papers),
                digests=len(snap.digests),
                errors=snap.loaded.errors,
                pager=Pager(page, pages, query.strip(), len(found)),
                link=_served_link,
            )

    def preview(self, slug: str, *, when: datetime | None = None) -> Preview | None:
        """That one subscriber's email, or None (unknown, unsubscribed, nothing to send)."""
        snap = self.snapshot()
        with self._lock:
            sub = snap.by_slug.get(slug)
            if sub is None or suppressed_addresses(snap.config).active(sub.email):
                return None
            matches = _match(snap, sub)
            if not matches and not sub.send_empty:
                return None
            r = snap.renderer
            when = when or datetime.now(UTC)
            # "view in browser": this email's own page here (as preview --out: its file)
            email = r.render(sub, matches, message_id=r.message_id(sub, matches), date=when, view=f"/raw/{slug}.html")
            return Preview(sub, matches, email)


def _match(snap: Snapshot, sub: Subscriber) -> list[Match]:
    """What :func:`newsletter.matching.matcher.plan` gives ``sub``, over a shared index (with
    the ledger's likes read on every load, issue 17)."""
    if not sub.like and not sub.dislike and sub.library is None and not snap.config.ledger_path.exists():
        revised = without_revisions(sub, frozenset(), revised_ids(snap.loaded.papers))
        return match_papers(snap.index, profile_of(sub), exclude_ids=revised)
    return Matcher(snap.loaded.papers, read_like_state(snap.config), index=snap.index).match(sub)


def _served_link(p: IndexRow, kind: str) -> str:
    return f"/s/{p.slug}" if kind == "page" else f"/raw/{p.slug}.{kind}"


# --------------------------------------------------------------------------- pages


def subscriber_page(p: Preview, *, width: int = 800) -> str:
    """One email: HTML in an iframe, why-matched, headers, text part."""
    assert p.email is not None
    headers: list[tuple[str, Any]] = [(k, str(v)) for k, v in p.email.message.items()]
    size = f"{len(p.email.html.encode()) / 1024:.1f}"
    return render_page("subscriber.html", p=p, headers=headers, width=width, size=size)


def error_page(message: str, status: int = 500) -> str:
    heading = "Not found" if status == 404 else "Cannot render the preview"
    return render_page("error.html", message=message, status=status, heading=heading)


def _error_page(request: web.Request, status: int, reason: str) -> web.Response:
    message = f"nothing at {request.path}" if status == 404 else reason
    return html_response(status, error_page(message, status))


# --------------------------------------------------------------------------- the app


class PreviewServer(Server):
    """Serves previews of ``config_path`` on 127.0.0.1:``port`` (0: any free port)."""

    def __init__(
        self,
        config_path: str | Path,
        *,
        port: int = 8025,
        emails: Sequence[str] = (),
        digests: Sequence[str | Path] | None = None,
    ) -> None:
        self.source = PreviewSource(config_path, emails=emails, digests=digests)
        app = make_app(
            [
                web.get("/", self._index),
                web.get("/index.html", self._index),
                web.get("/s/{slug}", self._subscriber),
                web.get("/raw/{name}", self._raw),
            ],
            headers=SECURITY_HEADERS,
            error_page=_error_page,
            log=log,
            loopback_only=True,  # DNS rebinding: another site's name pointed at 127.0.0.1 reads nothing
        )
        super().__init__(app, HOST, port, log=log)

    async def _run(self, build: Callable[[], web.Response]) -> web.Response:
        try:
            return await asyncio.to_thread(build)
        except web.HTTPException:
            raise
        except NewsletterError as exc:
            return html_response(500, error_page(str(exc)))
        except Exception as exc:  # keep serving; show what broke
            log.exception("preview failed")
            return html_response(500, error_page(f"{type(exc).__name__}: {exc}"))

    async def _index(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "")
        page = request.query.get("page", "1")
        number = int(page) if page.isascii() and page.isdigit() and len(page) < 7 else 1
        return await self._run(lambda: html_response(200, self.source.index_page(query, number)))

    def _found(self, slug: str) -> Preview:
        p = self.source.preview(slug)
        if p is None:
            raise web.HTTPNotFound()
        return p

    async def _subscriber(self, request: web.Request) -> web.Response:
        width = request.query.get("width", "800")
        px = int(width) if width.isascii() and width.isdigit() and 200 <= int(width) <= 2000 else 800
        slug = request.match_info["slug"]
        return await self._run(lambda: html_response(200, subscriber_page(self._found(slug), width=px)))

    async def _raw(self, request: web.Request) -> web.Response:
        slug, _, kind = request.match_info["name"].rpartition(".")
        if kind not in ("html", "txt", "eml"):
            raise web.HTTPNotFound()

        def build() -> web.Response:
            email = self._found(slug).email
            assert email is not None
            if kind == "html":
                return html_response(200, email.html)
            body = email.text.encode("utf-8") if kind == "txt" else email.as_bytes()
            return web.Response(body=body, content_type="text/plain", charset="utf-8")

        return await self._run(build)


def serve_preview(
    config_path: str | Path,
    *,
    port: int = 8025,
    emails: Sequence[str] = (),
    digests: Sequence[str | Path] | None = None,
    announce: Callable[[str], None] = lambda line: None,
) -> None:
    """Serve until SIGINT/SIGTERM; ``announce`` is told the URL once listening.

    The configuration, templates and digests are read before listening, so a
    broken configuration is an error at once (:class:`NewsletterError`)."""
    with PreviewServer(config_path, port=port, emails=emails, digests=digests) as server:
        for err in server.source.snapshot().loaded.errors:
            announce(f"error: {err}")
        asyncio.run(_serve(server, announce))


async def _serve(server: PreviewServer, announce: Callable[[str], None]) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await server.start()
        announce(f"Preview at {server.url} (Ctrl-C to stop)")
        await stopping.wait()
    finally:
        await server.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
