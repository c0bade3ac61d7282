"""Previews: what each subscriber would get, rendered exactly as ``send`` would.

Reads digests and the configuration; from the ledger only the suppression
list (read-only, when the ledger exists): an unsubscribed or paused address
gets no email here either. Sends nothing and changes no state. Used by ``newsletter preview --out DIR`` (files) and by
``newsletter preview --serve`` (:mod:`newsletter.web.preview`). The page templates are
``newsletter/render/pages/*.html``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from newsletter.base.addresses import Suppressions
from newsletter.base.errors import DigestParseError
from newsletter.base.fsutil import writing
from newsletter.config import Config, Subscriber, select_subscribers
from newsletter.digest.scan import digest_files, load_digests
from newsletter.matching import Match
from newsletter.matching.likes import read_like_state
from newsletter.matching.matcher import plan
from newsletter.render import RenderedEmail, Renderer
from newsletter.render.pages import render_page
from newsletter.store.choose import open_ledger_readonly

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


@dataclass(frozen=True)
class Preview:
    """One subscriber's email; ``email`` is None when nothing matched (and not ``send_empty``)
    or the address is unsubscribed (``suppressed``)."""

    subscriber: Subscriber
    matches: list[Match]
    email: RenderedEmail | None
    suppressed: bool = False

    @property
    def slug(self) -> str:
        """A file-name-safe form of the address."""
        return slug_of(self.subscriber.email)


def slug_of(address: str) -> str:
    """A file-name- and URL-safe form of an address."""
    return _UNSAFE.sub("_", address)


@dataclass(frozen=True)
class PreviewRun:
    previews: list[Preview]
    digests: list[Path]
    papers: int
    errors: tuple[DigestParseError, ...]


def build_previews(
    config: Config,
    *,
    emails: Sequence[str] = (),
    digests: Sequence[str | Path] | None = None,
    date: datetime | None = None,
) -> PreviewRun:
    """Render the email of every (or every named) subscriber for ``digests``
    (default: every digest in the configured directory)."""
    renderer = Renderer(config)
    subscribers = select_subscribers(config, emails)
    paths = [Path(p) for p in digests] if digests else digest_files(config)
    loaded = load_digests(paths, fmt=config.digests.format)
    when = date or datetime.now(UTC)
    suppressed = suppressed_addresses(config)
    previews = []
    for sub, matches in plan(subscribers, loaded.papers, likes=read_like_state(config)):
        if suppressed.active(sub.email):
            previews.append(Preview(sub, [], None, suppressed=True))
            continue
        email = None
        if matches or sub.send_empty:
            mid = renderer.message_id(sub, matches)
            # "view in browser": the preview's own page (the archive page of a delivery is
            # named after its Message-ID, which only `send` gives it)
            email = renderer.render(sub, matches, message_id=mid, date=when, view=f"{slug_of(sub.email)}.html")
        previews.append(Preview(sub, matches, email))
    return PreviewRun(previews, paths, len(loaded.papers), loaded.errors)


def suppressed_addresses(config: Config) -> Suppressions:
    """The active suppressions of the configured ledger (none when it does not exist)."""
    ledger = open_ledger_readonly(config)
    if ledger is None:
        return Suppressions()
    with ledger:
        return ledger.suppressions()


def write_previews(run: PreviewRun, out: Path) -> list[Path]:
    """``<email>.html``, ``.txt``, ``.eml`` per subscriber with an email, and ``index.html``;
    a place that cannot be written is an :class:`OutputError` naming it."""
    written: list[Path] = []
    with writing("the preview", out):
        out.mkdir(parents=True, exist_ok=True)
        for p in run.previews:
            if p.email is None:
                continue
            for suffix, data in (
                (".html", p.email.html.encode("utf-8")),
                (".txt", p.email.text.encode("utf-8")),
                (".eml", p.email.as_bytes()),
            ):
                path = out / f"{p.slug}{suffix}"
                path.write_bytes(data)
                written.append(path)
        index = out / "index.html"
        index.write_text(index_page(run), encoding="utf-8")
    written.append(index)
    return written


# --------------------------------------------------------------------------- the index page


@dataclass(frozen=True, slots=True)
class IndexRow:
    """One line of the index page; ``subject`` None: no email (``suppressed`` says why)."""

    email: str
    name: str | None
    slug: str
    papers: int
    subject: str | None
    suppressed: bool = False

    @classmethod
    def of(cls, sub: Subscriber, papers: int, subject: str | None, *, suppressed: bool = False) -> IndexRow:
        return cls(sub.email, sub.name, slug_of(sub.email), papers, subject, suppressed)


def index_page(run: PreviewRun) -> str:
    """The list of every subscriber, linking to the files :func:`write_previews` writes
    (``preview --serve`` has its own, paged: :mod:`newsletter.web.preview`)."""
    rows = [
        IndexRow.of(p.subscriber, len(p.matches), p.email.subject if p.email else None, suppressed=p.suppressed)
        for p in run.previews
    ]

    def link(row: IndexRow, kind: str) -> str:
        return f"{row.slug}.{'html' if kind == 'page' else kind}"

    return render_page(
        "index.html",
        rows=rows,
        total=len(rows),
        papers=run.papers,
        digests=len(run.digests),
        errors=run.errors,
        pager=None,
        link=link,
    )
