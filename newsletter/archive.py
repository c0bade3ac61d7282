"""The archive (``archive: {directory, url}``): every sent issue as a static web page,
plus an index page and an Atom feed (RFC 4287) per subscriber.

Layout under ``archive.directory``::

    <key>/index.html        the subscriber's issues, newest first, and the feed link
    <key>/<issue>.html      one sent issue (template ``archive.html.j2``)
    <key>/feed.xml          the Atom feed of the latest issues

``key`` is an HMAC of the address with the unsubscribe secret (16 hex digits):
the URLs never show an address and cannot be guessed from one. ``issue`` is a
hash of the delivery's Message-ID, so the "view in browser" link an email
carries (``archive_url`` in the templates: ``archive.url`` + the page path) is
known before the message is sent, and is the page written once the server
accepted it.

Pages are derived from the ledger after each pass (:func:`archive_sent`): every
``sent`` delivery whose page is missing is written, and the feeds of the
subscribers that got one are rewritten. A pass that crashed before archiving is
caught up by the next one. Everything from digests is escaped (autoescaped Jinja
for the pages, :mod:`xml.etree.ElementTree` for the feed: the stdlib writer
escapes every text and attribute, and Atom needs only six elements, so no
feed library is needed).
"""

from __future__ import annotations

import hashlib
import hmac
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsletter.config import Config, Subscriber
from newsletter.delivery.ledger import Ledger
from newsletter.digest import Paper
from newsletter.fsutil import atomic_write
from newsletter.matching import Match, PaperIndex, match_papers
from newsletter.unsubscribe import secret_for

PAGE_TEMPLATE = "archive.html.j2"
INDEX_TEMPLATE = "archive-index.html.j2"
FEED_ENTRIES = 50
ATOM = "http://www.w3.org/2005/Atom"


def subscriber_key(email: str, secret: str) -> str:
    """The archive folder of an address (not the address, not guessable from it)."""
    return hmac.new(secret.encode(), f"archive:{email.strip().casefold()}".encode(), hashlib.sha256).hexdigest()[:16]


def issue_name(message_id: str) -> str:
    return hashlib.sha256(message_id.strip().encode()).hexdigest()[:16]


def issue_path(email: str, message_id: str, secret: str) -> str:
    """The page of one delivery, relative to ``archive.directory`` (and ``archive.url``)."""
    return f"{subscriber_key(email, secret)}/{issue_name(message_id)}.html"


def view_url(config: Config, email: str, message_id: str, secret: str) -> str | None:
    """The "view in browser" link of a delivery, or None without ``archive.url``."""
    if config.archive.url is None:
        return None
    return f"{config.archive.url.rstrip('/')}/{issue_path(email, message_id, secret)}"


@dataclass(frozen=True, slots=True)
class Issue:
    message_id: str
    sent_at: float
    paper_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Archived:
    pages: tuple[Path, ...]  # written by this call
    feeds: tuple[Path, ...]


def _matches(sub: Subscriber, papers: Sequence[Paper]) -> list[Match]:
    """The delivered papers in delivery order, with why they matched (a paper the profile
    no longer matches keeps its place, without explanation)."""
    profile = replace(sub.profile, max_papers=max(len(papers), 1))
    found = {m.paper.id: m for m in match_papers(PaperIndex(papers), profile)}
    return [found.get(p.id) or Match(p, 0, (), i) for i, p in enumerate(papers)]


