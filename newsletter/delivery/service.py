"""The ``send`` pass: pick up digests, deliver, record (SPEC 6). Used by ``newsletter
send`` and by the daemon.

The stages live in their own modules: :mod:`~newsletter.delivery.pickup` (digest
files), :mod:`~newsletter.delivery.plan` (who gets which papers),
:mod:`newsletter.render.pool` (render workers), :mod:`~newsletter.delivery.commit`
(the group committer), :mod:`~newsletter.delivery.smtp` (the SMTP sessions); this
module is the pass that runs them in order (:class:`SendPass`).

One pass:

1. every subscriber of the configuration is registered in the ledger (one not
   seen before starts at the current digest horizon: papers of digests picked up
   from now on are new to it);
2. new digest files are picked up: files modified within ``settle_seconds`` and
   temporary or hidden names are left for later; each new content (by SHA-256)
   is recorded ``ok`` with its papers, or ``failed`` with the parse error, and
   the pass goes on with the rest;
3. pending deliveries of earlier runs (a crash, a server that was down) are sent
   FIRST, with their stored bytes: the same message, the same Message-ID; those
   pending for longer than ``smtp.queue_lifetime_hours`` are given up instead
   (``failed``, with why: :mod:`~newsletter.delivery.lifetime`), and so are those whose
   lifetime ran out while this pass tried them, at its end;
4. then each subscriber's delivery is computed: papers of the digests picked up
   since its previous pass (its ledger horizon), that match its profile and were
   never sent to it nor wait in one of its pending deliveries, best first, at
   most ``max_papers``; nothing matched and no ``send_empty``: no email, the
   horizon still advances. Deliveries are rendered (in worker processes for a
   large pass, see below) and recorded ``pending`` in small batches as the SMTP
   workers ask for them (memory stays bounded), sent, and each outcome is
   committed before the worker's next SMTP transaction.

Suppressed addresses (unsubscribed through the one-click endpoint or
``newsletter unsubscribe``, or paused; see :mod:`newsletter.web.unsubscribe`)
get nothing: they are left out of step 4 (their horizon still advances, so
nothing piles up for them), and a pending delivery to one of them is marked
``failed`` with the error ``unsubscribed`` instead of being re-sent. The
suppression list is read again before every batch, so a click during a long
pass stops the rest of it for that address.

Bounces (issue 14): a 5xx for the recipient at RCPT/DATA is recorded as a hard
bounce of the delivery (and suppresses the address per ``bounces``); :func:`run_send`
reads the bounce mailbox (:mod:`newsletter.bounces`) before the pass. With ``dkim``
set, :func:`render_job` signs the final bytes, so the ledger stores signed messages.

Subscribers with an own ``schedule``: ``send`` serves everybody (it is the
operator's explicit "deliver now"); the daemon passes ``subscribers=`` to serve
only those whose schedule fired; the others keep accumulating digests because
their horizon does not move.

The ledger is used from one thread at a time: in the async pass every ledger
call runs on a single-thread executor, so fsyncs never block the SMTP sessions.
Writes during delivery go through one group committer (:class:`~newsletter.delivery.commit.Committer`): the
outcomes of the SMTP transactions that finished while the previous commit ran,
and the batches of new deliveries to record ``pending``, share one transaction
and one fsync. A session awaits the commit of its own outcome before it starts
its next transaction; the producer awaits the commit of a batch before a
session can take any delivery of it. An outcome-only commit (the usual case) is
a single autocommit statement (see :meth:`Ledger.record`).

Rendering in worker processes. A pass with at least ``POOL_MIN`` (200) new
deliveries, and no ``renderer=`` given, renders in :func:`render_workers` worker
processes (the usable CPUs less one, at least one; :mod:`newsletter.render.pool`),
so that rendering uses another core while this process runs the SMTP sessions
and the ledger:

- the workers are fresh interpreters (nothing inherited: not the ledger
  connection, not the lock file, not the threads) started first thing, so they
  load while the pass picks up digests and plans;
  each builds ONE :class:`Renderer` from the pass's own :class:`Config` object
  (pickled, so it is the very configuration of the pass, not the file re-read);
- a batch (``RENDER_BATCH`` deliveries: subscriber, papers, Message-ID salt)
  comes back as (Message-ID, bytes, crlf) made by :func:`render_job`, the same
  function the in-process path calls: one render path;
- on a SQLite ledger the worker writes the bytes into the ledger's message spool
  (:mod:`newsletter.store.spool`) and answers where they are: the pass records that
  reference ``pending`` and reads the bytes back for the SMTP session, so a message
  crosses no pipe and never goes through the ledger's log; :meth:`SendPass.prepare`
  and :meth:`SendPass.finish` settle the spool (what is still pending moves into the
  ledger, the spool is deleted);
- ``options.early_workers``: workers ``send`` started before it read a big
  configuration (:mod:`newsletter.render.spawn`), taken by the pool;
- at most ``2 * workers + 1`` batches are in flight, so memory stays bounded
  whatever the number of subscribers;
- the parent records each batch ``pending`` only when it is about to hand it to
  the sessions, exactly as in-process rendering does: a crash loses nothing that
  was recorded and re-sends only what was pending;
- a worker ignores SIGINT (the parent shuts the pool down after its in-flight
  SMTP transactions) and ends quietly at the end of its input, i.e. as soon as
  its parent is gone (SIGKILL included); a worker that dies (``kill -9``) makes
  the pass render the rest in this process, with one warning line: the pass
  goes on and every subscriber is served.

Smaller passes, and callers that pass their own ``renderer`` (tests, the
benchmark's stub), render in this process in batches of ``BATCH``, yielding
to the SMTP sessions between renders.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from newsletter.base.addresses import Suppressions
from newsletter.bounces.verp import verp_address
from newsletter.config import Config, Subscriber, require_secrets
from newsletter.delivery.channels import ChannelStage
from newsletter.delivery.commit import Batch, Committer
from newsletter.delivery.lifetime import QueueLifetime
from newsletter.delivery.passtypes import (
    OnResult,
    PassOptions,
    Progress,
    Sender,
    SenderFactory,
    SendSummary,
    record_smtp_bounce,
)
from newsletter.delivery.pickup import PickUp, note_strays, pick_up_digests, preview_digests
from newsletter.delivery.plan import Planned, compute_deliveries
from newsletter.delivery.smtp import Outgoing, Result, SendStats, SmtpSender
from newsletter.matching.librarycache import cache_dir_of
from newsletter.render.dkim import signer_for
from newsletter.render.links.tokens import secret_for
from newsletter.render.pool import Job, Rendered, RenderPool, RenderWorkerError, render_job
from newsletter.render.spawn import render_workers
from newsletter.store import Ledger, NewDelivery, Outcome, iso
from newsletter.store.choose import open_ledger

__all__ = [
    "BATCH",
    "POOL_MIN",
    "RENDER_BATCH",
    "OnResult",
    "PassOptions",
    "PickUp",
    "Planned",
    "Progress",
    "SendPass",
    "SendSummary",
    "Sender",
    "SenderFactory",
    "compute_deliveries",
    "pick_up_digests",
    "preview_digests",
    "record_smtp_bounce",
    "render_workers",
    "run_send",
    "send_pass",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH = 32  # deliveries rendered and recorded pending per commit (rendering in this process)
RENDER_BATCH = 64  # deliveries per batch of a render worker
RENDER_RAMP = (8, 16, 32)  # ... after these first ones (sending starts sooner)
POOL_MIN = 200  # a pass with fewer deliveries renders in this process


class SendPass:
    """One pass (see the module doc). :meth:`run`:

    1. prepare: record the run, register the subscribers, pick up new digests, drop
       pending deliveries to suppressed addresses, plan everybody else's delivery
       (nothing to send: the horizon advances);
    2. resend pending deliveries of earlier passes, with their stored bytes;
    3. render new deliveries (in worker processes for a large pass) and record each
       batch ``pending`` as the SMTP sessions ask for it;
    4. on_result: each SMTP outcome committed before the session's next transaction;
    5. finish: the run recorded finished, or left unfinished for the next start.

    Every ledger call runs on ``executor``, one thread (see the module doc).
    """

    def __init__(self, config: Config, ledger: Ledger, options: PassOptions, executor: ThreadPoolExecutor) -> None:
        self.config = config
        self.ledger = ledger
        self.options = options
        self.executor = executor
        self.summary = SendSummary()
        self.committer = Committer(self._write)
        self.pool: RenderPool | None = None
        self.renderer = options.renderer
        self.run_id = 0
        self.upto = 0
        self.pending_ids: list[int] = []
        self.to_send: list[Planned] = []
        self.handed_out = False  # every delivery of the pass went to the sessions
        self.lost = 0  # pending deliveries failed because their spooled bytes are gone
        self.lifetime = QueueLifetime.of(config)
        self.given_up = 0  # pending deliveries failed because their queue lifetime ran out
        self._renders: deque[tuple[list[Job], asyncio.Future[Rendered] | None]] = deque()
        self._jobs: Iterator[list[Job]] = iter(())
        self._envelope = config.sender.mailbox.address
        self._verp = secret_for(config)[0] if config.bounces.verp else None
        self.channels = ChannelStage(config, backoff=options.backoff, renderer=options.renderer)  # issue 27

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(ledger, *args)`` on the ledger thread."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, self.ledger, *args)

    async def run(self) -> SendSummary:
        progress = self.options.progress
        try:
            await self.prepare()
            if progress is not None:
                progress.start(len(self.pending_ids) + len(self.to_send))
            stats = await self._sender().send_all(self.deliveries())
            posted = await self.channels.deliver(self.db, self.options.stop)  # chat channels, after the email
            self.summary.channel_sent, self.summary.channel_failed = posted.sent, posted.failed
            self.summary.channel_pending = posted.pending
            self.summary.failures.extend(posted.failures)
            await self.finish(stats)
        finally:
            if progress is not None:
                progress.finish()
            if self.pool is not None:
                await self.pool.aclose()
        return self.summary

    def _sender(self) -> Sender:
        return _sender_for(self.config, self.options, self.on_result)

    # ------------------------------------------------------------------ 1. prepare

    async def prepare(self) -> None:
        if self.renderer is None and len(self._serving()) >= POOL_MIN:
            spool = await self.db(lambda lg: lg.spool_dir())
            self.pool = RenderPool(self.config, render_workers(), spool=spool)
            await self.pool.start(self.options.early_workers)  # they load while we pick up digests and plan
        await self._settle_spool()  # a killed pass's spooled messages: into the ledger, to be re-sent
        if self.pool is not None and self.pool.spool is not None:
            self.pool.spool = _made(self.pool.spool)  # (the workers write into it once planning is done)
        await self._start_run()
        if self.options.pick_up:
            await self._pick_up()
        suppressions = await self._suppress()
        await self._give_up()  # past the queue lifetime: failed, not tried again
        serve = suppressions.filter(self._serving())
        self.pending_ids = await self.db(lambda lg: lg.pending_ids())
        self.summary.resent = len(self.pending_ids)
        self.upto = await self.db(lambda lg: lg.last_digest_id())
        await self.db(lambda lg: lg.plan_run(self.run_id, self.upto))
        await self._plan(serve, skipped=[s.email for s in self._serving() if suppressions.active(s.email)])
        if self.pool is not None and len(self.to_send) < POOL_MIN:
            await self.pool.aclose()  # a small pass: rendering here is quicker than feeding workers
            self.pool = None

    async def _settle_spool(self) -> None:
        """Spooled messages of deliveries still pending move into the ledger, the spool
        goes (:mod:`newsletter.store.spool`); one whose bytes are gone is failed and said."""
        for lost in await self.db(lambda lg: lg.settle_spool()):
            self.summary.failures.append((lost.email, lost.error))
            self.lost += 1

    async def _give_up(self) -> int:
        """Pending deliveries past the queue lifetime are failed and said (:mod:`~newsletter.delivery.lifetime`)."""
        given = await self.lifetime.give_up(self.db)
        self.summary.failures.extend(given)
        self.given_up += len(given)
        return len(given)

    def _serving(self) -> tuple[Subscriber, ...]:
        chosen = self.options.subscribers
        return tuple(self.config.subscribers if chosen is None else chosen)

    async def _start_run(self) -> None:
        resumes = self.options.resumes
        if resumes is None:
            unfinished = await self.db(lambda lg: lg.unfinished_runs()) if self.options.subscribers is None else []
            for run in unfinished:
                log.info("finishing the pass interrupted at %s", iso(run.started_at))
            resumes = [run.id for run in unfinished]
        chosen = self.options.subscribers
        serving = None if chosen is None else [s.email for s in chosen]
        self.run_id = await self.db(lambda lg: lg.start_run(serving, resumes))
        await self.db(lambda lg: lg.register_subscribers([s.email for s in self.config.subscribers]))

    async def _pick_up(self) -> None:
        config, paths = self.config, self.options.paths
        picked = await self.db(lambda lg: pick_up_digests(config, lg, paths=paths))
        if paths is None:  # the directory was scanned: files in it that are not digests, said once
            self.summary.ignored = [s.line() for s in await self.db(lambda lg: note_strays(config, lg))]
        self.summary.digests_ok, self.summary.digests_failed = len(picked.ok), len(picked.failed)
        self.summary.unsettled = len(picked.unsettled)
        self.summary.digest_errors = picked.failed
        self.summary.digest_partial = picked.partial
        for path in picked.unsettled:
            log.info("%s: modified within %s s, left for the next pass", path, config.digests.settle_seconds)

    async def _suppress(self) -> Suppressions:
        cancelled = await self.db(lambda lg: lg.cancel_suppressed())
        for _, email in cancelled:
            log.info("pending delivery to %s dropped: unsubscribed", email)
        self.summary.cancelled = len(cancelled)
        return await self.db(lambda lg: lg.suppressions())

    async def _plan(self, serve: Sequence[Subscriber], *, skipped: list[str]) -> None:
        upto = self.upto
        cache = cache_dir_of(self.config)
        planned = await self.db(lambda lg: list(compute_deliveries(lg, serve, upto=upto, library_cache=cache)))
        self.to_send = [p for p in planned if p.wanted]
        self.channels.plan([(p.subscriber, p.matches) for p in self.to_send])
        nothing = [p.subscriber.email for p in planned if not p.wanted]
        self.summary.nothing, self.summary.suppressed = len(nothing), len(skipped)
        if nothing or skipped:
            await self.db(lambda lg: lg.advance([*nothing, *skipped], upto))

    # ------------------------------------------------------------------ 2./3. deliveries

    async def deliveries(self) -> AsyncIterator[Outgoing]:
        """What the SMTP sessions send, in order: the pending ones, then the new ones."""
        async for item in self.resend_pending():
            yield item
        async for item in self.render_new():
            yield item

    async def resend_pending(self) -> AsyncIterator[Outgoing]:
        for start in range(0, len(self.pending_ids), BATCH):
            chunk = self.pending_ids[start : start + BATCH]
            for item in await self.db(lambda lg, ids: lg.pendings(ids), chunk):
                if self.channels.email_off(item.email):  # channels only: never mailed
                    await self.channels.skip_email(self.db, item.id)
                    continue
                log.info("re-sending pending delivery %s to %s", item.message_id, item.email)
                yield Outgoing(item.id, item.sender, item.email, item.message, item.message_id)

    async def render_new(self) -> AsyncIterator[Outgoing]:
        """Render batch after batch (a few ahead), record each ``pending``, hand it out."""
        stop = self.options.stop
        self._jobs = self._job_batches(await self.db(lambda lg: lg.delivery_counts_by_email()))
        try:
            self._submit()
            while self._renders:
                if stop is not None and stop.is_set():
                    return
                jobs, rendered = await self._next_rendered()
                self._said_fitted(jobs, rendered)
                crlf = {r.message_id for r in rendered if r.crlf}  # line breaks checked: CRLF
                batch = self.channels.attach(await self._still_wanted(jobs, rendered))  # with its chat parts
                if batch:
                    ids = await self.committer.add(batch, self.upto)  # deliveries and parts: one transaction
                    await self.channels.record(self.db, ids, batch)  # channel-only ones: sent
                    for key, new in zip(ids, batch, strict=True):
                        if not self.channels.email_off(new.email):
                            yield Outgoing(
                                key, new.sender, new.email, new.message, new.message_id, crlf=new.message_id in crlf
                            )
            self.handed_out = True
        finally:
            for _, future in self._renders:
                if future is not None:
                    future.cancel()

    def _said_fitted(self, jobs: list[Job], rendered: Rendered) -> None:
        """One INFO line per email whose HTML part was rendered again to fit Gmail's clip
        (not a warning: a subscriber with many papers has it every day; ``check`` and
        ``preview`` warn), and the addresses kept for ``send -v``."""
        for job, r in zip(jobs, rendered, strict=True):
            if r.fitted is not None:
                log.info("%s: %s", job.subscriber.email, r.fitted)
                self.summary.fitted.append((job.subscriber.email, r.fitted))

    def _job_batches(self, counts: dict[str, int]) -> Iterator[list[Job]]:
        """The deliveries to render in batches, each with its Message-ID salt (the
        subscriber's delivery number and the day). In workers the first batches are small
        (:data:`RENDER_RAMP`): a fresh worker renders its first emails cold, and the SMTP
        sessions start on the first few instead of waiting for a whole batch."""
        sizes = iter(RENDER_RAMP) if self.pool is not None else iter(())
        full = RENDER_BATCH if self.pool is not None else BATCH
        day = (self.options.today or date.today()).isoformat()
        start = 0
        while start < len(self.to_send):
            size = next(sizes, full)
            jobs = []
            for p in self.to_send[start : start + size]:
                seq = counts.get(p.subscriber.email, 0) + 1
                counts[p.subscriber.email] = seq
                jobs.append(Job(p.subscriber, p.matches, f"{seq}:{day}"))
            start += size
            yield jobs

    def _submit(self) -> None:
        """Keep up to ``2 * workers + 1`` batches rendering (memory stays bounded)."""
        ahead = 2 * self.pool.workers + 1 if self.pool is not None else 1
        while len(self._renders) < ahead and (jobs := next(self._jobs, None)) is not None:
            self._renders.append((jobs, self.pool.submit(jobs) if self.pool is not None else None))

    async def _next_rendered(self) -> tuple[list[Job], Rendered]:
        jobs, future = self._renders.popleft()
        self._submit()
        if future is not None:
            try:
                return jobs, await future
            except RenderWorkerError as exc:
                await self._render_here_from_now(exc)
        return jobs, await self._render_here(jobs)

    async def _render_here_from_now(self, exc: RenderWorkerError) -> None:
        """A worker died: the rest of the pass renders in this process."""
        if self.pool is None:
            return
        log.warning("%s: rendering the rest of the pass in this process", exc)
        waiting = list(self._renders)
        for _, future in waiting:
            if future is not None:
                future.cancel()
        self._renders = deque((jobs, None) for jobs, _ in waiting)
        closing, self.pool = self.pool, None
        await closing.aclose()

    async def _render_here(self, jobs: list[Job]) -> Rendered:
        if self.renderer is None:
            from newsletter.render import Renderer  # (a pass rendering in workers never loads it here)

            self.renderer = Renderer(self.config)
        out = []
        for job in jobs:
            out.append(render_job(self.renderer, job))
            await asyncio.sleep(0)  # let the SMTP sessions run between renders
        return out

    async def _still_wanted(self, jobs: list[Job], rendered: Rendered) -> list[NewDelivery]:
        """The batch as deliveries to record, less subscribers suppressed meanwhile (a
        click during the pass counts)."""
        suppressions = await self.db(lambda lg: lg.suppressions())
        batch: list[NewDelivery] = []
        for job, (message_id, data, _, spooled, _) in zip(jobs, rendered, strict=True):
            email = job.subscriber.email
            if suppressions.active(email):
                log.info("%s unsubscribed during the pass: skipped", email)
                self.summary.suppressed += 1
                continue
            # every identity of each paper (SPEC 2.4): sent under one, never again under another
            ids = tuple(k for m in job.matches for k in m.paper.keys)
            envelope = self._envelope if self._verp is None else verp_address(self._envelope, message_id, self._verp)
            batch.append(NewDelivery(email, message_id, ids, envelope, data, spooled=spooled))
        return batch

    # ------------------------------------------------------------------ 4. on_result

    async def on_result(self, result: Result) -> None:
        await self.committer.outcome(result)
        if result.bounce is not None:  # a 5xx for the recipient: counts toward suppression
            await self.db(record_smtp_bounce, self.config, result)
        if result.status == "failed":
            self.summary.failures.append((result.item.recipient, result.error or ""))
        if self.options.progress is not None:
            self.options.progress.advance(result)

    async def _write(self, batches: list[Batch], results: list[Result]) -> list[list[int]]:
        """The committer's one write: new batches and outcomes, one transaction."""
        outcomes = [Outcome(r.item.key, r.status, r.attempts, r.error or "") for r in results]
        return await self.db(lambda lg: lg.record(batches, outcomes))

    # ------------------------------------------------------------------ 5. finish

    async def finish(self, stats: SendStats) -> None:
        if self.pool is not None:  # its workers done: what stays pending moves into the ledger, the spool goes
            await self.pool.aclose()
            self.pool = None
        await self._settle_spool()
        ended = await self._give_up()  # tried in this pass and past the lifetime now
        summary = self.summary
        summary.sent, summary.failed = stats.sent, stats.failed + self.lost + self.given_up
        summary.pending = max(0, stats.pending - ended)
        summary.stopped = stats.stopped
        if stats.stopped:
            # what was never taken from the queue stays pending in the ledger too
            summary.pending = (await self.db(lambda lg: lg.delivery_counts()))["pending"]
        # unfinished (the next start finishes it): delivery stopped, or the stop came before
        # every delivery was handed out or while some still waited in the queue
        stop = self.options.stop
        stopping = stop is not None and stop.is_set()
        interrupted = bool(stats.stopped) or (stopping and (not self.handed_out or stats.pending > 0))
        await self.db(
            lambda lg: lg.finish_run(self.run_id, summary.sent, summary.failed, summary.pending, not interrupted)
        )
        await self.db(lambda lg: lg.checkpoint())


def _made(spool: Path) -> Path | None:
    """The spool directory made (None when it cannot be: the render workers' first write
    fails, and the pass renders in this process, its messages kept in the ledger)."""
    try:
        spool.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        log.warning("%s: cannot make the message spool (%s)", spool, exc.strerror or exc)
        return None
    return spool


async def send_pass(
    config: Config,
    ledger: Ledger,
    options: PassOptions = PassOptions(),
    *,
    executor: ThreadPoolExecutor | None = None,
) -> SendSummary:
    """One ``send`` pass (see the module doc and :class:`SendPass`). ``options``
    (:class:`PassOptions`): ``subscribers``: serve only these (default: all of the
    configuration); ``paths``: settled digest files to pick up (default: scan the
    directory); ``pick_up=False``: deliver without looking for new digests; ``stop``
    set (the daemon's shutdown): no new SMTP transaction starts, the ones in flight
    finish and are recorded, the rest stays pending (or unplanned) for the next pass.
    The caller holds the ledger lock.

    Pass state (SPEC 6, Resume): the pass is recorded in ``runs`` when it starts and
    marked finished only when it served everyone it set out to serve; a pass stopped
    (``stop``, an SMTP refusal that stops delivery) or killed stays unfinished, and
    the next start of ``send`` or ``run`` finishes it. ``resumes``: the unfinished
    runs this pass takes over (default: all of them when it serves everybody, as
    ``send`` does). ``executor``: the single thread the caller's ledger calls run on
    (the daemon's), so nobody else touches the connection during the pass.

    On a ledger shared by several senders (``state: postgresql://``) the pass is
    :class:`~newsletter.delivery.claimpass.ClaimPass` (planned once across hosts by
    ``options.schedule_key`` and ``options.fire_at``, deliveries claimed in batches);
    the SQLite pass is unchanged."""
    if executor is not None:
        return await _one_pass(config, ledger, options, executor)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger") as own:
        return await _one_pass(config, ledger, options, own)


async def _one_pass(config: Config, ledger: Ledger, options: PassOptions, executor: ThreadPoolExecutor) -> SendSummary:
    if config.ledger_url is None:
        return await SendPass(config, ledger, options, executor).run()
    from newsletter.delivery.claimpass import ClaimPass

    claims = ClaimPass(config, ledger, options, executor, SendSummary())
    try:
        queue = config.smtp.connections  # what is queued is claimed: little ahead of the sessions
        return await claims.run(_sender_for(config, options, claims.on_result, queue_size=queue))
    finally:
        if options.progress is not None:
            options.progress.finish()


def _sender_for(config: Config, options: PassOptions, on_result: OnResult, *, queue_size: int = 2 * BATCH) -> Sender:
    if options.sender is not None:
        return options.sender(on_result, options.stop)
    return SmtpSender(
        config.smtp, on_result=on_result, backoff=options.backoff, queue_size=queue_size, stop=options.stop
    )


def run_send(config: Config, options: PassOptions = PassOptions()) -> SendSummary:
    """:func:`send_pass` in its own event loop, on the configured ledger (for ``send``),
    after reading the bounce mailbox when ``bounces`` names one."""
    from newsletter.bounces import process_before_send  # (imported here: render workers never need it)

    require_secrets(config)  # never an empty password sent to the server (SPEC 3)
    signer_for(config)  # a DKIM key that does not parse: exit 2 before anything is recorded
    with open_ledger(config) as ledger:
        process_before_send(config, ledger)  # bounces and mailto unsubscribes count before we deliver
        return asyncio.run(_until_signalled(config, ledger, options))


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def _until_signalled(config: Config, ledger: Ledger, options: PassOptions) -> SendSummary:
    """The pass, stopped by SIGINT (Ctrl-C) or SIGTERM as the daemon is: no new SMTP
    transaction starts, the ones in flight finish and are recorded (so nobody gets an
    email twice for a reply the pass did not wait for), the pass stays unfinished and the
    next one serves whom it did not reach; ``summary.signal`` says which signal. A second
    one stops at once (the signal's own default: KeyboardInterrupt, or death). Outside
    the main thread, or with a ``stop`` of the caller's, the pass runs as it is."""
    if options.stop is not None or threading.current_thread() is not threading.main_thread():
        return await send_pass(config, ledger, options)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    caught: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def restore() -> None:  # the handlers from before the pass (asyncio would put the defaults back)
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
            if previous[sig] is not None:
                signal.signal(sig, previous[sig])

    def on_signal(signum: int) -> None:
        if caught:  # the second: no more waiting
            restore()
            signal.raise_signal(signum)
            return
        caught.append(signum)
        log.info("%s: stopping after the SMTP transactions in flight", signal.Signals(signum).name)
        stop.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        summary = await send_pass(config, ledger, replace(options, stop=stop))
    finally:
        restore()
    summary.signal = caught[0] if caught else None
    return summary
