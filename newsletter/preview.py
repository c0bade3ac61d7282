"""Previews: what each subscriber would get, rendered exactly as ``send`` would.

Reads digests and the configuration; from the ledger only the suppression
list (read-only, when the ledger exists): an unsubscribed or paused address
gets no email here either. Sends nothing and changes no state. Used by ``newsletter preview --out DIR`` (files) and by
``newsletter preview --serve`` (:mod:`newsletter.preview_server`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsletter.config import Config, Subscriber
from newsletter.delivery.ledger import Ledger, suppression_key
from newsletter.errors import DigestParseError
from newsletter.matching import Match
from newsletter.pages import BASE_STYLE, PAGE_ENV
from newsletter.pipeline import digest_files, load_digests, plan, select_subscribers
from newsletter.render import RenderedEmail, Renderer

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
        return _UNSAFE.sub("_", self.subscriber.email)


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
    for sub, matches in plan(subscribers, loaded.papers):
        if suppression_key(sub.email) in suppressed:
            previews.append(Preview(sub, [], None, suppressed=True))
            continue
        email = None
        if matches or sub.send_empty:
            email = renderer.render(sub, matches, message_id=renderer.message_id(sub, matches), date=when)
        previews.append(Preview(sub, matches, email))
    return PreviewRun(previews, paths, len(loaded.papers), loaded.errors)


def suppressed_addresses(config: Config) -> set[str]:
    """The active suppressions of the configured ledger (empty when it does not exist)."""
    ledger = Ledger.open_readonly(config.state)
    if ledger is None:
        return set()
    with ledger:
        return ledger.suppressed()


def write_previews(run: PreviewRun, out: Path) -> list[Path]:
    """``<email>.html``, ``.txt``, ``.eml`` per subscriber with an email, and ``index.html``."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
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
    index.write_text(index_page(run, served=False), encoding="utf-8")
    written.append(index)
    return written


# --------------------------------------------------------------------------- pages

_ENV = PAGE_ENV

_STYLE = (
    BASE_STYLE
    + """
main { max-width: 1100px; margin: 0 auto; padding: 20px 16px 48px; }
h1 { font-size: 24px; margin: 8px 0 4px; } h2 { font-size: 19px; margin: 28px 0 8px; }
a { color: #1d4ed8; text-decoration: underline; }
.muted { color: #64748b; font-size: 14px; }
.card { background: #fff; border-radius: 10px; padding: 16px; box-shadow: 0 1px 2px rgba(0,0,0,.06);
        overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 8px 10px; border-bottom: 1px solid #e2e8f0; vertical-align: top; }
th { font-size: 13px; color: #475569; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { white-space: pre-wrap; word-break: break-word; font: 13px/1.45 ui-monospace, Menlo, Consolas, monospace;
      margin: 0; }
.chip { display: inline-block; background: #e0e7ff; color: #3730a3; border-radius: 10px; padding: 0 8px;
        font-size: 12px; line-height: 20px; margin: 1px 2px; white-space: nowrap; }
.error { background: #fef2f2; color: #991b1b; border: 1px solid #fecaca; border-radius: 8px; padding: 12px; }
iframe { border: 0; width: 100%; background: #fff; display: block; min-height: 400px; }
.frame { margin: 0 auto; max-width: 100%; }
.nav { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 8px 0 16px; }
.files a { margin-right: 10px; }
td:first-child { word-break: break-word; }
"""
)

