"""The one render path: subscriber + matches -> a complete email (SPEC 5).

``preview``, ``send`` and the daemon all build one :class:`Renderer` per run
(templates compiled once, see :mod:`newsletter.render.templates`) and call
:meth:`Renderer.render` per subscriber.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from enum import Enum
from typing import Any
from urllib.parse import quote

import jinja2

from newsletter.base.addresses import Mailbox, wire_address
from newsletter.base.cron import timezone
from newsletter.base.errors import RenderError
from newsletter.base.wording import format_day
from newsletter.config import Config, Subscriber, parse_mailbox
from newsletter.digest import Paper
from newsletter.matching import CompiledProfile, Match, compile_profile
from newsletter.matching.matcher import profile_of
from newsletter.render.content import PaperBase, PaperView, collapse, paper_base, paper_views, revised_note
from newsletter.render.fit import GMAIL_CLIP, Fit, fit, html_size
from newsletter.render.links.feedback import feedback_base, feedback_links
from newsletter.render.links.tokens import secret_for, unsubscribe_token
from newsletter.render.memo import ViewMemo
from newsletter.render.message import MessageFactory, MessageParts, message_bytes, message_id_for
from newsletter.render.templates import Templates, describe, load_templates, setting_templates

_HTTP = re.compile(r"https?://", re.IGNORECASE)
_BAD_URL = re.compile(r"[\s<>\"\x00-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CACHE_LIMIT = 50_000

log = logging.getLogger(__name__)


def usable_url(url: str | None) -> bool:
    """An http(s) URL without whitespace, quotes, angle brackets or control characters."""
    return bool(url and _HTTP.match(url) and not _BAD_URL.search(url))


class View(Enum):
    """Where an email's "view in browser" link (``archive.url`` set) points, besides a URL."""

    ARCHIVE = "archive"  # the delivery's archive page: what ``send`` writes and links


class RenderedEmail:
    """A rendered email: the parts and the complete MIME message.

    :meth:`Renderer.render` writes the message bytes directly and gives the
    :class:`EmailMessage` (:attr:`message`) on demand: sending needs only the
    bytes. Once :attr:`message` has been asked for, :meth:`as_bytes` serialises
    it, so changes made to it show.

    ``fit``: how the HTML part was fitted under Gmail's clip (:mod:`newsletter.render.fit`),
    None when it fitted as configured.
    """

    __slots__ = ("_build", "_message", "_message_id", "_raw", "fit", "html", "subject", "text")

    def __init__(
        self,
        subject: str,
        html: str,
        text: str,
        message: EmailMessage | None = None,
        *,
        raw: bytes | None = None,
        message_id: str | None = None,
        build: Callable[[], EmailMessage] | None = None,
        fit: Fit | None = None,
    ) -> None:
        if message is None and build is None:
            raise TypeError("RenderedEmail needs a message or a way to build it")
        self.subject = subject
        self.html = html
        self.text = text
        self._message = message
        self._raw = raw
        self._message_id = message_id
        self._build = build
        self.fit = fit

    @property
    def message(self) -> EmailMessage:
        """The complete MIME message (built on first use)."""
        if self._message is None:
            assert self._build is not None
            self._message = self._build()
        return self._message

    @property
    def message_id(self) -> str:
        if self._message_id is None:
            self._message_id = str(self.message["Message-ID"])
        return self._message_id

    def as_bytes(self) -> bytes:
        """The message as sent over SMTP (CRLF line endings)."""
        if self._message is None and self._raw is not None:
            return self._raw
        return message_bytes(self.message)

    def __repr__(self) -> str:
        return f"RenderedEmail(subject={self.subject!r}, message_id={self.message_id!r})"


