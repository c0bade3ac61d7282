"""What a send pass takes and gives, shared by the single-machine pass
(:mod:`newsletter.delivery.service`) and the claim path of several senders
(:mod:`newsletter.delivery.claimpass`): the caller's :class:`PassOptions`, the
:class:`Sender` and :class:`Progress` protocols, the :class:`SendSummary`, and the
recording of an SMTP refusal as a bounce. Below both passes, so neither imports the other's
module for them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from newsletter.bounces.policy import BouncePolicy
from newsletter.config import Config, Subscriber
from newsletter.delivery.smtp import Outgoing, Result, SendStats, enhanced_status
from newsletter.render.spawn import EarlyWorkers
from newsletter.store import Ledger

if TYPE_CHECKING:  # the sending process never loads the renderer (its workers render)
    from newsletter.render import Renderer

__all__ = ["OnResult", "PassOptions", "Progress", "SendSummary", "Sender", "SenderFactory", "record_smtp_bounce"]

log = logging.getLogger("newsletter.delivery.service")


OnResult = Callable[[Result], Awaitable[None]]


class Sender(Protocol):
    """What the pass needs of a mail transport (Django's ``BaseEmailBackend``):
    send every message of ``items``, calling the pass's ``on_result`` for each (awaited
    before the next message's DATA goes out), and say how it went. The real one is
    :class:`~newsletter.delivery.smtp.SmtpSender`; tests that are not about SMTP use an
    in-memory one (``tests/memsender.py``)."""

    async def send_all(self, items: AsyncIterable[Outgoing]) -> SendStats: ...


#: Builds the pass's sender around its ``on_result`` callback and ``stop`` event.
SenderFactory = Callable[[OnResult, "asyncio.Event | None"], Sender]


class Progress(Protocol):
    """What a pass reports while it sends (the CLI shows a bar or log lines)."""

    def start(self, total: int) -> None: ...

    def advance(self, result: Result) -> None: ...

    def finish(self) -> None: ...


@dataclass
class SendSummary:
    """The outcome of one pass. ``exit_code`` is 1 when anything failed or waits."""

    sent: int = 0
    failed: int = 0
    pending: int = 0  # left pending by this pass (temporary trouble, lost replies, a stop)
    resent: int = 0  # pending deliveries of earlier passes taken up again
    nothing: int = 0  # subscribers with nothing to send
    suppressed: int = 0  # subscribers skipped: unsubscribed or paused
    cancelled: int = 0  # pending deliveries to suppressed addresses, marked failed "unsubscribed"
    digests_ok: int = 0
    digests_failed: int = 0
    unsettled: int = 0
    stopped: str | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)  # (email, error) failed this pass
    digest_errors: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # "PATH: not a digest (a PDF), ignored", new ones only
    digest_partial: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (path, ids not read)
    channel_sent: int = 0  # issue 27: chat message parts posted, refused, left for the next pass
    channel_failed: int = 0
    channel_pending: int = 0
    fitted: list[tuple[str, str]] = field(default_factory=list)  # (email, how): HTML fitted under Gmail's clip
    signal: int | None = None  # the pass was stopped by this signal (SIGINT, SIGTERM): its 128 + N exit code

    @property
    def exit_code(self) -> int:
        if self.signal is not None:
            return 128 + self.signal
        trouble = self.failed or self.pending or self.channel_failed or self.channel_pending
        return 1 if (trouble or self.digests_failed or self.stopped) else 0


def record_smtp_bounce(ledger: Ledger, config: Config, result: Result) -> None:
    """Record a refusal at RCPT/DATA as a hard bounce (and suppress per ``bounces``)."""
    error = result.error or ""
    reason = ledger.record_bounce(
        result.item.recipient,
        kind=result.bounce or "hard",
        source="smtp",
        delivery_id=result.item.key,
        status=enhanced_status(error.partition(" ")[2]),
        diagnostic=error,
        policy=BouncePolicy.of(config),
    )
    if reason:  # the refusal itself is reported with the pass's failures
        log.info("%s: suppressed after %s", result.item.recipient, reason)


@dataclass(frozen=True, slots=True)
class PassOptions:
    """What the caller asks of a pass (see :func:`send_pass`). ``sender``: builds the
    mail transport (default: :class:`SmtpSender` on ``smtp``, with ``backoff``)."""

    subscribers: Sequence[Subscriber] | None = None
    paths: Sequence[Path] | None = None
    pick_up: bool = True
    progress: Progress | None = None
    renderer: Renderer | None = None
    backoff: float = 1.0
    today: date | None = None
    stop: asyncio.Event | None = None
    resumes: Sequence[int] | None = None
    sender: SenderFactory | None = None
    schedule_key: str | None = None  # several senders (PostgreSQL): the pass's key (default "send")
    fire_at: datetime | None = None  # ... and its fire (None: a manual `send`, see claimpass)
    early_workers: EarlyWorkers | None = None  # render workers started before the configuration was read