_INDEX = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Preview: {{ run.previews | length }} subscribers</title><style>{{ style | safe }}</style></head>
<body><main>
<h1>Email preview</h1>
<p class="muted">{{ run.papers }} distinct papers from {{ run.digests | length }} digest file(s).
Nothing is sent{% if served %}; every page load re-reads the configuration and templates{% endif %}.</p>
{% for err in run.errors %}<p class="error">{{ err }}</p>{% endfor %}
<div class="card"><table>
<thead><tr><th>Subscriber</th><th>Papers</th><th>Subject</th></tr></thead>
<tbody>
{% for p in run.previews %}
<tr class="subscriber">
<td>{% if p.email %}<a href="{{ link(p, 'page') }}">{{ p.subscriber.email }}</a>
{%- else %}{{ p.subscriber.email }}{% endif %}
{% if p.subscriber.name %}<div class="muted">{{ p.subscriber.name }}</div>{% endif %}
{% if p.email %}<div class="files muted"><a href="{{ link(p, 'html') }}">HTML</a>
<a href="{{ link(p, 'txt') }}">text</a> <a href="{{ link(p, 'eml') }}">.eml</a></div>{% endif %}</td>
<td class="num">{{ p.matches | length }}</td>
<td>{% if p.email %}{{ p.email.subject }}{% elif p.suppressed %}<span class="muted">no email: unsubscribed</span>
{%- else %}<span class="muted">no email: nothing matched</span>{% endif %}</td>
</tr>
{% endfor %}
</tbody></table></div>
</main></body></html>
""")

_PAGE = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ p.subscriber.email }}: {{ p.email.subject }}</title><style>{{ style | safe }}</style></head>
<body><main>
<p class="nav"><a href="/">&larr; All subscribers</a>
<a href="?width=375">375 px</a><a href="?width=800">800 px</a>
<a href="/raw/{{ p.slug }}.html">HTML</a><a href="/raw/{{ p.slug }}.txt">Text</a>
<a href="/raw/{{ p.slug }}.eml">.eml</a></p>
<h1 id="subject">{{ p.email.subject }}</h1>
<p class="muted">To {{ p.subscriber.email }} · {{ p.matches | length }} papers · {{ size }} KB of HTML</p>
<h2>HTML part</h2>
<div class="frame" style="width: {{ width }}px">
<iframe id="email" title="HTML part" sandbox="allow-same-origin allow-popups" srcdoc="{{ p.email.html }}"
  onload="this.style.height = this.contentDocument.documentElement.scrollHeight + 'px'"></iframe>
</div>
<h2>Why these papers</h2>
<div class="card"><table id="why">
<thead><tr><th>#</th><th>Paper</th><th>Score</th><th>Matched</th></tr></thead><tbody>
{% for m in p.matches %}
<tr><td class="num">{{ loop.index }}</td><td>{{ m.paper.title }}</td><td class="num">{{ m.score }}</td>
<td>{% for h in m.hits %}<span class="chip">{{ h.keyword }}</span>
<span class="muted">in {{ h.fields | join(" + ") }}</span><br>{% endfor %}</td></tr>
{% endfor %}
</tbody></table></div>
<h2>Headers</h2>
<div class="card"><table id="headers"><tbody>
{% for name, value in headers %}<tr><th>{{ name }}</th><td><pre>{{ value }}</pre></td></tr>{% endfor %}
</tbody></table></div>
<h2>Text part</h2>
<div class="card"><pre id="text">{{ p.email.text }}</pre></div>
</main></body></html>
""")

_ERROR = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Preview error</title><style>{{ style | safe }}</style></head>
<body><main><h1>Cannot render the preview</h1>
<pre class="error" id="error">{{ message }}</pre>
<p class="muted">Fix it and reload the page.</p></main></body></html>
""")


def index_page(run: PreviewRun, *, served: bool) -> str:
    """The list of subscribers: links to pages (served) or to the written files."""

    def link(p: Preview, kind: str) -> str:
        if served:
            return f"/s/{p.slug}" if kind == "page" else f"/raw/{p.slug}.{kind}"
        return f"{p.slug}.{'html' if kind == 'page' else kind}"

    return _INDEX.render(run=run, served=served, link=link, style=_STYLE)


def subscriber_page(p: Preview, *, width: int = 800) -> str:
    """One email: HTML in an iframe, why-matched, headers, text part."""
    assert p.email is not None
    headers: list[tuple[str, Any]] = [(k, str(v)) for k, v in p.email.message.items()]
    return _PAGE.render(
        p=p, headers=headers, width=width, size=f"{len(p.email.html.encode()) / 1024:.1f}", style=_STYLE
    )


def error_page(message: str) -> str:
    return _ERROR.render(message=message, style=_STYLE)
