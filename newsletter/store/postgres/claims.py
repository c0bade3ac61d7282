""":class:`Claims`: the claim API of several senders (:mod:`newsletter.store.claiming`,
where its guarantees are written down) on PostgreSQL: advisory locks and a unique key
for planning, ``FOR UPDATE SKIP LOCKED`` for claims, a sequence for fencing numbers,
``now()`` for leases, and every outcome written only ``WHERE fence = ... AND status =
'claimed'``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import psycopg

from newsletter.base.addresses import address_key
from newsletter.store.claiming import (
    JOB_PREFIX,
    Claim,
    ClaimStatus,
    FencedOutcome,
    Holder,
    PassPlan,
    PassRef,
    Recorded,
    Refused,
    Renewal,
)
from newsletter.store.postgres.base import Cursor, PgStore
from newsletter.store.postgres.channels import insert_channel_parts
from newsletter.store.postgres.connection import PLAN_LOCKS
from newsletter.store.postgres.digests import LAST_DIGEST
from newsletter.store.postgres.outbox import advance_horizons, delivery_row

# ------------------------------------------------------------------ SQL

_PASS = "SELECT id, schedule_key, fire_at, planned_by, planned_at, upto, deliveries, finished_at FROM passes"

# pass P claims: pending rows of P and earlier passes not deferred by P itself, and
# claimed rows (of P and earlier) whose lease expired on the database's clock
_OPEN_FOR = """
status IN ('pending', 'claimed') AND COALESCE(pass_id, 0) <= %(pass)s
AND ((status = 'pending' AND COALESCE(deferred_in, 0) < %(pass)s) OR {claimed})
"""

_CLAIMABLE = _OPEN_FOR.format(claimed="(status = 'claimed' AND lease_until < now())")
_UNFINISHED = _OPEN_FOR.format(claimed="status = 'claimed'")  # claimable, or claimed by anyone

_CLAIM = f"""
WITH c AS (
    SELECT id, status AS was, owner AS previous FROM deliveries
     WHERE {_CLAIMABLE}
     ORDER BY id LIMIT %(n)s
       FOR UPDATE SKIP LOCKED
), u AS (
    UPDATE deliveries d
       SET status = 'claimed', owner = %(owner)s, fence = nextval('fence_seq'),
           lease_until = now() + make_interval(secs => %(lease)s), updated_at = %(now)s
      FROM c WHERE d.id = c.id
    RETURNING d.id, d.pass_id, d.email, d.message_id, d.sender, d.papers, d.message, d.attempts, d.fence,
              d.lease_until, c.was, c.previous
), t AS (
    INSERT INTO claim_events(pass_id, delivery_id, kind, owner, other, fence)
    SELECT %(pass)s, id, 'takeover', %(owner)s, previous, fence FROM u WHERE was = 'claimed'
)
SELECT * FROM u ORDER BY id
"""

_RENEW = """
UPDATE deliveries d SET lease_until = now() + make_interval(secs => %(lease)s)
  FROM unnest(%(ids)s::bigint[], %(fences)s::bigint[]) AS o(id, fence)
 WHERE d.id = ANY(%(ids)s) AND d.id = o.id AND d.fence = o.fence AND d.status = 'claimed'
RETURNING d.id, d.lease_until
"""

_FENCED_SENT = """
WITH o AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(fences)s::bigint[], %(attempts)s::int[]) AS o(id, fence, attempts)
), s AS (
    UPDATE deliveries d SET status = 'sent', attempts = d.attempts + o.attempts, updated_at = %(now)s,
           sent_at = %(now)s, last_error = NULL, message = NULL, lease_until = NULL
      FROM o WHERE d.id = ANY(%(ids)s) AND d.id = o.id AND d.fence = o.fence AND d.status = 'claimed'
    RETURNING d.id, d.email_key, d.papers
), p AS (
    INSERT INTO sent_papers(email, paper_id, delivery_id)
    SELECT s.email_key, paper, s.id FROM s, unnest(s.papers) AS paper ON CONFLICT DO NOTHING
)
SELECT id FROM s
"""

_FENCED_UNSENT = """
UPDATE deliveries d SET status = o.status, attempts = d.attempts + o.attempts, last_error = o.error,
       updated_at = %(now)s, lease_until = NULL,
       deferred_in = CASE WHEN o.status = 'pending' THEN %(pass)s ELSE d.deferred_in END
  FROM unnest(%(ids)s::bigint[], %(fences)s::bigint[], %(statuses)s::text[], %(attempts)s::int[],
              %(errors)s::text[]) AS o(id, fence, status, attempts, error)
 WHERE d.id = ANY(%(ids)s) AND d.id = o.id AND d.fence = o.fence AND d.status = 'claimed'
