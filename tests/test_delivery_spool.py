"""A large pass through the message spool (issue 26, newsletter/store/spool.py), as cron
runs it: the render workers write the bytes beside the ledger, the ledger records where
they are, and after the pass nothing of the spool is left. A ``send`` killed mid-pass
leaves the spool; the next ``send`` re-sends the very bytes spooled, or, when someone
deleted them, fails those deliveries with the file named and serves everyone else. A
spool that cannot be made keeps the pass going with its messages in the ledger. Real
``send`` processes and render workers, a real aiosmtpd server, a real SQLite ledger."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from newsletter.config import load_config
from newsletter.delivery.service import POOL_MIN
from newsletter.store import SqliteLedger
from newsletter.store.spool import Spooled, read_spooled, spool_dir_for
from tests.conftest import wait_for
from tests.smtpd import Faults, SmtpServer, smtp_server, write_config
from tests.workerhelp import ROOT, readers, start_send

N = POOL_MIN + 40


def spooled_pending(ledger_path: Path) -> dict[str, bytes]:
    """Address -> spooled bytes of each delivery recorded pending with its bytes in the
    spool (read as the next pass will: the spool files)."""
    conn = sqlite3.connect(f"file:{ledger_path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT email, spool, spool_at, size FROM deliveries WHERE status = 'pending' AND spool IS NOT NULL"
        ).fetchall()
        stored = conn.execute("SELECT COUNT(*) FROM deliveries WHERE message IS NOT NULL").fetchone()[0]
    finally:
        conn.close()
    assert stored == 0, "a pass that renders in workers writes no message bytes into the ledger"
    spool = spool_dir_for(ledger_path)
    return {e: read_spooled(spool, [Spooled(f, at, n)])[0] for e, f, at, n in rows}


def rerun(cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsletter", "send", "-c", str(cfg)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
    )


def killed_mid_pass(tmp_path: Path, seeds: dict[str, Path], server: SmtpServer, gate: threading.Event) -> Path:
    """A ``send`` SIGKILLed with two messages held at the server's gate; the config."""
    cfg = write_config(tmp_path, server.port, readers(N), smtp={"connections": 2, "timeout": 20})
    shutil.copy2(seeds["001"], tmp_path / "digests")
    proc = start_send(cfg)
    wait_for(lambda: server.handler.held == 2 or proc.poll() is not None, 60, "the pass under way, 2 in flight")
    proc.kill()
    proc.communicate(timeout=30)
    return cfg


def test_spool_large_pass_sends_from_the_spool_and_leaves_none(tmp_path: Path, seeds: dict[str, Path]) -> None:
    gate = threading.Event()
    with smtp_server(Faults(gate=gate, gate_after=30)) as server:
        cfg = write_config(tmp_path, server.port, readers(N), smtp={"connections": 2})
        shutil.copy2(seeds["001"], tmp_path / "digests")
        ledger_path = load_config(cfg).ledger_path
        proc = start_send(cfg)
        wait_for(lambda: server.handler.held == 2 or proc.poll() is not None, 60, "the pass under way")
        midway = spooled_pending(ledger_path)  # recorded pending: the spool holds their bytes
        gate.set()
        _, err = proc.communicate(timeout=180)
        got = server.by_recipient()
    assert proc.returncode == 0, err[-3000:]
    assert midway, "deliveries recorded pending mid-pass, their bytes in the spool"
    assert sorted(got) == [r["email"] for r in readers(N)] and all(len(m) == 1 for m in got.values())
    for email, data in midway.items():
        assert got[email][0].data == data  # the server got the very bytes spooled
    assert not spool_dir_for(ledger_path).exists()
    with SqliteLedger.open(ledger_path) as ledger:
        assert ledger.delivery_counts() == {"sent": N, "pending": 0, "failed": 0}
        assert ledger.conn.execute("SELECT COUNT(*) FROM deliveries WHERE spool IS NOT NULL").fetchone()[0] == 0


def test_spool_send_killed_mid_pass_next_send_resends_the_spooled_bytes(tmp_path: Path, seeds: dict[str, Path]) -> None:
    gate = threading.Event()
    with smtp_server(Faults(gate=gate, gate_after=30)) as server:
        cfg = killed_mid_pass(tmp_path, seeds, server, gate)
        ledger_path = load_config(cfg).ledger_path
        left = spooled_pending(ledger_path)
        gate.set()  # the transactions the kill cut end (taken or dropped: the sender never heard)
        wait_for(lambda: server.handler.held == 0, 30, "the cut transactions over")
        before = len(server.received)
        again = rerun(cfg)
        got = server.by_recipient()
    assert again.returncode == 0, again.stderr[-3000:]
    assert left, "the kill left deliveries pending with their bytes in the spool"
    resent = [m for m in server.received[before:] if m.rcpt_tos[0] in left]
    assert sorted(m.rcpt_tos[0] for m in resent) == sorted(left)
    for msg in resent:
        assert msg.data == left[msg.rcpt_tos[0]]  # the same message: bytes, Message-ID and all
    assert sorted(got) == [r["email"] for r in readers(N)]
    assert sum(len(m) for m in got.values()) - N <= 2  # a duplicate only for the two in flight at the kill
    assert not spool_dir_for(ledger_path).exists()


def test_spool_deleted_after_a_kill_fails_those_deliveries_naming_the_file(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    gate = threading.Event()
    with smtp_server(Faults(gate=gate, gate_after=30)) as server:
        cfg = killed_mid_pass(tmp_path, seeds, server, gate)
        ledger_path = load_config(cfg).ledger_path
        lost = spooled_pending(ledger_path)
        spool = spool_dir_for(ledger_path)
        names = [p.name for p in spool.iterdir()]
        for path in spool.iterdir():
            path.unlink()  # an operator "cleaning up" after the crash
        gate.set()
        wait_for(lambda: server.handler.held == 0, 30, "the cut transactions over")
        before = len(server.received)
        again = rerun(cfg)
        later = {r for m in server.received[before:] for r in m.rcpt_tos}
    assert again.returncode == 1, again.stderr[-3000:]
    assert "Traceback" not in again.stderr
    lines = [line for line in again.stderr.splitlines() if "lost before it was sent" in line]
    assert len(lines) == len(lost) > 0
    assert all(line.startswith("failed: ") and any(name in line for name in names) for line in lines)
    assert not later & set(lost)  # never re-sent with other bytes
    assert later | set(lost) >= {r["email"] for r in readers(N)} - {m.rcpt_tos[0] for m in server.received[:before]}
    with SqliteLedger.open(ledger_path) as ledger:
        assert ledger.delivery_counts()["failed"] == len(lost)
        assert ledger.delivery_counts()["pending"] == 0


def test_spool_that_cannot_be_made_keeps_the_messages_in_the_ledger(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, readers(N), smtp={"connections": 2})
        shutil.copy2(seeds["001"], tmp_path / "digests")
        blocker = spool_dir_for(load_config(cfg).ledger_path)
        blocker.write_text("a file where the spool folder goes")
        proc = start_send(cfg)
        _, err = proc.communicate(timeout=180)
        got = server.by_recipient()
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    assert f"{blocker}: cannot make the message spool" in err
    assert (
        f"cannot write the message spool {blocker}" in err and "rendering the rest of the pass in this process" in err
    )
    assert sorted(got) == [r["email"] for r in readers(N)] and all(len(m) == 1 for m in got.values())
    assert blocker.read_text() == "a file where the spool folder goes"  # not ours: left as it was
