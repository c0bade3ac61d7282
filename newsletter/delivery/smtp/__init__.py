"""The SMTP sender: pooled, retrying, TLS-verifying, on aiosmtplib (SPEC 6, 6b).

:class:`SmtpSender` opens ``smtp.connections`` sessions, each a worker that pulls
ready messages from one bounded queue and sends many messages over its session.
Messages come from an async iterator, so they are produced (rendered, recorded)
as they are sent and memory stays bounded.

Each message ends as a :class:`Result`:

``sent``     the server accepted it (250 after the final ``.``);
``failed``   a permanent refusal of the recipient or the message (5xx to ``RCPT``
             or after ``DATA``), with the server's reply; not retried;
``pending``  temporary trouble (connection refused or dropped, timeouts, 4xx)
             that outlasted ``smtp.retries`` retries with exponential backoff and
             jitter, a reply lost after the final ``.`` (the message may have been
             delivered: it is logged and left pending, never retried under a new
             id), or a run stopped by a problem no retry can fix (TLS, AUTH,
             the server refusing our sender). The pass gives a delivery up
             once it has been pending ``smtp.queue_lifetime_hours``
             (:mod:`newsletter.delivery.lifetime`).

Kind to real servers (issue 14):

- one connection check (:meth:`SmtpSender.preflight`) before the first message: an
  unreachable server, or a port/security mix-up (STARTTLS or plain pointed at an
  implicit-TLS port: no greeting but a TLS handshake works; implicit TLS pointed at
  a plain port: ``WRONG_VERSION_NUMBER``), stops the run at once with one line and a
  hint, everything pending;
- one failed AUTH per run: the first login goes alone (the other sessions wait for
  it), with ONE mechanism (aiosmtplib's ``login`` tries them all), and a refusal
  stops the run before any other session tries;
- a rate-limiting reply (421, 450/451/452 with ``4.7.x``, "too many", "rate limit",
  "slow down") pauses every session (:class:`~.throttle.Throttle`), not just the message;
- a 5xx for the recipient is marked a hard bounce on its :class:`Result` (not a
  ``5.7.x`` policy refusal), which the caller records.

The ``on_result`` callback of a message runs while the session starts its next
transaction (MAIL FROM, RCPT TO) and is awaited before that transaction's DATA, so
the caller can commit each outcome durably (an fsync) without the session waiting
for it, and still: after a crash at most one message per connection can have been
accepted without being recorded (a server accepts a message only at the end of DATA).

Security: ``none`` never upgrades (no opportunistic STARTTLS with an unverified
certificate); ``starttls`` passes ``start_tls=True`` and refuses to go on when the
server does not offer STARTTLS (never AUTH in clear, SPEC 6b); ``tls`` is
implicit TLS. Certificates are verified by default against the system store plus
``smtp.ca_file`` (:func:`newsletter.base.tls.tls_context`).

The modules, one per concern (as aiosmtplib keeps one per protocol layer):
:mod:`.records` (in and out), :mod:`.classify` (what a reply means), :mod:`.throttle`
(pacing), :mod:`.session` (one SMTP session), :mod:`.sender` (the pool).
"""

from newsletter.delivery.smtp.classify import enhanced_status, is_hard_bounce, is_rate_limit, plain_hint, tls_hint
from newsletter.delivery.smtp.records import Outgoing, Result, SendStats, Status
from newsletter.delivery.smtp.sender import GREETING_WAIT, SmtpSender, iterate, try_relay
from newsletter.delivery.smtp.session import envelope_address, send_data, wire_data

__all__ = [
    "GREETING_WAIT",
    "Outgoing",
    "Result",
    "SendStats",
    "SmtpSender",
    "Status",
    "enhanced_status",
    "envelope_address",
    "is_hard_bounce",
    "is_rate_limit",
    "iterate",
    "plain_hint",
    "send_data",
    "tls_hint",
    "try_relay",
    "wire_data",
]
