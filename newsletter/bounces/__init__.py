"""The bounce mailbox (SPEC 6): delivery status notifications and mailto unsubscribe
requests, read from a Maildir or an IMAP folder and recorded in the ledger.

The names below are imported on first use (PEP 562): ``send`` needs
:mod:`newsletter.bounces.verp` and :mod:`newsletter.bounces.policy` alone until a
mailbox is configured, and does not load the mailbox readers at start-up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from newsletter.base.lazy import lazy_exports

if TYPE_CHECKING:
    from newsletter.bounces.dsn import Bounce, Report, UnsubscribeRequest, parse_report, parse_unsubscribe
    from newsletter.bounces.mailbox import MailboxError
    from newsletter.bounces.process import BounceSummary, process_before_send, process_mailbox, run_bounces

_WHERE = {
    "Bounce": "newsletter.bounces.dsn",
    "Report": "newsletter.bounces.dsn",
    "UnsubscribeRequest": "newsletter.bounces.dsn",
    "parse_report": "newsletter.bounces.dsn",
    "parse_unsubscribe": "newsletter.bounces.dsn",
    "MailboxError": "newsletter.bounces.mailbox",
    "BounceSummary": "newsletter.bounces.process",
    "process_before_send": "newsletter.bounces.process",
    "process_mailbox": "newsletter.bounces.process",
    "run_bounces": "newsletter.bounces.process",
}

__all__ = [
    "Bounce",
    "BounceSummary",
    "MailboxError",
    "Report",
    "UnsubscribeRequest",
    "parse_report",
    "parse_unsubscribe",
    "process_before_send",
    "process_mailbox",
    "run_bounces",
]


__getattr__ = lazy_exports(__name__, _WHERE)
