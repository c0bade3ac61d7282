"""Whether a message's line breaks are all CRLF (issue 26, a speed trick).

After ``DATA`` a client sends the message with CRLF line endings, lines that start
with a dot stuffed with a second one, and a last line ``.``.
:func:`newsletter.delivery.smtp.session.wire_data` prepares exactly what aiosmtplib
would, in one pass, for a message with no lone CR or LF; checking that takes three
more passes over the message. :func:`crlf_lines` makes that check where the message
is made (a render worker, on the other core), and the SMTP session, told so, skips it
(tests/test_base_wire.py: the same bytes as the plain way for every message).
"""

from __future__ import annotations


def crlf_lines(message: bytes) -> bool:
    """True when every line break of ``message`` is CRLF (no lone CR, no lone LF)."""
    crlf = message.count(b"\r\n")
    return message.count(b"\r") == crlf and message.count(b"\n") == crlf
