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
   horizon still advances. Deliveries are rendered and recorded ``pending`` in
   small batches as the SMTP workers ask for them (memory stays bounded), sent,
   and each outcome is committed before the worker's next SMTP transaction.

Suppressed addresses (unsubscribed through the one-click endpoint or
``newsletter unsubscribe``, or paused; see :mod:`newsletter.unsubscribe_server`)
get nothing: they are left out of step 4 (their horizon still advances, so
nothing piles up for them), and a pending delivery to one of them is marked
``failed`` with the error ``unsubscribed`` instead of being re-sent. The
suppression list is read again before every batch, so a click during a long
pass stops the rest of it for that address.

Subscribers with an own ``schedule``: ``send`` serves everybody (it is the
operator's explicit "deliver now"); the daemon passes ``subscribers=`` to serve
only those whose schedule fired; the others keep accumulating digests because
their horizon does not move.

The ledger is used from one thread at a time: in the async pass every ledger
call runs on a single-thread executor, so fsyncs never block the SMTP sessions.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from newsletter.config import Config, Subscriber
from newsletter.delivery.ledger import Ledger, NewDelivery, suppression_key
from newsletter.delivery.smtp import Outgoing, Result, SmtpSender
from newsletter.digest import Paper, parse_digest
from newsletter.errors import DigestParseError
from newsletter.matching import Match
from newsletter.pipeline import digest_files, plan, unique_papers
from newsletter.render import Renderer

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH = 32  # deliveries rendered and recorded pending per commit


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


def pick_up_digests(config: Config, ledger: Ledger, *, now: float | None = None,
                    paths: Sequence[Path] | None = None) -> PickUp:
    """Record every new, settled digest file (``paths``: the daemon's own list of
    settled files; default: the directory, skipping files modified within
    ``settle_seconds``)."""
    clock = time.time() if now is None else now
    out = PickUp()
    settle = config.digests.settle_seconds
    for path in (digest_files(config) if paths is None else paths):
        try:
            st = path.stat()
            if paths is None and clock - st.st_mtime < settle:
                out.unsettled.append(str(path))
                continue
            data = path.read_bytes()
        except OSError as exc:
            log.warning("%s: cannot read: %s", path, exc.strerror or exc)
            continue
        sha = hashlib.sha256(data).hexdigest()
        if ledger.has_digest(sha):
            continue
        try:
            digest = parse_digest(data, source=str(path), fmt=config.digests.format,
                                  reference=datetime.fromtimestamp(st.st_mtime).date())
        except DigestParseError as exc:
            ledger.record_digest(path=str(path), sha256=sha, error=str(exc))
            out.failed.append((str(path), str(exc)))
            log.error("digest failed: %s", exc)
            continue
        ledger.record_digest(path=str(path), sha256=sha, papers=digest.papers)
        out.ok.append((str(path), len(digest.papers)))
        log.info("digest picked up: %s (%d papers)", path, len(digest.papers))
    return out


def preview_digests(config: Config, ledger: Ledger | None, *, now: float | None = None) -> tuple[
        list[Paper], PickUp]:
    """What :func:`pick_up_digests` would record, without recording: the papers of
    the new, settled, parseable files (for ``--dry-run``)."""
    clock = time.time() if now is None else now
    out = PickUp()
    papers: list[Paper] = []
    for path in digest_files(config):
        try:
            st = path.stat()
            if clock - st.st_mtime < config.digests.settle_seconds:
                out.unsettled.append(str(path))
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if ledger is not None and ledger.has_digest(hashlib.sha256(data).hexdigest()):
            continue
        try:
            digest = parse_digest(data, source=str(path), fmt=config.digests.format,
                                  reference=datetime.fromtimestamp(st.st_mtime).date())
        except DigestParseError as exc:
            out.failed.append((str(path), str(exc)))
            continue
        papers.extend(digest.papers)
        out.ok.append((str(path), len(digest.papers)))
    return papers, out


# --------------------------------------------------------------------------- planning


def compute_deliveries(ledger: Ledger, subscribers: Sequence[Subscriber], *, upto: int,
                       extra: Sequence[Paper] = ()) -> Iterator[Planned]:
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
    for horizon, members in groups.items():
        papers = unique_papers([*ledger.papers_after(horizon, upto), *extra])
        excluded = ledger.excluded_papers(s.email for s in members)
        for sub, matches in plan(members, papers, already_sent=excluded):
            planned.append(Planned(sub, matches))
    planned.sort(key=lambda p: order[p.subscriber.email])
    yield from planned


# --------------------------------------------------------------------------- the pass


class _Committer:
    """Group commit of SMTP outcomes: workers await their own outcome's commit;
    outcomes arriving while a commit runs go together in the next one."""

    def __init__(self, run: Callable[..., Any]) -> None:
        self.run = run
        self.waiting: list[tuple[Result, asyncio.Future[None]]] = []
        self.busy = False
        self.task: asyncio.Task[None] | None = None

    async def record(self, result: Result) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append((result, fut))
        if not self.busy:
            self.busy = True
            self.task = asyncio.ensure_future(self._drain())
        await fut

    async def _drain(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                sent = [(r.item.key, r.attempts) for r, _ in batch if r.status == "sent"]
                unsent = [(r.item.key, r.status, r.attempts, r.error or "") for r, _ in batch
                          if r.status != "sent"]
                try:
                    await self.run(_record_results, sent, unsent)
                except BaseException as exc:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    raise
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)
        finally:
            self.busy = False


def _record_results(ledger: Ledger, sent: list[tuple[int, int]], unsent: list[tuple[int, str, int, str]]
                    ) -> None:
    ledger.record_results(sent, unsent)


def sender_address(config: Config) -> str:
    return config.sender.mailbox.address


async def send_pass(
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
) -> SendSummary:
    """One ``send`` pass (see the module doc). ``subscribers``: serve only these
    (default: all of the configuration); ``paths``: settled digest files to pick
    up (default: scan the directory); ``pick_up=False``: deliver without
    looking for new digests; ``stop`` set (the daemon's shutdown): no new SMTP
    transaction starts, the ones in flight finish and are recorded, the rest stays
    pending (or unplanned) for the next pass. The caller holds the ledger lock."""
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")

    async def db(fn: Callable[..., T], *args: Any) -> T:
        return await loop.run_in_executor(executor, fn, ledger, *args)

    summary = SendSummary()
    try:
        run_id = await db(Ledger.start_run)
        serve = tuple(config.subscribers if subscribers is None else subscribers)
        await db(Ledger.register_subscribers, [s.email for s in config.subscribers])
        if pick_up:
            picked = await db(lambda lg: pick_up_digests(config, lg, paths=paths))
            summary.digests_ok, summary.digests_failed = len(picked.ok), len(picked.failed)
            summary.unsettled = len(picked.unsettled)
            summary.digest_errors = picked.failed
            for path in picked.unsettled:
                log.info("%s: modified within %s s, left for the next pass", path,
                         config.digests.settle_seconds)
        cancelled = await db(Ledger.cancel_suppressed)
        for _, email in cancelled:
            log.info("pending delivery to %s dropped: unsubscribed", email)
        summary.cancelled = len(cancelled)
        suppressed = await db(Ledger.suppressed)
        skipped = [s.email for s in serve if suppression_key(s.email) in suppressed]
        serve = tuple(s for s in serve if suppression_key(s.email) not in suppressed)
        summary.suppressed = len(skipped)
        pending_ids = await db(Ledger.pending_ids)
        upto = await db(Ledger.last_digest_id)
        planned = await db(lambda lg: list(compute_deliveries(lg, serve, upto=upto)))
        to_send = [p for p in planned if p.matches or p.subscriber.send_empty]
        nothing = [p.subscriber.email for p in planned if not (p.matches or p.subscriber.send_empty)]
        summary.nothing = len(nothing)
        if nothing or skipped:
            await db(Ledger.advance, [*nothing, *skipped], upto)
        summary.resent = len(pending_ids)
        if progress is not None:
            progress.start(len(pending_ids) + len(to_send))
        render = renderer or Renderer(config)
        counts = await db(Ledger.delivery_counts_by_email)
        envelope_from = sender_address(config)
        day = (today or date.today()).isoformat()

        async def produce() -> AsyncIterator[Outgoing]:
            for delivery_id in pending_ids:
                item = await db(Ledger.pending, delivery_id)
                if item is not None:
                    log.info("re-sending pending delivery %s to %s", item.message_id, item.email)
                    yield Outgoing(item.id, item.sender, item.email, item.message, item.message_id)
            for start in range(0, len(to_send), BATCH):
                if stop is not None and stop.is_set():
                    return
                batch: list[NewDelivery] = []
                now_suppressed = await db(Ledger.suppressed)  # a click during the pass counts
                for p in to_send[start:start + BATCH]:
                    sub = p.subscriber
                    if suppression_key(sub.email) in now_suppressed:
                        log.info("%s unsubscribed during the pass: skipped", sub.email)
                        summary.suppressed += 1
                        continue
                    ids = tuple(m.paper.id for m in p.matches)
                    seq = counts.get(sub.email, 0) + 1
                    counts[sub.email] = seq
                    message_id = render.message_id(sub, p.matches, salt=f"{seq}:{day}")
                    email = render.render(sub, p.matches, message_id=message_id)
                    batch.append(NewDelivery(sub.email, message_id, ids, envelope_from, email.as_bytes()))
                    await asyncio.sleep(0)  # let the SMTP sessions run between renders
                if not batch:
                    continue
                keys = await db(Ledger.add_pending, batch, upto)
                for key, new in zip(keys, batch, strict=True):
                    yield Outgoing(key, new.sender, new.email, new.message, new.message_id)

        committer = _Committer(db)

        async def on_result(result: Result) -> None:
            await committer.record(result)
            if result.status == "failed":
                summary.failures.append((result.item.recipient, result.error or ""))
            if progress is not None:
                progress.advance(result)

        sender = SmtpSender(config.smtp, on_result=on_result, backoff=backoff, queue_size=2 * BATCH,
                            stop=stop)
        stats = await sender.send_all(produce())
        summary.sent, summary.failed, summary.pending = stats.sent, stats.failed, stats.pending
        summary.stopped = stats.stopped
        if stats.stopped:
            # what was never taken from the queue stays pending in the ledger too
            left = await db(Ledger.delivery_counts)
            summary.pending = left["pending"]
        await db(Ledger.finish_run, run_id, summary.sent, summary.failed, summary.pending)
    finally:
        if progress is not None:
            progress.finish()
        executor.shutdown(wait=True)
    return summary


def run_send(config: Config, **kwargs: Any) -> SendSummary:
    """:func:`send_pass` in its own event loop, on the configured ledger (for ``send``)."""
    with Ledger.open(config.state) as ledger:
        return asyncio.run(send_pass(config, ledger, **kwargs))
