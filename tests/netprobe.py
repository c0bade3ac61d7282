"""A stand-in "sender host" for the network namespace tests: run inside a namespace
(``python -m tests.netprobe DB_URL SMTP_HOST SMTP_PORT``), it keeps one PostgreSQL
ledger open, as a sender does, and answers each line on stdin with one line:

- ``pg``: a ledger write -> ``pg ok``, ``pg lost: ...`` (the connection broke) or
  ``pg error: ...``;
- ``smtp``: one message to the SMTP server -> ``smtp ok`` or ``smtp error: ...``.
"""

from __future__ import annotations

import smtplib
import sys
from email.message import EmailMessage

from newsletter.base.errors import LedgerConnectionLost, LedgerError
from newsletter.store.postgres import PostgresLedger


def main() -> None:
    url, smtp_host, smtp_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ledger = PostgresLedger.open(url)
    for count, line in enumerate(sys.stdin, start=1):
        if line.strip() == "pg":
            try:
                ledger.register_subscribers([f"probe{count}@example.org"])
                answer = "pg ok"
            except LedgerConnectionLost as exc:
                answer = f"pg lost: {exc}"
            except LedgerError as exc:
                answer = f"pg error: {exc}"
        else:
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "probe@example.org", "sink@example.org", f"probe {count}"
            msg.set_content("from inside a network namespace")
            try:
                with smtplib.SMTP(smtp_host, smtp_port, timeout=10) as smtp:
                    smtp.send_message(msg)
                answer = "smtp ok"
            except (OSError, smtplib.SMTPException) as exc:
                answer = f"smtp error: {exc}"
        print(answer, flush=True)


if __name__ == "__main__":
    main()
