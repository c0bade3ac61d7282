"""The channel stage of a send pass: each new delivery's parts composed before it is
recorded, and recorded ``pending`` WITH it (:meth:`ChannelStage.attach`: they ride on
the :class:`~newsletter.store.NewDelivery`, so :meth:`Ledger.record` writes both in one
transaction and a crash can never keep the delivery but lose its parts), then, once the email has
gone out, every pending part posted (this pass's and those earlier passes left), in
order per delivery and channel: a part that is not ``sent`` holds the later parts of
its message back until the next pass.

A subscriber with ``send_email: false`` gets its deliveries recorded as usual (so its
papers are never sent twice, and its horizon moves), marked sent at once without an
SMTP transaction: the channels are its only way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any, TypeVar

from newsletter.base.addresses import address_key
from newsletter.config import Config, Subscriber
from newsletter.config.channels import AnyChannel
from newsletter.delivery.channels.limits import MAX_WAIT
from newsletter.delivery.lifetime import QueueLifetime
from newsletter.matching import Match
from newsletter.store import ChannelPart, ChannelRow, NewDelivery, Outcome

if TYPE_CHECKING:  # composing (the renderer) and posting (httpx) are imported when a pass has parts
    import httpx

    from newsletter.delivery.channels.post import Posted
    from newsletter.render import Renderer

log = logging.getLogger(__name__)
T = TypeVar("T")
Db = Callable[..., Awaitable[Any]]

RETRIES = 4  # per part and pass: waits of 1, 2, 4, 8 s (times the pass's backoff)
TIMEOUT = 30.0
# a claimed part's lease (several senders): the longest posting one part can take (every
# attempt timing out, every wait the longest a service may ask), and a minute to spare
PART_LEASE = (RETRIES + 1) * TIMEOUT + RETRIES * MAX_WAIT + 60.0


@dataclass
class ChannelSummary:
    """What the stage did in a pass."""

    sent: int = 0
    failed: int = 0
    pending: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (email channel, error)


class ChannelStage:
    """See the module doc. ``planned``: the pass's deliveries to render (subscriber and
    matches by address)."""

    def __init__(self, config: Config, *, backoff: float = 1.0, renderer: Renderer | None = None) -> None:
        self.config = config
        self.backoff = backoff
        self.renderer = renderer
        self.summary = ChannelSummary()
        self.lifetime = QueueLifetime.of(config)
        self._planned: dict[str, tuple[Subscriber, Sequence[Match]]] = {}
        self._email_off = {address_key(s.email) for s in config.subscribers if not s.send_email}

    def plan(self, planned: Sequence[tuple[Subscriber, Sequence[Match]]]) -> None:
        self._planned = {s.email: (s, m) for s, m in planned if s.channels or not s.send_email}

    def email_off(self, email: str) -> bool:
        """True for a subscriber with ``send_email: false`` (by the configuration: a
        delivery left pending by an interrupted pass is never mailed either)."""
        return address_key(email) in self._email_off

    def _parts(self, new: NewDelivery, when: datetime) -> tuple[ChannelPart, ...]:
        found = self._planned.get(new.email)
        if found is None or not found[0].channels:
            return ()
        if self.renderer is None:
            from newsletter.render import Renderer

            self.renderer = Renderer(self.config)
        from newsletter.delivery.channels.compose import delivery_parts

        return delivery_parts(self.renderer, found[0], found[1], when)

    def attach(self, batch: Sequence[NewDelivery]) -> list[NewDelivery]:
        """The batch, each delivery carrying its chat message parts (recorded with it)."""
        if not self._planned:
            return list(batch)
        when = datetime.now().astimezone()
        return [replace(new, channel_parts=self._parts(new, when)) for new in batch]

    async def record(self, db: Db, ids: Sequence[int], batch: Sequence[NewDelivery]) -> None:
        """Channel-only deliveries of a batch just recorded: marked sent (a crash before
        this leaves them pending: the next pass marks them, :meth:`skip_email`)."""
        only = [Outcome(key, "sent", 0) for key, new in zip(ids, batch, strict=True) if self.email_off(new.email)]
        if only:
            await db(lambda lg: lg.record([], only))

    def _channel(self, row: ChannelRow) -> AnyChannel | None:
        for sub in self.config.subscribers:
            if sub.email == row.email:
                return next((c for c in sub.channels if c.key == row.channel), None)
        return None

    async def skip_email(self, db: Db, key: int) -> None:
        """A pending delivery of a channels-only subscriber (an interrupted pass): sent."""
        await db(lambda lg: lg.record([], [Outcome(key, "sent", 0)]))

    async def deliver(self, db: Db, stop: asyncio.Event | None = None) -> ChannelSummary:
        """Post every pending part (see the module doc); parts past the queue lifetime
        are failed, before and after posting (:mod:`~newsletter.delivery.lifetime`)."""
        await self._give_up(db)
        rows: list[ChannelRow] = await db(lambda lg: lg.pending_channel_parts())
        if not rows:
            return self.summary
        import httpx

        async with httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT), follow_redirects=False, trust_env=True) as client:
            for _, group in groupby(rows, key=lambda r: (r.delivery_id, r.channel)):
                if stop is not None and stop.is_set():
                    break
                await self._message(db, client, list(group), stop)
        await self._give_up(db)
        self.summary.pending = len(await db(lambda lg: lg.pending_channel_parts()))
        return self.summary

    async def _give_up(self, db: Db) -> int:
        """Pending parts past the queue lifetime: failed, counted and reported."""
        given = await self.lifetime.give_up_parts(db)
        self.summary.failed += len(given)
        self.summary.failures.extend((f"{p.email} {p.channel}", p.error or "") for p in given)
        return len(given)

    async def deliver_claimed(self, db: Db, owner: str, stop: asyncio.Event | None = None) -> ChannelSummary:
        """Post the pending parts on a ledger several senders share: one message at a
        time, claimed by ``owner`` for :data:`PART_LEASE` a part (its host dying, the
        message is taken again when that ends), each outcome written only while the claim
        is held; until no message is left that this pass has not tried. ``pending``
        counts the parts this host left for the next pass (not those other hosts hold)."""
        tried: list[tuple[int, str]] = []
        self.summary.pending = 0
        await self._give_up(db)
        import httpx

        async with httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT), follow_redirects=False, trust_env=True) as client:
            while stop is None or not stop.is_set():
                rows: list[ChannelRow] = await db(lambda lg: lg.claim_channel_message(owner, PART_LEASE, tried))
                if not rows:
                    break
                tried.append((rows[0].delivery_id, rows[0].channel))
                self.summary.pending += await self._message(db, client, rows, stop, owner=owner)
        self.summary.pending = max(0, self.summary.pending - await self._give_up(db))
        return self.summary

    async def _message(
        self,
        db: Db,
        client: httpx.AsyncClient,
        rows: list[ChannelRow],
        stop: asyncio.Event | None,
        *,
        owner: str | None = None,
    ) -> int:
        """The parts of one message, in order, until one is not sent (``owner``: the
        claim held on them; an outcome it no longer holds is not written, and ends it).
        Returns how many parts it left pending."""
        from newsletter.delivery.channels.post import Posted, post

        for n, row in enumerate(rows):
            channel = self._channel(row)
            if channel is None:
                done = Posted("failed", row.attempts, "the channel is no longer in the configuration")
            else:
                done = await post(client, channel, row, retries=RETRIES, backoff=self.backoff, stop=stop)
            if not await db(_outcome, row.id, done, owner):
                log.warning("%s %s: claim lost (its lease ended): left to its new owner", row.email, row.channel)
                return 0
            if done.status == "sent":
                self.summary.sent += 1
                continue
            where = f"{row.email} {row.channel} ({row.part}/{row.parts})"
            log.warning("%s: %s%s", where, done.error, "" if done.status == "failed" else "; left for the next pass")
            if done.status == "failed":
                self.summary.failed += 1
                self.summary.failures.append((f"{row.email} {row.channel}", done.error or ""))
            return len(rows) - n - (done.status == "failed")
        return 0


def _outcome(ledger: Any, part_id: int, done: Posted, owner: str | None) -> bool:
    """The outcome written (False: a claimed part no longer held; nothing written)."""
    if owner is not None:
        held: bool = ledger.claimed_channel_outcome(part_id, owner, done.status, done.attempts, done.error)
        return held
    ledger.channel_outcome(part_id, done.status, done.attempts, done.error)
    return True
