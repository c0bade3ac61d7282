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

Pages are derived from the ledger after each pass (:func:`archive_sent`, one typed
read of the accepted deliveries: :meth:`Ledger.sent_issues`): a page is written
when it is missing or was written from other papers or other page templates (its
manifest entry, ``<key>/.archive.json``, records a stamp of both), so pages of
older versions, empty ones included, are repaired once, and a page that is current
is never rendered again. The index and the feed of a subscriber are rewritten from
the manifest when one of their pages was written. A pass that crashed before
archiving is caught up by the next one. Everything from digests is escaped (autoescaped Jinja
for the pages, :mod:`xml.etree.ElementTree` for the feed: the stdlib writer
escapes every text and attribute, and Atom needs only six elements, so no
feed library is needed).
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from itertools import zip_longest
from pathlib import Path
from typing import Any

from newsletter.base.addresses import address_key
from newsletter.base.fsutil import atomic_write
from newsletter.config import Config, Subscriber
from newsletter.digest import Paper
from newsletter.matching import Match, PaperIndex, match_papers
from newsletter.matching.matcher import profile_of
from newsletter.render.links.archive import issue_name, subscriber_key
from newsletter.render.links.tokens import secret_for
from newsletter.store import Ledger, SentIssue
from newsletter.store.choose import open_ledger

PAGE_TEMPLATE = "archive.html.j2"
INDEX_TEMPLATE = "archive-index.html.j2"
PAPER_TEMPLATE = "_paper.html.j2"  # the one paper view, shared with the email
PAGE_VERSION = "3"  # raise when what a page shows changes: every page is written again once
# (3: the manifest keeps each paper's revision label, which the feed's summaries show)
MANIFEST = ".archive.json"
FEED_ENTRIES = 50
ATOM = "http://www.w3.org/2005/Atom"
XML = "http://www.w3.org/XML/1998/namespace"


@dataclass(frozen=True, slots=True)
class Archived:
    pages: tuple[Path, ...]  # written by this call
    feeds: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class Entry:
    """What the index and the feed show of one written page (kept in the folder's
    manifest, so that neither needs the issue rendered again)."""

    name: str
    subject: str
    sent_at: float
    date_text: str
    titles: tuple[str, ...]
    stamp: str  # what the page was written from: see :func:`_stamp`
    # per title, the revision label of a revised paper ("Revised (v2)"), else ""
    labels: tuple[str, ...] = ()

    @property
    def updated(self) -> datetime:
        return datetime.fromtimestamp(self.sent_at, UTC)

    @property
    def papers(self) -> int:
        return len(self.titles)

    @property
    def labelled_titles(self) -> tuple[str, ...]:
        """The titles, a revision's label after its title (as the text email has it:
        ``Title [Revised (v2)]``): the feed's summaries and the index page show them."""
        labels = zip_longest(self.titles, self.labels[: len(self.titles)], fillvalue="")  # older manifests: none
        return tuple(f"{title} [{label}]" if label else title for title, label in labels)

    @property
    def summary(self) -> str:
        """The feed entry's summary: the :attr:`labelled_titles`, else the subject."""
        titles = self.labelled_titles
        return "; ".join(titles) if titles else self.subject


def _matches(sub: Subscriber, papers: Sequence[Paper]) -> list[Match]:
    """The delivered papers in delivery order, with why they matched (a paper the profile
    no longer matches keeps its place, without explanation)."""
    profile = replace(profile_of(sub), max_papers=max(len(papers), 1))
    found = {m.paper.id: m for m in match_papers(PaperIndex(papers), profile)}
    return [found.get(p.id) or Match(p, 0, (), i) for i, p in enumerate(papers)]


def _stamp(issue: SentIssue, templates: str) -> str:
    """A page is written again when this changes: its papers, or the page templates (and
    the zone that dates it)."""
    key = "\0".join((templates, issue.message_id, *issue.paper_ids))
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def _read_manifest(folder: Path) -> dict[str, Entry]:
    """The folder's manifest (``.archive.json``); unreadable or absent: empty (every
    page is then checked against the ledger and written again)."""
    try:
        rows = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return {
            r["name"]: Entry(
                r["name"],
                r["subject"],
                float(r["sent_at"]),
                r["date_text"],
                tuple(r["titles"]),
                r["stamp"],
                tuple(str(label) for label in r.get("labels") or ()),
            )
            for r in rows
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}


