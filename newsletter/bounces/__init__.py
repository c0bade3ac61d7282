"""The bounce mailbox (SPEC 6): delivery status notifications and mailto unsubscribe
requests, read from a Maildir or an IMAP folder and recorded in the ledger."""

from newsletter.bounces.dsn import Bounce, Report, UnsubscribeRequest, parse_report, parse_unsubscribe
from newsletter.bounces.mailbox import MailboxError
from newsletter.bounces.process import BounceSummary, process_before_send, process_mailbox, run_bounces

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
