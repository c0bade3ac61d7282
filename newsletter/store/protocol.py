"""The ledger as its consumers use it: one :class:`Ledger` protocol, whichever the backend.

Declared by what the callers need (listmonk's ``Store``, declared by the manager that
uses it), grouped below by who calls what. Both backends satisfy it, and mypy checks
that they do (:mod:`newsletter.store.choose`): the SQLite ledger
(:class:`~newsletter.store.sqlite.SqliteLedger`) and the PostgreSQL one
(:class:`~newsletter.store.postgres.PostgresLedger`). A caller gets one from
:func:`newsletter.store.choose.open_ledger` and never names the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from newsletter.base.addresses import Suppressions
from newsletter.digest import Paper
from newsletter.store.records import (
    ChannelRow,
    DeliveryRef,
    DigestRow,
    FailedDelivery,
    FeedbackRow,
    FetchState,
    LastDelivery,
    NewDelivery,
    Outcome,
    PendingDelivery,
    SentIssue,
    SubscriberRow,
    Suppression,
    UnfinishedRun,
)


class SuppressionPolicy(Protocol):
    """When bounces suppress an address (:class:`newsletter.bounces.policy.BouncePolicy`):
    why ``hard`` hard and ``soft`` consecutive soft bounces do, or None."""

    def reason(self, hard: int, soft: int) -> str | None: ...


class Ledger(Protocol):
    """What the send pass, pick-up, planning, bounces, fetch, the web endpoints, the
    archive and the commands ask of the ledger."""

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    # ------------------------------------------------------------------ the send pass (SendPass, daemon)

    def start_run(self, serving: Sequence[str] | None = None, resumes: Sequence[int] = ()) -> int: ...

    def register_subscribers(self, emails: Iterable[str]) -> int: ...

    def plan_run(self, run_id: int, upto: int) -> None: ...

    def unfinished_runs(self) -> list[UnfinishedRun]: ...

    def finish_run(self, run_id: int, sent: int, failed: int, pending: int, finished: bool = True) -> None: ...

    def last_run(self) -> float | None: ...

    def runs_since(self, since: float) -> list[tuple[str, ...] | None]: ...

    def checkpoint(self) -> None: ...

    # the message spool of a large pass (newsletter/store/spool.py); None: no spool (bytes in the ledger)
    def spool_dir(self) -> Path | None: ...

    def settle_spool(self) -> list[FailedDelivery]: ...

    def pending_ids(self) -> list[int]: ...

    def pendings(self, ids: Sequence[int]) -> list[PendingDelivery]: ...

    # the queue lifetime: pending since ``lifetime`` seconds before ``now`` (None: the ledger's
    # clock) -> failed with the error ``why(last error)``
    def give_up_pending(
        self, lifetime: float, why: Callable[[str | None], str], now: float | None = None
    ) -> list[FailedDelivery]: ...

    def delivery_counts_by_email(self) -> dict[str, int]: ...

    # one transaction: new deliveries pending with their chat parts (NewDelivery.channel_parts), outcomes
    def record(
        self, new_batches: Sequence[tuple[Sequence[NewDelivery], int]] = (), outcomes: Sequence[Outcome] = ()
    ) -> list[list[int]]: ...

    # ------------------------------------------------------------------ pick-up (digests, embeddings)

    def has_digest(self, sha256: str) -> bool: ...

    def record_digest(
        self,
        *,
        path: str,
        sha256: str,
        papers: Sequence[Paper] = (),
        error: str | None = None,
        missing: Sequence[str] = (),
    ) -> int: ...

    def note_ignored(self, files: Sequence[tuple[str, str]]) -> set[str]: ...

    def digests(self) -> list[DigestRow]: ...

    def last_digest_id(self) -> int: ...

    def papers_after(self, horizon: int, upto: int | None = None) -> list[Paper]: ...

    def papers_by_id(self, ids: Iterable[str]) -> dict[str, Paper]: ...

    def store_vectors(self, model: str, vectors: Mapping[str, bytes]) -> None: ...

    def stored_vectors(self, model: str, keys: Iterable[str] | None = None) -> dict[str, bytes]: ...

    # ------------------------------------------------------------------ planning (plan, why, dry run)

    def horizons(self, emails: Iterable[str]) -> dict[str, int]: ...

    def excluded_papers(self, emails: Iterable[str]) -> dict[str, set[str]]: ...

    # papers of deliveries given up by the queue lifetime within ``within`` seconds, with no
    # delivery of the address recorded since (what its next delivery carries)
    def carried_papers(
        self, emails: Iterable[str], within: float, now: float | None = None
    ) -> dict[str, list[str]]: ...

    def advance(self, emails: Iterable[str], horizon: int) -> None: ...

    def subscriber_rows(self, emails: Iterable[str]) -> dict[str, SubscriberRow]: ...

    def last_deliveries(self) -> dict[str, LastDelivery]: ...

    def backfill(self, emails: Iterable[str]) -> list[str]: ...

    def sent_papers(self, email: str) -> set[str]: ...

    # ------------------------------------------------------------------ suppressions (web, CLI, the pass)

    def suppress(self, email: str, *, source: str, until: float | None = None) -> bool: ...

    def unsuppress(self, email: str, *, horizon: bool = True) -> bool: ...

    def suppression(self, email: str, *, now: float | None = None) -> Suppression | None: ...

    def suppressions(self, *, now: float | None = None) -> Suppressions: ...

    def suppressed(self, *, now: float | None = None) -> set[str]: ...

    def suppression_counts(self, *, now: float | None = None) -> dict[str, int]: ...

    def cancel_suppressed(self, ids: Iterable[int] | None = None) -> list[DeliveryRef]: ...

    # ------------------------------------------------------------------ bounces (bounces.process, the pass)

    def delivery_for(self, message_id: str) -> DeliveryRef | None: ...

    def delivery_by_sender(self, sender: str) -> DeliveryRef | None: ...

    def last_delivery_to(self, email: str) -> int | None: ...

    def has_report(self, report_id: str) -> bool: ...

    def record_bounce(
        self,
        email: str,
        *,
        kind: str,
        source: str,
        delivery_id: int | None,
        status: str | None = None,
        diagnostic: str | None = None,
        report_id: str | None = None,
        policy: SuppressionPolicy,
    ) -> str | None: ...

    def record_set_aside(self, message: str, *, kind: str, reason: str, detail: str | None = None) -> bool: ...

    def mailbox_mark(self, mailbox: str, uidvalidity: int, judge: str) -> int: ...

    def raise_mailbox_mark(self, mailbox: str, uidvalidity: int, judge: str, uid: int) -> None: ...

    def known_mail(self, mailbox: str, judge: str) -> set[str]: ...

    def remember_known_mail(self, mailbox: str, judge: str, *, add: Collection[str], gone: Collection[str]) -> None: ...

    # ------------------------------------------------------------------ chat channels (delivery/channels)

    def pending_channel_parts(self) -> list[ChannelRow]: ...

    def channel_outcome(self, part_id: int, status: str, attempts: int, error: str | None) -> None: ...

    def channel_failures(self) -> list[ChannelRow]: ...

    def give_up_channel_parts(
        self, lifetime: float, why: Callable[[str | None], str], now: float | None = None
    ) -> list[ChannelRow]: ...

    # ------------------------------------------------------------------ fetch

    def fetch_states(self) -> dict[str, FetchState]: ...

    def record_fetch(self, state: FetchState) -> None: ...

    # ------------------------------------------------------------------ feedback (web, CLI, matching)

    def record_feedback(self, email: str, paper_id: str, action: str, *, title: str, source: str) -> bool: ...

    def forget_feedback(self, email: str, paper_id: str) -> bool: ...

    def feedback_rows(self, email: str | None = None) -> list[FeedbackRow]: ...

    # ------------------------------------------------------------------ status, the archive, tools

    def delivery_counts(self) -> dict[str, int]: ...

    def failed(self) -> list[FailedDelivery]: ...

    def bounced(self) -> list[dict[str, Any]]: ...

    def set_aside(self, kind: str) -> list[dict[str, Any]]: ...

    def sent_issues(self) -> list[SentIssue]: ...

    def deliveries(self, email: str | None = None) -> list[dict[str, Any]]: ...
