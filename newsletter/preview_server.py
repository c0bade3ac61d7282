"""``newsletter preview --serve``: a local web page of every subscriber's email.

Standard-library :class:`http.server.ThreadingHTTPServer` on 127.0.0.1 only.
Every page load re-reads the configuration, the templates and the digests and
renders again, so editing a template and reloading shows the change; an error
(bad config, template error) is shown on the page instead of stopping the server.

Routes: ``/`` (subscribers, paper count, subject), ``/s/<email>`` (HTML part in
an iframe, why each paper matched, headers, text part; ``?width=375``),
``/raw/<email>.html|.txt|.eml``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from newsletter.config import load_config
from newsletter.errors import NewsletterError
from newsletter.preview import PreviewRun, build_previews, error_page, index_page, subscriber_page

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


class PreviewServer(ThreadingHTTPServer):
    """Serves previews of ``config_path``; ``digests`` as for ``build_previews``."""

    daemon_threads = True

    def __init__(
        self,
        config_path: str | Path,
        *,
        port: int = 8025,
        emails: Sequence[str] = (),
        digests: Sequence[str | Path] | None = None,
    ) -> None:
        self.config_path = Path(config_path)
        self.emails = tuple(emails)
        self.digests = list(digests) if digests else None
        self._lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"

    def build(self) -> PreviewRun:
        """Everything re-read and re-rendered (one render at a time)."""
        with self._lock:
            config = load_config(self.config_path)
            return build_previews(config, emails=self.emails, digests=self.digests)


class _Handler(BaseHTTPRequestHandler):
    server: PreviewServer
    server_version = "newsletter-preview"

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _html(self, status: int, text: str) -> None:
        self._send(status, text.encode("utf-8"), "text/html; charset=utf-8")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        if path == "/favicon.ico":
            self._send(HTTPStatus.NOT_FOUND, b"", "text/plain")
            return
        try:
            run = self.server.build()
        except NewsletterError as exc:
            self._html(HTTPStatus.INTERNAL_SERVER_ERROR, error_page(str(exc)))
            return
        except Exception as exc:  # keep serving; show what broke
            log.exception("preview failed")
            self._html(HTTPStatus.INTERNAL_SERVER_ERROR, error_page(f"{type(exc).__name__}: {exc}"))
            return
        if path in ("/", "/index.html"):
            self._html(HTTPStatus.OK, index_page(run, served=True))
            return
        by_slug = {p.slug: p for p in run.previews if p.email is not None}
        if path.startswith("/s/") and path[3:] in by_slug:
            width = parse_qs(url.query).get("width", ["800"])[0]
            px = int(width) if width.isdigit() and 200 <= int(width) <= 2000 else 800
            self._html(HTTPStatus.OK, subscriber_page(by_slug[path[3:]], width=px))
            return
        if path.startswith("/raw/"):
            slug, _, kind = path[5:].rpartition(".")
            p = by_slug.get(slug)
            if p is not None and p.email is not None:
                if kind == "html":
                    self._html(HTTPStatus.OK, p.email.html)
                    return
                if kind == "txt":
                    self._send(HTTPStatus.OK, p.email.text.encode("utf-8"), "text/plain; charset=utf-8")
                    return
                if kind == "eml":
                    self._send(HTTPStatus.OK, p.email.as_bytes(), "text/plain; charset=utf-8")
                    return
        self._html(HTTPStatus.NOT_FOUND, error_page(f"nothing at {path}"))


def serve(
    config_path: str | Path,
    *,
    port: int = 8025,
    emails: Sequence[str] = (),
    digests: Sequence[str | Path] | None = None,
    announce: Callable[[str], None] = lambda line: None,
) -> None:
    """Serve until interrupted (Ctrl-C); ``announce`` is told the URL once listening."""
    with PreviewServer(config_path, port=port, emails=emails, digests=digests) as server:
        announce(f"Preview at {server.url} (Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
