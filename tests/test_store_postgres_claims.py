"""The claim API of the PostgreSQL ledger (SPEC 6d), on the session's throwaway
PostgreSQL: passes planned once by racing processes, claims never shared by
concurrent processes, expired leases taken over with a new fence, stale writes
refused and counted. Concurrency is real: separate processes (``spawn``), each with
its own connection."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from queue import Empty
from typing import Any

import psycopg
import pytest

from newsletter.store.postgres import FencedOutcome, PassPlan, PostgresLedger
from tests.claimworkers import claim_worker, plan, plan_worker, planned_deliveries
from tests.conftest import wait_for

FIRE = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
CTX = multiprocessing.get_context("spawn")


@pytest.fixture
def ledger(pg_url: str) -> Iterator[PostgresLedger]:
    with PostgresLedger.open(pg_url) as opened:
        yield opened


def expire(url: str, ids: list[int]) -> None:
    """End these claims' leases now (as if their owner had stalled for a whole lease)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE deliveries SET lease_until = now() - interval '1 second' WHERE id = ANY(%s)", (ids,))


def run_processes(target: Any, args: list[tuple[Any, ...]], timeout: float = 120) -> list[Any]:
    """Run ``target(*a, barrier, queue)`` in one process per ``a``, started together;
    their reports in arrival order."""
    barrier, queue = CTX.Barrier(len(args)), CTX.Queue()
    procs = [CTX.Process(target=target, args=(*a, barrier, queue)) for a in args]
    for p in procs:
        p.start()
    reports: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(reports) < len(procs) and time.monotonic() < deadline:
            try:
                reports.append(queue.get(timeout=0.5))
            except Empty:
                dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                assert not dead, f"a worker process failed (exit codes {dead}); its traceback is above"
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert len(reports) == len(procs) and all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return reports


# --------------------------------------------------------------------------- planning


@pytest.mark.slow
def test_claims_plan_pass_from_three_processes_plans_once(pg_url: str) -> None:
    reports = run_processes(plan_worker, [(pg_url, 400, FIRE, f"host{i}") for i in range(3)])
    assert len({pass_id for _, pass_id, _ in reports}) == 1  # all joined the same pass
    assert sum(1 for _, _, here in reports if here) == 1  # exactly one planned it
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*), max(deliveries) FROM passes").fetchone() == (1, 400)
        assert conn.execute("SELECT count(*) FROM deliveries").fetchone() == (400,)


def test_claims_plan_fn_failure_leaves_no_half_planned_pass(ledger: PostgresLedger) -> None:
    def broken(lg: Any) -> PassPlan:
        raise RuntimeError("the planner died")

    with pytest.raises(RuntimeError):
        ledger.plan_pass("0 7 * * *", FIRE, broken, owner="a")
    assert ledger.current_pass() is None
    ref = plan(ledger, 10, fire_at=FIRE, owner="b")
    assert ref.planned_here and ref.deliveries == 10 and ref.planned_by == "b"
    joined = plan(ledger, 99, fire_at=FIRE, owner="c")
    assert (joined.id, joined.planned_here, joined.deliveries) == (ref.id, False, 10)


def test_claims_plan_moves_horizons(ledger: PostgresLedger) -> None:
    d = ledger.record_digest(path="1", sha256="1" * 64)
    ledger.register_subscribers(["s0@example.org", "quiet@example.org"])
    ledger.advance(["s0@example.org", "quiet@example.org"], 0)
    ref = ledger.plan_pass(
        "0 7 * * *",
        FIRE,
        lambda lg: PassPlan(planned_deliveries(1), lg.last_digest_id(), advance=["quiet@example.org"]),
        owner="a",
    )
    assert ref.upto == d
    assert ledger.horizons(["s0@example.org", "quiet@example.org"]) == {"s0@example.org": d, "quiet@example.org": d}


def test_claims_send_without_fire_time_joins_the_send_planned_in_the_last_minute(
    pg_url: str, ledger: PostgresLedger
) -> None:
    # `send`s started together on several hosts share one pass whatever second each starts
    # at (a minute key split them when they started either side of :30)
    first = plan(ledger, 4, key="send", fire_at=None, owner="a")
    second = plan(ledger, 9, key="send", fire_at=None, owner="b")
    assert first.planned_here and not second.planned_here
    assert (second.id, second.deliveries) == (first.id, 4)
    assert plan(ledger, 2, fire_at=FIRE, owner="c").id != first.id  # another key is another pass
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE passes SET planned_at = planned_at - interval '61 seconds' WHERE id = %s", (first.id,))
    later = plan(ledger, 3, key="send", fire_at=None, owner="d")
    assert later.planned_here and later.id != first.id and later.deliveries == 3


