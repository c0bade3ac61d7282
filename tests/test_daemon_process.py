"""`newsletter run` as a real process against a real SMTP server and ledger: the wiring
the in-process tests (test_daemon.py) skip: signals (SIGTERM mid-pass, SIGHUP), the
ledger lock between processes, the scheduler firing on its own, the log format.

The schedules here fire every two seconds (a 6-field cron with seconds).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from newsletter.config import load_config
from newsletter.daemon.lock import LedgerLock
from newsletter.store import SqliteLedger
from tests.conftest import EVERY_2S, NEVER_SOON, daemon, newsletter, wait_for
from tests.smtpd import Faults, smtp_server, write_config

ALICE = {
    "email": "alice@example.org",
    "name": "Alice",
    "keywords": ["self-supervised", "contrastive learning", "augment*"],
}


def ledger_counts(config: Path) -> dict[str, int]:
    with SqliteLedger.open(load_config(config).ledger_path) as ledger:
        return ledger.delivery_counts()


@pytest.mark.slow
def test_daemon_sigterm_mid_pass_loses_nothing_sends_nothing_twice(tmp_path: Path, seeds: dict[str, Path]) -> None:
    people = [{"email": f"reader{i:02d}@example.org", "keywords": ["learning"]} for i in range(30)]
    shutil.copy2(seeds["000"], tmp_path / "000.txt")
    gate = threading.Event()  # the server accepts 4 messages, then holds every reply until it opens
    with smtp_server(Faults(gate=gate, gate_after=4)) as server:
        cfg = write_config(
            tmp_path,
            server.port,
            people,
            settle_seconds=0,
            smtp={"connections": 2, "timeout": 10},
            schedule={"cron": EVERY_2S, "timezone": "UTC"},
        )
        shutil.copy2(tmp_path / "000.txt", tmp_path / "digests" / "000.txt")
        with daemon(cfg) as proc:
            wait_for(lambda: len(server.received) == 4 and server.handler.held == 2, 30, "a pass under way, 2 held")
            proc.proc.send_signal(signal.SIGTERM)  # mid-pass: two transactions in flight, 24 never started
            wait_for(lambda: "SIGTERM received" in proc.text(), 30, "the daemon taking the stop")
            gate.set()  # the two in flight are answered now: they finish and are recorded
            assert proc.stop() == 0
        first = len(server.received)
        assert first == 4 + 2  # the four before the stop and the two in flight: no new transaction started
        counts = ledger_counts(cfg)
        assert counts["sent"] == first  # everything the server accepted is recorded as sent
        assert counts["failed"] == 0
        assert "finishing the SMTP transactions in flight" in proc.text()

    with smtp_server(port=server.port) as server2:
        with daemon(cfg) as proc2:
            wait_for(lambda: len(server.received) + len(server2.received) >= 30, 30, "everyone served")
            served = proc2.passes()
            proc2.wait_passes(served + 2)  # the pass that served them has ended, and one more fire came
            assert proc2.stop() == 0
        all_mail = server.received + server2.received
        recipients = sorted(r for m in all_mail for r in m.rcpt_tos)
        assert recipients == sorted(p["email"] for p in people)  # each exactly once
        assert ledger_counts(cfg) == {"sent": 30, "pending": 0, "failed": 0}


@pytest.mark.slow
def test_daemon_second_on_same_ledger_refused(tmp_path: Path) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, [ALICE], schedule={"cron": NEVER_SOON})
        with daemon(cfg) as first:
            second = subprocess.run(
                [sys.executable, "-m", "newsletter", "run", "-c", str(cfg)], capture_output=True, text=True, timeout=30
            )
            assert second.returncode == 2
            assert "another newsletter process is using this ledger" in second.stderr
            assert "Traceback" not in second.stderr
            send = newsletter("send", "-c", str(cfg))  # in this process: the daemon's lock is another's
            assert send.exit_code == 2
            assert "another newsletter process is using this ledger" in send.stderr
            assert first.proc.poll() is None
            assert first.stop() == 0
        # the lock died with the process: it is free again
        with LedgerLock(load_config(cfg).ledger_path, purpose="run the daemon"):
            pass


@pytest.mark.slow
def test_daemon_sighup_bad_config_keeps_old(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = write_config(
            tmp_path, server.port, [ALICE], settle_seconds=0, schedule={"cron": EVERY_2S, "timezone": "UTC"}
        )
        good = cfg.read_text()
        with daemon(cfg) as proc:
            data = yaml.safe_load(good)
            data["smtp"]["conections"] = 3  # a problem of the configuration itself (a bad subscriber is only left out)
            cfg.write_text(yaml.safe_dump(data))
            proc.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "reload refused" in proc.text(), 30, "the reload to be refused")
            assert "smtp.conections: unknown key" in proc.text()
            shutil.copy2(seeds["000"], tmp_path / "digests" / "000.txt")
            wait_for(lambda: server.received, 20, "delivery with the old configuration, at a fire")
            assert proc.proc.poll() is None
            assert proc.stop() == 0
        assert [m.rcpt_tos for m in server.received] == [["alice@example.org"]]
        log = proc.text()
        stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (INFO|WARNING|ERROR) ")
        assert all(stamp.match(line) for line in log.splitlines()), log  # ISO 8601 with the UTC offset
        assert "pass global: subscribers=1 sent=1" in log
