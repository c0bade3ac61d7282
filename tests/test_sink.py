"""`newsletter sink`: a real SMTP server storing into a Maildir, as a subprocess."""

from __future__ import annotations

import asyncio
import mailbox
import os
import signal
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from tests.smtpd import free_port


def test_sink_stores_every_message_and_prints_a_line(tmp_path: Path) -> None:
    port = free_port()
    maildir = tmp_path / "mail"
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "sink", "--port", str(port), "--maildir", str(maildir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in first, first + proc.stderr.read() if proc.stderr else ""
        for i in range(3):
            msg = EmailMessage()
            msg["From"] = "digest@example.org"
            msg["To"] = f"u{i}@example.org"
            msg["Subject"] = f"Hello number {i} " + "long words " * 12  # folded on the wire
            msg.set_content("body ✓")

            asyncio.run(aiosmtplib.send(msg, hostname="127.0.0.1", port=port, start_tls=False))
        lines = [proc.stdout.readline() for _ in range(3)]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert all("digest@example.org -> u" in line for line in lines), lines
    assert "3 messages stored" in out
    box = mailbox.Maildir(maildir, create=False)
    subjects = sorted(str(m["Subject"]) for m in box)
    assert len(subjects) == 3 and subjects[0].startswith("Hello")
    assert all("body ✓" in m.get_payload(decode=True).decode() for m in box)  # type: ignore[union-attr]
