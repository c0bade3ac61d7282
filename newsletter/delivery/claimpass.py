"""The ``send`` pass on a ledger shared by several senders (SPEC 6d, PostgreSQL): the
claim path. The single-machine pass (:class:`~newsletter.delivery.service.SendPass`
on SQLite) is untouched: one process holds the ledger's ``flock`` there, so it plans
and sends on its own; here any number of processes on any hosts work on one pass.

One pass (:class:`ClaimPass`):

1. the subscribers are registered, new digest files picked up (by SHA-256: a file
   dropped in one host's directory is recorded once, with its papers, in the ledger,
   so every host renders from the ledger), pending deliveries to suppressed addresses
   dropped;
2. the pass is planned ONCE across all processes
   (:meth:`~newsletter.store.claiming.ClaimLedger.plan_pass`, keyed by
   ``(schedule_key, fire_at)``): each subscriber's papers and Message-ID are fixed
   then (the same planning as the single-machine pass,
   :func:`~newsletter.delivery.plan.compute_deliveries`); no bytes are rendered at
   planning. ``send`` plans the key ``send`` with no fire time: it joins the ``send``
   pass planned in the last minute (database clock) while that is unfinished or
   nothing was picked up since (so ``send``s started together on several hosts
   share the work, whatever second they start at), else plans a new one; the
   daemon plans each schedule's fire at its minute (every host fires, one plans);
3. deliveries are claimed in batches of :data:`CLAIM_BATCH` (pending ones of this
   pass or an earlier one, and claims whose lease expired: taken over), rendered
   on the claiming host when nobody rendered them yet, and their bytes stored
   (fenced) before any SMTP transaction, so that a re-send by anyone is the
   identical message. The "why matched" of an email is recomputed at rendering from
   the configuration and the planned papers (``papers_by_id``): a paper that no longer
   matches (the profile changed since planning) is still in the email, without a reason;
4. no SMTP transaction starts on a claim after its local deadline (``lease -
   margin``, margin = ``smtp.timeout`` + up to 1 s); held claims are renewed every half
   lease; each outcome is recorded fenced through the group committer before the
   session's next transaction; a refused (stale) write is logged and counted; a 5xx
   is recorded as a bounce only when its outcome was accepted;
5. when nothing is claimable the pass waits for the earliest lease to end (or an
   outcome of its own) and claims again; it ends when the pass is finished
   (nothing pending or claimed by anyone);
6. chat channels (issue 27): a delivery's parts are recorded at planning with it
   (:func:`plan_for`); a ``send_email: false`` subscriber's claim is recorded sent
   without SMTP; after the emails, pending messages are claimed one at a time and
   posted (:meth:`~newsletter.delivery.channels.ChannelStage.deliver_claimed`).

A database that cannot be reached while recording (a host cut off) raises from the
committer: the sessions stop at once (at most one unrecorded message each), the
claims left are taken over by the other hosts when their lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from newsletter.base.addresses import address_key
from newsletter.bounces.verp import verp_address
from newsletter.config import Config, Subscriber
from newsletter.delivery.channels import ChannelStage
from newsletter.delivery.channels.compose import delivery_parts
from newsletter.delivery.commit import Batch, Committer
from newsletter.delivery.lifetime import QueueLifetime
from newsletter.delivery.passtypes import record_smtp_bounce
from newsletter.delivery.pickup import note_strays, pick_up_digests
from newsletter.delivery.plan import compute_deliveries
from newsletter.delivery.smtp import Outgoing, Result, SendStats
from newsletter.digest import Paper, unique_papers
from newsletter.matching import Match
from newsletter.matching.librarycache import cache_dir_of
from newsletter.matching.likes import like_state_of
from newsletter.matching.matcher import plan
from newsletter.render import Renderer
from newsletter.render.dkim import signer_for
from newsletter.render.links.tokens import secret_for
from newsletter.store import NewDelivery
from newsletter.store.claiming import Claim, FencedOutcome, PassPlan, PassRef, owner_id

if TYPE_CHECKING:
    from newsletter.delivery.passtypes import PassOptions, SendSummary

log = logging.getLogger(__name__)

CLAIM_BATCH = 32  # deliveries per claim at most (one statement, one commit); 2 per SMTP session
MAX_WAIT = 1.0  # seconds between looks at a pass that has nothing claimable but is not finished
SEND_KEY = "send"  # the schedule key of a manual `send`
NOT_SENT = "not sent:"  # the error of a message the SMTP sender never tried (its claim is left to expire)


def fire_minute(now: datetime | None = None) -> datetime:
    """The minute a fire belongs to, rounded to the nearest (hosts whose clocks differ by
    less than 30 s agree on it; cron fires on whole minutes)."""
    at = (now or datetime.now(UTC)).astimezone(UTC)
    return datetime.fromtimestamp(round(at.timestamp() / 60) * 60, UTC)


def margin_for(config: Config) -> float:
    """The self-fencing margin: longer than an SMTP transaction may take, shorter than
    the lease (the configuration makes sure ``lease_seconds > smtp.timeout``)."""
    lease, timeout = config.ledger.lease_seconds, config.smtp.timeout
    return timeout + min(1.0, (lease - timeout) / 2)


def plan_for(config: Config, serve: Sequence[Subscriber], skipped: Sequence[str], day: str) -> Any:
    """The ``plan_fn`` of a pass: who gets which papers (the single-machine planning),
    each with its Message-ID, envelope and chat message parts fixed now; no bytes."""
    renderer = Renderer(config)
    envelope = config.sender.mailbox.address
    verp = secret_for(config)[0] if config.bounces.verp else None

    def plan_fn(ledger: Any) -> PassPlan:
        when = datetime.now().astimezone()
        upto = ledger.last_digest_id()
        planned = list(compute_deliveries(ledger, serve, upto=upto, library_cache=cache_dir_of(config)))
        counts = ledger.delivery_counts_by_email()
        out: list[NewDelivery] = []
        for p in planned:
            if not p.wanted:
                continue
            seq = counts.get(p.subscriber.email, 0) + 1
            counts[p.subscriber.email] = seq
            message_id = renderer.message_id(p.subscriber, p.matches, salt=f"{seq}:{day}")
            ids = tuple(k for m in p.matches for k in m.paper.keys)
            sender = envelope if verp is None else verp_address(envelope, message_id, verp)
            parts = delivery_parts(renderer, p.subscriber, p.matches, when)  # recorded with it
            out.append(NewDelivery(p.subscriber.email, message_id, ids, sender, b"", parts))
        nothing = [p.subscriber.email for p in planned if not p.wanted]
        return PassPlan(out, upto, [*nothing, *skipped])

    return plan_fn


def _log_takeovers(claims: Sequence[Claim]) -> None:
    """One line per previous owner whose expired claims this batch took over."""
    taken: dict[str, int] = {}
    for c in claims:
        if c.takeover:
            taken[c.previous_owner or "?"] = taken.get(c.previous_owner or "?", 0) + 1
    for previous, n in taken.items():
        log.info("%d deliver%s taken over from %s (its lease expired)", n, "y" if n == 1 else "ies", previous)


def matches_for(sub: Subscriber, papers: Sequence[Paper], likes: Any) -> list[Match]:
    """The planned papers of ``sub`` as matches, best first, with why they matched; a
    paper that no longer matches (the profile changed since planning) comes last."""
    found = plan([sub], papers, likes=likes)[0][1] if papers else []
    seen = {id(m.paper) for m in found}
    rest = [Match(p, 0, (), len(found) + i) for i, p in enumerate(p for p in papers if id(p) not in seen)]
    return [*found, *rest]


class ClaimPass:
    """One pass on the claim path (see the module doc). ``ledger`` implements both
    :class:`~newsletter.store.Ledger` and :class:`~newsletter.store.claiming.ClaimLedger`."""

    def __init__(
        self, config: Config, ledger: Any, options: PassOptions, executor: ThreadPoolExecutor, summary: SendSummary
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.options = options
        self.executor = executor
        self.summary = summary
        self.owner = owner_id()
        self.lease = config.ledger.lease_seconds
        # claimed ahead of the sessions: a few per session, so that a slow relay does not
        # leave one sender sitting on claims the others could send
        self.batch = max(1, min(CLAIM_BATCH, 2 * config.smtp.connections))
        self.margin = margin_for(config)
        self.committer = Committer(self._write)
        self.renderer: Renderer | None = options.renderer
        self.pass_ref: PassRef | None = None
        self.held: dict[int, Claim] = {}  # live claims handed to the sessions, not yet recorded
        self.fences: dict[int, Claim] = {}  # every claim handed out, until its outcome is written
        self.refused: set[int] = set()
        self.progress = asyncio.Event()
        self.run_id = 0
        self.likes: Any = None
        self.channels = ChannelStage(config, backoff=options.backoff, renderer=options.renderer)  # issue 27
        self.lifetime = QueueLifetime.of(config)
        self.given_up = 0  # pending deliveries failed because their queue lifetime ran out

    async def db(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, self.ledger, *args)

    async def run(self, sender: Any) -> SendSummary:
        await self.prepare()
        renewer = asyncio.ensure_future(self._renew_forever())
        try:
            stats: SendStats = await sender.send_all(self.claimed())
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        posted = await self.channels.deliver_claimed(self.db, self.owner, self.options.stop)  # after the email
        self.summary.channel_sent, self.summary.channel_failed = posted.sent, posted.failed
        self.summary.channel_pending = posted.pending
        self.summary.failures.extend(posted.failures)
        await self.finish(stats)
        return self.summary

    # ------------------------------------------------------------------ 1./2. prepare and plan

    async def prepare(self) -> None:
        chosen = self.options.subscribers
        serving = None if chosen is None else [s.email for s in chosen]
        self.run_id = await self.db(lambda lg: lg.start_run(serving, ()))
        await self.db(lambda lg: lg.register_subscribers([s.email for s in self.config.subscribers]))
        if self.options.pick_up:
            await self._pick_up()
        cancelled = await self.db(lambda lg: lg.cancel_suppressed())
        for _, email in cancelled:
            log.info("pending delivery to %s dropped: unsubscribed", email)
        self.summary.cancelled = len(cancelled)
        await self._give_up()  # past the queue lifetime: failed, not claimed again
        suppressions = await self.db(lambda lg: lg.suppressions())
        everyone = tuple(self.config.subscribers if chosen is None else chosen)
        serve = suppressions.filter(everyone)
        skipped = [s.email for s in everyone if suppressions.active(s.email)]
        day = (self.options.today or datetime.now(UTC).date()).isoformat()
        plan_fn = plan_for(self.config, serve, skipped, day)
        key = self.options.schedule_key or SEND_KEY
        fire_at = self.options.fire_at  # None: a manual `send` (joins one planned in the last minute)
        ref: PassRef = await self.db(lambda lg: lg.plan_pass(key, fire_at, plan_fn, owner=self.owner))
        self.pass_ref = ref
        if ref.planned_here:
            log.info("pass %s at %s planned here: %d deliveries", key, ref.fire_at.isoformat(), ref.deliveries)
            self.summary.suppressed = len(skipped)
            self.summary.nothing = len(serve) - ref.deliveries
        else:
            log.info("pass %s at %s planned by %s: joining it", key, ref.fire_at.isoformat(), ref.planned_by)
        if self.options.progress is not None:
            self.options.progress.start(ref.deliveries if ref.planned_here else 0)

    async def _give_up(self) -> int:
        """Pending deliveries past the queue lifetime are failed and said (:mod:`~newsletter.delivery.lifetime`)."""
        given = await self.lifetime.give_up(self.db)
        self.summary.failures.extend(given)
        self.given_up += len(given)
        return len(given)

    async def _pick_up(self) -> None:
        config, paths = self.config, self.options.paths
        picked = await self.db(lambda lg: pick_up_digests(config, lg, paths=paths))
        if paths is None:
            self.summary.ignored = [s.line() for s in await self.db(lambda lg: note_strays(config, lg))]
        self.summary.digests_ok, self.summary.digests_failed = len(picked.ok), len(picked.failed)
        self.summary.unsettled = len(picked.unsettled)
        self.summary.digest_errors = picked.failed
        self.summary.digest_partial = picked.partial

    # ------------------------------------------------------------------ 3. claim, render

    async def claimed(self) -> AsyncIterator[Outgoing]:
        """What the SMTP sessions send: batch after batch of claims, until the pass is
        finished (or the stop is set)."""
        assert self.pass_ref is not None
        pass_id, stop = self.pass_ref.id, self.options.stop
        while stop is None or not stop.is_set():
            claims: list[Claim] = await self.db(lambda lg: lg.claim(pass_id, self.owner, self.batch, self.lease))
            if not claims:
                if await self.db(lambda lg: lg.pass_finished(pass_id)):
                    return
                await self._wait(await self.db(lambda lg: lg.claim_wait(pass_id)))
                continue
            for item in await self._ready(claims):
                yield item

    async def _wait(self, wait: float | None) -> None:
        """Until an outcome of ours is recorded, the earliest lease ends, or MAX_WAIT."""
        self.progress.clear()
        timeout = MAX_WAIT if wait is None else min(MAX_WAIT, wait + 0.05)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.progress.wait(), timeout)

    async def _ready(self, claims: list[Claim]) -> list[Outgoing]:
        """The claims as messages: suppressed addresses recorded failed, the others
        rendered when needed and their bytes stored (fenced) before SMTP."""
        live = await self._channels_only(await self._drop_suppressed(claims))
        _log_takeovers(live)
        ready = [(c, c.message) for c in live if c.message is not None]
        ready += await self._attach(await self._render([c for c in live if c.message is None]))
        out = []
        for c, data in sorted(ready, key=lambda x: x[0].id):
            self.held[c.id] = self.fences[c.id] = c
            out.append(Outgoing(c.id, c.sender, c.email, data, c.message_id, expired=self._expiry(c.id)))
        return out

    async def _drop_suppressed(self, claims: list[Claim]) -> list[Claim]:
        """Claims to addresses suppressed meanwhile are recorded failed ``unsubscribed``."""
        suppressions = await self.db(lambda lg: lg.suppressions())
        dropped = [c for c in claims if suppressions.active(c.email)]
        if dropped:
            for c in dropped:
                log.info("%s unsubscribed: its delivery is dropped", c.email)
            outcomes = [FencedOutcome.of(c, "failed", 0, "unsubscribed") for c in dropped]
            await self.db(lambda lg: lg.record_claimed(self._pass_id, self.owner, outcomes))
            self.summary.cancelled += len(dropped)
        return [c for c in claims if not suppressions.active(c.email)]

    async def _channels_only(self, claims: list[Claim]) -> list[Claim]:
        """Claims of ``send_email: false`` subscribers are recorded sent without SMTP
        (their chat parts are posted after the pass's emails); the others are returned."""
        only = [c for c in claims if self.channels.email_off(c.email)]
        if only:
            outcomes = [FencedOutcome.of(c, "sent", 0, "") for c in only]
            await self.db(lambda lg: lg.record_claimed(self._pass_id, self.owner, outcomes))
        return [c for c in claims if not self.channels.email_off(c.email)]

    async def _attach(self, fresh: list[tuple[Claim, bytes]]) -> list[tuple[Claim, bytes]]:
        """Store the rendered bytes (fenced); those whose claim was lost meanwhile are dropped."""
        if not fresh:
            return []
        done = await self.db(lambda lg: lg.attach_messages(fresh))
        for r in done.refused:
            log.warning("delivery %s: claim lost before sending (fence %s): left to its new owner", r.id, r.fence)
        kept = set(done.accepted)
        return [(c, data) for c, data in fresh if c.id in kept]

    @property
    def _pass_id(self) -> int:
        assert self.pass_ref is not None
        return self.pass_ref.id

    def _expiry(self, key: int) -> Any:
        def expired() -> bool:
            claim = self.held.get(key)
            return claim is None or time.monotonic() >= claim.deadline(self.margin)

        return expired

    async def _render(self, claims: list[Claim]) -> list[tuple[Claim, bytes]]:
        """Render claims nobody rendered yet (in this process, between SMTP work)."""
        known = await self._drop_unknown(claims)
        if not known:
            return []
        subs = {address_key(s.email): s for s in self.config.subscribers}
        ids = {k for c in known for k in c.paper_ids}
        papers = await self.db(lambda lg: lg.papers_by_id(ids))
        if self.likes is None:  # the ledger's feedback and the libraries, read once a pass
            everyone = list(self.config.subscribers)
            cache = cache_dir_of(self.config)
            self.likes = await self.db(lambda lg: like_state_of(lg, everyone, cache=cache))
        if self.renderer is None:
            self.renderer = Renderer(self.config)
        signer = signer_for(self.config)
        out: list[tuple[Claim, bytes]] = []
        for c in known:
            sub = subs[address_key(c.email)]
            mine = unique_papers(papers[k] for k in c.paper_ids if k in papers)
            data = self.renderer.render(sub, matches_for(sub, mine, self.likes), message_id=c.message_id).as_bytes()
            out.append((c, data if signer is None else signer.sign(data)))
            await asyncio.sleep(0)  # the SMTP sessions run between renders
        return out

    async def _drop_unknown(self, claims: list[Claim]) -> list[Claim]:
        """Claims to an address no longer in the configuration (removed since planning)
        are recorded failed, so that the pass can finish; the others are returned."""
        keys = {address_key(s.email) for s in self.config.subscribers}
        unknown = [c for c in claims if address_key(c.email) not in keys]
        if unknown:
            for c in unknown:
                log.warning("%s: no longer in the configuration: its delivery is dropped", c.email)
            outcomes = [FencedOutcome.of(c, "failed", 0, "no longer subscribed") for c in unknown]
            await self.db(lambda lg: lg.record_claimed(self._pass_id, self.owner, outcomes))
        return [c for c in claims if address_key(c.email) in keys]

    # ------------------------------------------------------------------ 4. leases, outcomes

    async def _renew_forever(self) -> None:
        """Every half lease (or sooner, so the deadline is never reached): renew held claims."""
        every = min(self.lease / 2, (self.lease - self.margin) / 2)
        while True:
            await asyncio.sleep(every)
            claims = list(self.held.values())
            if not claims:
                continue
            renewal = await self.db(lambda lg, held: lg.renew(held), claims)
            for c in renewal.renewed:
                if c.id in self.held:
                    self.held[c.id] = c
            for c in renewal.lost:
                if self.held.pop(c.id, None) is not None:
                    log.warning("delivery %s to %s: claim lost (taken over): not sending it", c.id, c.email)

    async def on_result(self, result: Result) -> None:
        key = result.item.key
        if result.status == "pending" and (result.error or "").startswith(NOT_SENT):
            # never tried (claim expired, shutting down, delivery stopped): left claimed, so
            # another sender takes it over in THIS pass once its lease ends
            self.held.pop(key, None)
            self.fences.pop(key, None)
            return
        await self.committer.outcome(result)
        self.progress.set()
        if key in self.refused:
            return
        if result.bounce is not None:
            await self.db(record_smtp_bounce, self.config, result)
        if result.status == "failed":
            self.summary.failures.append((result.item.recipient, result.error or ""))
        if self.options.progress is not None:
            self.options.progress.advance(result)

    async def _write(self, batches: list[Batch], results: list[Result]) -> list[list[int]]:
        """The committer's one write: the fenced outcomes, one transaction."""
        outcomes = []
        for r in results:
            self.held.pop(r.item.key, None)
            claim = self.fences.pop(r.item.key)  # even a claim known lost: the write is refused, and counted
            outcomes.append(FencedOutcome.of(claim, r.status, r.attempts, r.error or ""))
        recorded = await self.db(lambda lg: lg.record_claimed(self._pass_id, self.owner, outcomes))
        for refused in recorded.refused:
            self.refused.add(refused.id)
            log.warning(
                "delivery %s: late write refused (fence %s; now %s by %s, fence %s)",
                refused.id,
                refused.fence,
                refused.status,
                refused.owner,
                refused.current_fence,
            )
        return [[] for _ in batches]

    # ------------------------------------------------------------------ 5. finish

    async def finish(self, stats: SendStats) -> None:
        ended = await self._give_up()  # tried in this pass and past the lifetime now
        summary = self.summary
        summary.sent, summary.failed = stats.sent, stats.failed + self.given_up
        summary.pending = max(0, stats.pending - ended)
        summary.sent -= len(self.refused)  # their outcome is the new owner's
        summary.stopped = stats.stopped
        await self.db(
            lambda lg: lg.finish_run(self.run_id, summary.sent, summary.failed, summary.pending, not stats.stopped)
        )