def test_claims_send_after_a_finished_send_plans_again_only_for_new_digests(ledger: PostgresLedger) -> None:
    ledger.record_digest(path="1", sha256="1" * 64)
    first = plan(ledger, 2, key="send", fire_at=None, owner="a")
    claims = ledger.claim(first.id, "a", 10, 60)
    ledger.record_claimed(first.id, "a", [FencedOutcome.of(c, "sent", 1) for c in claims])
    assert ledger.pass_finished(first.id)
    again = plan(ledger, 2, key="send", fire_at=None, owner="b")
    assert (again.id, again.planned_here) == (first.id, False)  # nothing new: nothing to do
    ledger.record_digest(path="2", sha256="2" * 64)
    fresh = plan(ledger, 2, key="send", fire_at=None, owner="c")
    assert fresh.planned_here and fresh.id != first.id and fresh.upto == ledger.last_digest_id()


# --------------------------------------------------------------------------- claiming


@pytest.mark.slow
def test_claims_concurrent_processes_never_share_a_row(pg_url: str, ledger: PostgresLedger) -> None:
    ref = plan(ledger, 3000, fire_at=FIRE, owner="planner")
    reports = run_processes(claim_worker, [(pg_url, ref.id, f"w{i}", 16) for i in range(3)])
    claimed = [set(ids) for _, ids, _ in reports]
    assert sum(len(c) for c in claimed) == 3000  # nobody got a row twice...
    assert set().union(*claimed) == {d["id"] for d in ledger.deliveries()}  # ...and every row was claimed
    assert all(len(c) > 0 for c in claimed)  # all three took part
    assert sum(refused for _, _, refused in reports) == 0
    assert ledger.delivery_counts() == {"sent": 3000, "pending": 0, "failed": 0}
    assert ledger.pass_finished(ref.id)
    status = ledger.claim_status()
    assert status.finished and status.takeovers == 0 and status.refused == 0 and status.holders == ()


def test_claims_expired_lease_taken_over_with_a_new_fence(pg_url: str, ledger: PostgresLedger) -> None:
    ref = plan(ledger, 5, fire_at=FIRE, owner="a")
    mine = ledger.claim(ref.id, "a", 10, lease_seconds=1)
    assert len(mine) == 5 and not any(c.takeover for c in mine)
    with PostgresLedger.open(pg_url) as other:
        theirs = wait_for(lambda: other.claim(ref.id, "b", 10, lease_seconds=60), 30, "the lease to run out")
        assert sorted(c.id for c in theirs) == sorted(c.id for c in mine)
        assert all(c.takeover and c.previous_owner == "a" for c in theirs)
        assert min(c.fence for c in theirs) > max(c.fence for c in mine)
        assert ledger.claim_status().holders[0].owner == "b"
        # the first owner comes back and reports: refused, its fence is stale
        late = ledger.record_claimed(ref.id, "a", [FencedOutcome.of(c, "sent", 1) for c in mine])
        assert late.accepted == () and {r.id for r in late.refused} == {c.id for c in mine}
        assert all(r.owner == "b" and r.status == "claimed" for r in late.refused)
        assert ledger.delivery_counts()["sent"] == 0  # nothing written by the stale owner
        done = other.record_claimed(ref.id, "b", [FencedOutcome.of(c, "sent", 1) for c in theirs])
        assert len(done.accepted) == 5 and done.refused == ()
    status = ledger.claim_status()
    assert (status.takeovers, status.refused, status.counts["sent"]) == (5, 5, 5)
    assert {d["email"] for d in ledger.deliveries()} == {f"s{i}@example.org" for i in range(5)}


def test_claims_live_claims_keep_the_pass_open(ledger: PostgresLedger) -> None:
    ref = plan(ledger, 3, fire_at=FIRE, owner="a")
    held = ledger.claim(ref.id, "a", 2, lease_seconds=60)
    assert [c.email for c in ledger.claim(ref.id, "b", 5, lease_seconds=60)] == ["s2@example.org"]
    assert ledger.claim(ref.id, "c", 5, lease_seconds=60) == []
    assert not ledger.pass_finished(ref.id)
    wait = ledger.claim_wait(ref.id)
    assert wait is not None and 0 < wait <= 60
    holders = {h.owner: h.claims for h in ledger.claim_status().holders}
    assert holders == {"a": 2, "b": 1}
    for c in held:
        assert c.deadline(margin=45) == pytest.approx(c.claimed_at + 15)  # the local self-fencing deadline
    ledger.record_claimed(ref.id, "a", [FencedOutcome.of(c, "failed", 1, "550 no such user") for c in held])
    assert not ledger.pass_finished(ref.id)  # b still holds one


