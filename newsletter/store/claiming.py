"""Several senders on one ledger (SPEC 6d): the claim API (:class:`ClaimLedger`) and its
records, whichever the backend (:mod:`newsletter.store.postgres.claims` implements it
on PostgreSQL): passes planned once, deliveries claimed in batches, leases judged by
the database's clock, fencing numbers on every write.

What is guaranteed, and what the caller must do for it:

1. **One plan per fire.** :meth:`ClaimLedger.plan_pass` plans a pass for
   ``(schedule_key, fire_at)`` at most once across all processes and hosts: a
   transaction-level advisory lock (one for all schedules: planners of two passes at
   once, a fire and a ``send``, would each plan the same new papers for the same
   subscriber) makes the others wait, and the unique key ``passes(schedule_key,
   fire_at)`` refuses a second plan even without it. The pass row and all its
   delivery rows commit in one transaction: a planner that dies mid-plan leaves
   nothing (another plans). ``plan_fn`` runs inside that transaction and must only
   read the ledger (it sees a consistent state: no digest or horizon moves under it
   from another planner).
2. **Exclusive claims.** :meth:`ClaimLedger.claim` hands out deliveries with
   ``FOR UPDATE SKIP LOCKED``: two claimers never get the same row at once. Each
   claim is stamped with its owner, a new fencing number (a sequence: larger than
   any before) and ``lease_until`` on the database's ``now()``; no two hosts ever
   compare their clocks.
3. **Self-fencing deadline (the caller's part).** A host must start no SMTP
   transaction on a claim after :meth:`Claim.deadline` (``claimed_at + lease -
   margin``, on its own monotonic clock, ``claimed_at`` taken *before* the claim
   request was sent, so the local deadline always falls before the database's
   ``lease_until``). ``margin`` must exceed the SMTP timeout, so a transaction
   started before the deadline ends before anyone can take the claim over. Safety
   needs only that the host's clock *rate* is close to the server's. To go on past
   the deadline, :meth:`ClaimLedger.renew` first.
4. **Fenced writes.** :meth:`ClaimLedger.record_claimed` and :meth:`ClaimLedger.attach_messages`
   change a row only while its fence is the one given and it is still ``claimed``:
   a host that lost its claim (paused, cut off, presumed dead) can never overwrite
   the new owner's state. Refused writes are returned (log them) and counted for
   ``status``. A write retried after a lost connection whose first try had in fact
   committed is recognised (same fence, same status) and not counted as refused.
5. **Takeover.** A claim whose lease expired (its owner died, froze or was cut off)
   is claimed again by anyone, with a new fence; :class:`Claim` says so
   (``takeover``, ``previous_owner``) and ``status`` counts it. Messages the old
   owner had handed to the relay but not recorded are sent again, with the same
   Message-ID (and the same bytes when they had been stored): duplicates at most
   the SMTP transactions in flight on that host, i.e. ``smtp.connections``.
6. **The end of a pass.** :meth:`ClaimLedger.pass_finished` is True once no delivery of
   the pass (or of an earlier one) is pending or claimed, i.e. every delivery was
   sent, failed, or deferred by this pass (temporary trouble: ``pending`` again, for
   the next pass, as the SQLite ledger does). A live claim of another host keeps
   the pass open until it is recorded or taken over (:meth:`ClaimLedger.claim_wait`
   says how long the earliest lease has to run).

Also the caller's part (kept from the single-host design): each outcome is committed
before that SMTP session's next transaction; a 5xx bounce is recorded
(``record_bounce``) only when its fenced outcome was accepted.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from newsletter.store import ChannelRow, NewDelivery

LEASE_SECONDS = 120.0  # `ledger: {lease_seconds}`'s default (SPEC 3)
JOB_PREFIX = "job:"  # schedule keys of fires that plan no deliveries (the daemon's fetch): never a "current pass"


def owner_id() -> str:
    """A name for this process as a claimer: host, pid and a random part (a restarted
    process with the same pid is another owner)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


# ------------------------------------------------------------------ records


