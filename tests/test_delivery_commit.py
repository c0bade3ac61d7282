"""The group committer (delivery/commit.py) with a write function of the test's own: the
order of commits, one error reaching every waiter of its group, and no lost wake-up
(whatever arrives while a commit runs goes into the next one)."""

from __future__ import annotations

import asyncio

import pytest

from newsletter.delivery.commit import Batch, Committer
from newsletter.delivery.smtp import Outgoing, Result
from newsletter.store import NewDelivery


def result(key: int) -> Result:
    return Result(Outgoing(key, "from@example.org", f"r{key}@example.org", b"m"), "sent", 1)


def batch(n: int) -> list[NewDelivery]:
    return [NewDelivery(f"r{n}@example.org", f"<{n}@x>", ("p",), "from@example.org", b"m")]


class Recorder:
    """A write that records each group, optionally holding a commit until released."""

    def __init__(self) -> None:
        self.groups: list[tuple[list[int], list[int]]] = []
        self.gate: asyncio.Event | None = None
        self.fail: BaseException | None = None
        self.next_id = 100

    async def write(self, batches: list[Batch], results: list[Result]) -> list[list[int]]:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.groups.append(([int(b[1]) for b in batches], [r.item.key for r in results]))
        ids = []
        for deliveries, _ in batches:
            ids.append(list(range(self.next_id, self.next_id + len(deliveries))))
            self.next_id += len(deliveries)
        return ids


def test_commit_outcomes_arriving_during_a_commit_go_into_the_next_in_order() -> None:
    async def scenario() -> tuple[list[tuple[list[int], list[int]]], list[list[int]]]:
        rec = Recorder()
        rec.gate = asyncio.Event()
        committer = Committer(rec.write)
        first = asyncio.ensure_future(committer.outcome(result(1)))
        await asyncio.sleep(0)  # the first commit starts and waits at the gate
        later = [asyncio.ensure_future(committer.outcome(result(k))) for k in (2, 3)]
        added = asyncio.ensure_future(committer.add(batch(7), 7))
        await asyncio.sleep(0)
        rec.gate.set()
        await asyncio.gather(first, *later)
        return rec.groups, [await added]

    groups, ids = asyncio.run(scenario())
    assert groups == [([], [1]), ([7], [2, 3])]  # one write per group, in arrival order
    assert ids == [[100]]


def test_commit_an_error_reaches_every_waiter_of_its_group_and_the_next_group_commits() -> None:
    async def scenario() -> tuple[list[BaseException | None], list[tuple[list[int], list[int]]]]:
        rec = Recorder()
        rec.gate = asyncio.Event()
        rec.fail = OSError("disk full")
        committer = Committer(rec.write)
        waiters = [asyncio.ensure_future(committer.outcome(result(k))) for k in (1, 2)]
        waiters.append(asyncio.ensure_future(committer.add(batch(5), 5)))
        await asyncio.sleep(0)
        rec.gate.set()
        outcomes = await asyncio.gather(*waiters, return_exceptions=True)
        rec.fail = None
        await committer.outcome(result(3))  # the committer is usable again
        return [o if isinstance(o, BaseException) else None for o in outcomes], rec.groups

    errors, groups = asyncio.run(scenario())
    assert all(isinstance(e, OSError) and str(e) == "disk full" for e in errors)
    assert groups == [([], [3])]


def test_commit_no_lost_wake_up_when_the_last_commit_just_ended() -> None:
    """Outcomes handed in one after another, each right after the previous commit
    returned: every one is committed (none waits forever for a drain that ended)."""

    async def scenario() -> list[tuple[list[int], list[int]]]:
        rec = Recorder()
        committer = Committer(rec.write)
        for k in range(1, 6):
            await asyncio.wait_for(committer.outcome(result(k)), 5)
        return rec.groups

    groups = asyncio.run(scenario())
    assert [keys for _, keys in groups] == [[1], [2], [3], [4], [5]]


def test_commit_a_cancelled_write_cancels_nobody_else_silently() -> None:
    async def scenario() -> None:
        rec = Recorder()
        rec.fail = asyncio.CancelledError()
        committer = Committer(rec.write)
        with pytest.raises(asyncio.CancelledError):
            await committer.outcome(result(1))

    asyncio.run(scenario())


def test_commit_what_arrives_during_a_failing_commit_is_still_answered() -> None:
    """A commit fails (the ledger's disk full) while more outcomes and a batch wait for
    the next one: they get the same error, never written after a failed write (a host
    whose claim was taken over must not record new deliveries) and never left waiting
    forever. `send` on a full disk hung this way, silent, until killed."""

    async def scenario() -> tuple[list[BaseException | None], list[tuple[list[int], list[int]]]]:
        rec = Recorder()
        rec.gate = asyncio.Event()
        rec.fail = OSError("disk full")
        committer = Committer(rec.write)
        first = asyncio.ensure_future(committer.outcome(result(1)))
        await asyncio.sleep(0)  # the first commit starts and waits at the gate
        later = [asyncio.ensure_future(committer.outcome(result(2))), asyncio.ensure_future(committer.add(batch(5), 5))]
        await asyncio.sleep(0)
        rec.gate.set()
        outcomes = await asyncio.wait_for(asyncio.gather(first, *later, return_exceptions=True), 30)  # a hang guard
        return [o if isinstance(o, BaseException) else None for o in outcomes], rec.groups

    errors, groups = asyncio.run(scenario())
    assert [str(e) for e in errors] == ["disk full"] * 3
    assert groups == []