RETURNING d.id
"""

_ATTACH = """
UPDATE deliveries d SET message = o.message, size = length(o.message), updated_at = %(now)s
  FROM unnest(%(ids)s::bigint[], %(fences)s::bigint[], %(messages)s::bytea[]) AS o(id, fence, message)
 WHERE d.id = ANY(%(ids)s) AND d.id = o.id AND d.fence = o.fence AND d.status = 'claimed'
RETURNING d.id
"""

_COPY_DELIVERIES = (
    "COPY deliveries (pass_id, email, email_key, message_id, created_at, updated_at, horizon, papers, sender, "
    "size, message) FROM STDIN"
)
_COPY_TYPES = ["int8", "text", "text", "text", "float8", "float8", "int8", "text[]", "text", "int4", "bytea"]


def _pass_ref(row: tuple[Any, ...], planned_here: bool = False) -> PassRef:
    return PassRef(
        int(row[0]),
        row[1],
        row[2],
        row[3],
        row[4],
        None if row[5] is None else int(row[5]),
        int(row[6]),
        row[7],
        planned_here,
    )


def _claim(row: tuple[Any, ...], owner: str, started: float, lease: float) -> Claim:
    (key, pass_id, email, message_id, sender, papers, message, attempts, fence, until, was, previous) = row
    return Claim(
        int(key),
        None if pass_id is None else int(pass_id),
        email,
        message_id,
        sender,
        tuple(papers),
        None if message is None else bytes(message),
        int(attempts),
        owner,
        int(fence),
        until,
        started,
        lease,
        was == "claimed",
        previous if was == "claimed" else None,
    )


#: A pass with no fire time (a manual ``send``) joins the pass of its key planned at most this
#: many seconds before (senders started together on several hosts share one pass, whatever
#: second of the minute they start at).
JOIN_SECONDS = 60.0


class Claims(PgStore):
    """The claim API on PostgreSQL (:class:`newsletter.store.claiming.ClaimLedger`: its
    module doc says what is guaranteed and what the caller must do)."""

    # ------------------------------------------------------------------ planning

    def plan_pass(
        self, schedule_key: str, fire_at: datetime | None, plan_fn: Callable[[Any], PassPlan], *, owner: str
    ) -> PassRef:
        """The pass of ``(schedule_key, fire_at)``, planned by this call when nobody has
        (``plan_fn(ledger)`` computes it, inside the planning transaction), else the
        one planned (``planned_here`` False). ``fire_at``: an aware datetime, or None for
        a pass with no fire time (a manual ``send``): it joins the pass of its key planned
        at most :data:`JOIN_SECONDS` before, on the database's clock, while that pass is
        unfinished or nothing was picked up since; else it is planned at the database's
        ``now()``."""
        try:
            ref = self._plan(schedule_key, fire_at, plan_fn, owner)
        except psycopg.errors.UniqueViolation:
            # planned meanwhile by a process that did not take the lock (the key is the guard)
            found = self._one(_PASS + " WHERE schedule_key = %s AND fire_at = %s", (schedule_key, fire_at))
            if found is None:
                raise
            return _pass_ref(found)
        if ref.planned_here:
            # the claim queries pick their plan by the table's statistics: a pass just
            # inserted in bulk would otherwise be claimed by sorting every open row
            self.conn.execute("ANALYZE deliveries")
        return ref

    @staticmethod
    def _planned(cur: Cursor, schedule_key: str, fire_at: datetime | None) -> tuple[Any, ...] | None:
        """The pass this planning joins, if any (see :meth:`plan_pass`)."""
        if fire_at is not None:
            cur.execute(_PASS + " WHERE schedule_key = %s AND fire_at = %s", (schedule_key, fire_at))
            return cur.fetchone()
        cur.execute(
            _PASS + " WHERE schedule_key = %s AND planned_at >= now() - make_interval(secs => %s)"
            " ORDER BY planned_at DESC, id DESC LIMIT 1",
            (schedule_key, JOIN_SECONDS),
        )
        recent = cur.fetchone()
        if recent is None:
            return None
        ref = _pass_ref(recent)
        if ref.finished_at is None:
            return recent
        cur.execute(LAST_DIGEST)
        latest = cur.fetchone()
        return recent if latest is not None and ref.upto == int(latest[0]) else None

    def _plan(
        self, schedule_key: str, fire_at: datetime | None, plan_fn: Callable[[Any], PassPlan], owner: str
    ) -> PassRef:
        with self._tx() as cur:
            # ONE planner at a time, whatever the schedule: two passes planned at once (a fire
            # and a `send`) would each see the other's subscribers as not yet served
            cur.execute("SELECT pg_advisory_xact_lock(%s, 0)", (PLAN_LOCKS,))
            found = self._planned(cur, schedule_key, fire_at)
            if found is not None:
                return _pass_ref(found)
            cur.execute(
                "INSERT INTO passes(schedule_key, fire_at, planned_by)"
                " VALUES (%s, COALESCE(%s::timestamptz, now()), %s) RETURNING id",
                (schedule_key, fire_at, owner),
            )
            row = cur.fetchone()
            assert row is not None
            pass_id = int(row[0])
            plan = plan_fn(self)
            self._insert_plan(cur, pass_id, plan)
            cur.execute(
                "UPDATE passes SET upto = %s, deliveries = %s WHERE id = %s",
                (plan.upto, len(plan.deliveries), pass_id),
            )
            cur.execute(_PASS + " WHERE id = %s", (pass_id,))
            made = cur.fetchone()
            assert made is not None
            return _pass_ref(made, planned_here=True)

    @staticmethod
    def _insert_plan(cur: Cursor, pass_id: int, plan: PassPlan) -> None:
        now = time.time()
        with cur.copy(_COPY_DELIVERIES) as copy:
            copy.set_types(_COPY_TYPES)
            for item in plan.deliveries:
                copy.write_row(delivery_row(item, now, plan.upto, pass_id))
        if any(item.channel_parts for item in plan.deliveries):  # their chat parts, in the same transaction
            cur.execute("SELECT message_id, id FROM deliveries WHERE pass_id = %s", (pass_id,))
            by_message = {m: int(i) for m, i in cur.fetchall()}
            insert_channel_parts(cur, plan.deliveries, [by_message[d.message_id] for d in plan.deliveries], now)
        keys = [address_key(e) for e in (*(d.email for d in plan.deliveries), *plan.advance)]
        advance_horizons(cur, keys, plan.upto)

    def current_pass(self) -> PassRef | None:
        """The latest planned pass of deliveries, if any (the daemon's ``job:`` fires are not)."""
        row = self._one(_PASS + " WHERE schedule_key NOT LIKE %s ORDER BY id DESC LIMIT 1", (JOB_PREFIX + "%",))
        return None if row is None else _pass_ref(row)

    # ------------------------------------------------------------------ claiming

    def claim(self, pass_id: int, owner: str, n: int, lease_seconds: float) -> list[Claim]:
        """Claim up to ``n`` deliveries for pass ``pass_id`` (pending ones of it or of an
        earlier pass, and claims whose lease expired: taken over), each with a new
        fence and a lease of ``lease_seconds`` on the database's clock. One statement,
        one commit. An empty list: nothing claimable now (see :meth:`pass_finished`
        and :meth:`claim_wait`)."""
        if n < 1 or lease_seconds <= 0:
            raise ValueError("claim needs n >= 1 and lease_seconds > 0")
        started = time.monotonic()  # before the request leaves: the local deadline is always early
        rows = self._all(_CLAIM, {"pass": pass_id, "owner": owner, "n": n, "lease": lease_seconds, "now": time.time()})
        return [_claim(row, owner, started, lease_seconds) for row in rows]

    def renew(self, claims: Sequence[Claim], lease_seconds: float | None = None) -> Renewal:
        """Extend the lease of ``claims`` still held (same fence, still claimed) by
        ``lease_seconds`` (default: each claim's own) from the database's now. A claim
        whose lease ran out but that nobody took over is renewed (nobody else held it)."""
        if not claims:
            return Renewal()
        lease = lease_seconds if lease_seconds is not None else min(c.lease_seconds for c in claims)
        started = time.monotonic()
        rows = self._all(_RENEW, {"lease": lease, "ids": [c.id for c in claims], "fences": [c.fence for c in claims]})
        until = {int(key): at for key, at in rows}
        renewed = tuple(
            replace(c, lease_until=until[c.id], claimed_at=started, lease_seconds=lease)
            for c in claims
            if c.id in until
        )
        return Renewal(renewed, tuple(c for c in claims if c.id not in until))

    def attach_messages(self, rendered: Sequence[tuple[Claim, bytes]]) -> Recorded:
        """Store the bytes rendered for claimed deliveries (fenced), so that a re-send by
        anyone carries the identical message. Call before the SMTP transaction."""
        if not rendered:
            return Recorded()
        rows = self._all(
            _ATTACH,
            {
                "now": time.time(),
                "ids": [c.id for c, _ in rendered],
                "fences": [c.fence for c, _ in rendered],
                "messages": [data for _, data in rendered],
            },
        )
        done = {int(r[0]) for r in rows}
        refused = tuple(Refused(c.id, c.fence, "attach", None, None, None) for c, _ in rendered if c.id not in done)
        return Recorded(tuple(c.id for c, _ in rendered if c.id in done), refused)

    def record_claimed(self, pass_id: int, owner: str, outcomes: Sequence[FencedOutcome]) -> Recorded:
        """Record the outcomes of claimed deliveries, one transaction (one fsync), each
        only while its claim is current (same fence, still ``claimed``): ``sent``
        (papers recorded as sent, bytes dropped), ``failed``, ``pending`` (deferred
        by pass ``pass_id`` to the next one). The others are refused, counted for
        ``status`` (as ``owner``'s) and returned: log them."""
        if not outcomes:
            return Recorded()
        now = time.time()
        with self._tx() as cur:
            accepted = self._write_sent(cur, now, [o for o in outcomes if o.status == "sent"])
            accepted |= self._write_unsent(cur, now, pass_id, [o for o in outcomes if o.status != "sent"])
            refused = self._refusals(cur, pass_id, owner, [o for o in outcomes if o.id not in accepted], accepted)
        return Recorded(tuple(o.id for o in outcomes if o.id in accepted), refused)

    @staticmethod
    def _write_sent(cur: Cursor, now: float, sent: Sequence[FencedOutcome]) -> set[int]:
        if not sent:
            return set()
        args = {"now": now, "ids": [o.id for o in sent], "fences": [o.fence for o in sent]}
        cur.execute(_FENCED_SENT, args | {"attempts": [o.attempts for o in sent]})
        return {int(r[0]) for r in cur.fetchall()}

    @staticmethod
    def _write_unsent(cur: Cursor, now: float, pass_id: int, unsent: Sequence[FencedOutcome]) -> set[int]:
        if not unsent:
            return set()
        for o in unsent:
            if o.status not in ("failed", "pending"):
                raise ValueError(f"an outcome is sent, failed or pending, not {o.status!r}")
        cur.execute(
            _FENCED_UNSENT,
            {
                "now": now,
                "pass": pass_id,
                "ids": [o.id for o in unsent],
                "fences": [o.fence for o in unsent],
                "statuses": [o.status for o in unsent],
                "attempts": [o.attempts for o in unsent],
                "errors": [o.error for o in unsent],
            },
        )
        return {int(r[0]) for r in cur.fetchall()}

    @staticmethod
    def _refusals(
        cur: Cursor, pass_id: int, owner: str, rest: Sequence[FencedOutcome], accepted: set[int]
    ) -> tuple[Refused, ...]:
        """The writes not applied: a retry of one that had committed (same fence, same
        status: accepted after all), else refused and counted."""
        if not rest:
            return ()
        cur.execute("SELECT id, owner, fence, status FROM deliveries WHERE id = ANY(%s)", ([o.id for o in rest],))
        current = {int(r[0]): r[1:] for r in cur.fetchall()}
        refused = []
        for o in rest:
            now_owner, fence, status = current.get(o.id, (None, None, None))
            if fence == o.fence and status == o.status:
                accepted.add(o.id)  # our own write, committed by a try whose answer was lost
                continue
            refused.append(Refused(o.id, o.fence, o.status, now_owner, fence, status))
        if refused:
            cur.executemany(
                "INSERT INTO claim_events(pass_id, delivery_id, kind, owner, other, fence) "
                "VALUES (%s, %s, 'refused', %s, %s, %s)",
                [(pass_id, r.id, owner, r.owner, r.fence) for r in refused],
            )
        return tuple(refused)

    # ------------------------------------------------------------------ the end of a pass, status

    def pass_finished(self, pass_id: int) -> bool:
        """True once nothing of pass ``pass_id`` (or an earlier one) is pending or
        claimed, but what this pass deferred; the pass is then marked finished."""
        busy = self._one(
            f"SELECT 1 FROM deliveries WHERE {_UNFINISHED} LIMIT 1",
            {"pass": pass_id},
        )
        if busy is not None:
            return False
        self.conn.execute("UPDATE passes SET finished_at = now() WHERE id = %s AND finished_at IS NULL", (pass_id,))
        return True

    def claim_wait(self, pass_id: int) -> float | None:
        """Seconds (database clock) until the earliest live claim of pass ``pass_id`` (or
        an earlier one) expires; 0 when one already has; None when none is claimed."""
        found = self._scalar(
            "SELECT EXTRACT(EPOCH FROM MIN(lease_until) - now()) FROM deliveries "
            "WHERE status = 'claimed' AND COALESCE(pass_id, 0) <= %s",
            (pass_id,),
        )
        return None if found is None else max(0.0, float(found))

    def claim_status(self, pass_id: int | None = None) -> ClaimStatus:
        """What ``status`` shows of pass ``pass_id`` (default: the latest one)."""
        if pass_id is None:
            current = self.current_pass()
        else:
            row = self._one(_PASS + " WHERE id = %s", (pass_id,))
            current = None if row is None else _pass_ref(row)
        if current is None:
            return ClaimStatus(None, True)
        counts = {"pending": 0, "claimed": 0, "sent": 0, "failed": 0}
        for status, n in self._all(
            "SELECT status, COUNT(*) FROM deliveries WHERE pass_id = %s GROUP BY status", (current.id,)
        ):
            counts[status] = int(n)
        holders = tuple(
            Holder(owner, int(n), int(expired), until)
            for owner, n, expired, until in self._all(
                "SELECT owner, COUNT(*), COUNT(*) FILTER (WHERE lease_until < now()), MAX(lease_until) "
                "FROM deliveries WHERE status = 'claimed' AND pass_id = %s GROUP BY owner ORDER BY owner",
                (current.id,),
            )
        )
        events = dict(
            self._all("SELECT kind, COUNT(*) FROM claim_events WHERE pass_id = %s GROUP BY kind", (current.id,))
        )
        return ClaimStatus(
            current,
            current.finished_at is not None,
            counts,
            holders,
            int(events.get("takeover", 0)),
            int(events.get("refused", 0)),
        )
