"""An in-memory mail transport for tests that are not about SMTP (Django's locmem
backend): it satisfies :class:`newsletter.delivery.service.Sender`, keeps every message
it "sends" in ``outbox`` (envelope and bytes), and answers each as told: accepted, a
permanent refusal (a hard bounce), or temporary trouble (left pending). Tests about the
wire itself keep the real aiosmtpd of ``tests/smtpd.py``."""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass, field
from email.message import Message

from newsletter.delivery.service import OnResult
from newsletter.delivery.smtp import Outgoing, Result, SendStats


@dataclass
class Sent:
    sender: str
    recipient: str
    data: bytes

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.data)


@dataclass
class MemorySender:
    """``refuse``: recipient -> the 5xx reply it gets (failed, a hard bounce);
    ``defer``: recipients whose message stays pending (a 4xx every time)."""

    on_result: OnResult
    stop: asyncio.Event | None = None
    refuse: Mapping[str, str] = field(default_factory=dict)
    defer: frozenset[str] = frozenset()
    outbox: list[Sent] = field(default_factory=list)

    async def send_all(self, items: AsyncIterable[Outgoing]) -> SendStats:
        stats = SendStats()
        async for item in items:
            if self.stop is not None and self.stop.is_set():
                result = Result(item, "pending", 0, "not sent: shutting down")
            elif item.recipient in self.refuse:
                result = Result(item, "failed", 1, f"{self.refuse[item.recipient]} (RCPT TO)", bounce="hard")
            elif item.recipient in self.defer:
                result = Result(item, "pending", 1, "451 try again later (RCPT TO)")
            else:
                self.outbox.append(Sent(item.sender, item.recipient, item.message))
                result = Result(item, "sent", 1)
            setattr(stats, result.status, getattr(stats, result.status) + 1)
            await self.on_result(result)
        return stats


class MemoryTransport:
    """A :data:`~newsletter.delivery.service.SenderFactory` whose senders share one
    outbox across passes (``PassOptions(sender=transport)``)."""

    def __init__(self, *, refuse: Mapping[str, str] | None = None, defer: frozenset[str] = frozenset()) -> None:
        self.refuse = dict(refuse or {})
        self.defer = defer
        self.outbox: list[Sent] = []

    def __call__(self, on_result: OnResult, stop: asyncio.Event | None) -> MemorySender:
        return MemorySender(on_result, stop, self.refuse, self.defer, self.outbox)

    def to(self, recipient: str) -> list[Sent]:
        return [m for m in self.outbox if m.recipient == recipient]
