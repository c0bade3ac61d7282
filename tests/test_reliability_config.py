"""Configuration edge cases of issue 11: YAML alias bombs are one error line (file and
line), and a SIGHUP reload neither blocks the daemon's event loop for the parse nor
touches the ledger from the loop while a pass holds it."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from newsletter.config import load_config
from newsletter.daemon import Daemon
from newsletter.delivery.ledger import Ledger
from newsletter.errors import ConfigError
from tests.conftest import NEVER_SOON, daemon, wait_for
from tests.smtpd import Faults, smtp_server, write_config


def bomb(path: Path, depth: int) -> Path:
    lines = ["digests: {directory: d}", 'lol: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, depth + 1)]
    lines.append(f"subscribers: [{{email: a@example.org, keywords: *a{depth}}}]")
    (path.parent / "d").mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_config_alias_bomb_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    cfg = bomb(tmp_path / "config.yaml", 9)  # 9**10 strings once expanded
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "newsletter", "check", "-c", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert time.monotonic() - started < 20
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        f"error: {cfg}:7: YAML aliases expand to more than 200,000 nodes here (an alias bomb?); "
        "write the values out or use fewer aliases"
    ]


def test_config_recursive_alias_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text("digests: {directory: d}\nsubscribers:\n  - &me {email: a@example.org, keywords: [x], x: *me}\n")
    with pytest.raises(ConfigError, match="alias refers to a node that contains it") as info:
        load_config(cfg)
    assert info.value.line == 3


def test_config_anchors_for_shared_keywords_still_load(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    cfg = tmp_path / "config.yaml"
    subs = "\n".join(f"  - {{email: u{i}@example.org, keywords: *ml}}" for i in range(2000))
    cfg.write_text(f"digests: {{directory: d}}\nshared: &ml [diffusion, model*, reasoning]\nsubscribers:\n{subs}\n")
    with pytest.raises(ConfigError, match="shared: unknown key"):  # the anchor's own key, not a bomb
        load_config(cfg)
    cfg.write_text(
        f"digests: {{directory: d}}\nsubscribers:\n  - {{email: u@example.org, keywords: &ml [x, y]}}\n{subs}\n"
    )
    config = load_config(cfg)
    assert len(config.subscribers) == 2001 and config.subscribers[-1].keywords == ("x", "y")


def test_config_reload_parses_off_the_event_loop(tmp_path: Path) -> None:
    """A 5,000-subscriber configuration takes a second or so to load; during a SIGHUP
    reload the event loop keeps running (its worst stall measured side by side with
    the load time of the same file in this process)."""
    subs = [
        {"email": f"u{i}@example.org", "name": f"User {i}", "keywords": ["model*", "diffusion"]} for i in range(5000)
    ]
    cfg = write_config(tmp_path, 2525, subs, schedule={"cron": NEVER_SOON, "timezone": "UTC"})
    started = time.perf_counter()
    load_config(cfg)
    blocking = time.perf_counter() - started

    async def main() -> tuple[float, int]:
        d = Daemon(load_config(cfg), config_path=cfg)
        life = asyncio.ensure_future(d.run())
        while d.scheduler is None or d.ledger is None:
            await asyncio.sleep(0.05)
        stalls: list[float] = []

        async def tick() -> None:
            while True:
                t0 = time.perf_counter()
                await asyncio.sleep(0.001)
                stalls.append(time.perf_counter() - t0)

        ticker = asyncio.ensure_future(tick())
        await asyncio.sleep(0.2)
        stalls.clear()
        d.reload()  # what SIGHUP calls
        assert d.reloading is not None
        await d.reloading
        ticker.cancel()
        d.stop("SIGTERM")
        await life
        return max(stalls), len(stalls)

    worst, ticks = asyncio.run(main())
    assert ticks >= 10  # the loop ran all along
    assert worst < blocking / 3, (worst, blocking)


def test_config_sighup_during_a_pass_reloads_without_touching_the_ledger_from_the_loop(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    people = [{"email": f"reader{i:02d}@example.org", "keywords": ["learning"]} for i in range(20)]
    with smtp_server(Faults(slow=0.3)) as server:
        cfg = write_config(
            tmp_path,
            server.port,
            people,
            smtp={"connections": 2},
            schedule={"cron": NEVER_SOON, "timezone": "UTC", "on_arrival": True},
        )
        with daemon(cfg) as proc:
            (tmp_path / "digests" / "000.txt").write_bytes(seeds["000"].read_bytes())
            wait_for(lambda: len(server.received) >= 2, 30, "a pass under way")
            data = yaml.safe_load(cfg.read_text())
            data["subscribers"].append({"email": "late@example.org", "keywords": ["learning"]})
            cfg.write_text(yaml.safe_dump(data, sort_keys=False))
            for _ in range(3):
                proc.proc.send_signal(signal.SIGHUP)
                time.sleep(0.2)
            wait_for(lambda: "configuration reloaded: 21 subscribers" in proc.text(), 20, "the reload")
            wait_for(lambda: len(server.received) >= len(people), 30, "the pass to finish")
            assert proc.stop() == 0
        log = proc.text()
    assert "Traceback" not in log and "within a transaction" not in log and "reload refused" not in log
    with Ledger.open(load_config(cfg).ledger_path) as ledger:
        assert "late@example.org" in ledger.horizons(["late@example.org"])  # registered at the reload
