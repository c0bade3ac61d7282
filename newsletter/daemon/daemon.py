"""``newsletter run``: the long-running daemon (APScheduler 3.x in one asyncio loop).

- One cron job per distinct schedule: the global ``schedule.cron`` (in
  ``schedule.timezone``) serves every subscriber without an own ``schedule``; each
  distinct own schedule serves the subscribers that name it (in the same time
  zone). Jobs run with ``max_instances=1``, ``coalesce=True`` and a generous
  ``misfire_grace_time``, so a pass missed while the machine slept runs once on
  wake (APScheduler's default grace of 1 s would silently skip it: SPEC 6b).
- Passes never overlap: they share one asyncio lock, and a pass is the same
  :func:`newsletter.delivery.service.send_pass` that ``send`` runs (templates are
  compiled once per pass; a large pass renders in a worker process like ``send``).
- Digest pick-up: the directory is polled every second; a file is recorded once
  its size and mtime have been stable for ``settle_seconds``
  (:class:`~newsletter.daemon.watch.SettleTracker`). Picked-up papers accumulate in the
  ledger until a subscriber's schedule fires; with ``schedule.on_arrival`` a new
  digest is delivered at once to the subscribers of the global schedule.
- Catch-up comes from the ledger, not from a persistent job store: deliveries
  left pending by a crash or a stop are re-sent first by the next pass, the
  first pass after start runs at once when pending deliveries exist, and a scheduled
  pass whose fire came while the daemon was down (within the misfire grace, served by
  no pass since) runs at start (:meth:`Daemon._catch_up`).
- Unsubscribe endpoint: with ``sender.unsubscribe.listen`` set, the daemon serves
  the one-click endpoint of :mod:`newsletter.web.unsubscribe` in its own event loop
  (an aiohttp AppRunner; ledger calls go to worker threads, on their own short-lived
  connections), started before the first pass and stopped on shutdown. A reload rebuilds its
  token index; a changed ``listen`` address needs a restart.
- Fetching: with ``sources`` configured, a job on ``fetch.cron`` (same time zone,
  same misfire policy) runs :func:`newsletter.fetch.fetch_sources` in a thread;
  the files it writes are picked up at once (they arrive whole, by rename), and
  with ``schedule.on_arrival`` delivered at once. Each source's outcome is one log
  line; a failing source is an error line and the next fire tries again. A fire
  missed while the daemon was down (the ledger's last fetch is older than the
  last fire) is caught up at start.
- Bounce mailbox: with ``bounces.maildir`` or ``bounces.imap`` set, it is read at
  start and every ``bounces.every_minutes`` (:mod:`newsletter.bounces`), between
  passes (it shares the pass lock); a mailbox that cannot be read is logged.
- A pass that raises (the ledger busy or its disk full) is logged and tried again
  from the poller after 30 s, 60 s, ... (at most 15 min apart) until it goes through:
  the morning's mail does not wait for the next day's fire.
- Clock steps: the poller notices the wall clock moving against the monotonic one
  (NTP, a resume from sleep) and wakes the scheduler, so a fire the step made due runs
  now rather than when the old timer would have run out (:meth:`Daemon.check_clock`).
- SIGTERM/SIGINT: stop taking new work, let the SMTP transactions in flight
  finish and be recorded (at most ``smtp.timeout`` seconds), exit 0. SIGHUP:
  reload the configuration (parsed in a thread: the loop keeps serving); a
  configuration that no longer validates is logged and the old one kept. A bad
  subscriber (SPEC 6c) is no reason to refuse a configuration: it is left out with
  one error line, at start and at every reload, and everybody else is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from newsletter.app.schedule import GLOBAL, fetch_missed, fire_time, jobs_for, missed_fires, served
from newsletter.base.clock import SYSTEM, Clock
from newsletter.base.cron import cron_trigger, timezone
from newsletter.base.errors import NewsletterError
from newsletter.config import Config, Subscriber, load_config, load_off_loop, require_secrets
from newsletter.daemon.watch import Handled, SettleTracker
from newsletter.delivery.claimpass import fire_minute
from newsletter.delivery.pickup import note_strays
from newsletter.delivery.service import PassOptions, SenderFactory, SendSummary, pick_up_digests, send_pass
from newsletter.digest import partial_line
from newsletter.digest.guard import one_line
from newsletter.digest.scan import digest_files, stray_files
from newsletter.fetch import fetch_sources
from newsletter.render import Renderer
from newsletter.store import Ledger, UnfinishedRun
from newsletter.store.choose import open_ledger
from newsletter.store.claiming import JOB_PREFIX, PassPlan, owner_id
from newsletter.web.unsubscribe import UnsubscribeServer

log = logging.getLogger("newsletter.daemon")
T = TypeVar("T")

POLL_SECONDS = 1.0
CLOCK_STEP = 5.0  # seconds the wall clock may drift from the monotonic one between two polls
RETRY_FIRST, RETRY_MAX = 30.0, 900.0  # a failed pass is tried again after 30 s, 60 s, ... at most 15 min


@dataclass(frozen=True, slots=True)
class FailedPass:
    """A pass that raised (the ledger busy, its disk full): tried again from the poller."""

    subscribers: tuple[Subscriber, ...]
    resumes: tuple[int, ...]
    fire_at: datetime | None
    attempts: int
    due: float  # on the daemon's monotonic clock


MISFIRE_GRACE = 6 * 3600  # a pass missed by up to 6 hours (sleep, restart) still runs, once


class Daemon:
    """The daemon's state; :meth:`run` is its whole life."""

    def __init__(
        self, config: Config, *, config_path: str | Path, clock: Clock = SYSTEM, sender: SenderFactory | None = None
    ) -> None:
        self.config = config
        self.clock = clock  # what time it is, wherever that decides (tests pass their own)
        self.sender = sender  # the passes' sender (None: SMTP as configured; tests pass an in-memory one)
        self.config_path = Path(config_path)
        require_secrets(config)  # a username without its password variable: exit 2 at start
        Renderer(config)  # fail at start on a broken template, not at the first fire
        self.tracker = SettleTracker(config.digests.settle_seconds)
        self.handled = Handled()  # settled files already read: not read again until they change
        self.scheduler: AsyncIOScheduler | None = None
        self.ledger: Ledger | None = None
        self.listener: UnsubscribeServer | None = None
        self.pass_lock = asyncio.Lock()
        # the one thread that touches the ledger connection: passes, pick-ups, reloads
        self.ledger_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self.reloading: asyncio.Task[None] | None = None
        self.watch_error: str | None = None  # the pick-up error last logged (logged once)
        self.strays: set[Path] = set()  # files in the digests directory already said to be no digests
        self.stopping = asyncio.Event()
        self.fetch_stop = threading.Event()  # ends a fetch's wait between retries
        self.passes = 0
        self.owner = owner_id()  # this daemon as a claimer of fires (PostgreSQL)
        self._bounces_at: float | None = None  # monotonic time the bounce mailbox was last read
        self._clock_offset: float | None = None  # wall minus monotonic clock at the last poll
        self.failed: dict[str, FailedPass] = {}  # by reason: passes that raised, tried again when due

    # ------------------------------------------------------------------ scheduling

    def _schedule(self) -> None:
        assert self.scheduler is not None
        self.scheduler.remove_all_jobs()
        tz = timezone(self.config.schedule.timezone)
        for job in jobs_for(self.config):
            self.scheduler.add_job(
                self._scheduled,
                trigger=cron_trigger(job.cron, tz),
                args=[job.key],
                id=job.key,
                name=f"{job.key} ({len(job.emails)} subscribers)",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=MISFIRE_GRACE,
                replace_existing=True,
            )
        if self.config.sources:
            self.scheduler.add_job(
                self._fetch,
                trigger=cron_trigger(self.config.fetch.cron, tz),
                id="fetch",
                name=f"fetch ({len(self.config.sources)} sources)",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=MISFIRE_GRACE,
                replace_existing=True,
            )
        for job in self.scheduler.get_jobs():
            log.info(
                "schedule %s: next run %s", job.name, job.next_run_time.isoformat() if job.next_run_time else "never"
            )

    def _members(self, key: str) -> list[Subscriber]:
        jobs = {job.key: job for job in jobs_for(self.config)}
        wanted = set(jobs[key].emails) if key in jobs else set()
        return [s for s in self.config.subscribers if s.email in wanted]

    async def _scheduled(self, key: str) -> None:
        crons = {job.key: job.cron for job in jobs_for(self.config)}
        tz = timezone(self.config.schedule.timezone)
        at = fire_time(crons[key], tz, self.clock.now()) if key in crons else None
        await self.deliver(self._members(key), reason=key, fire_at=at)

    # ------------------------------------------------------------------ work

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(ledger, *args)`` on the ledger thread (never on the event loop's)."""
        assert self.ledger is not None
        return await asyncio.get_running_loop().run_in_executor(self.ledger_thread, fn, self.ledger, *args)

    async def deliver(
        self,
        subscribers: Sequence[Subscriber],
        *,
        reason: str,
        resumes: Sequence[int] = (),
        fire_at: datetime | None = None,
    ) -> SendSummary | None:
        """One pass for ``subscribers`` (pending deliveries of anybody go first)."""
        if self.stopping.is_set() or self.ledger is None:
            return None
        async with self.pass_lock:
            if self.stopping.is_set():
                return None
            started = time.monotonic()
            try:
                options = PassOptions(
                    subscribers=subscribers,
                    pick_up=False,
                    stop=self.stopping,
                    resumes=resumes,
                    schedule_key=reason,  # PostgreSQL: every host fires, one plans (SPEC 6d)
                    fire_at=fire_at or fire_minute(self.clock.now()),
                    sender=self.sender,
                )
                summary = await send_pass(self.config, self.ledger, options, executor=self.ledger_thread)
            except NewsletterError as exc:
                self._failed(reason, subscribers, resumes, fire_at, exc)
                return None
            self.failed.pop(reason, None)
            self.passes += 1
            if summary.sent and self.config.archive.directory is not None:
                from newsletter.site.archive import archive_after_pass

                config = self.config
                try:  # renders and writes files: on the ledger thread, never on the event loop
                    await self.db(lambda ledger: archive_after_pass(config, ledger))
                except NewsletterError as exc:
                    log.error("%s", exc)
            for email, error in summary.failures:
                log.warning("failed: %s: %s", email, error)
            if summary.stopped:
                log.error("delivery stopped: %s (the remaining deliveries stay pending)", summary.stopped)
            log.info(
                "pass %s: subscribers=%d sent=%d failed=%d pending=%d nothing-new=%d duration=%.2fs",
                reason,
                len(subscribers),
                summary.sent,
                summary.failed,
                summary.pending,
                summary.nothing,
                time.monotonic() - started,
            )
            return summary

    def _failed(
        self,
        reason: str,
        subscribers: Sequence[Subscriber],
        resumes: Sequence[int],
        fire_at: datetime | None,
        exc: NewsletterError,
    ) -> None:
        """Log a pass that raised and keep it to be tried again (:meth:`retry_failed`): a
        ledger that was busy or full at 07:00 must not leave the morning's mail for
        the next day's fire."""
        attempts = self.failed[reason].attempts + 1 if reason in self.failed else 1
        delay = min(RETRY_FIRST * 2 ** (attempts - 1), RETRY_MAX)
        self.failed[reason] = FailedPass(
            tuple(subscribers), tuple(resumes), fire_at, attempts, self.clock.monotonic() + delay
        )
        log.error("pass %s failed: %s (tried again in %.0f s)", reason, exc, delay)

    async def retry_failed(self) -> None:
        """The failed passes that are due, again (a scheduled one for its members now)."""
        for reason, failed in list(self.failed.items()):
            if self.stopping.is_set() or self.clock.monotonic() < failed.due:
                continue
            members = self._members(reason) if reason in {job.key for job in jobs_for(self.config)} else None
            log.info("pass %s: trying again (attempt %d)", reason, failed.attempts + 1)
            await self.deliver(
                failed.subscribers if members is None else members,
                reason=reason,
                resumes=failed.resumes,
                fire_at=failed.fire_at,
            )

    async def _fetch(self) -> None:
        """The ``fetch.cron`` job: fetch every source, pick up what came, deliver on arrival."""
        if self.stopping.is_set() or not await self._first_to("fetch"):
            return
        try:
            report = await asyncio.to_thread(fetch_sources, self.config, stop=self.fetch_stop)
        except NewsletterError as exc:
            log.error("fetch failed: %s", exc)
            return
        for path in report.removed:
            log.info("fetch: removed %s, left by an interrupted fetch", path)
        for result in report.results:
            if result.outcome == "failed":
                log.error("fetch %s: %s", result.source, result.line())
            elif result.unread:
                log.warning("fetch %s: %s", result.source, result.line())
            else:
                log.info("fetch %s: %s", result.source, result.line())
        if report.written and not self.stopping.is_set():
            new = await self.pick_up(report.written)
            if new and self.config.schedule.on_arrival:
                await self.deliver(self._members(GLOBAL), reason="on-arrival")

    async def _first_to(self, job: str) -> bool:
        """True when this process runs ``job`` for the current fire: always on SQLite (one
        daemon per ledger); on PostgreSQL only the host that claims the fire (a pass
        ``job:NAME`` without deliveries, planned once across hosts), so that every host
        fires and one does the work (doubled work would be wasted, never wrong: fetched
        content is recorded once by its SHA-256)."""
        if self.config.ledger_url is None or self.ledger is None:
            return True
        tz = timezone(self.config.schedule.timezone)
        key, at = f"{JOB_PREFIX}{job}", fire_time(self.config.fetch.cron, tz, self.clock.now())
        ref = await self.db(lambda lg: lg.plan_pass(key, at, lambda _: PassPlan((), 0), owner=self.owner))
        if not ref.planned_here:
            log.info("%s at %s: done by %s", job, at.isoformat(), ref.planned_by)
        return bool(ref.planned_here)

    async def _fetch_missed(self) -> bool:
        """True when ``fetch.cron`` fired since the last fetch the ledger knows of (the
        daemon was down); read on the ledger thread."""
        if not self.config.sources:
            return False
        states = await self.db(lambda ledger: ledger.fetch_states())
        return fetch_missed(self.config, states, clock=self.clock)

    async def pick_up(self, paths: Sequence[Path] | None = None) -> int:
        """Record the settled new digest files (``paths``: these, known complete);
        returns how many were new and parsed."""
        assert self.ledger is not None
        if paths is not None:
            ready = list(paths)
        else:  # settled on the daemon's clock, and changed since a pick-up last read them
            settled = self.tracker.ready(
                digest_files(self.config), now=self.clock.time(), monotonic=self.clock.monotonic()
            )
            ready = self.handled.fresh(self.tracker, settled)
        if not ready:
            return 0
        config = self.config
        async with self.pass_lock:
            picked = await self.db(lambda ledger: pick_up_digests(config, ledger, paths=ready))
        self.handled.read(self.tracker, ready, retry=[*picked.unsettled, *picked.unreadable])
        # a digest picked up is one INFO line, logged where it is recorded (pick_up_digests)
        for _path, error in picked.failed:
            log.error("digest failed: %s", error)
        for path, missing in picked.partial:  # delivered all the same; the lost papers named
            log.warning("digest %s", partial_line(path, missing))
        return len(picked.ok)

    async def note_strays(self) -> None:
        """Files in the digests directory that are not digests: one warning each, once ever."""
        found = [s for s in stray_files(self.config) if s.path not in self.strays]
        if not found:
            return
        config = self.config
        async with self.pass_lock:
            new = await self.db(lambda ledger: note_strays(config, ledger))
        self.strays.update(s.path for s in found)
        for stray in new:
            log.warning("%s", stray.line())

    async def read_bounces(self) -> None:
        """Read the bounce mailbox when ``bounces.every_minutes`` have passed (issue 14)."""
        if not self.config.bounces.mailbox or self.ledger is None:
            return
        now = self.clock.monotonic()
        if self._bounces_at is not None and now - self._bounces_at < self.config.bounces.every_minutes * 60:
            return
        self._bounces_at = now
        from newsletter.bounces import process_before_send

        config = self.config
        async with self.pass_lock:  # on the ledger thread, like every ledger call of the daemon
            await self.db(lambda ledger: process_before_send(config, ledger))

    async def _watch(self) -> None:
        while not self.stopping.is_set():
            await self.watch_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), POLL_SECONDS)

    async def watch_once(self) -> None:
        """One round of the poller: a step of the wall clock, the bounce mailbox when due,
        strays, settled digests (delivered at once with ``schedule.on_arrival``). Never
        raises: errors are logged."""
        self.check_clock()
        try:
            await self.retry_failed()
        except Exception:  # keep the daemon alive; the error is in the log
            log.exception("trying a failed pass again failed")
        try:
            await self.read_bounces()
        except Exception:  # keep the daemon alive; the error is in the log
            log.exception("reading the bounce mailbox failed")
        try:
            await self.note_strays()
            new = await self.pick_up()
            if new and self.config.schedule.on_arrival:
                await self.deliver(self._members(GLOBAL), reason="on-arrival")
        except NewsletterError as exc:  # a ledger that cannot be written: one line, keep trying
            text = one_line(str(exc), 500)
            if text != self.watch_error:  # once, not every second, until it changes
                log.error("digest pick-up failed: %s", text)
                self.watch_error = text
            else:
                log.debug("digest pick-up still failing (logged once above)")
        except Exception:  # keep the daemon alive; the error is in the log
            log.exception("digest pick-up failed")
        else:
            if self.watch_error is not None:
                log.info("digest pick-up works again")
                self.watch_error = None

    def check_clock(self) -> None:
        """A step of the wall clock against the monotonic one (NTP correcting a wrong
        clock, a resume from sleep: the monotonic clock stands still while suspended) is
        logged and the scheduler woken. APScheduler waits for the next fire on the event
        loop's monotonic timer, armed for "fire time minus now" when it last looked: after
        the wall clock moved an hour on, the 07:00 pass would run at 08:00. Woken, it
        looks at the wall clock again: a fire that is due runs now (within the misfire
        grace), the others are armed anew."""
        offset = self.clock.time() - self.clock.monotonic()
        previous, self._clock_offset = self._clock_offset, offset
        if previous is None or abs(offset - previous) < CLOCK_STEP:
            return
        moved = offset - previous
        log.warning(
            "the wall clock moved %.0f s %s (a clock step, or a resume from sleep): schedules looked at again",
            abs(moved),
            "forward" if moved > 0 else "back",
        )
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.wakeup()

    async def _resume(self) -> None:
        """At start: finish the passes a stop or a crash interrupted, at once, for every
        subscriber they had not reached (horizon below the digests they delivered); the
        pending deliveries of anybody go first. Not at the next scheduled fire."""
        unfinished = await self.db(lambda lg: lg.unfinished_runs())
        pending = await self.db(lambda lg: lg.pending_ids())
        if not unfinished:
            if pending:
                log.info("pending deliveries found: re-sending them now")
                await self.deliver([], reason="catch-up")
            return
        members = await self._not_reached(unfinished)
        log.info(
            "finishing %d interrupted pass%s: %d subscriber%s not reached, %d pending deliver%s",
            len(unfinished),
            "es" if len(unfinished) != 1 else "",
            len(members),
            "s" if len(members) != 1 else "",
            len(pending),
            "ies" if len(pending) != 1 else "y",
        )
        await self.deliver(members, reason="resume", resumes=[run.id for run in unfinished])

    async def _catch_up(self) -> None:
        """At start: a scheduled pass whose fire came while the daemon was not running (a
        restart or a reboot over 07:00), less than the misfire grace ago, runs now, once
        (no pass since the fire served its subscribers). APScheduler keeps no job store: it
        arms the next fire only, and a weekly subscriber waited a week. A new ledger (no pass
        ever) awaits the first fire. The digests that came meanwhile are picked up first."""
        if await self.db(lambda lg: lg.last_run()) is None:
            return
        missed = [
            (job, fire)
            for job, fire in missed_fires(self.config, self.clock.now(), MISFIRE_GRACE)
            if not served(job, await self.db(lambda lg, since: lg.runs_since(since), fire.timestamp()))
        ]
        if missed:
            with contextlib.suppress(NewsletterError):  # the poller says why, and tries again
                await self.pick_up()  # the digests that came while the daemon was down go too
        for job, fire in missed:
            log.info(
                "pass %s: its fire at %s came while the daemon was down: running it now", job.key, fire.isoformat()
            )
            await self.deliver(self._members(job.key), reason=job.key, fire_at=fire)

    async def _not_reached(self, unfinished: list[UnfinishedRun]) -> list[Subscriber]:
        """The subscribers the interrupted passes served whose horizon is below the
        digests those passes delivered."""
        everybody = any(run.serving is None for run in unfinished)
        wanted = {email for run in unfinished for email in run.serving or ()}
        candidates = [s for s in self.config.subscribers if everybody or s.email in wanted]
        horizons = await self.db(lambda lg: lg.horizons([s.email for s in candidates]))
        upto = min((run.upto for run in unfinished if run.upto is not None), default=None)
        return [s for s in candidates if upto is None or horizons.get(s.email, upto) < upto]

    # ------------------------------------------------------------------ signals

    def reload(self) -> None:
        """SIGHUP: reload in a task (one at a time; a SIGHUP during a reload is the same reload)."""
        if self.reloading is None or self.reloading.done():
            self.reloading = asyncio.ensure_future(self.reload_config())

    async def reload_config(self) -> None:
        """Re-read the configuration; keep the old one if the new one is invalid. The file
        is parsed and the templates compiled in a thread (the event loop, with the SMTP
        sessions and the unsubscribe endpoint, never waits for it); new subscribers are
        registered on the ledger thread, between the statements of a pass in flight."""

        def load() -> Config:
            config = load_config(self.config_path, strict=False)  # a bad subscriber is left out (SPEC 6c)
            require_secrets(config)
            Renderer(config)  # validates the templates before the new configuration is taken
            return config

        config = await load_off_loop(load, log)
        if config is None:
            return
        if config.ledger_path != self.config.ledger_path:
            log.error("reload refused: the ledger path changed (%s); restart instead", config.ledger_path)
            return
        if config.sender.unsubscribe.listen != self.config.sender.unsubscribe.listen:
            log.warning("sender.unsubscribe.listen changed: restart the daemon to apply it")
        if self.ledger is not None:
            try:
                await self.db(lambda lg: lg.register_subscribers([s.email for s in config.subscribers]))
            except NewsletterError as exc:
                log.error("reload refused, keeping the running configuration: %s", exc)
                return
        self.config = config
        if self.listener is not None:
            await asyncio.to_thread(self.listener.update, config)  # the token index, built off the loop
        self.tracker.settle_seconds = config.digests.settle_seconds
        self._schedule()
        self._log_left_out()
        log.info("configuration reloaded: %d subscribers", len(config.subscribers))

    def _log_left_out(self) -> None:
        """One line per subscriber left out of every pass (SPEC 6c): everybody else is served."""
        for left in self.config.left_out:
            log.error("%s", left)

    def stop(self, signame: str) -> None:
        if not self.stopping.is_set():
            log.info("%s received: finishing the SMTP transactions in flight, then exiting", signame)
            self.stopping.set()
            self.fetch_stop.set()

    # ------------------------------------------------------------------ the unsubscribe endpoint

    async def _start_listener(self) -> None:
        listen = self.config.sender.unsubscribe.listen_address
        if listen is None:
            return
        try:
            self.listener = UnsubscribeServer(self.config)
        except OSError as exc:
            raise NewsletterError(
                f"sender.unsubscribe.listen: cannot listen on {listen[0]}:{listen[1]}: {exc.strerror or exc}"
            ) from None
        await self.listener.start()
        log.info("unsubscribe endpoint on %sunsubscribe/<token>", self.listener.url)

    async def _stop_listener(self) -> None:
        if self.listener is not None:
            await self.listener.close()
            self.listener = None
            log.info("unsubscribe endpoint stopped")

    # ------------------------------------------------------------------ life

    async def start(self, *, fire: bool = True) -> None:
        """Open the ledger, register the subscribers, start the endpoint and the scheduler,
        finish the passes a stop interrupted and catch up a missed fetch. ``fire=False``:
        the jobs are scheduled but never fire by themselves (a test runs them with
        :meth:`fire` at the time its clock says); :meth:`close` undoes it all."""
        self.ledger = open_ledger(self.config)
        try:
            # subscribers "appear" when the daemon starts with them, before any pick-up
            await self.db(lambda lg: lg.register_subscribers([s.email for s in self.config.subscribers]))
            await self._start_listener()
        except BaseException:
            self.ledger.close()
            self.ledger_thread.shutdown(wait=True)
            raise
        self.scheduler = AsyncIOScheduler(timezone=timezone(self.config.schedule.timezone))
        try:
            self.scheduler.start(paused=not fire)
            self._schedule()
            self._log_left_out()
            log.info(
                "daemon started: %d subscribers, digests in %s, ledger %s",
                len(self.config.subscribers),
                self.config.digests.directory,
                self.config.ledger_path,
            )
            await self._resume()
            await self._catch_up()
            if await self._fetch_missed():
                log.info("a fetch was missed while the daemon was not running: fetching now")
                self.scheduler.add_job(self._fetch, id="fetch-catch-up", misfire_grace_time=MISFIRE_GRACE)
        except BaseException:
            await self.close()
            raise

    async def fire(self, job_id: str) -> None:
        """Run the scheduled job ``job_id`` now, as its trigger would (its function and
        arguments as the scheduler holds them)."""
        assert self.scheduler is not None
        job = self.scheduler.get_job(job_id)
        if job is None:
            raise KeyError(job_id)
        await job.func(*job.args)

    async def close(self) -> None:
        """Stop: let a pass in flight record its SMTP transactions, then shut the
        scheduler, the endpoint, the ledger thread and the ledger."""
        assert self.ledger is not None
        self.stopping.set()
        self.fetch_stop.set()
        scheduler = self.scheduler if self.scheduler is not None and self.scheduler.running else None
        if scheduler is not None:
            scheduler.pause()
        # A pass in flight stops taking messages; wait for its SMTP transactions to finish
        # and be recorded BEFORE shutting the scheduler down: APScheduler's
        # AsyncIOExecutor.shutdown cancels running jobs (SPEC 6b).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.pass_lock.acquire(), self.config.smtp.timeout + 5)
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        await self._stop_listener()
        if self.reloading is not None and not self.reloading.done():
            self.reloading.cancel()
        self.ledger_thread.shutdown(wait=True)
        self.ledger.close()
        log.info("daemon stopped: %d passes", self.passes)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, sig.name)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        try:
            await self.start()
            try:
                await self._watch()
            finally:
                await self.close()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        return 0


def run_daemon(config: Config, *, config_path: str | Path) -> int:
    """Run the daemon until SIGTERM/SIGINT (the caller holds the ledger lock)."""
    return asyncio.run(Daemon(config, config_path=config_path).run())
