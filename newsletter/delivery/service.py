"""The ``send`` pass: pick up digests, deliver, record (SPEC 6). Used by ``newsletter
send`` and by the daemon.

One pass:

1. every subscriber of the configuration is registered in the ledger (one not
   seen before starts at the current digest horizon: papers of digests picked up
   from now on are new to it);
2. new digest files are picked up: files modified within ``settle_seconds`` and
   temporary or hidden names are left for later; each new content (by SHA-256)
   is recorded ``ok`` with its papers, or ``failed`` with the parse error, and
   the pass goes on with the rest;
3. pending deliveries of earlier runs (a crash, a server that was down) are sent
   FIRST, with their stored bytes: the same message, the same Message-ID;
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
Writes during delivery go through one group committer (:class:`_Committer`): the
outcomes of the SMTP transactions that finished while the previous commit ran,
and the batches of new deliveries to record ``pending``, share one transaction
and one fsync. A session awaits the commit of its own outcome before it starts
its next transaction; the producer awaits the commit of a batch before a
session can take any delivery of it. An outcome-only commit (the usual case) is
a single autocommit statement (see :meth:`Ledger.commit`).

Rendering in worker processes. A pass with at least ``POOL_MIN`` (200) new
deliveries, and no ``renderer=`` given, renders in :func:`render_workers` worker
processes (the usable CPUs less one, at least one; :mod:`newsletter.delivery.render_pool`),
so that rendering uses another core while this process runs the SMTP sessions
and the ledger:

- the workers are fresh interpreters (nothing inherited: not the ledger
  connection, not the lock file, not the threads) started while the pass plans;
  each builds ONE :class:`Renderer` from the pass's own :class:`Config` object
  (pickled, so it is the very configuration of the pass, not the file re-read);
- a batch (``RENDER_BATCH`` deliveries: subscriber, papers, Message-ID salt)
  comes back as (Message-ID, bytes) made by :func:`render_job`, the same
  function the in-process path calls: one render path;
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

Smaller passes, and callers that pass their own ``renderer`` (the daemon, tests,
the benchmark's stub), render in this process in batches of ``BATCH``, yielding
to the SMTP sessions between renders.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from newsletter.bounces.verp import verp_address
from newsletter.config import Config, Subscriber, fetched_file, require_secrets
from newsletter.delivery.ledger import Ledger, NewDelivery, iso, suppression_key
from newsletter.delivery.render_pool import Job, RenderPool, RenderWorkerError, render_job
from newsletter.delivery.smtp import Outgoing, Result, SmtpSender, enhanced_status
from newsletter.digest import Paper, parse_digest, unique_papers
from newsletter.digest.guard import file_sha256, one_line, read_limited
from newsletter.dkim import signer_for
from newsletter.errors import DigestParseError
from newsletter.matching import Match
from newsletter.pipeline import digest_files, like_state_of, plan
from newsletter.render import Renderer
from newsletter.unsubscribe import secret_for

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH = 32  # deliveries rendered and recorded pending per commit (rendering in this process)
RENDER_BATCH = 64  # deliveries per batch of a render worker
POOL_MIN = 200  # a pass with fewer deliveries renders in this process
MAX_RENDER_WORKERS = 4


class Progress(Protocol):
    """What a pass reports while it sends (the CLI shows a bar or log lines)."""

    def start(self, total: int) -> None: ...

    def advance(self, result: Result) -> None: ...

    def finish(self) -> None: ...


@dataclass
class PickUp:
    """Digest files of one pass: recorded ok, recorded failed, not settled yet."""

    ok: list[tuple[str, int]] = field(default_factory=list)  # (path, papers)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, error)
    unsettled: list[str] = field(default_factory=list)


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

    @property
    def exit_code(self) -> int:
        return 1 if (self.failed or self.pending or self.digests_failed or self.stopped) else 0


@dataclass(frozen=True, slots=True)
class Planned:
    """A subscriber's delivery as computed (not rendered)."""

    subscriber: Subscriber
    matches: list[Match]


# --------------------------------------------------------------------------- pick-up


