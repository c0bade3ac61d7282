"""Delivery throughput: `newsletter send` to Postfix's C ``smtp-sink`` for 5,000
subscribers, side by side with a bare aiosmtplib loop sending prebuilt messages of
the same size over the same number of connections to the same sink (SPEC 9).

Needs ``/usr/sbin/smtp-sink`` (Debian package ``postfix``) and ``/usr/bin/time``
(package ``time``). Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosmtplib
import yaml

ROOT = Path(__file__).resolve().parent.parent
SMTP_SINK = "/usr/sbin/smtp-sink"
TIME = "/usr/bin/time"
SUBSCRIBERS = 5000
CONNECTIONS = 4
ROUNDS = 4  # send and the bare loop alternately: the machine is shared, one pair says little
PROFILES: list[dict[str, Any]] = [  # the example profiles, cycled: realistic, varied emails
    {"keywords": ["self-supervised", "contrastive learning", "augment*"], "max_papers": 10},
    {"keywords": ["diffusion", "image restoration", "text-to-image", "title:video"], "exclude": ["survey"]},
    {"keywords": ["large language models", "reasoning", "reward model*", "title:agent*"], "max_papers": 8},
    {"keywords": ["model*"], "max_papers": 5},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sink(port: int, options: tuple[str, ...] = ("-c",)) -> subprocess.Popen[bytes]:
    """Postfix smtp-sink on 127.0.0.1:``port`` with ``options`` (``-c``: count; ``-w N``:
    answer DATA after N s), running as nobody when we are root; waits until it listens."""
    command = [SMTP_SINK, *(["-u", "nobody"] if os.geteuid() == 0 else []), *options, f"127.0.0.1:{port}", "1000"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("smtp-sink did not start")


def _config(directory: Path, port: int) -> Path:
    (directory / "digests").mkdir()
    for seed in sorted((ROOT / "seeds").glob("*.txt")):
        shutil.copy2(seed, directory / "digests")
    data = {
        "digests": {"directory": "digests", "settle_seconds": 0},
        "state": "ledger.sqlite3",
        "sender": {"from": "Paper Digest <digest@example.org>"},
        "smtp": {"host": "127.0.0.1", "port": port, "connections": CONNECTIONS, "retries": 3},
        "subscribers": [
            {"email": f"user{i:05d}@example.org", **PROFILES[i % len(PROFILES)]} for i in range(SUBSCRIBERS)
        ],
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


BARE_CPU: list[float] = []  # CPU seconds of each bare loop (this process), for the report


def _bare(port: int, sizes: list[int]) -> float:
    """:func:`_bare_loop` run, its CPU time kept in :data:`BARE_CPU`; msg/s."""
    before = os.times()
    rate = asyncio.run(_bare_loop(port, sizes))
    after = os.times()
    BARE_CPU.append(after.user - before.user + after.system - before.system)
    return rate


async def _bare_loop(port: int, sizes: list[int]) -> float:
    """Prebuilt messages of the given sizes over CONNECTIONS reused sessions; msg/s."""
    line = b"x" * 76 + b"\r\n"
    head = b"From: digest@example.org\r\nTo: user@example.org\r\nSubject: bench\r\n\r\n"
    messages = [head + line * max(1, (size - len(head)) // len(line)) for size in sizes]
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for i, msg in enumerate(messages):
        queue.put_nowait((i, msg))

    async def worker() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
        await client.connect()
        while not queue.empty():
            i, msg = queue.get_nowait()
            await client.sendmail("digest@example.org", [f"user{i:05d}@example.org"], msg)
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return len(messages) / (time.perf_counter() - started)


def _cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process so far (``/proc/PID/stat``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _TreeRss:
    """Peak of the summed RSS of a process and all its descendants (``/usr/bin/time``
    reports the largest single process only; ``send`` has render workers), sampled
    every 20 ms from ``/proc``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0  # KiB
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _tree(self, pid: int) -> list[int]:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return [pid]
        return [pid, *(p for c in children for p in self._tree(int(c)))]

    def _run(self) -> None:
        while not self.done.wait(0.02):
            total = 0
            for pid in self._tree(self.pid):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                found = re.search(r"VmRSS:\s+(\d+) kB", status)
                total += int(found.group(1)) if found else 0
            self.peak = max(self.peak, total)

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