def test_claims_deferred_delivery_waits_for_the_next_pass(ledger: PostgresLedger) -> None:
    first = plan(ledger, 2, fire_at=FIRE, owner="a")
    claims = ledger.claim(first.id, "a", 5, lease_seconds=60)
    outcomes = [FencedOutcome.of(claims[0], "sent", 1), FencedOutcome.of(claims[1], "pending", 5, "421 busy")]
    assert len(ledger.record_claimed(first.id, "a", outcomes).accepted) == 2
    assert ledger.claim(first.id, "b", 5, lease_seconds=60) == []  # not again in the pass that deferred it
    assert ledger.pass_finished(first.id)
    assert ledger.claim_status(first.id).finished
    second = ledger.plan_pass(
        "0 7 * * *", FIRE + timedelta(days=1), lambda lg: PassPlan(planned_deliveries(1, prefix="n"), 0), owner="a"
    )
    again = ledger.claim(second.id, "b", 5, lease_seconds=60)
    assert [c.id for c in again] == [claims[1].id, *[d["id"] for d in ledger.deliveries("n0@example.org")]]
    assert again[0].message_id == claims[1].message_id and again[0].attempts == 5


def test_claims_retry_of_a_committed_write_is_not_refused(ledger: PostgresLedger) -> None:
    ref = plan(ledger, 1, fire_at=FIRE, owner="a")
    [claim] = ledger.claim(ref.id, "a", 1, lease_seconds=60)
    outcome = [FencedOutcome.of(claim, "sent", 1)]
    assert ledger.record_claimed(ref.id, "a", outcome).accepted == (claim.id,)
    retry = ledger.record_claimed(ref.id, "a", outcome)  # as after a connection lost on the commit's answer
    assert retry.accepted == (claim.id,) and retry.refused == ()
    assert ledger.claim_status().refused == 0


def test_claims_renew_extends_only_current_claims(pg_url: str, ledger: PostgresLedger) -> None:
    ref = plan(ledger, 2, fire_at=FIRE, owner="a")
    claims = ledger.claim(ref.id, "a", 2, lease_seconds=30)
    renewed = ledger.renew(claims, lease_seconds=600)
    assert len(renewed.renewed) == 2 and renewed.lost == ()
    assert all(
        n.lease_until > c.lease_until and n.fence == c.fence for n, c in zip(renewed.renewed, claims, strict=True)
    )
    expire(pg_url, [claims[0].id])
    [taken] = ledger.claim(ref.id, "b", 5, lease_seconds=30)
    again = ledger.renew(renewed.renewed)
    assert [c.id for c in again.lost] == [taken.id] and [c.id for c in again.renewed] == [claims[1].id]


def test_claims_rendered_bytes_travel_with_a_takeover(pg_url: str, ledger: PostgresLedger) -> None:
    ref = plan(ledger, 1, fire_at=FIRE, owner="a")
    [claim] = ledger.claim(ref.id, "a", 1, lease_seconds=30)
    assert claim.message is None  # planned without bytes: the claimer renders
    assert ledger.attach_messages([(claim, b"rendered by a")]).accepted == (claim.id,)
    expire(pg_url, [claim.id])
    [taken] = ledger.claim(ref.id, "b", 1, lease_seconds=30)
    assert (taken.message, taken.message_id) == (b"rendered by a", claim.message_id)  # the same email again
    late = ledger.attach_messages([(claim, b"late bytes from a")])
    assert late.accepted == () and [r.id for r in late.refused] == [claim.id]
    [taken_again] = ledger.renew([taken]).renewed
    assert taken_again.message == b"rendered by a"


def test_claims_reject_nonsense(ledger: PostgresLedger) -> None:
    ref = plan(ledger, 1, fire_at=FIRE, owner="a")
    with pytest.raises(ValueError):
        ledger.claim(ref.id, "a", 0, lease_seconds=30)
    [claim] = ledger.claim(ref.id, "a", 1, lease_seconds=30)
    with pytest.raises(ValueError):
        ledger.record_claimed(ref.id, "a", [FencedOutcome.of(claim, "bounced", 1)])
    assert ledger.claim_status().counts["claimed"] == 1  # nothing written by the refused call


