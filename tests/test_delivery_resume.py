"""Resume (SPEC 6, issue 11): a pass interrupted by SIGTERM or a crash is recorded as
unfinished, and the next start of ``run`` or ``send`` finishes it at once for every
subscriber it had not reached, not at the next cron fire. Real daemon and ``send``
processes, a real (slow) aiosmtpd server, a real ledger."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.store import SqliteLedger
from tests.conftest import NEVER_SOON, settled_copy, wait_for
from tests.indaemon import in_daemon, until
from tests.smtpd import Faults, smtp_server, write_config

ROOT = Path(__file__).resolve().parent.parent
PEOPLE = [{"email": f"reader{i:02d}@example.org", "keywords": ["learning"]} for i in range(30)]


async def start_and_stop(cfg: Path) -> None:
    """The daemon started (its resume at start runs) and stopped."""
    async with in_daemon(cfg):
        pass


def unfinished(cfg: Path) -> list[object]:
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        return list(ledger.unfinished_runs())


@pytest.mark.asyncio
async def test_resume_sigterm_to_run_mid_pass_restart_serves_everyone_at_start(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    gate = threading.Event()  # the server takes 4 messages, then holds every reply until it opens
    with smtp_server(Faults(gate=gate, gate_after=4)) as server:
        # the cron fires once a year: only the resume at start can finish the pass
        cfg = write_config(
            tmp_path,
            server.port,
            PEOPLE,
            smtp={"connections": 2, "timeout": 10},
            schedule={"cron": NEVER_SOON, "timezone": "UTC", "on_arrival": True},
        )
        async with in_daemon(cfg) as rig:
            settled_copy(seeds["000"], tmp_path / "digests")
            polling = asyncio.ensure_future(rig.poll())  # delivered on arrival
            await until(lambda: len(server.received) == 4 and server.handler.held == 2, 30, "a pass under way")
            rig.daemon.stop("SIGTERM")  # what the signal handler calls
            gate.set()  # the two in flight finish and are recorded; nothing new starts
            await polling
        first = len(server.received)
        assert first == 4 + 2
        assert len(unfinished(cfg)) == 1  # recorded as interrupted

        async with in_daemon(cfg) as again:  # the fire is a year away: only the resume at start serves the others
            assert again.passes("resume") == 1
            assert len(server.received) == len(PEOPLE)
        log = again.text()
    recipients = sorted(r for m in server.received for r in m.rcpt_tos)
    assert recipients == sorted(p["email"] for p in PEOPLE)  # each exactly once
    assert "finishing 1 interrupted pass" in log
    assert unfinished(cfg) == []
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        assert ledger.delivery_counts() == {"sent": len(PEOPLE), "pending": 0, "failed": 0}


@pytest.mark.slow
def test_resume_send_killed_mid_pass_then_run_finishes_it_at_start(tmp_path: Path, seeds: dict[str, Path]) -> None:
    gate = threading.Event()  # 4 messages go through, then every reply waits for the gate
    with smtp_server(Faults(gate=gate, gate_after=4)) as server:
        cfg = write_config(
            tmp_path, server.port, PEOPLE, smtp={"connections": 2}, schedule={"cron": NEVER_SOON, "timezone": "UTC"}
        )
        shutil.copy2(seeds["000"], tmp_path / "digests")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        send = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "send", "-c", str(cfg)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: server.handler.held == 2 or send.poll() is not None, 30, "the send under way, 2 in flight")
        send.kill()  # a crash with two messages in flight: nothing is recorded at the end
        send.wait()
        assert len(server.received) == 4
        assert len(unfinished(cfg)) == 1
        gate.set()  # the transactions the kill cut end (taken or dropped: the sender never heard)
        wait_for(lambda: server.handler.held == 0, 30, "the cut transactions over")
        asyncio.run(start_and_stop(cfg))  # the resume at start finishes the pass
        got = server.by_recipient()
    assert sorted(got) == sorted(p["email"] for p in PEOPLE)
    for msgs in got.values():  # a duplicate only for a message in flight at the kill: the same one
        assert len({m.message_id for m in msgs}) == 1
    assert sum(len(m) for m in got.values()) - len(PEOPLE) <= 2
    assert unfinished(cfg) == []


@pytest.mark.asyncio
async def test_resume_send_takes_over_an_interrupted_daemon_pass(tmp_path: Path, seeds: dict[str, Path]) -> None:
    gate = threading.Event()
    with smtp_server(Faults(gate=gate, gate_after=4)) as server:
        cfg = write_config(
            tmp_path,
            server.port,
            PEOPLE,
            smtp={"connections": 2, "timeout": 10},
            schedule={"cron": NEVER_SOON, "timezone": "UTC", "on_arrival": True},
        )
        async with in_daemon(cfg) as rig:
            settled_copy(seeds["000"], tmp_path / "digests")
            polling = asyncio.ensure_future(rig.poll())
            await until(lambda: len(server.received) == 4 and server.handler.held == 2, 30, "a pass under way")
            rig.daemon.stop("SIGTERM")
            gate.set()
            await polling
        assert len(unfinished(cfg)) == 1
        run = subprocess.run(
            [sys.executable, "-m", "newsletter", "send", "-c", str(cfg), "--log-level", "info"],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        assert "finishing the pass interrupted at" in run.stderr
    assert sorted(r for m in server.received for r in m.rcpt_tos) == sorted(p["email"] for p in PEOPLE)
    assert unfinished(cfg) == []
