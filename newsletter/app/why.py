"""Why a subscriber gets nothing (``send --dry-run``, ``status``), and ``--backfill``.

A subscriber can get no email for these reasons, each said in plain words:

* ``suppressed``: unsubscribed (or paused until a date);
* ``new``: added since the latest digest was picked up; a new subscriber starts
  with the next digest (``send --backfill`` gives it the latest one now);
* ``no-digest``: no digest was picked up since its previous email;
* ``no-match``: new papers arrived but none matched its profile (and how many arXiv
  revisions of older papers it would have matched, left out by ``revisions: false``);
* ``already-sent``: the matching papers were sent to it before;
* ``schedule``: (``status``, the daemon) its own schedule has not fired yet.

Pure over the ledger (read-only) and the configuration; the commands print.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from newsletter.app.schedule import fire_text
from newsletter.base.cron import cron_trigger, describe_cron, timezone
from newsletter.config import Config, Subscriber
from newsletter.digest import Paper, unique_papers
from newsletter.matching import PaperIndex
from newsletter.matching.librarycache import cache_dir_of
from newsletter.matching.likes import like_state_of
from newsletter.matching.matcher import Matcher
from newsletter.store import DigestRow, Ledger, SubscriberRow
from newsletter.store.choose import open_ledger

BACKFILL_HINT = "send --backfill gives it the latest digest now"


@dataclass(frozen=True, slots=True)
class Nothing:
    """Why ``email`` gets no email: a stable ``code`` and the sentence for people."""

    email: str
    code: str
    reason: str


def _when(ts: float, tz: tzinfo) -> str:
    """A moment in ``tz`` (the schedule's zone, as every date the tool shows), with UTC
    beside it: ``2026-11-16 09:00 CET (08:00 UTC)``."""
    return fire_text(datetime.fromtimestamp(ts, tz))


def suppressed_reason(ledger: Ledger, sub: Subscriber, tz: tzinfo = UTC) -> Nothing | None:
    found = ledger.suppression(sub.email)
    if found is None:
        return None
    if found.until is not None:
        return Nothing(sub.email, "suppressed", f"paused, skipped (until {_when(found.until, tz)})")
    return Nothing(sub.email, "suppressed", f"unsubscribed, skipped ({found.source} on {_when(found.created_at, tz)})")


def nothing_reasons(
    ledger: Ledger,
    subscribers: Sequence[Subscriber],
    *,
    upto: int,
    extra: Sequence[Paper] = (),
    library_cache: Path | None = None,
    tz: tzinfo = UTC,
) -> dict[str, Nothing]:
    """For each of ``subscribers`` (who get nothing in a pass up to digest ``upto``, with
    ``extra`` papers of digests not recorded yet): why. ``library_cache``: where parsed
    libraries are kept; ``tz``: the zone dates are shown in."""
    emails = [s.email for s in subscribers]
    horizons = ledger.horizons(emails)
    delivered = ledger.last_deliveries()
    rows = ledger.subscriber_rows(emails)
    ok = [d for d in ledger.digests() if d.status == "ok" and d.id <= upto]
    latest_seen = ok[-1].seen_at if ok else float("inf")
    cache: dict[int, tuple[tuple[Paper, ...], PaperIndex]] = {}
    likes = like_state_of(ledger, subscribers, cache=library_cache)  # issue 17: like-only profiles match too
    out: dict[str, Nothing] = {}
    for sub in subscribers:
        horizon = horizons.get(sub.email, upto)
        if horizon not in cache:
            fresh = unique_papers([*ledger.papers_after(horizon, upto), *extra])
            cache[horizon] = (fresh, PaperIndex(fresh))
        papers, index = cache[horizon]
        if papers:
            out[sub.email] = _matched_before(sub, Matcher(papers, likes, index=index), len(papers))
        elif sub.email not in delivered and (sub.email not in rows or rows[sub.email][0] >= latest_seen):
            since = f" (since {_when(rows[sub.email][0], tz)})" if sub.email in rows else ""
            out[sub.email] = Nothing(sub.email, "new", f"new{since}: starts with the next digest; {BACKFILL_HINT}")
        else:
            out[sub.email] = Nothing(sub.email, "no-digest", "no new digest since its last email")
    return out


def _matched_before(sub: Subscriber, matcher: Matcher, fresh: int) -> Nothing:
    """Why a subscriber with ``fresh`` new papers gets nothing: they matched and went out
    before, or none matched."""
    matches = matcher.match(sub)
    if matches:
        n = len(matches)
        return Nothing(
            sub.email, "already-sent", f"already sent: the {n} matching paper{'s' if n != 1 else ''} went out before"
        )
    note = revisions_note(sub, matcher)
    return Nothing(sub.email, "no-match", f"nothing matched in {fresh} new paper{'s' if fresh != 1 else ''}{note}")


def revisions_note(sub: Subscriber, matcher: Matcher) -> str:
    """`` (2 revisions of older papers left out: revisions: false)`` when ``sub`` would have
    matched arXiv revisions it leaves out, else ``""``."""
    if sub.revisions or not matcher.revised:
        return ""
    left = sum(1 for m in matcher.match(replace(sub, revisions=True)) if m.paper.id in matcher.revised)
    if not left:
        return ""
    return f" ({left} revision{'s' if left != 1 else ''} of older papers left out: revisions: false)"


def status_reasons(config: Config, ledger: Ledger, *, now: datetime | None = None) -> list[Nothing]:
    """What ``status`` says about subscribers who will get nothing in the next pass, or
    wait: suppressed, new, own schedule not due, no new digest since its last email,
    nothing matched or already sent in the latest digest. Whoever ``send --dry-run``
    says gets nothing is listed here too."""
    view = _StatusView(config, ledger, now or datetime.now(UTC))
    return [found for sub in config.subscribers if (found := view.reason(sub)) is not None]


class _StatusView:
    """The ledger's state read once, then asked about each subscriber in turn."""

    def __init__(self, config: Config, ledger: Ledger, clock: datetime) -> None:
        self.config, self.ledger, self.clock = config, ledger, clock
        self.tz = timezone(config.schedule.timezone)
        self.delivered = ledger.last_deliveries()
        self.rows = ledger.subscriber_rows(s.email for s in config.subscribers)
        self.last = ledger.last_digest_id()
        latest = [d for d in ledger.digests() if d.status == "ok"]
        self.latest = latest[-1] if latest else None
        self.papers = ledger.papers_after(self.latest.id - 1, self.latest.id) if self.latest else []
        index = PaperIndex(self.papers)  # once: matched per subscriber below
        likes = like_state_of(ledger, config.subscribers, cache=cache_dir_of(config))
        self.matcher = Matcher(self.papers, likes, index=index)
        self.suppressions = ledger.suppressions()

    def reason(self, sub: Subscriber) -> Nothing | None:
        if self.suppressions.active(sub.email):
            found = suppressed_reason(self.ledger, sub, self.tz)
            if found is not None:
                return found
        row = self.rows.get(sub.email)
        if row is None or self._new(sub, row):
            since = f" (since {_when(row[0], self.tz)})" if row else ""
            return Nothing(sub.email, "new", f"new{since}: starts with the next digest; {BACKFILL_HINT}")
        if sub.schedule:
            return self._own_schedule(sub, sub.schedule, row)
        if self.latest is None or not self.papers or row[1] < self.last:
            return None  # new digests wait for its next pass: it will get what matches
        got = self.delivered.get(sub.email)
        if got is not None and got[0] == "sent" and got[1] >= self.latest.seen_at:
            # it had its email of the latest digest: the next pass has nothing for it (as --dry-run says)
            return Nothing(sub.email, "no-digest", "no new digest since its last email")
        return self._latest_digest(sub, self.latest)

    def _new(self, sub: Subscriber, row: SubscriberRow) -> bool:
        return sub.email not in self.delivered and (self.latest is None or row[0] >= self.latest.seen_at)

    def _own_schedule(self, sub: Subscriber, schedule: str, row: SubscriberRow) -> Nothing:
        fire = cron_trigger(schedule, self.tz).get_next_fire_time(None, self.clock.astimezone(self.tz))
        when = fire_text(fire) if fire else "never"
        waiting = len(self.ledger.papers_after(row[1], self.last))
        return Nothing(
            sub.email,
            "schedule",
            f"own schedule ({describe_cron(schedule, self.config.schedule.timezone)}) not due: "
            f"`newsletter run` delivers at {when}; {waiting} new paper{'s' if waiting != 1 else ''} so far",
        )

    def _latest_digest(self, sub: Subscriber, latest: DigestRow) -> Nothing | None:
        matched = self.matcher.match(sub)
        if matched and self.matcher.match(sub, exclude_ids=self.ledger.sent_papers(sub.email)):
            return None
        name = latest.path.rsplit("/", 1)[-1]
        if matched:
            return Nothing(sub.email, "already-sent", f"the latest digest ({name}): its matches were sent before")
        note = revisions_note(sub, self.matcher)
        return Nothing(sub.email, "no-match", f"nothing matched in the latest digest ({name}){note}")


def backfill_new(config: Config) -> list[str]:
    """Subscribers who never had an email get the latest digest in this pass (their
    ledger horizon moves back to just before it). Returns their addresses."""
    with open_ledger(config) as ledger:
        return ledger.backfill(s.email for s in ledger.suppressions().filter(config.subscribers))
