"""Several senders on one PostgreSQL ledger (SPEC 6d, 9): messages/s of 1, 2 and 3
``newsletter send`` processes sharing one pass, beside one sender on the SQLite ledger,
all to the same Postfix ``smtp-sink`` in the same run. The sink waits a second before
answering each DATA (``-w 1``), so that every sender is bound by the relay's latency
(as against a real relay), not by this machine's 2 shared cores: the figure that says
whether adding senders adds throughput (target: 3 senders >= 2.5 x one).

Each figure is the wall time from starting the processes to the last one's exit
(configuration loading, pick-up, planning and the end-of-pass wait included), for
SUBSCRIBERS emails. Needs ``/usr/sbin/smtp-sink`` (Debian ``postfix``) and Debian's
``postgresql``. Prints figures; asserts nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.bench_delivery import PROFILES, ROOT, _free_port, start_sink
from tests.pgserver import TEMPLATE, PgServer

SUBSCRIBERS = 240
CONNECTIONS = 8  # SMTP sessions per sender
DATA_DELAY = 1  # seconds the sink waits before answering DATA (smtp-sink -w)


def _config(directory: Path, port: int, state: str) -> Path:
    (directory / "digests").mkdir(parents=True)
    seed = sorted((ROOT / "seeds").glob("*.txt"))[0]
    (directory / "digests" / seed.name).write_bytes(seed.read_bytes())
    os.utime(directory / "digests" / seed.name, (time.time() - 3600, time.time() - 3600))
    data: dict[str, Any] = {
        "digests": {"directory": "digests", "settle_seconds": 0},
        "state": state,
        "ledger": {"lease_seconds": 60},
        "sender": {"from": "Paper Digest <digest@example.org>"},
        "smtp": {"host": "127.0.0.1", "port": port, "connections": CONNECTIONS, "retries": 3, "timeout": 20},
        "subscribers": [
            {"email": f"user{i:05d}@example.org", "send_empty": True, **PROFILES[i % len(PROFILES)]}
            for i in range(SUBSCRIBERS)
        ],
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _senders(cfg: Path, count: int) -> float:
    """Seconds from starting ``count`` senders to the last one's exit."""
    argv = [sys.executable, "-m", "newsletter", "send", "-c", str(cfg)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    procs = [subprocess.Popen(argv, cwd=cfg.parent, env=env, stdout=subprocess.DEVNULL) for _ in range(count)]
    codes = [p.wait(600) for p in procs]
    seconds = time.perf_counter() - started
    if any(codes):
        print(f"  (a sender exited with {codes})")
    return seconds


def _sending_seconds(state: str, cfg: Path) -> float:
    """From the first delivery recorded (SQLite) or the pass planned (PostgreSQL) to the
    last one sent: the sending itself, without the processes' start."""
    if state.startswith("postgresql:"):
        import psycopg

        with psycopg.connect(state) as conn:
            row = conn.execute(
                "SELECT MAX(d.sent_at) - EXTRACT(EPOCH FROM MIN(p.planned_at)) FROM deliveries d, passes p"
            ).fetchone()
    else:
        import sqlite3

        with sqlite3.connect(cfg.parent / state) as conn:
            row = conn.execute("SELECT MAX(sent_at) - MIN(created_at) FROM deliveries").fetchone()
    return float(row[0]) if row and row[0] else float("nan")


def run() -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"== senders: {SUBSCRIBERS} emails, {CONNECTIONS} SMTP sessions each, sink answers DATA after "
        f"{DATA_DELAY} s (load {load}) =="
    )
    port = _free_port()
    sink = start_sink(port, ("-w", str(DATA_DELAY)))
    try:
        with PgServer() as pg, tempfile.TemporaryDirectory(prefix="bench-senders-") as tmp:
            pg.make_template()
            print(
                f"{'ledger':<11} {'senders':>7} {'wall s':>7} {'msg/s':>6} {'sending s':>10} {'msg/s':>6} {'x one':>6}"
            )
            cfg = _config(Path(tmp) / "sqlite", port, "ledger.sqlite3")
            wall = _senders(cfg, 1)
            sending = _sending_seconds("ledger.sqlite3", cfg)
            print(
                f"{'SQLite':<11} {1:>7} {wall:>7.1f} {SUBSCRIBERS / wall:>6.1f} {sending:>10.1f} "
                f"{SUBSCRIBERS / sending:>6.1f} {'':>6}"
            )
            one = 0.0
            for count in (1, 2, 3):
                url = pg.url(pg.create_database(template=TEMPLATE))
                cfg = _config(Path(tmp) / f"pg{count}", port, url)
                wall = _senders(cfg, count)
                sending = _sending_seconds(url, cfg)
                one = one or sending
                print(
                    f"{'PostgreSQL':<11} {count:>7} {wall:>7.1f} {SUBSCRIBERS / wall:>6.1f} {sending:>10.1f} "
                    f"{SUBSCRIBERS / sending:>6.1f} {one / sending:>6.2f}"
                )
    finally:
        sink.kill()
        sink.wait()


if __name__ == "__main__":
    run()