def pick_up_digests(
    config: Config, ledger: Ledger, *, now: float | None = None, paths: Sequence[Path] | None = None
) -> PickUp:
    """Record every new, settled digest file (``paths``: the daemon's own list of
    settled files; default: the directory, skipping files modified within
    ``settle_seconds``)."""
    clock = time.time() if now is None else now
    out = PickUp()
    settle = config.digests.settle_seconds
    for path in digest_files(config) if paths is None else paths:
        try:
            st = path.stat()
            if paths is None and clock - st.st_mtime < settle and not fetched_file(path):  # fetched: renamed in whole
                out.unsettled.append(str(path))
                continue
            data = read_limited(path)
        except DigestParseError as exc:  # too large: recorded failed (by the hash of all of it), never read
            try:
                sha = file_sha256(path)
            except OSError:
                continue
            if not ledger.has_digest(sha):
                _record_failed(ledger, out, path, sha, exc)
            continue
        except OSError as exc:
            log.warning("%s: cannot read: %s", one_line(str(path)), exc.strerror or exc)
            continue
        sha = hashlib.sha256(data).hexdigest()
        if ledger.has_digest(sha):
            continue
        try:
            digest = parse_digest(
                data, source=str(path), fmt=config.digests.format, reference=datetime.fromtimestamp(st.st_mtime).date()
            )
        except DigestParseError as exc:  # whatever the file holds (SPEC 6: poison digests)
            _record_failed(ledger, out, path, sha, exc)
            continue
        ledger.record_digest(path=str(path), sha256=sha, papers=digest.papers)
        out.ok.append((str(path), len(digest.papers)))
        log.info("digest picked up: %s (%d papers)", path, len(digest.papers))
    return out


def _record_failed(ledger: Ledger, out: PickUp, path: Path, sha: str, exc: DigestParseError) -> None:
    """A digest that cannot be parsed: recorded ``failed`` with its error, once (by its
    content hash); one log line."""
    error = one_line(str(exc), 500)
    ledger.record_digest(path=str(path), sha256=sha, error=error)
    out.failed.append((str(path), error))
    log.error("digest failed: %s", error)


def preview_digests(config: Config, ledger: Ledger | None, *, now: float | None = None) -> tuple[list[Paper], PickUp]:
    """What :func:`pick_up_digests` would record, without recording: the papers of
    the new, settled, parseable files (for ``--dry-run``)."""
    clock = time.time() if now is None else now
    out = PickUp()
    papers: list[Paper] = []
    for path in digest_files(config):
        try:
            st = path.stat()
            if clock - st.st_mtime < config.digests.settle_seconds and not fetched_file(path):
                out.unsettled.append(str(path))
                continue
            data = read_limited(path)
        except DigestParseError as exc:
            out.failed.append((str(path), one_line(str(exc), 500)))
            continue
        except OSError:
            continue
        if ledger is not None and ledger.has_digest(hashlib.sha256(data).hexdigest()):
            continue
        try:
            digest = parse_digest(
                data, source=str(path), fmt=config.digests.format, reference=datetime.fromtimestamp(st.st_mtime).date()
            )
        except DigestParseError as exc:
            out.failed.append((str(path), str(exc)))
            continue
        papers.extend(digest.papers)
        out.ok.append((str(path), len(digest.papers)))
    return papers, out


# --------------------------------------------------------------------------- planning


def compute_deliveries(
    ledger: Ledger, subscribers: Sequence[Subscriber], *, upto: int, extra: Sequence[Paper] = ()
) -> Iterator[Planned]:
    """Each subscriber's delivery per SPEC 6, grouped by ledger horizon so that the
    papers are indexed once per group. ``extra``: papers of digests not yet
    recorded (dry run), new to everybody. Subscribers unknown to the ledger count
    as appearing now (horizon ``upto``)."""
    horizons = ledger.horizons(s.email for s in subscribers)
    groups: dict[int, list[Subscriber]] = {}
    for sub in subscribers:
        groups.setdefault(horizons.get(sub.email, upto), []).append(sub)
    order = {s.email: i for i, s in enumerate(subscribers)}
    planned: list[Planned] = []
    likes = like_state_of(ledger, subscribers)  # issue 17: the ledger's papers and feedback
    for horizon, members in groups.items():
        papers = unique_papers([*ledger.papers_after(horizon, upto), *extra])
        excluded = ledger.excluded_papers(s.email for s in members)
        for sub, matches in plan(members, papers, already_sent=excluded, likes=likes):
            planned.append(Planned(sub, matches))
    planned.sort(key=lambda p: order[p.subscriber.email])
    yield from planned


