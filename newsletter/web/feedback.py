"""The "more like this" / "fewer like this" endpoint (issue 17), beside the unsubscribe
routes of :class:`~newsletter.web.unsubscribe.UnsubscribeServer` (one routes table).

``GET /feedback/{token}/{more|fewer}/{paper}/{sig}``
    A small confirm page naming the paper, with one button. It changes nothing: mail
    scanners and link previewers follow links.
``POST`` the same URL (the button; any body up to 8 KiB)
    Records a like ("more") or dislike ("fewer") of that paper for that subscriber in
    the ledger (never the YAML); the next match uses it. Idempotent.

The address token must be a configured subscriber's and the signature must bind that
address, the paper and the action (:mod:`newsletter.render.links.feedback`): anything else is 404
and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from aiohttp import web

from newsletter.config import Config
from newsletter.render.content import bidi_closed
from newsletter.render.links.feedback import FeedbackLink, verify
from newsletter.render.links.tokens import mask
from newsletter.render.pages import render_page
from newsletter.store.choose import open_ledger, open_ledger_readonly
from newsletter.web.app import body_deadline, clean, html_response

log = logging.getLogger("newsletter.feedback")

PATH = "/feedback/{token}/{word}/{paper}/{sig}"


class Endpoint(Protocol):
    """What the feedback routes need of the server they are added to (the unsubscribe
    endpoint): the current configuration and secret, and token resolution."""

    @property
    def config(self) -> Config: ...

    @property
    def secrets(self) -> tuple[str, ...]: ...

    def resolve(self, token: str) -> str | None: ...


def feedback_routes(server: Endpoint) -> list[web.RouteDef]:
    """The feedback routes of ``server`` (add them to its routes table)."""
    handlers = _Handlers(server)
    return [web.get(PATH, handlers.get), web.post(PATH, handlers.post)]


class _Handlers:
    def __init__(self, server: Endpoint) -> None:
        self.server = server

    def _link(self, request: web.Request) -> FeedbackLink:
        info = request.match_info
        address = self.server.resolve(info["token"])
        if address is None:
            raise web.HTTPNotFound()
        links = (verify(address, info["word"], info["paper"], info["sig"], key) for key in self.server.secrets)
        link = next((found for found in links if found is not None), None)
        if link is None:
            raise web.HTTPNotFound()
        return link

    def _title(self, paper_id: str) -> str:
        ledger = open_ledger_readonly(self.server.config)
        if ledger is None:
            return paper_id
        with ledger:
            paper = ledger.papers_by_id([paper_id]).get(paper_id)
        return paper.title if paper is not None else paper_id

    def _record(self, link: FeedbackLink) -> tuple[str, bool]:
        title = self._title(link.paper_id)
        with open_ledger(self.server.config) as ledger:
            changed = ledger.record_feedback(link.email, link.paper_id, link.action, title=title, source="email")
        if changed:
            log.info("%s: %s %s", clean(mask(link.email)), link.action, clean(link.paper_id, 80))
        return title, changed

    def _context(self, link: FeedbackLink, title: str) -> dict[str, object]:
        sender = self.server.config.sender.mailbox
        return {
            "address": mask(link.email),
            "list_name": sender.name or sender.address,
            "paper": bidi_closed(title),  # a title's U+202E never reverses the page's next line
            "more": link.action == "like",
        }

    async def get(self, request: web.Request) -> web.Response:
        link = self._link(request)
        title = await asyncio.to_thread(self._title, link.paper_id)
        return html_response(200, render_page("feedback.html", **self._context(link, title)))

    async def post(self, request: web.Request) -> web.Response:
        link = self._link(request)
        async with body_deadline():
            await request.read()  # the button's body, whatever it holds (bounded by client_max_size)
        title, _ = await asyncio.to_thread(self._record, link)
        return html_response(200, render_page("feedback_done.html", **self._context(link, title)))
