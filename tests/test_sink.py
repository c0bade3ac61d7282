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


def start_sink(port: int, maildir: Path) -> subprocess.Popen[str]:
    """``newsletter sink`` as a process, its output line-buffered into pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "sink", "--port", str(port), "--maildir", str(maildir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_sink_stores_every_message_and_prints_a_line(tmp_path: Path) -> None:
    port = free_port()
    maildir = tmp_path / "mail"
    proc = start_sink(port, maildir)
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


def _raw_smtp(port: int, message: bytes) -> list[bytes]:
    """A plain socket conversation (aiosmtplib and smtplib normalise line endings,
    which is what this test must not do)."""
    import socket

    replies: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")

        def reply() -> bytes:
            while True:
                line = reader.readline()
                if line[3:4] != b"-":
                    replies.append(line)
                    return line

        reply()
        for command in (b"EHLO test", b"MAIL FROM:<digest@example.org>", b"RCPT TO:<alice@example.org>", b"DATA"):
            sock.sendall(command + b"\r\n")
            reply()
        stuffed = b"".join(b"." + ln if ln.startswith(b".") else ln for ln in message.splitlines(keepends=True))
        sock.sendall(stuffed + b".\r\n")
        reply()
        sock.sendall(b"QUIT\r\n")
        reply()
    return replies


def test_sink_accepts_long_lines_keeps_bare_cr_stores_exact_bytes(tmp_path: Path) -> None:
    port = free_port()
    maildir = tmp_path / "mail"
    proc = start_sink(port, maildir)
    long_line = b"x" * 5000
    message = (
        b"From: digest@example.org\r\nTo: alice@example.org\r\nSubject: long\r\n\r\n"
        + long_line
        + b"\r\nbare\rCR stays\r\n..a dot-stuffed line\r\n"
    )
    try:
        assert proc.stdout is not None
        assert f"127.0.0.1:{port}" in proc.stdout.readline()
        replies = _raw_smtp(port, message)
        assert proc.stdout.readline()  # the line reporting the message
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert replies[5].startswith(b"250"), replies  # DATA accepted, not "500 Line too long"
    (stored,) = list((maildir / "new").iterdir())
    assert stored.read_bytes() == message  # exactly what was sent (after dot-unstuffing)
    assert list((maildir / "tmp").iterdir()) == []


def test_sink_tls_client_one_clear_line_no_library_warnings(tmp_path: Path) -> None:
    """A client set to security: tls (or starttls) against the plain sink: the sink says
    so in one line; aiosmtpd's warnings about the handshake's bytes never show."""
    port = free_port()
    proc = start_sink(port, tmp_path / "mail")
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        for start_tls, use_tls in ((False, True), (True, False)):
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=use_tls, start_tls=start_tls, timeout=5)
            try:
                asyncio.run(client.connect())
            except (aiosmtplib.SMTPException, OSError):
                pass
            else:
                raise AssertionError(f"connected with use_tls={use_tls} start_tls={start_tls}")
        line = proc.stdout.readline()
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "digest@example.org", "u@example.org", "plain"
        msg.set_content("fine")
        asyncio.run(aiosmtplib.send(msg, hostname="127.0.0.1", port=port, start_tls=False))
        stored = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert "began a TLS handshake: this sink speaks plain SMTP (set smtp.security: none" in line
    assert "digest@example.org -> u@example.org" in stored  # and it goes on serving
    assert err == "", err  # no "unrecognised" warnings with the handshake's bytes
    assert out.count("TLS handshake") == 0 and "1 message stored" in out