class _Pages:
    """Renders the pages of one archive pass (the renderer is built on first need)."""

    def __init__(self, config: Config, ledger: Ledger, renderer: Any, secret: str) -> None:
        from newsletter.render.templates import make_environment

        self.config, self.ledger, self.secret = config, ledger, secret
        self._renderer = renderer
        env = make_environment(config.templates)
        self.page = env.get_template(PAGE_TEMPLATE)
        self.index = env.get_template(INDEX_TEMPLATE)
        assert env.loader is not None
        sources = [env.loader.get_source(env, name)[0] for name in (PAGE_TEMPLATE, PAPER_TEMPLATE)]
        # the zone dates the pages: a changed schedule.timezone writes them again
        made_with = (PAGE_VERSION, config.schedule.timezone, *sources)
        self.templates = hashlib.sha256("\0".join(made_with).encode()).hexdigest()

    @property
    def renderer(self) -> Any:
        if self._renderer is None:
            from newsletter.render import Renderer

            self._renderer = Renderer(self.config, secret=self.secret)
        return self._renderer

    def stale(self, folder: Path, manifest: dict[str, Entry], issue: SentIssue) -> bool:
        entry = manifest.get(f"{issue_name(issue.message_id)}.html")
        return entry is None or entry.stamp != _stamp(issue, self.templates) or not (folder / entry.name).is_file()

    def write(self, sub: Subscriber, folder: Path, issues: Sequence[SentIssue]) -> list[tuple[Path, Entry]]:
        """Render and write the pages of ``issues``; their manifest entries."""
        records = self.ledger.papers_by_id(pid for i in issues for pid in i.paper_ids)
        out = []
        for issue in issues:
            papers = [records[p] for p in issue.paper_ids if p in records]
            when = datetime.fromtimestamp(issue.sent_at, UTC)
            ctx = self.renderer.context(sub, _matches(sub, papers), date=when, token="")  # no unsubscribe link
            ctx["papers"] = [p._replace(feedback=()) for p in ctx["papers"]]  # nor feedback links: pages are shared
            entry = Entry(
                f"{issue_name(issue.message_id)}.html",
                ctx["subject"],
                issue.sent_at,
                ctx["date_text"],
                tuple(p.title for p in ctx["papers"]),
                _stamp(issue, self.templates),
                tuple(p.revision or "" for p in ctx["papers"]),
            )
            target = folder / entry.name
            atomic_write(target, self.page.render({**ctx, "archive_index": "index.html", "archive_feed": "feed.xml"}))
            out.append((target, entry))
        return out

    def title(self, sub: Subscriber) -> str:
        sender = self.config.sender.mailbox
        name = sender.name or sender.address
        return f"{name} for {sub.name}" if sub.name else f"{name}: past issues"


def archive_sent(config: Config, ledger: Ledger, *, renderer: Any = None) -> Archived:
    """Write the page of every sent delivery that has none yet (or one written from
    other papers or other page templates: an empty page of an older version is
    repaired), and rewrite the index and feed of the subscribers that got a page.
    Pages that are current are not rendered again. No-op without ``archive.directory``."""
    root = config.archive.directory
    if root is None:
        return Archived((), ())
    secret = secret_for(config)[0]
    issues: dict[str, list[SentIssue]] = {}
    for issue in ledger.sent_issues():
        issues.setdefault(address_key(issue.email), []).append(issue)
    pages_of = _Pages(config, ledger, renderer, secret)
    pages: list[Path] = []
    feeds: list[Path] = []
    for sub in config.subscribers:
        mine = issues.get(address_key(sub.email))
        if not mine:
            continue
        folder = root / subscriber_key(sub.email, secret)
        manifest = _read_manifest(folder)
        todo = [i for i in mine if pages_of.stale(folder, manifest, i)]
        if not todo:
            continue
        for path, entry in pages_of.write(sub, folder, todo):
            manifest[entry.name] = entry
            pages.append(path)
        current = {f"{issue_name(i.message_id)}.html" for i in mine}
        entries = sorted((e for e in manifest.values() if e.name in current), key=lambda e: e.sent_at, reverse=True)
        feeds.append(_write_folder(config, sub, folder, entries, pages_of, secret))
    return Archived(tuple(pages), tuple(feeds))


