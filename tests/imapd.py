"""A real Dovecot IMAP server on 127.0.0.1 for the bounce-mailbox tests: a minimal
dovecot.conf in a temporary directory, one passwd-file user, Maildir storage,
implicit TLS (IMAPS) with a self-signed certificate made by `cryptography`, run in
the foreground (`dovecot -F -c CONF`) and stopped after the test."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.smtpd import free_port, self_signed

DOVECOT = "/usr/sbin/dovecot"


@dataclass(frozen=True)
class Imapd:
    host: str
    port: int  # IMAPS (implicit TLS)
    starttls_port: int  # IMAP with STARTTLS (plaintext login refused before it)
    user: str
    password: str
    cert: Path
    root: Path


def _mail_owner() -> tuple[int, int]:
    """Dovecot refuses mail access as root: the mailboxes belong to the `dovecot`
    system user when the tests run as root, else to the current user."""
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    entry = pwd.getpwnam("dovecot")
    return entry.pw_uid, entry.pw_gid


@contextmanager
def dovecot(user: str = "bounces", password: str = "imap-s3cret") -> Iterator[Imapd]:
    root = Path(tempfile.mkdtemp(prefix="paper-digest-dovecot-"))
    root.chmod(0o755)  # the mail processes run as another user: they must reach root/mail
    proc: subprocess.Popen[bytes] | None = None
    try:
        (root / "pki").mkdir()
        cert, key = self_signed(root / "pki")
        uid, gid = _mail_owner()
        mail = root / "mail"
        mail.mkdir()
        os.chown(mail, uid, gid)
        (root / "passwd").write_text(f"{user}:{{PLAIN}}{password}::::::\n", encoding="utf-8")
        port, starttls_port = free_port(), free_port()
        conf = root / "dovecot.conf"
        conf.write_text(
            f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain login
first_valid_uid = {uid}
mail_location = maildir:{mail}/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {starttls_port}
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 50
}}
""",
            encoding="utf-8",
        )
        proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                    log = (root / "dovecot.log").read_text(errors="replace") if (root / "dovecot.log").exists() else ""
                    raise RuntimeError(f"dovecot did not start: {out}\n{log}") from None
                time.sleep(0.05)
        yield Imapd("127.0.0.1", port, starttls_port, user, password, cert, root)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)
