"""The group committer of a pass: one ledger transaction (one fsync) for everything that
arrived while the previous commit ran.

SMTP outcomes: a session awaits its own outcome's commit before its next SMTP
transaction (a delivery is ``sent`` in the ledger before anything else happens).
Batches of new deliveries: the producer awaits their ids (recorded ``pending``)
before a session can take any delivery of one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from newsletter.delivery.smtp import Result
from newsletter.store import NewDelivery

Batch = tuple[Sequence[NewDelivery], int]  # deliveries to record pending, and the horizon they advance to
# the ledger write on the ledger thread: (batches, results) -> the ids of each batch's deliveries
Write = Callable[[list[Batch], list[Result]], Awaitable[list[list[int]]]]


@dataclass(slots=True)
class _Waiting:
    results: list[tuple[Result, asyncio.Future[None]]]
    batches: list[tuple[Batch, asyncio.Future[list[int]]]]


class Committer:
    """Group commit: :meth:`outcome` and :meth:`add` return once what they handed in
    is committed; whatever arrives while a commit runs goes into the next one. A commit
    that fails hands its error to its own waiters and to whatever arrived meanwhile."""

    def __init__(self, write: Write) -> None:
        self._write = write
        self._waiting = _Waiting([], [])
        self._task: asyncio.Task[None] | None = None

    async def outcome(self, result: Result) -> None:
        """Record one SMTP outcome; returns when it is committed."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.results.append((result, fut))
        self._kick()
        await fut

    async def add(self, batch: Sequence[NewDelivery], horizon: int) -> list[int]:
        """Record a batch of new deliveries ``pending``; returns their ids once committed."""
        fut: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._waiting.batches.append(((batch, horizon), fut))
        self._kick()
        return await fut

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while self._waiting.results or self._waiting.batches:
            now, self._waiting = self._waiting, _Waiting([], [])
            try:
                ids = await self._write([b for b, _ in now.batches], [r for r, _ in now.results])
            except BaseException as exc:
                # every waiter of the group gets the error, and so does whatever arrived during
                # the failed write: never written after it (a host whose claim was taken over
                # must not record new deliveries), never left waiting for a drain that ended
                stranded, self._waiting = self._waiting, _Waiting([], [])
                _fail(now, exc)
                _fail(stranded, exc)
                if isinstance(exc, Exception):
                    return
                raise
            for _, done in now.results:
                if not done.done():
                    done.set_result(None)
            for (_, bfut), batch_ids in zip(now.batches, ids, strict=True):
                if not bfut.done():
                    bfut.set_result(batch_ids)


def _fail(group: _Waiting, exc: BaseException) -> None:
    """The group's write failed: every waiter of it gets the error."""
    futures: list[asyncio.Future[None]] | list[asyncio.Future[list[int]]]
    for futures in ([f for _, f in group.results], [f for _, f in group.batches]):
        for fut in futures:
            if not fut.done():
                fut.set_exception(exc)