# --------------------------------------------------------------------------- chat channel parts (issue 27)


def test_claims_channel_parts_planned_with_their_deliveries_claimed_one_message_at_a_time(
    pg_url: str, ledger: PostgresLedger
) -> None:
    """Parts are recorded by plan_pass with their deliveries; a message is claimed whole
    by one owner, never by a second while its lease runs; an outcome is written only by
    the owner; a part not sent gives the message back; an ended lease is taken again."""
    from dataclasses import replace

    from newsletter.store import ChannelPart

    def with_parts(d: Any, *keys: str) -> Any:
        return replace(d, channel_parts=tuple(ChannelPart(0, "", k, n, 2, f"{k}-{n}") for k in keys for n in (1, 2)))

    a, b, c = planned_deliveries(3)
    deliveries = [with_parts(a, "slack:S"), with_parts(b, "slack:S", "webhook:H"), c]
    ledger.plan_pass("0 7 * * *", FIRE, lambda lg: PassPlan(deliveries, lg.last_digest_id()), owner="p")
    assert len(ledger.pending_channel_parts()) == 6 and {r.email for r in ledger.pending_channel_parts()} == {
        a.email,
        b.email,
    }
    first = ledger.claim_channel_message("x", 60)
    assert [(r.email, r.channel, r.part) for r in first] == [(a.email, "slack:S", 1), (a.email, "slack:S", 2)]
    second = ledger.claim_channel_message("y", 60)  # not a's message again: x holds it
    assert [(r.email, r.channel, r.part) for r in second] == [(b.email, "slack:S", 1), (b.email, "slack:S", 2)]
    assert not ledger.claimed_channel_outcome(first[0].id, "y", "sent", 1, None)  # not y's to write
    assert ledger.claimed_channel_outcome(first[0].id, "x", "sent", 1, None)
    assert ledger.claimed_channel_outcome(first[1].id, "x", "pending", 5, "HTTP 503")  # gives it back
    skipping = ledger.claim_channel_message("y", 60, skip=[(first[0].delivery_id, "slack:S")])  # tried: not again
    assert [(r.email, r.channel) for r in skipping] == [(b.email, "webhook:H")] * 2
    third = ledger.claim_channel_message("y", 60)
    assert [(r.email, r.channel, r.part, r.attempts) for r in third] == [(a.email, "slack:S", 2, 5)]
    assert ledger.claim_channel_message("z", 60) == []  # everything held
    with psycopg.connect(pg_url, autocommit=True) as conn:  # y stalled for a whole lease
        conn.execute("UPDATE channel_parts SET lease_until = 0 WHERE owner = 'y'")
    taken = ledger.claim_channel_message("z", 60)
    assert [(r.email, r.channel, r.part) for r in taken] == [(a.email, "slack:S", 2)]
    assert not ledger.claimed_channel_outcome(taken[0].id, "y", "sent", 1, None)  # y's late write: refused
    assert ledger.claimed_channel_outcome(taken[0].id, "z", "sent", 6, None)


# --------------------------------------------------------------------------- the queue lifetime


def test_claims_lifetime_leaves_a_claimed_delivery_to_its_holder_then_gives_it_up(
    ledger: PostgresLedger, pg_url: str
) -> None:
    """On the database's clock (no ``now`` given): a delivery claimed by a sender is
    its holder's to record, whatever its age; pending again, it is given up."""
    ref = plan(ledger, 2, fire_at=FIRE, owner="a")
    held, other = ledger.claim(ref.id, "a", 2, 60)
    ledger.record_claimed(ref.id, "a", [FencedOutcome.of(other, "pending", 1, "451 4.7.1 later")])
    with psycopg.connect(pg_url, autocommit=True) as conn:  # five days and a minute ago
        conn.execute("UPDATE deliveries SET created_at = created_at - %s", (5 * 86400 + 60,))

    given = ledger.give_up_pending(5 * 86400, lambda last: f"gave up; last: {last}")

    assert [(g.email, g.error) for g in given] == [(other.email, "gave up; last: 451 4.7.1 later")]
    assert ledger.record_claimed(ref.id, "a", [FencedOutcome.of(held, "pending", 1, "451 4.7.1 later")]).refused == ()
    assert [g.email for g in ledger.give_up_pending(5 * 86400, lambda last: "gave up")] == [held.email]
    assert ledger.delivery_counts() == {"sent": 0, "pending": 0, "failed": 2}
