"""Render workers started before a big configuration is read (issue 26,
newsletter/render/spawn.py): started only for a pass that sends with a big
configuration, ended quietly when nobody takes them, and taken by the pass (no second
set started). Real processes, a real aiosmtpd server."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from newsletter.render.spawn import EARLY_CONFIG_BYTES, early_workers, render_workers
from tests.conftest import run_cli, wait_for
from tests.smtpd import Faults, smtp_server, write_config
from tests.workerhelp import alive, readers, start_send, workers_of

BIG = 500  # subscribers: a configuration file over EARLY_CONFIG_BYTES


def test_render_spawn_only_for_a_big_configuration_of_a_sending_pass(tmp_path: Path) -> None:
    small = tmp_path / "small.yaml"
    small.write_text("x: 1\n" * 10)
    big = tmp_path / "big.yaml"
    big.write_text("x: 1\n" * (EARLY_CONFIG_BYTES // 5 + 1))
    for path, wanted in ((small, True), (big, False), (tmp_path / "missing.yaml", True)):
        with early_workers(path, wanted=wanted) as none:
            assert none.take() == []
    with early_workers(big) as early:
        procs = early.take()
        assert len(procs) == render_workers()
        for proc in procs:  # taken: the taker ends them (here: end of input)
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.close()
            assert proc.wait(30) == 0
            proc.stdout.close()


def test_render_spawn_workers_nobody_takes_end_quietly(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("x: 1\n" * (EARLY_CONFIG_BYTES // 5 + 1))
    early = early_workers(big)
    procs = list(early._procs)
    assert procs and all(p.poll() is None for p in procs)
    early.close()
    assert [p.returncode for p in procs] == [0] * len(procs)  # end of input: a quiet exit, no kill
    assert not any(alive(p.pid) for p in procs)


def test_render_spawn_big_pass_takes_the_early_workers_and_serves_everyone(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    gate = threading.Event()
    with smtp_server(Faults(gate=gate, gate_after=40)) as server:
        cfg = write_config(tmp_path, server.port, readers(BIG), smtp={"connections": 2})
        assert cfg.stat().st_size >= EARLY_CONFIG_BYTES
        shutil.copy2(seeds["001"], tmp_path / "digests")
        proc = start_send(cfg)
        wait_for(lambda: server.handler.held == 2 or proc.poll() is not None, 60, "the pass under way")
        during = workers_of(proc.pid)
        gate.set()
        _, err = proc.communicate(timeout=180)
        got = server.by_recipient()
    assert proc.returncode == 0, err[-3000:]
    assert len(during) == render_workers()  # the early ones rendering: no second set started
    assert sorted(got) == [r["email"] for r in readers(BIG)] and all(len(m) == 1 for m in got.values())
    assert not any(alive(pid) for pid in during)


def test_render_spawn_big_broken_configuration_exits_2_in_one_line(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, 1, readers(BIG))
    with cfg.open("a") as f:
        f.write("smtp: [unclosed\n")
    assert cfg.stat().st_size >= EARLY_CONFIG_BYTES
    done = run_cli("send", "-c", str(cfg))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
