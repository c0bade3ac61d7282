"""What goes in and comes out of the SMTP sender: a ready message (:class:`Outgoing`), its
outcome (:class:`Result`), the counts of a run (:class:`SendStats`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["sent", "failed", "pending"]
CLAIM_EXPIRED = "not sent: claim expired"  # the error of a message whose ``expired`` said so
MAY_HAVE_ARRIVED = " (may have been delivered)"  # ends the error of a reply lost after the message data


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One ready message. ``key`` is the caller's handle (the ledger's delivery id).
    ``expired``: when given and true, no SMTP transaction may start on it any more (a
    claim past its self-fencing deadline, SPEC 6d): it comes back ``pending``, error
    ``not sent: claim expired``. ``crlf``: every line break of the message is CRLF
    (:func:`newsletter.base.wire.crlf_lines` said so where it was rendered; False: the
    session checks)."""

    key: int
    sender: str
    recipient: str
    message: bytes
    message_id: str = ""
    expired: Callable[[], bool] | None = field(default=None, compare=False)
    crlf: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Result:
    item: Outgoing
    status: Status
    attempts: int
    error: str | None = None
    bounce: str | None = None  # "hard": a 5xx for the recipient at RCPT/DATA (not a 5.7.x policy refusal)


@dataclass(slots=True)
class SendStats:
    sent: int = 0
    failed: int = 0
    pending: int = 0
    lost_replies: int = 0
    stopped: str | None = None  # why the run stopped early, if it did
    errors: list[str] = field(default_factory=list)