class _StubEmail:
    fit = None  # as a rendered email that fitted Gmail's clip as configured

    def __init__(self, data: bytes) -> None:
        self.data = data

    def as_bytes(self) -> bytes:
        return self.data


class _PrebuiltRenderer:
    """Stands in for newsletter.render: returns prebuilt bytes of the measured sizes,
    so the pass measures the delivery machinery alone (plan, ledger, pool, SMTP)."""

    def __init__(self, sizes: list[int], config: object) -> None:
        self.config = config  # render_job asks it for the DKIM signer (none configured here)
        line = b"x" * 76 + b"\r\n"
        self.blobs = [b"Subject: bench\r\n\r\n" + line * max(1, s // len(line)) for s in sizes]
        self.n = 0

    def message_id(self, subscriber: object, matches: object, *, salt: str = "") -> str:
        return f"<{self.n}.{salt}@bench.example.org>"

    def render(self, subscriber: object, matches: object, *, message_id: str) -> _StubEmail:
        self.n += 1
        return _StubEmail(self.blobs[self.n % len(self.blobs)])


def _send_prebuilt(port: int, sizes: list[int]) -> float:
    """`send` in-process with rendering stubbed out; delivery-phase msg/s."""
    from newsletter.config import load_config
    from newsletter.delivery.service import PassOptions, run_send

    class Clock:
        started = 0.0

        def start(self, total: int) -> None:
            self.started = time.perf_counter()

        def advance(self, result: object) -> None:
            pass

        def finish(self) -> None:
            self.elapsed = time.perf_counter() - self.started

    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        cfg = load_config(_config(Path(tmp), port))
        clock = Clock()
        summary = run_send(cfg, PassOptions(renderer=_PrebuiltRenderer(sizes, cfg), progress=clock))
        return summary.sent / clock.elapsed


@dataclass
class _SendRun:
    """One ``newsletter send`` process of the bench, measured from outside."""

    sent: int
    wall: float
    phase: float | None  # msg/s of the delivery phase, from its progress log lines
    cpu: float | None  # user + system seconds of send and its render workers
    rss: int | None  # KiB, largest process
    tree_rss: int  # KiB, all its processes together
    sink_cpu: float
    sizes: list[int]
    db_size: int


def _send_once(port: int, sink: subprocess.Popen[bytes]) -> _SendRun | str:
    """A fresh configuration and ledger, ``newsletter send`` as cron runs it (plus the
    progress lines of ``--log-level info``), under ``/usr/bin/time -v``."""
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        cfg = _config(Path(tmp), port)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        sink_cpu = _cpu_seconds(sink.pid)
        started = time.perf_counter()
        popen = subprocess.Popen(
            [TIME, "-v", sys.executable, "-m", "newsletter", "send", "-c", str(cfg), "--log-level", "info"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        tree_peak = _TreeRss(popen.pid)
        _, err = popen.communicate()
        wall = time.perf_counter() - started
        tree_peak.stop()
        if popen.returncode != 0:
            return f"send failed ({popen.returncode}): {err[-1500:]}"
        import sqlite3

        conn = sqlite3.connect(Path(tmp) / "ledger.sqlite3")
        sizes = [r[0] for r in conn.execute("SELECT size FROM deliveries WHERE status = 'sent'")]
        conn.close()
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
        phase = re.findall(r"(\d+)/(\d+) done .*?, (\d+) msg/s", err)
        user = re.search(r"User time \(seconds\): ([\d.]+)", err)
        system = re.search(r"System time \(seconds\): ([\d.]+)", err)
        return _SendRun(
            sent=len(sizes),
            wall=wall,
            phase=float(phase[-1][2]) if phase else None,
            cpu=float(user.group(1)) + float(system.group(1)) if user and system else None,
            rss=int(rss.group(1)) if rss else None,
            tree_rss=tree_peak.peak,
            sink_cpu=_cpu_seconds(sink.pid) - sink_cpu,
            sizes=sizes,
            db_size=(Path(tmp) / "ledger.sqlite3").stat().st_size,
        )


def run() -> None:
    print(f"== delivery: send to smtp-sink, {SUBSCRIBERS:,} subscribers, {CONNECTIONS} connections ==")
    missing = [p for p in (SMTP_SINK, TIME) if not Path(p).exists()]
    if missing:
        print(f"  skipped: {', '.join(missing)} not installed (apt-get install postfix time)")
        return
    print(f"  load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (the machine is shared: ratios are")
    print(f"  measured side by side, send and the bare loop alternately, {ROUNDS} times)")
    print("  send pipelines MAIL, RCPT and DATA (RFC 2920) where the server offers it, as smtp-sink does;")
    print("  the bare loop is aiosmtplib's sendmail, step by step: SPEC 9's yardstick, kept as it is")
    port = _free_port()
    sink = start_sink(port)
    runs: list[_SendRun] = []
    bares: list[float] = []
    try:
        for _ in range(ROUNDS):
            done = _send_once(port, sink)
            if isinstance(done, str):
                print(f"  {done}")
                return
            runs.append(done)
            bares.append(_bare(port, done.sizes))
        machinery = _send_prebuilt(port, runs[0].sizes)
        bares.append(_bare(port, runs[0].sizes))
    finally:
        sink.terminate()
        sink.wait()
    _report(runs, bares, machinery)


def _report(runs: list[_SendRun], bares: list[float], machinery: float) -> None:
    first = runs[0]
    rates = [r.sent / r.wall for r in runs]
    print(
        f"  send:      {first.sent:,} messages, mean {sum(first.sizes) / max(first.sent, 1) / 1024:.0f} KiB; "
        + ", ".join(f"{r.wall:.1f} s -> {rate:,.0f} msg/s" for r, rate in zip(runs, rates, strict=True))
        + " overall (process start, digests, planning included)"
    )
    phases = [r.phase for r in runs if r.phase is not None]
    if phases:
        print("             " + ", ".join(f"{p:,.0f}" for p in phases) + " msg/s in the delivery phase")
    listed = ", ".join(f"{b:,.0f}" for b in bares)
    print(f"  bare loop: {listed} msg/s (aiosmtplib, prebuilt messages, same sizes)")
    bare = sum(bares[: len(runs)]) / len(runs)
    ratio = sum(rates) / len(rates) / bare
    pairs = sorted(r / b for r, b in zip(rates, bares, strict=False))
    median = (pairs[(len(pairs) - 1) // 2] + pairs[len(pairs) // 2]) / 2
    phase_ratio = f", {sum(phases) / len(phases) / bare:.0%} delivery phase" if phases else ""
    print(
        f"  ratio:     {ratio:.0%} overall{phase_ratio}; pairs {', '.join(f'{p:.0%}' for p in pairs)}, "
        f"median {median:.0%}  (target >= 80%)"
    )
    print(
        f"  send with rendering stubbed (prebuilt bytes, same sizes): {machinery:,.0f} msg/s "
        f"= {machinery / bares[-1]:.0%} of the bare loop run after it (the delivery machinery alone)"
    )
    if first.cpu is not None:
        print(
            f"  CPU:       send {first.cpu:.1f} s (all its processes, {first.cpu / first.sent * 1e3:.2f} ms a message) "
            f"+ smtp-sink {first.sink_cpu:.1f} s in {first.wall:.1f} s wall on {os.cpu_count()} CPUs"
        )
    if BARE_CPU:
        cpu = BARE_CPU[0]
        print(f"             bare loop {cpu:.1f} s ({cpu / first.sent * 1e3:.2f} ms a message) for the same messages")
    if first.rss is not None:
        print(
            f"  peak RSS of send: {first.rss / 1024:.0f} MB largest process, "
            f"{first.tree_rss / 1024:.0f} MB all its processes together (render workers included; "
            f"target < 200 MB); ledger file {first.db_size / 1e6:.0f} MB"
        )
    print(f"  load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    run()