# --------------------------------------------------------------------------- the pass


class _Committer:
    """Group commit on the ledger thread: SMTP outcomes (a worker awaits its own
    outcome's commit before its next transaction) and batches of new deliveries to
    record ``pending`` (the producer awaits their ids before handing them to the
    sessions). Whatever arrives while a commit runs goes together in the next
    one: one transaction, one fsync, for all of it."""

    def __init__(self, run: Callable[..., Any]) -> None:
        self.run = run
        self.waiting: list[tuple[Result, asyncio.Future[None]]] = []
        self.batches: list[tuple[list[NewDelivery], int, asyncio.Future[list[int]]]] = []
        self.busy = False
        self.task: asyncio.Task[None] | None = None

    async def record(self, result: Result) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append((result, fut))
        self._kick()
        await fut

    async def add(self, batch: list[NewDelivery], horizon: int) -> list[int]:
        fut: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self.batches.append((batch, horizon, fut))
        self._kick()
        return await fut

    def _kick(self) -> None:
        if not self.busy:
            self.busy = True
            self.task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            while self.waiting or self.batches:
                results, self.waiting = self.waiting, []
                batches, self.batches = self.batches, []
                sent = [(r.item.key, r.attempts) for r, _ in results if r.status == "sent"]
                unsent = [(r.item.key, r.status, r.attempts, r.error or "") for r, _ in results if r.status != "sent"]
                futures: list[asyncio.Future[Any]] = [f for _, f in results] + [f for *_, f in batches]
                try:
                    keys = await self.run(Ledger.commit, [(b, h) for b, h, _ in batches], sent, unsent)
                except BaseException as exc:
                    for fut in futures:
                        if not fut.done():
                            fut.set_exception(exc)
                    if isinstance(exc, Exception):
                        return  # handed to every waiter: nobody else needs it
                    raise
                for _, fut in results:
                    if not fut.done():
                        fut.set_result(None)
                for (*_, bfut), ids in zip(batches, keys, strict=True):
                    if not bfut.done():
                        bfut.set_result(ids)
        finally:
            self.busy = False


# --------------------------------------------------------------------------- rendering


_Job = Job  # the name the rest of this module (and older callers) use


