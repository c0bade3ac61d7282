"""The chat formats (newsletter/render/chat.py): each service's documented limits kept
whatever the digest holds (long abstracts, many papers, hostile text), split into
several messages when one is not enough, escaped for each format."""

from __future__ import annotations

import json

import pytest

from newsletter.render.chat import (
    DISCORD_CONTENT,
    DISCORD_EMBEDS,
    DISCORD_TOTAL,
    MATRIX_BYTES,
    SLACK_BLOCKS,
    SLACK_SECTION,
    ChatIssue,
    discord_messages,
    fit,
    matrix_messages,
    slack_messages,
)
from newsletter.render.content import HitView, PaperView


def view(n: int, *, abstract: str = "An abstract.", title: str | None = None) -> PaperView:
    return PaperView(
        id=f"p{n}",
        title=title or f"Paper {n} <b>&amp;</b> @here",
        title_segments=(),
        title_marked="",
        link=f"https://arxiv.org/abs/2611.{n:05d}",
        meta=("Ana Lima, Tomasz Kowal", "17 Nov 2026"),
        hits=(HitView("contrastive learning", ("abstract",)),),
        abstract=abstract,
        abstract_segments=(),
        abstract_marked="",
        cut=False,
        links=(),
        score=3,
        upvotes=None,
        resources=(("PDF", f"https://arxiv.org/pdf/2611.{n:05d}|x>y"),),
        summary="A TL;DR with <!everyone> in it.",
    )


def issue(count: int, **kw: str) -> ChatIssue:
    return ChatIssue(
        "alice@example.org", "3 new papers for you · Tuesday, 17 Nov 2026", [view(n, **kw) for n in range(count)], []
    )


HUGE = "word & <tag> " * 2000  # 26,000 characters, every one of them needing escapes


@pytest.mark.parametrize("count", [1, 49, 50, 120])
def test_slack_messages_keep_blocks_and_section_limits(count: int) -> None:
    messages = slack_messages(issue(count, abstract=HUGE))
    sections = [b for m in messages for b in m["blocks"][1:]]
    assert len(sections) == count  # every paper once, in order
    assert [s["text"]["text"].split(".", 1)[0] for s in sections] == [f"*{n}" for n in range(1, count + 1)]
    for m in messages:
        assert len(m["blocks"]) <= SLACK_BLOCKS
        assert all(len(b["text"]["text"]) <= SLACK_SECTION for b in m["blocks"])
    assert len(messages) == -(-count // (SLACK_BLOCKS - 1))
    if len(messages) > 1:
        assert messages[1]["blocks"][0]["text"]["text"].endswith(f"(2/{len(messages)})*")


def test_slack_escapes_text_and_links() -> None:
    (message,) = slack_messages(issue(1))
    text = message["blocks"][1]["text"]["text"]
    assert "<https://arxiv.org/abs/2611.00000|Paper 0 &lt;b&gt;&amp;amp;&lt;/b&gt; @here>" in text
    assert "<https://arxiv.org/pdf/2611.00000%7Cx%3Ey|PDF>" in text  # the URL cannot close the link
    assert "&lt;!everyone&gt;" in text and "<!everyone>" not in text


@pytest.mark.parametrize("count", [1, 10, 11, 40])
def test_discord_messages_keep_embed_limits(count: int) -> None:
    messages = discord_messages(issue(count, abstract=HUGE))
    embeds = [e for m in messages for e in m["embeds"]]
    assert [e["title"].split(".", 1)[0] for e in embeds] == [str(n) for n in range(1, count + 1)]
    for m in messages:
        assert len(m["content"]) <= DISCORD_CONTENT
        assert 1 <= len(m["embeds"]) <= DISCORD_EMBEDS
        assert sum(len(e["title"]) + len(e["description"]) for e in m["embeds"]) <= DISCORD_TOTAL
        assert all(len(e["title"]) <= 256 and len(e["description"]) <= 4096 for e in m["embeds"])
        assert m["allowed_mentions"] == {"parse": []}


def test_discord_escapes_markdown_and_mentions() -> None:
    (message,) = discord_messages(issue(1, abstract="**bold** _it_ `code` [a](https://evil) @everyone <@123>"))
    description = message["embeds"][0]["description"]
    assert r"\*\*bold\*\* \_it\_ \`code\` \[a\]\(https\://evil\) \@everyone \<\@123\>" in description


@pytest.mark.parametrize("count", [1, 30, 200])
def test_matrix_messages_stay_under_the_event_size_and_escape_html(count: int) -> None:
    messages = matrix_messages(issue(count, abstract=HUGE[:3000]))
    for m in messages:
        assert len(json.dumps(m, ensure_ascii=False).encode()) <= MATRIX_BYTES
        assert m["format"] == "org.matrix.custom.html" and "<tag>" not in m["formatted_body"]
        assert "&lt;tag&gt;" in m["formatted_body"]
    numbered = [line for m in messages for line in m["body"].split("\n\n")[1:]]
    assert [line.split(".", 1)[0] for line in numbered] == [str(n) for n in range(1, count + 1)]


def test_fit_never_cuts_an_entity_or_an_escape() -> None:
    assert fit("abc &amp; def", 8) == "abc…"
    assert fit(r"abc\*def", 5) == "abc…"
    assert fit("short", 10) == "short"


def test_matrix_paper_text_saying_at_room_mentions_nobody() -> None:
    """A paper whose text says "@room" (or a member's name) must not notify the whole
    room: the content carries an empty ``m.mentions`` (Matrix 1.7's intentional
    mentions), which turns off the push rules that match the body."""
    for m in matrix_messages(issue(3, abstract="Attention @room: results inside. cc @alice:example.org")):
        assert "@room" in m["body"]  # shown as text
        assert m["m.mentions"] == {}  # no user_ids, no "room": true
