"""A delivery as chat messages (SPEC 2.5 "Channels"): pure functions from the same paper
views as the email (:class:`~newsletter.render.content.PaperView`) to the JSON each
service takes, escaped for its format and split at its documented limits.

- Slack (incoming webhook ``{text, blocks}``): one header section, then one ``section``
  block of ``mrkdwn`` per paper; at most :data:`SLACK_BLOCKS` (50) blocks a message, at
  most :data:`SLACK_SECTION` (3000) characters a section text; ``&``, ``<`` and ``>``
  escaped as Slack asks (``&amp;``, ``&lt;``, ``&gt;``); links ``<url|label>``.
- Discord (webhook ``{content, embeds}``): ``content`` <= 2000 characters, one embed per
  paper (title <= 256, description <= :data:`DISCORD_DESCRIPTION`), at most 10 embeds and
  6000 embed characters a message; Markdown escaped with backslashes; mentions never
  ping anybody (``allowed_mentions: {parse: []}``).
- Matrix (``m.room.message``): ``m.text`` with a plain ``body`` and an HTML
  ``formatted_body`` (``org.matrix.custom.html``, escaped), at most
  :data:`MATRIX_BYTES` bytes of content a message (events are capped at 64 KiB); an
  empty ``m.mentions`` says it mentions nobody, so "@room" in a paper's text pings no one.
- webhook: one JSON document, the ``match --json`` shape for one subscriber
  (``{"email", "papers": [{"id", "title", "score", "matched"}]}``) with each paper's
  ``url``, ``doi``, ``arxiv_id`` and ``journal`` added; never split.

Each function returns the list of messages (parts) in order; an empty delivery is none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import escape

from newsletter.matching import Match
from newsletter.matching.matchjson import paper_json
from newsletter.render.content import PaperView

SLACK_BLOCKS = 50
SLACK_SECTION = 3000
SLACK_FALLBACK = 300  # the notification text
DISCORD_CONTENT = 2000
DISCORD_EMBEDS = 10
DISCORD_TITLE = 256
DISCORD_DESCRIPTION = 1024  # (the API allows 4096; shorter packs more papers a message)
DISCORD_TOTAL = 6000
MATRIX_BYTES = 32_000


@dataclass(frozen=True, slots=True)
class ChatIssue:
    """One delivery to one subscriber, as every chat format needs it."""

    email: str
    heading: str  # "3 new papers for Alice · Tuesday, 17 Nov 2026"
    papers: Sequence[PaperView]
    matches: Sequence[Match]


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis at the end), never inside an
    ``&...;`` entity or a backslash escape."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    amp = cut.rfind("&")
    if amp > cut.rfind(";"):
        cut = cut[:amp]
    if cut.endswith("\\") and not cut.endswith("\\\\"):
        cut = cut[:-1]
    return cut.rstrip() + "…"


# --------------------------------------------------------------------------- Slack


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(url: str, label: str) -> str:
    """``<url|label>``, the URL unable to close the link (``|``, ``>`` percent-encoded)."""
    safe = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace("&", "&amp;")
    return f"<{safe}|{slack_escape(label)}>"


def _slack_paper(n: int, p: PaperView) -> dict[str, Any]:
    title = slack_link(p.link, p.title) if p.link else slack_escape(p.title)
    lines = [f"*{n}. {title}*"]
    if p.revision:  # an arXiv revision of an older paper, said so (never one of the new ones)
        lines.append(f"_{slack_escape(p.revision)}_")
    if p.meta:
        lines.append(slack_escape(p.meta_line))
    if p.resources:
        lines.append(" · ".join(slack_link(url, label) for label, url in p.resources))
    if p.hits:
        lines.append(f"_Matched: {slack_escape(p.matched)}_")
    if p.summary:
        lines.append(f"> {slack_escape(p.summary)}")
    if p.abstract:
        lines.append(slack_escape(p.abstract + ("…" if p.cut else "")))
    return {"type": "section", "text": {"type": "mrkdwn", "text": fit("\n".join(lines), SLACK_SECTION)}}


def slack_messages(issue: ChatIssue) -> list[dict[str, Any]]:
    blocks = [_slack_paper(n, p) for n, p in enumerate(issue.papers, 1)]
    per = SLACK_BLOCKS - 1  # one block for the header
    chunks = [blocks[i : i + per] for i in range(0, len(blocks), per)]
    out = []
    for k, chunk in enumerate(chunks, 1):
        head = issue.heading + (f" ({k}/{len(chunks)})" if len(chunks) > 1 else "")
        header = {"type": "section", "text": {"type": "mrkdwn", "text": fit(f"*{slack_escape(head)}*", SLACK_SECTION)}}
        text = fit(slack_escape(head), SLACK_FALLBACK)
        out.append({"text": text, "blocks": [header, *chunk], "unfurl_links": False, "unfurl_media": False})
    return out


# --------------------------------------------------------------------------- Discord

_DISCORD_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()<@:-])")


def discord_escape(text: str) -> str:
    """Every Markdown character escaped (and ``<``, ``@``, ``:``: no mention, channel or
    emoji markup)."""
    return _DISCORD_MARKDOWN.sub(r"\\\1", text)


def _discord_embed(n: int, p: PaperView) -> dict[str, Any]:
    lines = []
    if p.revision:
        lines.append(f"**{discord_escape(p.revision)}**")
    if p.meta:
        lines.append(discord_escape(p.meta_line))
    if p.resources:
        lines.append(" · ".join(f"[{discord_escape(label)}]({url})" for label, url in p.resources))
    if p.hits:
        lines.append(f"*Matched: {discord_escape(p.matched)}*")
    if p.summary:
        lines.append(f"> {discord_escape(p.summary)}")
    if p.abstract:
        lines.append(discord_escape(p.abstract + ("…" if p.cut else "")))
    embed: dict[str, Any] = {
        "title": fit(f"{n}. {p.title}", DISCORD_TITLE),  # embed titles are not Markdown
        "description": fit("\n".join(lines), DISCORD_DESCRIPTION),
    }
    if p.link:
        embed["url"] = p.link
    return embed


def _embed_size(embed: dict[str, Any]) -> int:
    return len(embed["title"]) + len(embed["description"])


def discord_messages(issue: ChatIssue) -> list[dict[str, Any]]:
    groups: list[list[dict[str, Any]]] = []
    size = 0
    for n, p in enumerate(issue.papers, 1):
        embed = _discord_embed(n, p)
        if not groups or len(groups[-1]) >= DISCORD_EMBEDS or size + _embed_size(embed) > DISCORD_TOTAL:
            groups.append([])
            size = 0
        groups[-1].append(embed)
        size += _embed_size(embed)
    out = []
    for k, embeds in enumerate(groups, 1):
        head = issue.heading + (f" ({k}/{len(groups)})" if len(groups) > 1 else "")
        content = fit(f"**{discord_escape(head)}**", DISCORD_CONTENT)
        out.append({"content": content, "embeds": embeds, "allowed_mentions": {"parse": []}})
    return out


# --------------------------------------------------------------------------- Matrix


def _matrix_paper(n: int, p: PaperView) -> tuple[str, str]:
    """(plain, HTML) of one paper."""
    plain = [f"{n}. {p.title}" + (f" <{p.link}>" if p.link else "")]
    title = f'<a href="{escape(p.link)}">{escape(p.title)}</a>' if p.link else str(escape(p.title))
    html = [f"<b>{n}. {title}</b>"]
    if p.revision:
        plain.append(p.revision)
        html.append(f"<i>{escape(p.revision)}</i>")
    if p.meta:
        plain.append(p.meta_line)
        html.append(str(escape(p.meta_line)))
    if p.resources:
        plain.append(" · ".join(f"{label}: {url}" for label, url in p.resources))
        html.append(" · ".join(f'<a href="{escape(url)}">{escape(label)}</a>' for label, url in p.resources))
    if p.hits:
        plain.append(f"Matched: {p.matched}")
        html.append(f"<i>Matched: {escape(p.matched)}</i>")
    if p.summary:
        plain.append(f"> {p.summary}")
        html.append(f"<blockquote>{escape(p.summary)}</blockquote>")
    if p.abstract:
        text = p.abstract + ("…" if p.cut else "")
        plain.append(text)
        html.append(str(escape(text)))
    return "\n".join(plain), "<br>".join(html)


def _matrix_content(heading: str, papers: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "msgtype": "m.text",
        "body": "\n\n".join([heading, *(plain for plain, _ in papers)]),
        "format": "org.matrix.custom.html",
        "formatted_body": "".join([f"<p><b>{escape(heading)}</b></p>", *(f"<p>{html}</p>" for _, html in papers)]),
        # mentions nobody (Matrix 1.7 intentional mentions): "@room" or a member's name in
        # a paper's text no longer notifies the room by the body-matching push rules
        "m.mentions": {},
    }


def _size(content: dict[str, Any]) -> int:
    return len(json.dumps(content, ensure_ascii=False).encode("utf-8"))


def matrix_messages(issue: ChatIssue) -> list[dict[str, Any]]:
    groups: list[list[tuple[str, str]]] = []
    for n, p in enumerate(issue.papers, 1):
        plain, html = _matrix_paper(n, p)
        plain, html = fit(plain, MATRIX_BYTES // 8), fit(html, MATRIX_BYTES // 4)  # one paper always fits
        if not groups or _size(_matrix_content(issue.heading, [*groups[-1], (plain, html)])) > MATRIX_BYTES:
            groups.append([])
        groups[-1].append((plain, html))
    out = []
    for k, group in enumerate(groups, 1):
        head = issue.heading + (f" ({k}/{len(groups)})" if len(groups) > 1 else "")
        out.append(_matrix_content(head, group))
    return out


# --------------------------------------------------------------------------- webhook


def webhook_messages(issue: ChatIssue) -> list[dict[str, Any]]:
    papers = []
    for m, view in zip(issue.matches, issue.papers, strict=True):
        record = paper_json(m)
        paper = m.paper
        record.update(url=view.link, doi=paper.doi, arxiv_id=paper.arxiv_id, journal=paper.journal)
        papers.append(record)
    return [{"email": issue.email, "heading": issue.heading, "papers": papers}] if papers else []


MESSAGES: dict[str, Callable[[ChatIssue], list[dict[str, Any]]]] = {
    "slack": slack_messages,
    "discord": discord_messages,
    "matrix": matrix_messages,
    "webhook": webhook_messages,
}
