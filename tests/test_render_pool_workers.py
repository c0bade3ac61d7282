"""Render worker processes that die (issue 11): a worker killed with SIGKILL mid-pass
makes the pass render the rest in its own process, every subscriber is served and
``send`` exits 0; a ``send`` killed while its workers start leaves no traceback, no
leaked-semaphore warning and no orphan. Real processes, a real aiosmtpd server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from newsletter.config import load_config
from newsletter.delivery.service import POOL_MIN
from newsletter.store import SqliteLedger
from tests.conftest import wait_for
from tests.smtpd import Faults, smtp_server, write_config
from tests.workerhelp import ROOT, alive, readers, start_send, workers_of


def test_render_worker_killed_mid_pass_pass_goes_on_everyone_served_exit_0(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    n = 3 * POOL_MIN  # more than the batches rendered ahead: the kill comes while batches remain
    with smtp_server(Faults(slow=0.02)) as server:
        cfg = write_config(tmp_path, server.port, readers(n), smtp={"connections": 2})
        shutil.copy2(seeds["001"], tmp_path / "digests")
        proc = start_send(cfg)
        wait_for(lambda: len(server.received) >= 20 or proc.poll() is not None, 60, "the pass under way")
        victims = workers_of(proc.pid)
        assert victims and proc.poll() is None, "the pass must render in workers and still run"
        os.kill(victims[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
        got = server.by_recipient()
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err and "BrokenProcessPool" not in err
    assert "rendering the rest of the pass in this process" in err
    assert sorted(got) == [r["email"] for r in readers(n)]
    assert all(len(msgs) == 1 for msgs in got.values())
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        assert ledger.delivery_counts() == {"sent": n, "pending": 0, "failed": 0}
    assert not any(alive(pid) for pid in victims)


def test_render_worker_send_killed_during_worker_start_up_leaves_no_traces(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    n = POOL_MIN + 20
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, readers(n))
        shutil.copy2(seeds["001"], tmp_path / "digests")
        proc = start_send(cfg)
        children = wait_for(lambda: workers_of(proc.pid) or proc.poll() is not None, 60, "workers starting")
        assert isinstance(children, list), "send ended before starting its workers"
        os.kill(proc.pid, signal.SIGKILL)  # while the workers import and read their configuration
        _, err = proc.communicate(timeout=30)
        wait_for(lambda: not any(alive(pid) for pid in children), 10, "the workers to end with their parent")
        # `err` is complete: communicate() read stderr to its end, which comes only when every
        # process holding it (the workers inherit it) has closed it
        for trace in ("Traceback", "UnpicklingError", "EOFError", "leaked semaphore", "resource_tracker"):
            assert trace not in err, err[-3000:]
        rerun = subprocess.run(
            [sys.executable, "-m", "newsletter", "send", "-c", str(cfg)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert sorted(server.by_recipient()) == [r["email"] for r in readers(n)]
