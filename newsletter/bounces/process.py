"""``newsletter bounces``: read the bounce mailbox, record bounces and mailto
unsubscribe requests (SPEC 6).

For every message in the mailbox (``bounces.maildir`` or ``bounces.imap``):

- a delivery status notification (:func:`~newsletter.bounces.dsn.parse_report`):
  each failed or delayed recipient is tied to its delivery by the VERP return path
  the report was sent to (``bounces.verp``, :mod:`newsletter.bounces.verp`), else
  by the Message-ID of the returned message, else by ``Final-Recipient`` to the
  newest delivery to that address; the bounce is recorded (hard or soft) and the address suppressed after
  ``bounces.hard`` hard or ``bounces.soft`` consecutive soft bounces
  (:meth:`~newsletter.delivery.ledger.Ledger.record_bounce`). A report naming no
  delivery of ours is recorded nowhere. Either way the report is moved aside;
- a message to the unsubscribe address (``sender.unsubscribe.mailto``, else the
  From address) carrying a token (:func:`~newsletter.bounces.dsn.parse_unsubscribe`):
  the token is resolved exactly as the one-click endpoint resolves it
  (:class:`~newsletter.unsubscribe.TokenIndex`: configured subscribers,
  HMAC compared in constant time) and honoured like the one-click POST (a
  suppression for good, source ``mailto``) and moved aside; an unknown or forged
  token (or none) changes nothing: the message stays where it is for a human to
  read (it may be a genuine request written by hand), logged once;
- anything else is left where it is, unread.

Each report is recorded under its own Message-ID (or the SHA-256 of its bytes), so
a message read twice (a crash between recording and moving it aside, two readers)
counts once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from newsletter.bounces.dsn import Report, UnsubscribeRequest, parse_report, parse_unsubscribe
from newsletter.bounces.mailbox import ImapBox, MailboxError, MaildirBox
from newsletter.bounces.verp import is_verp
from newsletter.config import Config
from newsletter.delivery.ledger import Ledger
from newsletter.errors import ConfigError
from newsletter.unsubscribe import TokenIndex, mask, secret_for

log = logging.getLogger("newsletter.bounces")


@dataclass
class BounceSummary:
    """What one reading of the mailbox did."""

    mailbox: str = ""
    messages: int = 0  # looked at
    reports: int = 0  # delivery status notifications processed
    bounces: int = 0  # bounces recorded (hard + soft)
    unmatched: int = 0  # bounced recipients tied to no delivery of ours
    suppressed: list[tuple[str, str]] = field(default_factory=list)  # (email, why) suppressed now
    unsubscribed: list[str] = field(default_factory=list)  # honoured mailto requests
    refused: int = 0  # unsubscribe requests with no valid token (left in the mailbox)
    left: int = 0  # not ours: left alone


def unsubscribe_address(config: Config) -> str:
    """Where mailto unsubscribe requests go: ``sender.unsubscribe.mailto``, else From."""
    return config.sender.unsubscribe.mailto or config.sender.mailbox.address


def open_mailbox(config: Config) -> MaildirBox | ImapBox:
    bounces = config.bounces
    if bounces.maildir is not None:
        return MaildirBox(bounces.maildir)
    if bounces.imap is not None:
        password = bounces.imap.password()
        if not password:
            raise ConfigError(
                f"the environment variable {bounces.imap.password_env} (bounces.imap.password_env) is unset or empty",
                path=str(config.path),
                key="bounces.imap.password_env",
            )
        return ImapBox(bounces.imap, password)
    raise ConfigError("no bounce mailbox: set bounces.maildir or bounces.imap", path=str(config.path), key="bounces")


def process_mailbox(config: Config, ledger: Ledger) -> BounceSummary:
    """Read the configured bounce mailbox once (see the module doc)."""
    summary = BounceSummary()
    secret, _ = secret_for(config)
    tokens = TokenIndex(config, secret)
    address = unsubscribe_address(config)
    with open_mailbox(config) as box:
        summary.mailbox = box.name
        for key, data in box.messages():
            summary.messages += 1
            report = parse_report(data)
            if report is not None:
                _report(config, ledger, report, summary)
                box.done(key, data)
                continue
            request = parse_unsubscribe(data, address)
            if request is not None:
                if _unsubscribe(ledger, tokens, request, summary):
                    box.done(key, data)
                continue  # no valid token: left for a human to read (it may be a genuine request)
            summary.left += 1
    return summary


def _report(config: Config, ledger: Ledger, report: Report, summary: BounceSummary) -> None:
    summary.reports += 1
    tied = None
    for address in report.to:  # a VERP return path names its delivery, whatever the report returns
        if is_verp(address) and (tied := ledger.delivery_by_sender(address)) is not None:
            break
    if tied is None and report.message_id:
        tied = ledger.delivery_for(report.message_id)
    for bounce in report.bounces:
        report_id = f"{report.report_id}|{bounce.recipient}"
        if ledger.has_report(report_id):
            continue  # read before (a crash before it was moved aside, or a second reader)
        if tied is not None and (len(report.bounces) == 1 or tied[1].lower() == bounce.recipient):
            delivery_id, email = tied
        else:
            last = ledger.last_delivery_to(bounce.recipient)
            if last is None:
                summary.unmatched += 1
                log.info("bounce report for %s: no delivery of ours, ignored", bounce.recipient)
                continue
            delivery_id, email = last, bounce.recipient
        reason = ledger.record_bounce(
            email,
            kind=bounce.kind,
            source="dsn",
            delivery_id=delivery_id,
            status=bounce.status,
            diagnostic=bounce.diagnostic,
            report_id=report_id,
            hard_limit=config.bounces.hard,
            soft_limit=config.bounces.soft,
        )
        summary.bounces += 1
        log.info("%s bounce for %s: %s %s", bounce.kind, email, bounce.status or "", bounce.diagnostic or "")
        if reason:
            summary.suppressed.append((email.lower(), reason))
            log.warning("%s: suppressed after %s", email, reason)


_warned: set[str] = set()  # requests already warned about (the daemon reads the mailbox every few minutes)


def _unsubscribe(ledger: Ledger, tokens: TokenIndex, request: UnsubscribeRequest, summary: BounceSummary) -> bool:
    """Honour a request with a valid token (True); one without changes nothing (False)."""
    email = tokens.resolve(request.token) if request.token else None
    if email is None:
        summary.refused += 1
        if request.report_id not in _warned:
            _warned.add(request.report_id)
            log.warning(
                "unsubscribe request from %s without a valid token: nothing changed (left in the mailbox)",
                request.sender,
            )
        return False
    if ledger.suppress(email, source="mailto"):
        log.info("%s: unsubscribed (mailto request)", mask(email))
    summary.unsubscribed.append(email)
    return True


def run_bounces(config: Config) -> BounceSummary:
    """:func:`process_mailbox` on the configured ledger (for ``newsletter bounces``)."""
    with Ledger.open(config.ledger_path) as ledger:
        return process_mailbox(config, ledger)


def process_before_send(config: Config, ledger: Ledger) -> BounceSummary | None:
    """The mailbox step of ``send``: a mailbox that cannot be read is one logged line
    and delivery goes on (a bounce read later still counts)."""
    if not config.bounces.mailbox:
        return None
    try:
        summary = process_mailbox(config, ledger)
    except MailboxError as exc:
        log.error("bounce mailbox not read: %s", exc)
        return None
    if summary.reports or summary.unsubscribed or summary.refused:
        log.info(
            "bounce mailbox %s: %d reports, %d bounces, %d suppressed, %d unsubscribe requests",
            summary.mailbox,
            summary.reports,
            summary.bounces,
            len(summary.suppressed),
            len(summary.unsubscribed),
        )
    return summary