@dataclass(frozen=True, slots=True)
class PassPlan:
    """What ``plan_fn`` returns: the deliveries of the pass (Message-IDs fixed now;
    ``message`` empty when the claimer renders), the last digest id they cover, and
    the addresses that get nothing this time (their horizon moves to ``upto`` too)."""

    deliveries: Sequence[NewDelivery]
    upto: int
    advance: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class PassRef:
    """A planned pass. ``planned_here``: this call planned it (else it joined it)."""

    id: int
    schedule_key: str
    fire_at: datetime
    planned_by: str
    planned_at: datetime
    upto: int | None
    deliveries: int
    finished_at: datetime | None
    planned_here: bool = False


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery this process holds, until ``lease_until`` on the database's clock.

    ``message`` is None when nobody has rendered it yet (render, then
    :meth:`ClaimLedger.attach_messages` before SMTP). ``claimed_at`` is this host's
    ``time.monotonic()`` taken before the claim request left (see :meth:`deadline`)."""

    id: int
    pass_id: int | None
    email: str
    message_id: str
    sender: str
    paper_ids: tuple[str, ...]
    message: bytes | None
    attempts: int
    owner: str
    fence: int
    lease_until: datetime
    claimed_at: float
    lease_seconds: float
    takeover: bool = False
    previous_owner: str | None = None

    def deadline(self, margin: float) -> float:
        """The local monotonic time after which no SMTP transaction may start on this
        claim (``margin`` > the SMTP timeout, < the lease)."""
        return self.claimed_at + self.lease_seconds - margin


@dataclass(frozen=True, slots=True)
class FencedOutcome:
    """The outcome of a claimed delivery's SMTP transaction, with the claim's fence:
    ``sent``, ``failed`` (permanent), or ``pending`` (temporary trouble after the
    retries: deferred to the next pass, bytes and Message-ID kept)."""

    id: int
    fence: int
    status: str
    attempts: int
    error: str = ""

    @classmethod
    def of(cls, claim: Claim, status: str, attempts: int, error: str = "") -> FencedOutcome:
        return cls(claim.id, claim.fence, status, attempts, error)


@dataclass(frozen=True, slots=True)
class Refused:
    """A fenced write refused: the claim was no longer this process's. ``owner``,
    ``fence`` and ``status`` are the row's current ones."""

    id: int
    fence: int
    attempted: str
    owner: str | None
    current_fence: int | None
    status: str | None


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a fenced write did: the ids written, and the writes refused as stale."""

    accepted: tuple[int, ...] = ()
    refused: tuple[Refused, ...] = ()


@dataclass(frozen=True, slots=True)
class Renewal:
    """Claims whose lease was extended (new ``lease_until`` and ``claimed_at``), and
    claims lost meanwhile (taken over, or recorded): stop using those."""

    renewed: tuple[Claim, ...] = ()
    lost: tuple[Claim, ...] = ()


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds claims of a pass: how many, how many of them expired (awaiting a
    takeover), and when the latest lease ends (database clock)."""

    owner: str
    claims: int
    expired: int
    until: datetime


@dataclass(frozen=True, slots=True)
class ClaimStatus:
    """What ``status`` shows of a pass: its deliveries by status, who holds claims,
    expired claims taken over, and late writes refused."""

    current: PassRef | None
    finished: bool
    counts: dict[str, int] = field(default_factory=dict)
    holders: tuple[Holder, ...] = ()
    takeovers: int = 0
    refused: int = 0


class ClaimLedger(Protocol):
    """The claim API a sender uses. The SQLite ledger can implement it trivially: one
    process holds the flock, so a claim is the pending rows, fences are constant and
    nothing is ever refused."""

    def plan_pass(
        self, schedule_key: str, fire_at: datetime | None, plan_fn: Callable[[Any], PassPlan], *, owner: str
    ) -> PassRef: ...

    def claim(self, pass_id: int, owner: str, n: int, lease_seconds: float) -> list[Claim]: ...

    def renew(self, claims: Sequence[Claim], lease_seconds: float | None = None) -> Renewal: ...

    def attach_messages(self, rendered: Sequence[tuple[Claim, bytes]]) -> Recorded: ...

    def record_claimed(self, pass_id: int, owner: str, outcomes: Sequence[FencedOutcome]) -> Recorded: ...

    def pass_finished(self, pass_id: int) -> bool: ...

    def current_pass(self) -> PassRef | None: ...

    def claim_wait(self, pass_id: int) -> float | None: ...

    def claim_status(self, pass_id: int | None = None) -> ClaimStatus: ...

    # chat channels: one message's pending parts at a time, posted by the host holding them
    def claim_channel_message(
        self, owner: str, lease_seconds: float, skip: Sequence[tuple[int, str]] = ()
    ) -> list[ChannelRow]: ...

    def claimed_channel_outcome(
        self, part_id: int, owner: str, status: str, attempts: int, error: str | None
    ) -> bool: ...