def render_workers() -> int:
    """Render worker processes for a large pass: the CPUs this process may use, less
    the one the SMTP sessions and the ledger need, at least one."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus - 1, MAX_RENDER_WORKERS))


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
        hard_limit=config.bounces.hard,
        soft_limit=config.bounces.soft,
    )
    if reason:
        log.warning("%s: suppressed after %s (%s)", result.item.recipient, reason, error)


def sender_address(config: Config) -> str:
    return config.sender.mailbox.address


async def send_pass(  # noqa: C901  (split into stages by issue 16 item 1, another branch)
    config: Config,
    ledger: Ledger,
    *,
    subscribers: Sequence[Subscriber] | None = None,
    paths: Sequence[Path] | None = None,
    pick_up: bool = True,
    progress: Progress | None = None,
    renderer: Renderer | None = None,
    backoff: float = 1.0,
    today: date | None = None,
    stop: asyncio.Event | None = None,
    resumes: Sequence[int] | None = None,
    executor: ThreadPoolExecutor | None = None,
) -> SendSummary:
    """One ``send`` pass (see the module doc). ``subscribers``: serve only these
    (default: all of the configuration); ``paths``: settled digest files to pick
    up (default: scan the directory); ``pick_up=False``: deliver without
    looking for new digests; ``stop`` set (the daemon's shutdown): no new SMTP
    transaction starts, the ones in flight finish and are recorded, the rest stays
    pending (or unplanned) for the next pass. The caller holds the ledger lock.

    Pass state (SPEC 6, Resume): the pass is recorded in ``runs`` when it starts and
    marked finished only when it served everyone it set out to serve; a pass stopped
    (``stop``, an SMTP refusal that stops delivery) or killed stays unfinished, and
    the next start of ``send`` or ``run`` finishes it. ``resumes``: the unfinished
    runs this pass takes over (default: all of them when it serves everybody, as
    ``send`` does). ``executor``: the single thread the caller's ledger calls run on
    (the daemon's), so nobody else touches the connection during the pass."""
    loop = asyncio.get_running_loop()
    own_executor = executor is None
    if executor is None:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
    ledger_thread = executor
    pool: RenderPool | None = None

    async def db(fn: Callable[..., T], *args: Any) -> T:
        return await loop.run_in_executor(ledger_thread, fn, ledger, *args)

    summary = SendSummary()
    try:
        if resumes is None:
            unfinished = await db(Ledger.unfinished_runs) if subscribers is None else []
            for run in unfinished:
                log.info("finishing the pass interrupted at %s", iso(run.started_at))
            resumes = [run.id for run in unfinished]
        serving = None if subscribers is None else [s.email for s in subscribers]
        run_id = await db(Ledger.start_run, serving, resumes)
        serve = tuple(config.subscribers if subscribers is None else subscribers)
        await db(Ledger.register_subscribers, [s.email for s in config.subscribers])
        if pick_up:
            picked = await db(lambda lg: pick_up_digests(config, lg, paths=paths))
            summary.digests_ok, summary.digests_failed = len(picked.ok), len(picked.failed)
            summary.unsettled = len(picked.unsettled)
            summary.digest_errors = picked.failed
            for path in picked.unsettled:
                log.info("%s: modified within %s s, left for the next pass", path, config.digests.settle_seconds)
        cancelled = await db(Ledger.cancel_suppressed)
        for _, email in cancelled:
            log.info("pending delivery to %s dropped: unsubscribed", email)
        summary.cancelled = len(cancelled)
        suppressed = await db(Ledger.suppressed)
        skipped = [s.email for s in serve if suppression_key(s.email) in suppressed]
        serve = tuple(s for s in serve if suppression_key(s.email) not in suppressed)
        summary.suppressed = len(skipped)
        if renderer is None and len(serve) >= POOL_MIN:
            pool = RenderPool(config, render_workers())
            await pool.start()  # the workers load while we plan
        pending_ids = await db(Ledger.pending_ids)
        upto = await db(Ledger.last_digest_id)
        await db(Ledger.plan_run, run_id, upto)
        planned = await db(lambda lg: list(compute_deliveries(lg, serve, upto=upto)))
        to_send = [p for p in planned if p.matches or p.subscriber.send_empty]
        nothing = [p.subscriber.email for p in planned if not (p.matches or p.subscriber.send_empty)]
        del planned
        summary.nothing = len(nothing)
        if nothing or skipped:
            await db(Ledger.advance, [*nothing, *skipped], upto)
        if pool is not None and len(to_send) < POOL_MIN:
            await pool.aclose()  # a small pass: rendering here is quicker than feeding workers
            pool = None
        summary.resent = len(pending_ids)
        if progress is not None:
            progress.start(len(pending_ids) + len(to_send))
        local: list[Renderer] = [renderer] if renderer is not None else []
        counts = await db(Ledger.delivery_counts_by_email)
        envelope_from = sender_address(config)
        verp_secret = secret_for(config)[0] if config.bounces.verp else None
        day = (today or date.today()).isoformat()
        committer = _Committer(db)

        def local_renderer() -> Renderer:
            if not local:
                local.append(Renderer(config))
            return local[0]

        async def render_here(jobs: list[_Job]) -> list[tuple[str, bytes]]:
            here = local_renderer()
            out = []
            for job in jobs:
                out.append(render_job(here, job))
                await asyncio.sleep(0)  # let the SMTP sessions run between renders
            return out

        produced: list[bool] = []

        async def produce() -> AsyncIterator[Outgoing]:  # noqa: C901  (goes with send_pass, above)
            nonlocal pool
            for start in range(0, len(pending_ids), BATCH):
                for item in await db(Ledger.pendings, pending_ids[start : start + BATCH]):
                    log.info("re-sending pending delivery %s to %s", item.message_id, item.email)
                    yield Outgoing(item.id, item.sender, item.email, item.message, item.message_id)
            size = RENDER_BATCH if pool is not None else BATCH
            ahead = 2 * pool.workers + 1 if pool is not None else 1
            starts = iter(range(0, len(to_send), size))
            renders: deque[tuple[list[_Job], asyncio.Future[list[tuple[str, bytes]]] | None]] = deque()

            def submit() -> None:
                """Keep up to ``ahead`` batches rendering (memory stays bounded)."""
                while len(renders) < ahead and (start := next(starts, None)) is not None:
                    jobs = []
                    for p in to_send[start : start + size]:
                        seq = counts.get(p.subscriber.email, 0) + 1
                        counts[p.subscriber.email] = seq
                        jobs.append(_Job(p.subscriber, p.matches, f"{seq}:{day}"))
                    renders.append((jobs, pool.submit(jobs) if pool is not None else None))

            try:
                submit()
                while renders:
                    if stop is not None and stop.is_set():
                        return
                    jobs, future = renders.popleft()
                    submit()
                    if future is None:
                        rendered = await render_here(jobs)
                    else:
                        try:
                            rendered = await future
                        except RenderWorkerError as exc:
                            if pool is not None:
                                log.warning("%s: rendering the rest of the pass in this process", exc)
                                for _, waiting in renders:
                                    if waiting is not None:
                                        waiting.cancel()
                                waiting_jobs = [batch for batch, _ in renders]
                                renders.clear()
                                renders.extend((batch, None) for batch in waiting_jobs)
                                closing, pool = pool, None
                                await closing.aclose()
                            rendered = await render_here(jobs)
                    now_suppressed = await db(Ledger.suppressed)  # a click during the pass counts
                    batch: list[NewDelivery] = []
                    for job, (message_id, data) in zip(jobs, rendered, strict=True):
                        sub = job.subscriber
                        if suppression_key(sub.email) in now_suppressed:
                            log.info("%s unsubscribed during the pass: skipped", sub.email)
                            summary.suppressed += 1
                            continue
                        # every identity of each paper (SPEC 2.4): sent under one, never again under another
                        ids = tuple(k for m in job.matches for k in m.paper.keys)
                        envelope = (
                            envelope_from
                            if verp_secret is None
                            else verp_address(envelope_from, message_id, verp_secret)
                        )
                        batch.append(NewDelivery(sub.email, message_id, ids, envelope, data))
                    if not batch:
                        continue
                    keys = await committer.add(batch, upto)
                    for key, new in zip(keys, batch, strict=True):
                        yield Outgoing(key, new.sender, new.email, new.message, new.message_id)
                produced.append(True)  # every delivery of the pass was handed to the sessions
            finally:
                for _, future in renders:
                    if future is not None:
                        future.cancel()

        async def on_result(result: Result) -> None:
            await committer.record(result)
            if result.bounce is not None:  # a 5xx for the recipient: counts toward suppression
                await db(record_smtp_bounce, config, result)
            if result.status == "failed":
                summary.failures.append((result.item.recipient, result.error or ""))
            if progress is not None:
                progress.advance(result)

        sender = SmtpSender(config.smtp, on_result=on_result, backoff=backoff, queue_size=2 * BATCH, stop=stop)
        stats = await sender.send_all(produce())
        summary.sent, summary.failed, summary.pending = stats.sent, stats.failed, stats.pending
        summary.stopped = stats.stopped
        if stats.stopped:
            # what was never taken from the queue stays pending in the ledger too
            left = await db(Ledger.delivery_counts)
            summary.pending = left["pending"]
        # unfinished (the next start finishes it): delivery stopped, or the stop came before
        # every delivery was handed out or while some still waited in the queue
        stopping = stop is not None and stop.is_set()
        interrupted = bool(stats.stopped) or (stopping and (not produced or stats.pending > 0))
        await db(Ledger.finish_run, run_id, summary.sent, summary.failed, summary.pending, not interrupted)
        await db(Ledger.checkpoint)
    finally:
        if progress is not None:
            progress.finish()
        if pool is not None:
            await pool.aclose()
        if own_executor:
            executor.shutdown(wait=True)
    return summary


def run_send(config: Config, **kwargs: Any) -> SendSummary:
    """:func:`send_pass` in its own event loop, on the configured ledger (for ``send``),
    after reading the bounce mailbox when ``bounces`` names one."""
    from newsletter.bounces import process_before_send  # (imported here: render workers never need it)

    require_secrets(config)  # never an empty password sent to the server (SPEC 3)
    signer_for(config)  # a DKIM key that does not parse: exit 2 before anything is recorded
    with Ledger.open(config.ledger_path) as ledger:
        process_before_send(config, ledger)  # bounces and mailto unsubscribes count before we deliver
        return asyncio.run(send_pass(config, ledger, **kwargs))