def _write_folder(
    config: Config, sub: Subscriber, folder: Path, entries: Sequence[Entry], pages_of: _Pages, secret: str
) -> Path:
    """The index, the feed and the manifest of one subscriber's folder; the feed's path."""
    title = pages_of.title(sub)
    index = pages_of.index.render(
        title=title,
        sender_name=config.sender.mailbox.name or config.sender.mailbox.address,
        name=sub.name or "",
        issues=entries,
        # days with more than one issue: their links also say which (unique link names)
        repeated={d for d, n in Counter(e.date_text for e in entries).items() if n > 1},
        first=entries[-1].date_text if entries else "",
        last=entries[0].date_text if entries else "",
        keywords=sub.keywords,
        archive_feed="feed.xml",
    )
    atomic_write(folder / "index.html", index)
    atomic_write(folder / "feed.xml", atom_feed(config, sub, entries[:FEED_ENTRIES], title, secret))
    rows = [{**asdict(e), "titles": list(e.titles), "labels": list(e.labels)} for e in entries]
    atomic_write(folder / MANIFEST, json.dumps(rows, ensure_ascii=False, indent=0))
    return folder / "feed.xml"


def atom_feed(config: Config, sub: Subscriber, entries: Sequence[Entry], title: str, secret: str) -> bytes:
    """An Atom 1.0 feed (RFC 4287: feed id, title, updated, author; per entry id, title,
    updated, a link and a summary) of the given issues, newest first. Links are absolute
    with ``archive.url``; without it they are relative to the feed's folder, which the
    feed says with ``xml:base`` (RFC 4287 section 2)."""
    ET.register_namespace("", ATOM)
    key = subscriber_key(sub.email, secret)
    base = f"{config.archive.url.rstrip('/')}/{key}/" if config.archive.url else ""
    feed = ET.Element(f"{{{ATOM}}}feed")
    feed.set(f"{{{XML}}}lang", "en")  # the language of the feed's own words, as the pages' <html lang>
    if not base:
        feed.set(f"{{{XML}}}base", "./")
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"{base}feed.xml" if base else f"urn:paper-digest:archive:{key}"
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    newest = entries[0].updated if entries else datetime.now(UTC)
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = newest.isoformat(timespec="seconds")
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = config.sender.mailbox.name or config.sender.mailbox.address
    ET.SubElement(feed, f"{{{ATOM}}}generator").text = "paper-digest"
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=f"{base}feed.xml")
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=f"{base}index.html")
    for e in entries:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        page = f"{base}{e.name}"
        ET.SubElement(entry, f"{{{ATOM}}}id").text = page if base else f"urn:paper-digest:issue:{e.name[:-5]}"
        ET.SubElement(entry, f"{{{ATOM}}}title").text = e.subject
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = e.updated.isoformat(timespec="seconds")
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=page)
        ET.SubElement(entry, f"{{{ATOM}}}summary").text = e.summary
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def archive_after_pass(config: Config, ledger: Ledger | None = None) -> Archived:
    """:func:`archive_sent` on the configured ledger; a directory that cannot be written
    is one error (exit 1: the emails went out, the archive did not)."""
    if config.archive.directory is None:
        return Archived((), ())
    from newsletter.base.errors import NewsletterError

    try:
        if ledger is not None:
            return archive_sent(config, ledger)
        with open_ledger(config) as own:
            return archive_sent(config, own)
    except OSError as exc:
        raise NewsletterError(
            f"archive: cannot write {exc.filename or config.archive.directory}: {exc.strerror or exc}",
            path=str(config.path),
        ) from None
