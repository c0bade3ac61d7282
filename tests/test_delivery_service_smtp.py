"""`newsletter send` / `status`: the whole pass against a real aiosmtpd server, a real
SQLite ledger and real digest files (SPEC 6, 7)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from email.message import Message
from pathlib import Path
from typing import Any

from newsletter.config import load_config
from newsletter.delivery.service import PassOptions, run_send
from newsletter.digest.scan import load_digests
from newsletter.matching.matcher import plan
from newsletter.render.latex import readable
from newsletter.store import SqliteLedger
from tests.conftest import newsletter, settled_copy, text_of
from tests.smtpd import EXAMPLE_SUBSCRIBERS, Faults, Received, free_port, smtp_server, write_config

ROOT = Path(__file__).resolve().parent.parent


def add_seeds(config: Path, seeds: dict[str, Path], *names: str) -> None:
    for name in names:
        settled_copy(seeds[name], config.parent / "digests")


def norm(title: str) -> str:
    return " ".join(title.replace("*", "").split())


def check_emails(received: list[Received], expected: dict[str, list[str]], titles: dict[str, str]) -> None:
    """Every subscriber with expected papers got exactly one email holding them."""
    by_rcpt: dict[str, list[Received]] = {}
    for msg in received:
        by_rcpt.setdefault(msg.rcpt_tos[0], []).append(msg)
    assert sorted(by_rcpt) == sorted(e for e, ids in expected.items() if ids)
    for email, msgs in by_rcpt.items():
        assert len(msgs) == 1, email
        text = text_of(msgs[0].message)
        assert f"{len(expected[email])} new paper" in str(msgs[0].message["Subject"])
        for pid in expected[email]:
            assert norm(readable(titles[pid])) in text, (email, titles[pid])  # TeX shown as text


def test_seeds_delivered_once_then_only_new_papers(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS)
        config = load_config(cfg)
        add_seeds(cfg, seeds, "000", "001")
        first = load_digests([seeds["000"], seeds["001"]])
        titles = {p.id: p.title for p in first.papers}
        expected = {s.email: [m.paper.id for m in ms] for s, ms in plan(config.subscribers, first.papers)}
        assert all(expected.values())

        result = newsletter("send", "-c", str(cfg))
        assert result.exit_code == 0, result.output
        check_emails(server.received, expected, titles)
        with SqliteLedger.open(config.ledger_path) as ledger:
            for email, ids in expected.items():
                assert [d["papers"] for d in ledger.deliveries(email)] == [ids]  # best first
                assert ledger.sent_papers(email) == set(ids)

        # nothing new: nothing sent, and the ledger says so
        result = newsletter("send", "-c", str(cfg), "-v")
        assert result.exit_code == 0, result.output
        assert len(server.received) == 3
        assert "sent 0" in result.output

        # 002 and 003 arrive: only papers these subscribers have not had
        add_seeds(cfg, seeds, "002", "003")
        later = load_digests([seeds["002"], seeds["003"]])
        titles.update({p.id: p.title for p in later.papers})
        already = {e: set(ids) for e, ids in expected.items()}
        expected2 = {
            s.email: [m.paper.id for m in ms] for s, ms in plan(config.subscribers, later.papers, already_sent=already)
        }
        recurring = {p.id for p in first.papers} & {p.id for p in later.papers}
        assert recurring  # the seeds repeat some papers across files
        before = len(server.received)
        result = newsletter("send", "-c", str(cfg))
        assert result.exit_code == 0, result.output
        check_emails(server.received[before:], expected2, titles)
        for email, ids in expected2.items():
            assert not set(ids) & already[email]  # never the same paper twice

        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        assert [d["status"] for d in status["digests"]] == ["ok"] * 4
        assert [d["papers"] for d in status["digests"]] == [7, 62, 78, 49]
        assert status["deliveries"] == {"sent": 3 + sum(1 for v in expected2.values() if v), "pending": 0, "failed": 0}
        assert status["failed"] == [] and status["last_run"] and status["next_run"]


def test_421_and_drops_every_subscriber_exactly_one_email(tmp_path: Path, seeds: dict[str, Path]) -> None:
    subs = [{"email": f"user{i:03d}@example.org", "keywords": ["model*"], "max_papers": 3} for i in range(60)]
    with smtp_server(Faults(tempfail=0.2, drop=0.05, seed=3)) as server:
        cfg = write_config(tmp_path, server.port, subs, smtp={"retries": 8})
        add_seeds(cfg, seeds, "001")
        summary = run_send(load_config(cfg), PassOptions(backoff=0.02))
        assert (summary.sent, summary.failed, summary.pending) == (60, 0, 0)
        assert summary.exit_code == 0
        counts = {e: len(m) for e, m in server.by_recipient().items()}
        assert counts == {s["email"]: 1 for s in subs}
        assert server.handler.tempfailed >= 5 and server.handler.dropped >= 1


def test_550_recipient_failed_others_delivered_status_exit_1(tmp_path: Path, seeds: dict[str, Path]) -> None:
    faults = Faults(reject=frozenset({"bob@example.org"}))
    with smtp_server(faults) as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS)
        add_seeds(cfg, seeds, "000", "001")
        result = newsletter("send", "-c", str(cfg))
        assert result.exit_code == 1
        assert "failed: bob@example.org: 550" in result.output
        assert sorted(server.by_recipient()) == ["alice@example.org", "chen@example.org"]
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        assert status["deliveries"] == {"sent": 2, "pending": 0, "failed": 1}
        assert status["failed"][0]["email"] == "bob@example.org"
        assert "550 5.1.1" in status["failed"][0]["error"] and "User unknown" in status["failed"][0]["error"]
        text = newsletter("status", "-c", str(cfg)).output
        assert "failed bob@example.org: 550" in text
        # permanent: not retried on the next run
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        assert len(server.received) == 2


def test_server_down_leaves_pending_then_resent_with_same_message_id(tmp_path: Path, seeds: dict[str, Path]) -> None:
    port = free_port()
    cfg = write_config(tmp_path, port, EXAMPLE_SUBSCRIBERS, smtp={"retries": 0, "connections": 1})
    add_seeds(cfg, seeds, "000", "001")
    result = newsletter("send", "-c", str(cfg))
    assert result.exit_code == 1 and "cannot connect" in result.output
    config = load_config(cfg)
    with SqliteLedger.open(config.ledger_path) as ledger:
        waiting = {d["email"]: d["message_id"] for d in ledger.deliveries() if d["status"] == "pending"}
    assert waiting  # recorded with its Message-ID before the SMTP transaction
    with smtp_server(port=port) as server:
        result = newsletter("send", "-c", str(cfg))
        assert result.exit_code == 0, result.output
        got = {m.rcpt_tos[0]: m.message_id for m in server.received}
    assert len(got) == 3 and all(got[e] == mid for e, mid in waiting.items())
    with SqliteLedger.open(config.ledger_path) as ledger:
        assert ledger.delivery_counts() == {"sent": 3, "pending": 0, "failed": 0}


def test_unsettled_temp_and_bad_digests(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS, settle_seconds=60)
        digests = cfg.parent / "digests"
        add_seeds(cfg, seeds, "001")
        shutil.copy(seeds["000"], digests / "fresh.txt")  # mtime now: still being written
        shutil.copy2(seeds["002"], digests / ".hidden.txt")
        (digests / "broken.txt").write_bytes(b"\x00\x01binary")
        os.utime(digests / "broken.txt", (time.time() - 600, time.time() - 600))
        result = newsletter("send", "-c", str(cfg))
        assert result.exit_code == 1  # a digest failed; the rest went on
        assert "broken.txt" in result.output
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        by_name = {Path(d["path"]).name: d for d in status["digests"]}
        assert sorted(by_name) == ["001_c30e4185ff9befb4.txt", "broken.txt"]
        assert by_name["broken.txt"]["status"] == "failed" and "binary" in by_name["broken.txt"]["error"]
        assert status["deliveries"]["sent"] == len(server.received) > 0


def test_dry_run_changes_nothing(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS)
        add_seeds(cfg, seeds, "000", "001")
        result = newsletter("send", "-c", str(cfg), "--dry-run")
        assert result.exit_code == 0, result.output
        assert "alice@example.org: 10 papers" in result.output and "would pick up" in result.output
        assert not (tmp_path / "ledger.sqlite3").exists()
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        add_seeds(cfg, seeds, "002")
        ledger = tmp_path / "ledger.sqlite3"
        before = ledger.read_bytes(), newsletter("status", "-c", str(cfg), "--json").output
        result = newsletter("send", "-c", str(cfg), "--dry-run")
        assert "002_cde32cb1abaeaae0.txt" in result.output
        after = ledger.read_bytes(), newsletter("status", "-c", str(cfg), "--json").output
        assert before == after and len(server.received) == 3


def test_new_subscriber_gets_only_digests_from_when_it_appeared(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS[:1])
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS[:2])  # bob joins
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        assert [m.rcpt_tos[0] for m in server.received] == ["alice@example.org"]  # old digests: not for bob
        add_seeds(cfg, seeds, "002")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        assert "bob@example.org" in server.by_recipient()


def test_crash_mid_run_then_rerun_serves_everyone(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """SIGKILL a real `newsletter send` part-way through 1,000 subscribers, run it again:
    everyone served; duplicates only for messages in flight (<= connections), each
    with the same Message-ID as the first copy."""
    n, connections = 1000, 4
    subs = [{"email": f"user{i:04d}@example.org", "keywords": ["model*"], "max_papers": 3} for i in range(n)]
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, subs, smtp={"connections": connections})
        add_seeds(cfg, seeds, "000", "001")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "newsletter", "send", "-c", str(cfg)]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(server.received) < 300 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        at_crash = len(server.received)
        assert 300 <= at_crash < n, "the crash must come part-way through"
        time.sleep(0.2)  # let the server finish the transactions the crash cut
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        got = server.by_recipient()
    assert sorted(got) == [s["email"] for s in subs]
    duplicates = {e: msgs for e, msgs in got.items() if len(msgs) > 1}
    assert len(duplicates) <= connections
    for msgs in duplicates.values():
        assert len(msgs) == 2 and msgs[0].message_id == msgs[1].message_id
        assert msgs[0].data == msgs[1].data  # the very same message
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        assert ledger.delivery_counts() == {"sent": n, "pending": 0, "failed": 0}


def test_progress_lines_when_not_on_a_terminal(tmp_path: Path, seeds: dict[str, Path]) -> None:
    subs = [{"email": f"user{i:03d}@example.org", "keywords": ["model*"], "max_papers": 2} for i in range(70)]
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, subs)
        add_seeds(cfg, seeds, "001")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        run = subprocess.run(
            [sys.executable, "-m", "newsletter", "send", "-c", str(cfg), "--log-level", "info"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        lines = [line for line in run.stderr.splitlines() if "done (sent" in line]
        assert 2 <= len(lines) <= 21 and "70/70 done" in lines[-1] and "msg/s" in lines[-1]


def _parts(msg: Message) -> dict[str, str]:
    """The decoded text and HTML parts of an email (what a reader sees)."""
    out = {}
    for part in msg.walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out[part.get_content_type()] = payload.decode("utf-8").replace("\r\n", "\n")
    return out


def test_large_pass_renders_in_worker_processes_with_the_one_render_path(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    """A pass of >= POOL_MIN deliveries renders in worker processes: every subscriber
    gets one email, each the same as the in-process render (Message-ID, headers,
    parts), and no worker outlives the pass."""
    import multiprocessing
    from datetime import date

    from newsletter.delivery.service import POOL_MIN
    from newsletter.render import Renderer

    n = POOL_MIN + 20
    profiles = [["model*"], ["diffusion", "title:video"], ["reasoning", "large language models"]]
    subs = [{"email": f"user{i:04d}@example.org", "keywords": profiles[i % 3], "max_papers": 4} for i in range(n)]
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, subs)
        add_seeds(cfg, seeds, "000", "001")
        config = load_config(cfg)
        summary = run_send(config)
        got = server.by_recipient()
    assert summary.sent == n and summary.exit_code == 0
    assert sorted(got) == [s["email"] for s in subs] and all(len(m) == 1 for m in got.values())
    assert multiprocessing.active_children() == []  # the workers are gone with the pass

    papers = load_digests([seeds["000"], seeds["001"]]).papers
    expected = dict(plan(config.subscribers[:3], papers))
    renderer = Renderer(config)
    salt = f"1:{date.today().isoformat()}"
    for sub, matches in expected.items():
        (received,) = got[sub.email]
        message_id = renderer.message_id(sub, matches, salt=salt)
        local = renderer.render(sub, matches, message_id=message_id).message
        msg = received.message
        assert msg["Message-ID"] == message_id
        for header in ("From", "To", "Subject", "List-Unsubscribe", "List-Id"):
            assert str(msg[header]) == str(local[header]), header
        assert _parts(msg) == _parts(local)
    with SqliteLedger.open(config.ledger_path) as ledger:
        assert ledger.delivery_counts() == {"sent": n, "pending": 0, "failed": 0}
        for sub, matches in expected.items():
            assert ledger.sent_papers(sub.email) == {m.paper.id for m in matches}


def test_large_pass_stopped_midway_leaves_the_rest_for_the_next(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """The daemon's stop during a pass rendered by worker processes: what the server
    accepted is recorded sent, the recorded rest stays pending, the pool shuts
    down; the next pass serves everybody else exactly once."""
    import asyncio
    import multiprocessing

    from newsletter.delivery.service import POOL_MIN, send_pass

    n = POOL_MIN + 100
    subs = [{"email": f"user{i:04d}@example.org", "keywords": ["model*"], "max_papers": 2} for i in range(n)]
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, subs, smtp={"connections": 2})
        add_seeds(cfg, seeds, "001")
        config = load_config(cfg)

        class StopAfter:
            def __init__(self, stop: asyncio.Event) -> None:
                self.stop, self.done = stop, 0

            def start(self, total: int) -> None:
                pass

            def advance(self, result: object) -> None:
                self.done += 1
                if self.done == 40:
                    self.stop.set()

            def finish(self) -> None:
                pass

        async def stopped_pass() -> Any:
            stop = asyncio.Event()
            with SqliteLedger.open(config.ledger_path) as ledger:
                return await send_pass(config, ledger, PassOptions(progress=StopAfter(stop), stop=stop))

        first = asyncio.run(stopped_pass())
        assert multiprocessing.active_children() == []
        accepted = len(server.received)
        assert first.sent == accepted and 40 <= accepted < n
        with SqliteLedger.open(config.ledger_path) as ledger:
            counts = ledger.delivery_counts()
        assert counts["sent"] == accepted and counts["failed"] == 0
        second = run_send(config)
        assert second.exit_code == 0
        got = server.by_recipient()
    assert sorted(got) == [s["email"] for s in subs]
    assert all(len(msgs) == 1 for msgs in got.values())