def archive_sent(config: Config, ledger: Ledger, *, renderer: Any = None) -> Archived:
    """Write the page of every sent delivery that has none yet, and rewrite the feeds and
    indexes of the subscribers that got a new page. No-op without ``archive.directory``."""
    root = config.archive.directory
    if root is None:
        return Archived((), ())
    from newsletter.render import Renderer

    renderer = renderer or Renderer(config)
    secret = secret_for(config)[0]
    issues: dict[str, list[Issue]] = {}
    for d in ledger.deliveries():
        if d["status"] == "sent":
            issues.setdefault(d["email"].casefold(), []).append(
                Issue(d["message_id"], float(d["sent_at"] or d["updated_at"]), tuple(d["papers"]))
            )
    page_t, index_t = _templates(config)
    pages: list[Path] = []
    feeds: list[Path] = []
    for sub in config.subscribers:
        mine = sorted(issues.get(sub.email.casefold(), []), key=lambda i: i.sent_at, reverse=True)
        if not mine:
            continue
        folder = root / subscriber_key(sub.email, secret)
        missing = [i for i in mine if not (folder / f"{issue_name(i.message_id)}.html").exists()]
        if not missing:
            continue
        views: list[dict[str, Any]] = []
        sender_name = ""
        records = ledger.papers_by_id(pid for i in mine[:FEED_ENTRIES] for pid in i.paper_ids)
        for issue in mine:
            papers = [records[p] for p in issue.paper_ids if p in records]
            when = datetime.fromtimestamp(issue.sent_at, UTC)
            matches = _matches(sub, papers) if papers else []
            ctx = renderer.context(sub, matches, date=when, token="")  # no unsubscribe link on a web page
            sender_name = ctx["sender_name"]
            view = {
                "issue": issue,
                "name": f"{issue_name(issue.message_id)}.html",
                "subject": ctx["subject"],
                "date_text": ctx["date_text"],
                "updated": when,
                "papers": ctx["papers"],
            }
            views.append(view)
            if issue in missing:
                html = page_t.render({**ctx, "archive_index": "index.html", "archive_feed": "feed.xml"})
                target = folder / view["name"]
                atomic_write(target, html)
                pages.append(target)
        title = f"{sender_name} for {sub.name}" if sub.name else f"{sender_name}: past issues"
        atomic_write(folder / "index.html", index_t.render(title=title, issues=views, archive_feed="feed.xml"))
        atomic_write(folder / "feed.xml", atom_feed(config, sub, views[:FEED_ENTRIES], title, secret))
        feeds.append(folder / "feed.xml")
    return Archived(tuple(pages), tuple(feeds))


def _templates(config: Config) -> tuple[Any, Any]:
    from newsletter.render.templates import make_environment

    env = make_environment(config.templates)
    return env.get_template(PAGE_TEMPLATE), env.get_template(INDEX_TEMPLATE)


def atom_feed(config: Config, sub: Subscriber, views: Sequence[dict[str, Any]], title: str, secret: str) -> bytes:
    """An Atom 1.0 feed (RFC 4287: feed id, title, updated, author; per entry id, title,
    updated, a link and the content) of the given issues, newest first."""
    ET.register_namespace("", ATOM)
    key = subscriber_key(sub.email, secret)
    base = f"{config.archive.url.rstrip('/')}/{key}/" if config.archive.url else ""
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"{base}feed.xml" if base else f"urn:paper-digest:archive:{key}"
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    newest = views[0]["updated"] if views else datetime.now(UTC)
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = newest.isoformat(timespec="seconds")
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = config.sender.mailbox.name or config.sender.mailbox.address
    ET.SubElement(feed, f"{{{ATOM}}}generator").text = "paper-digest"
    if base:
        ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=f"{base}feed.xml")
        ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", href=f"{base}index.html")
    for view in views:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        page = f"{base}{view['name']}" if base else view["name"]
        ET.SubElement(entry, f"{{{ATOM}}}id").text = (
            page if base else f"urn:paper-digest:issue:{issue_name(view['issue'].message_id)}"
        )
        ET.SubElement(entry, f"{{{ATOM}}}title").text = view["subject"]
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = view["updated"].isoformat(timespec="seconds")
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=page)
        titles = [p.title for p in view["papers"]]
        ET.SubElement(entry, f"{{{ATOM}}}summary").text = "; ".join(titles) if titles else view["subject"]
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def archive_after_pass(config: Config, ledger: Ledger | None = None) -> Archived:
    """:func:`archive_sent` on the configured ledger; a directory that cannot be written
    is one error (exit 1: the emails went out, the archive did not)."""
    if config.archive.directory is None:
        return Archived((), ())
    from newsletter.errors import NewsletterError

    try:
        if ledger is not None:
            return archive_sent(config, ledger)
        with Ledger.open(config.ledger_path) as own:
            return archive_sent(config, own)
    except OSError as exc:
        raise NewsletterError(
            f"archive: cannot write {exc.filename or config.archive.directory}: {exc.strerror or exc}",
            path=str(config.path),
        ) from None
