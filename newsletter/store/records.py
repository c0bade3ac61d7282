"""The records the ledger hands out and takes, whichever its backend (SQLite or
PostgreSQL): frozen, typed, never bare tuples of unknown meaning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from newsletter.store.spool import Spooled


def iso(ts: float | None) -> str | None:
    """A UNIX time as an ISO 8601 UTC string (seconds)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery about to be sent, as recorded ``pending``; ``channel_parts``: its chat
    message parts (SPEC 2.5), recorded ``pending`` in the same transaction as the
    delivery, under its new id (their own ``delivery_id`` and ``email`` are not read).
    ``spooled``: where a render worker wrote ``message`` (:mod:`newsletter.store.spool`);
    the SQLite ledger then records that reference instead of the bytes."""

    email: str
    message_id: str
    paper_ids: tuple[str, ...]
    sender: str
    message: bytes
    channel_parts: tuple[ChannelPart, ...] = ()
    spooled: Spooled | None = None


class DeliveryRef(NamedTuple):
    """A recorded delivery: its id and its address."""

    id: int
    email: str


class FailedDelivery(NamedTuple):
    email: str
    error: str


class LastDelivery(NamedTuple):
    """An address's latest delivery: its status and when (sent, or last tried)."""

    status: str
    at: float


class SubscriberRow(NamedTuple):
    first_seen: float
    horizon: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """The outcome of one SMTP transaction of a recorded delivery: ``sent``, ``failed``
    or still ``pending`` (temporary trouble), after ``attempts`` more tries."""

    id: int
    status: str
    attempts: int
    error: str = ""


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """A recorded delivery not yet accepted by the server."""

    id: int
    email: str
    message_id: str
    sender: str
    message: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class SentIssue:
    """A delivery the server accepted, as the archive needs it (no message bytes)."""

    email: str
    message_id: str
    sent_at: float
    paper_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Suppression:
    """An active suppression: for good (``until`` None) or a pause until a UNIX time."""

    email: str
    created_at: float
    source: str
    until: float | None


@dataclass(frozen=True, slots=True)
class UnfinishedRun:
    """A pass that did not finish: what it served (None: everybody) and up to which digest."""

    id: int
    started_at: float
    serving: tuple[str, ...] | None
    upto: int | None


@dataclass(frozen=True, slots=True)
class DigestRow:
    id: int
    path: str
    sha256: str
    status: str
    papers: int
    error: str | None
    seen_at: float
    missing: tuple[str, ...] = ()  # paper ids linked but not read (version 11)

    @property
    def shown_status(self) -> str:
        """``ok``, ``failed``, or ``partial`` (ok, with linked papers not read)."""
        return "partial" if self.status == "ok" and self.missing else self.status


@dataclass(frozen=True, slots=True)
class FetchState:
    """What the ledger remembers of a fetch source (table ``fetch_sources``)."""

    source: str
    url: str
    etag: str | None
    last_modified: str | None
    checked_at: float
    outcome: str
    detail: str | None
    http_status: int | None
    ok_at: float | None


class FeedbackRow(NamedTuple):
    """A like or dislike recorded for a subscriber (issue 17)."""

    email: str
    paper_id: str
    action: str  # "like" or "dislike"
    title: str
    source: str  # "email" (the link's POST) or "cli"
    created_at: float


@dataclass(frozen=True, slots=True)
class ChannelPart:
    """One message (or one part of a split message) of a delivery to a chat channel
    (SPEC 2.5), as recorded ``pending``: ``channel`` names it (``slack:LAB_SLACK_WEBHOOK``),
    ``payload`` is what is sent (the JSON body), ``part`` counts from 1 of ``parts``."""

    delivery_id: int
    email: str
    channel: str
    part: int
    parts: int
    payload: str


class ChannelRow(NamedTuple):
    """A recorded channel message part, with where it stands."""

    id: int
    delivery_id: int
    email: str
    channel: str
    part: int
    parts: int
    payload: str
    status: str  # pending, sent or failed
    attempts: int
    error: str | None
    updated_at: float