class Renderer:
    """Renders the emails of one run; construct once (compiles the templates).

    ``memo`` (on by default) keeps what many emails share, each paper's view and
    HTML (:mod:`newsletter.render.memo`); off, each email is made from scratch.

    ``secret`` is the unsubscribe-token secret; by default it comes from the
    environment variable named by ``sender.unsubscribe.secret_env``, else the secret
    kept beside a SQLite ledger, else an insecure fallback derived from the config path
    (:attr:`insecure_secret` is then True; see :mod:`newsletter.render.links.tokens`).
    """

    def __init__(self, config: Config, *, secret: str | None = None, memo: bool = True) -> None:
        self.config = config
        self._tz = timezone(config.schedule.timezone)
        self.templates: Templates = load_templates(config.templates, memo=memo)
        settings = setting_templates(config)
        self._subject = settings["sender.subject"]
        self._paper_link = settings.get("links.paper")
        unsub = config.sender.unsubscribe
        self._unsub_url = settings.get("sender.unsubscribe.url")
        # List-Unsubscribe on every message (SPEC 5): without a configured mailto, requests go
        # to the From address (`check` warns); either way the subject carries the token
        self._unsub_mailto = wire_address(unsub.mailto or config.sender.mailbox.address)
        if secret is None:
            secret, self.insecure_secret = secret_for(config)
        else:
            self.insecure_secret = False
        self._secret = secret
        sender = _wire(config.sender.mailbox)  # parsed and validated on every access: once here
        self._sender_name = sender.name or sender.address
        self.domain = sender.address.rpartition("@")[2]
        list_id = config.sender.list_id or f"paper-digest.{self.domain}"
        self.list_id = list_id if "<" in list_id else f"<{list_id}>"
        self._factory = MessageFactory(
            sender=sender,
            list_id=self.list_id,
            reply_to=_wire(parse_mailbox(config.sender.reply_to)) if config.sender.reply_to else None,
            memo=memo,
        )
        self._profiles: dict[str, CompiledProfile] = {}
        self._bases: dict[Paper, PaperBase] = {}
        self._views = ViewMemo() if memo else None

    # ------------------------------------------------------------------ helpers

    def _run(self, template: jinja2.Template, key: str, **context: Any) -> str:
        try:
            return template.render(**context)
        except Exception as exc:
            raise RenderError(f"{key}: {describe(exc)}", path=str(self.config.path)) from None

    def profile(self, subscriber: Subscriber) -> CompiledProfile:
        """The subscriber's compiled matching profile (cached for the run)."""
        cp = self._profiles.get(subscriber.email)
        if cp is None:
            cp = self._profiles[subscriber.email] = compile_profile(profile_of(subscriber))
        return cp

    def paper_base(self, paper: Paper) -> PaperBase:
        """The subscriber-independent part of a paper's view (cached for the run)."""
        base = self._bases.get(paper)
        if base is None:
            if len(self._bases) > _CACHE_LIMIT:
                self._bases.clear()
            base = self._bases[paper] = paper_base(paper, self.link_for(paper), usable_url)
        return base

    def link_for(self, paper: Paper) -> str | None:
        """The title link (SPEC 5): the paper's own page (its Hugging Face page, else its
        arXiv abs page, else the digest's url), else ``links.paper`` rendered."""
        link: str | None = None
        own = paper.page_url
        if usable_url(own):
            link = own
        elif self._paper_link is not None:
            link = self._run(self._paper_link, "links.paper", title=paper.title, id=paper.id, paper=paper)
            link = link.strip()
            if not _HTTP.match(link) or _BAD_URL.search(link):
                link = None
        return link

    def unsubscribe_uris(self, subscriber: Subscriber, token: str) -> tuple[str | None, str | None]:
        """(https URL, mailto URI) for List-Unsubscribe and the footer; either may be None."""
        url = None
        if self._unsub_url is not None:
            url = self._run(self._unsub_url, "sender.unsubscribe.url", token=token, email=subscriber.email).strip()
            if _BAD_URL.search(url) or not _HTTP.match(url):
                raise RenderError(
                    f"sender.unsubscribe.url renders to an unusable URL {url!r}", path=str(self.config.path)
                )
        mailto = None
        if self._unsub_mailto:
            # the token, not the address: `newsletter bounces` honours the request only with
            # a valid token (a forged request changes nothing), exactly like the one-click URL
            mailto = f"mailto:{self._unsub_mailto}?subject={quote('unsubscribe ' + token)}"
        return url, mailto

    def message_id(self, subscriber: Subscriber, matches: Sequence[Match], *, salt: str = "") -> str:
        """The deterministic Message-ID of delivering ``matches`` to ``subscriber``."""
        ids = (m.paper.id for m in matches)
        return message_id_for(subscriber.email, ids, domain=self.domain, salt=salt, secret=self._secret)

    def local_time(self, when: datetime | None = None) -> datetime:
        """``when`` (default: now; a naive value is the host's local time) in
        ``schedule.timezone``: the day an issue is dated, in its subject, its heading, its
        archive page and its chat messages, is the newsletter's, never the host's (a
        server on UTC sent Los Angeles' 18:00 digest dated the next day)."""
        moment = datetime.now(UTC) if when is None else when if when.tzinfo else when.astimezone()
        return moment.astimezone(self._tz)

    def subject(self, subscriber: Subscriber, count: int, when: datetime, *, revised: int = 0) -> str:
        """``sender.subject`` rendered, whitespace collapsed, control characters removed.
        ``revised``: how many of the ``count`` papers are arXiv revisions of older papers."""
        when = self.local_time(when)
        text = self._run(
            self._subject,
            "sender.subject",
            count=count,
            new=count - revised,
            revised=revised,
            name=subscriber.name or "",
            email=subscriber.email,
            date=when.date(),
        )
        return collapse(_CONTROL.sub(" ", text)) or "Paper digest"

    # ------------------------------------------------------------------ render

    def context(
        self, subscriber: Subscriber, matches: Sequence[Match], *, date: datetime, token: str
    ) -> dict[str, Any]:
        """Everything the templates see."""
        date = self.local_time(date)
        views = paper_views if self._views is None else self._views.views
        papers = views(
            matches, self.profile(subscriber), abstract_chars=subscriber.abstract_chars, base_of=self.paper_base
        )
        url, mailto = self.unsubscribe_uris(subscriber, token)
        feedback = feedback_base(self.config)
        if feedback:  # issue 17: "more/fewer like this" links, signed per address, paper and action
            papers = [
                p._replace(feedback=feedback_links(feedback, subscriber.email, token, p.id, self._secret))
                for p in papers
            ]
        revised = sum(1 for p in papers if p.revision)
        subject = self.subject(subscriber, len(papers), date, revised=revised)
        return {
            "subject": subject,
            "name": subscriber.name or "",
            "email": subscriber.email,
            "subscriber": subscriber,
            "count": len(papers),
            "revised": revised,  # of them, arXiv revisions of older papers (each labelled)
            "revised_note": revised_note(len(papers), revised),
            "papers": papers,
            "date": date.date(),
            "date_text": f"{date.strftime('%A')}, {format_day(date.date())}",
            "keywords": subscriber.keywords,
            "require": subscriber.require,
            "exclude": subscriber.exclude,
            "unsubscribe_url": url,
            "unsubscribe_mailto": mailto,
            "unsubscribe_address": self._unsub_mailto,
            "sender_name": self._sender_name,
            "preheader": " · ".join(p.title for p in papers[:3]),
            "archive_url": None,  # render() sets the "view in browser" link when archive.url is set
        }

    def render(
        self,
        subscriber: Subscriber,
        matches: Sequence[Match],
        *,
        message_id: str,
        date: datetime | None = None,
        token: str | None = None,
        view: View | str | None = View.ARCHIVE,
    ) -> RenderedEmail:
        """The complete email for ``subscriber`` with ``matches`` (in delivery order).

        ``date`` defaults to now (a naive value is taken as local time); ``token``
        defaults to the HMAC unsubscribe token of the address. ``view`` is where the
        "view in browser" link points when ``archive.url`` is set (without it there is
        no link): the delivery's archive page (``send``), a URL (a preview: its own
        page, since the archive page of a delivery that was never sent will never
        exist), or None (no link: a test send, whose page is never written).
        """
        when = self.local_time(date)
        if token is None:
            token = unsubscribe_token(subscriber.email, self._secret)
        ctx = self.context(subscriber, matches, date=when, token=token)
        from newsletter.render.links.archive import view_url

        if view is View.ARCHIVE:
            ctx["archive_url"] = view_url(self.config, subscriber.email, message_id, self._secret)
        elif self.config.archive.url is not None:
            ctx["archive_url"] = view
        html = self.templates.render_html(ctx)
        text = tidy_text(self.templates.render_text(ctx))  # the text part: not clipped, abstracts whole
        parts = self._parts(subscriber, ctx, when, message_id, text, html)
        # the bytes are written directly; the EmailMessage is built only when asked for
        raw, header_id, html_qp = self._factory.message_bytes_sized(parts)
        fitted: Fit | None = None
        # Gmail clips an HTML part past 102 KB, hiding the footer: shorter abstracts then.
        # Its quoted-printable length bounds its UTF-8 bytes: a normal email is measured
        # by what was written anyway, only the oversized pay a second render
        if html_qp > GMAIL_CLIP and (size := html_size(html)) > GMAIL_CLIP:
            html, fitted = self._fit(subscriber, matches, ctx, size)
            parts = dataclasses.replace(parts, html=html)
            raw, header_id = self._factory.message_bytes(parts)
        factory = self._factory
        return RenderedEmail(
            ctx["subject"],
            html,
            text,
            raw=raw,
            message_id=header_id,
            build=lambda: factory.build(parts),
            fit=fitted,
        )

    def _parts(
        self, subscriber: Subscriber, ctx: dict[str, Any], when: datetime, message_id: str, text: str, html: str
    ) -> MessageParts:
        """What the MIME message is made of."""
        unsubscribe = [u for u in (ctx["unsubscribe_mailto"], ctx["unsubscribe_url"]) if u]
        url = ctx["unsubscribe_url"]
        # the email package would RFC 2047-encode a URI longer than a line, which no mail
        # client decodes in List-Unsubscribe (RFC 2369): fold between the URIs instead
        return MessageParts(
            to=_wire(subscriber.mailbox),
            subject=ctx["subject"],
            date=when,
            message_id=message_id,
            unsubscribe=unsubscribe,
            one_click=bool(url and url.lower().startswith("https://")),
            text=text,
            html=html,
            unsubscribe_header=UriListHeader("List-Unsubscribe", unsubscribe) if unsubscribe else None,
        )

    def _fit(self, subscriber: Subscriber, matches: Sequence[Match], ctx: dict[str, Any], size: int) -> tuple[str, Fit]:
        """The HTML part rendered again with shorter abstracts to fit Gmail's clip
        (:func:`newsletter.render.fit.fit`): every paper stays, with its title, links,
        chips, TL;DR and feedback links; with no abstract, no snippets either."""
        full: list[PaperView] = ctx["papers"]
        profile = self.profile(subscriber)
        views = paper_views if self._views is None else self._views.views

        def render_at(chars: int) -> str:
            papers = views(matches, profile, abstract_chars=chars, base_of=self.paper_base)
            if chars == 0 or any(f.feedback for f in full):
                papers = [
                    p._replace(feedback=f.feedback, snippets=p.snippets if chars else ())
                    for p, f in zip(papers, full, strict=True)
                ]
            return self.templates.render_html({**ctx, "papers": papers})

        longest = max((len(self.paper_base(m.paper).abstract) for m in matches), default=0)
        html, fitted = fit(render_at, configured=subscriber.abstract_chars, longest=longest, full=size)
        log.debug("%s: %s", subscriber.email, fitted.describe())
        return html, fitted


