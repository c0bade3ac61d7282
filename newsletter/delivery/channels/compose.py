"""A planned delivery -> its chat message parts, one list per channel (pure but for the
renderer's caches)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from newsletter.base.wording import format_day
from newsletter.config import Subscriber
from newsletter.config.channels import AnyChannel
from newsletter.matching import Match
from newsletter.render import Renderer
from newsletter.render.chat import MESSAGES, ChatIssue
from newsletter.render.content import paper_views
from newsletter.store import ChannelPart


def chat_issue(renderer: Renderer, subscriber: Subscriber, matches: Sequence[Match], when: datetime) -> ChatIssue:
    """The delivery as every chat format sees it: the email's subject and date, the
    email's paper views."""
    views = paper_views(
        matches,
        renderer.profile(subscriber),
        abstract_chars=subscriber.abstract_chars,
        base_of=renderer.paper_base,
    )
    when = renderer.local_time(when)
    subject = renderer.subject(subscriber, len(views), when, revised=sum(1 for v in views if v.revision))
    heading = f"{subject} · {when.strftime('%A')}, {format_day(when.date())}"
    return ChatIssue(subscriber.email, heading, views, matches)


def payloads(channel: AnyChannel, issue: ChatIssue) -> list[str]:
    """The JSON text of every message of ``issue`` on ``channel``, in order."""
    return [json.dumps(m, ensure_ascii=False, separators=(",", ":")) for m in MESSAGES[channel.type](issue)]


def parts_of(delivery_id: int, subscriber: Subscriber, issue: ChatIssue) -> list[ChannelPart]:
    """Every part of the delivery on each of the subscriber's channels."""
    out: list[ChannelPart] = []
    for channel in subscriber.channels:
        texts = payloads(channel, issue)
        for n, text in enumerate(texts, 1):
            out.append(ChannelPart(delivery_id, subscriber.email, channel.key, n, len(texts), text))
    return out


def delivery_parts(
    renderer: Renderer, subscriber: Subscriber, matches: Sequence[Match], when: datetime
) -> tuple[ChannelPart, ...]:
    """The parts a new delivery carries to the ledger (recorded with it, under its id)."""
    if not subscriber.channels:
        return ()
    return tuple(parts_of(0, subscriber, chat_issue(renderer, subscriber, matches, when)))
