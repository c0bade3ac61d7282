"""Configuration edge cases of issue 11: YAML alias bombs are one error line (file and
line), and a SIGHUP reload (of the daemon, and of `newsletter serve`) neither blocks
the event loop for the parse nor touches the ledger from the loop while a pass holds
it. Blocking is tested by what the loop still does while the parse is held, never by a
clock (SPEC 6c)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from pathlib import Path

import aiohttp
import pytest
import yaml

from newsletter.base.errors import ConfigError
from newsletter.config import load_config
from newsletter.daemon.daemon import Daemon
from newsletter.store import SqliteLedger
from tests.conftest import NEVER_SOON
from tests.smtpd import Faults, free_port, smtp_server, write_config


def bomb(path: Path, depth: int) -> Path:
    lines = ["digests: {directory: d}", 'lol: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, depth + 1)]
    lines.append(f"subscribers: [{{email: a@example.org, keywords: *a{depth}}}]")
    (path.parent / "d").mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_config_alias_bomb_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    cfg = bomb(tmp_path / "config.yaml", 9)  # 9**10 strings once expanded
    run = subprocess.run(  # refused before anything expands (the timeout only ends a hang)
        [sys.executable, "-m", "newsletter", "check", "-c", str(cfg)], capture_output=True, text=True, timeout=60
    )
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


def gate_loading(
    monkeypatch: pytest.MonkeyPatch, module: object
) -> tuple[threading.Event, threading.Event, list[bool]]:
    """Hold ``module.load_config`` at its start until the test opens the gate: (parsing,
    release, seen); ``seen`` gets whether the gate was opened while the parse waited. A
    parse on the event loop's thread would freeze the loop, so nothing on the loop could
    open it: the parse gives up after 60 s and ``seen`` says False."""
    parsing, release, seen = threading.Event(), threading.Event(), []
    real = load_config

    def gated(path: str | Path, **kwargs: bool) -> object:
        parsing.set()
        seen.append(release.wait(60))
        return real(path, **kwargs)

    monkeypatch.setattr(module, "load_config", gated)
    return parsing, release, seen


async def get(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url, timeout=aiohttp.ClientTimeout(total=30)) as resp:
        return resp.status


def test_config_reload_parses_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """During a SIGHUP reload the daemon's event loop keeps answering: the unsubscribe
    endpoint serves a request while the parse is held at its start, and only that
    request (on the loop) lets the parse go on."""
    import newsletter.daemon.daemon

    port = free_port()
    subs = [{"email": f"u{i}@example.org", "keywords": ["model*"]} for i in range(50)]
    cfg = write_config(
        tmp_path,
        2525,
        subs,
        schedule={"cron": NEVER_SOON, "timezone": "UTC"},
        sender={"from": "Digest <digest@example.org>", "unsubscribe": {"listen": f"127.0.0.1:{port}"}},
    )
    parsing, release, seen = gate_loading(monkeypatch, newsletter.daemon.daemon)

    async def main() -> tuple[int, int]:
        d = Daemon(load_config(cfg, strict=False), config_path=cfg)
        life = asyncio.ensure_future(d.run())
        while d.listener is None or d.scheduler is None:
            await asyncio.sleep(0.05)
        data = yaml.safe_load(cfg.read_text())
        data["subscribers"].append({"email": "late@example.org", "keywords": ["x"]})
        cfg.write_text(yaml.safe_dump(data))
        d.reload()  # what SIGHUP calls
        await asyncio.to_thread(parsing.wait, 60)  # the parse has started (somewhere)
        status = await get(f"http://127.0.0.1:{port}/healthz")  # the loop answers meanwhile...
        release.set()  # ...and only then lets the parse go on
        assert d.reloading is not None
        await d.reloading
        count = len(d.config.subscribers)
        d.stop("SIGTERM")
        await life
        return status, count

    status, count = asyncio.run(main())
    assert status == 200
    assert seen == [True]  # the parse waited for the loop's answer: it ran elsewhere
    assert count == 51  # and the reload went through


def test_serve_reload_parses_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`newsletter serve`: SIGHUP reloads in a thread; the endpoint answers while the
    parse is held, and a new subscriber's token works after it."""
    import os

    import newsletter.web.unsubscribe as endpoint
    from newsletter.render.links.tokens import secret_for, unsubscribe_token

    port = free_port()
    cfg = write_config(tmp_path, 2525, [{"email": "ana@example.org", "keywords": ["x"]}])
    parsing, release, seen = gate_loading(monkeypatch, endpoint)
    server = endpoint.UnsubscribeServer(load_config(cfg, strict=False), port=port)
    token = unsubscribe_token("late@example.org", secret_for(load_config(cfg))[0])

    async def main() -> tuple[int, int, int]:
        serving = asyncio.ensure_future(endpoint._serve(server, cfg))
        while server.url is None or await get(f"http://127.0.0.1:{port}/healthz") != 200:
            await asyncio.sleep(0.05)
        before = await get(f"http://127.0.0.1:{port}/unsubscribe/{token}")
        data = yaml.safe_load(cfg.read_text())
        data["subscribers"].append({"email": "late@example.org", "keywords": ["x"]})
        cfg.write_text(yaml.safe_dump(data))
        os.kill(os.getpid(), signal.SIGHUP)  # the handler `serve` installed on its loop
        await asyncio.to_thread(parsing.wait, 60)
        during = await get(f"http://127.0.0.1:{port}/healthz")
        release.set()
        while len(server.index) < 2:
            await asyncio.sleep(0.05)
        after = await get(f"http://127.0.0.1:{port}/unsubscribe/{token}")
        os.kill(os.getpid(), signal.SIGTERM)
        await serving
        return before, during, after

    before, during, after = asyncio.run(main())
    assert (before, during, after) == (404, 200, 200)
    assert seen == [True]


@pytest.mark.asyncio
async def test_config_sighup_during_a_pass_reloads_without_touching_the_ledger_from_the_loop(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    from tests.conftest import settled_copy
    from tests.indaemon import in_daemon, until

    people = [{"email": f"reader{i:02d}@example.org", "keywords": ["learning"]} for i in range(20)]
    with smtp_server(Faults(slow=0.3)) as server:
        cfg = write_config(
            tmp_path,
            server.port,
            people,
            smtp={"connections": 2},
            schedule={"cron": NEVER_SOON, "timezone": "UTC", "on_arrival": True},
        )
        async with in_daemon(cfg) as rig:
            settled_copy(seeds["000"], tmp_path / "digests")
            polling = asyncio.ensure_future(rig.poll())  # the on-arrival pass
            await until(lambda: len(server.received) >= 2, 30, "a pass under way")
            data = yaml.safe_load(cfg.read_text())
            data["subscribers"].append({"email": "late@example.org", "keywords": ["learning"]})
            cfg.write_text(yaml.safe_dump(data, sort_keys=False))
            for _ in range(3):  # what three SIGHUPs in a row run: one reload
                rig.daemon.reload()
            await until(lambda: "configuration reloaded: 21 subscribers" in rig.text(), 20, "the reload")
            await polling
            assert len(server.received) >= len(people)
        log = rig.text()
    assert log.count("configuration reloaded") == 1
    assert "Traceback" not in log and "within a transaction" not in log and "reload refused" not in log
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        assert "late@example.org" in ledger.horizons(["late@example.org"])  # registered at the reload