def _wire(mailbox: Mailbox) -> Mailbox:
    """``mailbox`` with its domain as headers carry it (IDNA A-labels: :func:`wire_address`)."""
    address = wire_address(mailbox.address)
    return mailbox if address == mailbox.address else Mailbox(mailbox.name, address)


class UriListHeader(str):
    """A header of ``<URI>``s (List-Unsubscribe, RFC 2369) that folds only between the
    URIs, never inside one and never into encoded-words. The URIs are ASCII without
    whitespace or angle brackets (checked when they are rendered)."""

    def __new__(cls, name: str, uris: Sequence[str]) -> UriListHeader:
        self = super().__new__(cls, ", ".join(f"<{uri}>" for uri in uris))
        self.name = name
        self.uris = tuple(uris)
        return self

    name: str
    uris: tuple[str, ...]

    def fold(self, *, policy: Any) -> str:
        width = policy.max_line_length or 78
        lines = [f"{self.name}:"]
        for i, uri in enumerate(self.uris):
            item = f"<{uri}>" + ("," if i < len(self.uris) - 1 else "")
            if i and len(lines[-1]) + 1 + len(item) > width:
                lines.append("")
            lines[-1] += f" {item}"
        return str(policy.linesep).join(lines) + str(policy.linesep)


def tidy_text(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, one final newline.

    (A loop over lines: ~8x faster than the two obvious regular expressions.)
    """
    out: list[str] = []
    blank = True  # drops leading blank lines
    for line in text.split("\n"):
        line = line.rstrip()
        if not line:
            if blank:
                continue
            blank = True
        else:
            blank = False
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"
