"""`newsletter run`: the real daemon process against a real SMTP server and ledger.

The schedules here fire every two seconds (a 6-field cron with seconds).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from newsletter.config import load_config
from newsletter.digest.scan import load_digests
from newsletter.matching.matcher import plan
from newsletter.render.latex import readable
from newsletter.store import SqliteLedger
from tests.conftest import EVERY_2S, NEVER_SOON, daemon, wait_for
from tests.smtpd import Faults, smtp_server, write_config

ALICE = {
    "email": "alice@example.org",
    "name": "Alice",
    "keywords": ["self-supervised", "contrastive learning", "augment*"],
}
WEEKLY = {
    "email": "chen@example.org",
    "name": "Chen",
    "keywords": ["self-supervised", "reasoning"],
    "schedule": NEVER_SOON,
}


def ledger_counts(config: Path) -> dict[str, int]:
    with SqliteLedger.open(load_config(config).ledger_path) as ledger:
        return ledger.delivery_counts()


@pytest.mark.slow
def test_daemon_delivers_settled_digest_on_next_fire_not_weekly(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        # settle_seconds well above the 0.4 s between writes: only a machine frozen for 5 s
        # could see the growing file as settled
        cfg = write_config(
            tmp_path, server.port, [ALICE, WEEKLY], settle_seconds=5, schedule={"cron": EVERY_2S, "timezone": "UTC"}
        )
        target = tmp_path / "digests" / "002.txt"
        data = seeds["002"].read_bytes()
        with daemon(cfg) as proc:
            # a half-written file that keeps growing is not picked up
            with target.open("wb") as out:
                for i in range(12):
                    out.write(data[i * len(data) // 12 : (i + 1) * len(data) // 12])
                    out.flush()
                    time.sleep(0.4)
                    assert "pick-up" not in proc.text(), "picked up while still being written"
            assert server.received == []
            wait_for(lambda: server.received, 20, "the digest delivered at a fire")
            # the delivering pass may still be logging: two more pass lines mean one more fire after it
            proc.wait_passes(proc.passes("global") + 2, reason="global")
            assert proc.stop() == 0
        log = proc.text()
        assert log.count("pick-up: ") == 1 and "(78 papers)" in log  # the pick-up, once
        stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (INFO|WARNING|ERROR) ")
        assert all(stamp.match(line) for line in log.splitlines()), log  # ISO 8601 with the UTC offset
        assert "pick-up failed" not in log
        received = server.by_recipient()
        assert list(received) == ["alice@example.org"]  # the weekly subscriber waits for its day
        (msg,) = received["alice@example.org"]
        config = load_config(cfg)
        papers = load_digests([target]).papers
        (_, expected), _ = plan(config.subscribers, papers)
        body = msg.message.get_payload(0).get_payload(decode=True).decode()  # type: ignore[union-attr]
        flat = " ".join(body.replace("*", "").split())
        for m in expected:
            assert " ".join(readable(m.paper.title).split()) in flat  # TeX shown as text
        assert str(msg.message["Subject"]).startswith(f"{len(expected)} new paper")


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
            send = subprocess.run(
                [sys.executable, "-m", "newsletter", "send", "-c", str(cfg)], capture_output=True, text=True, timeout=30
            )
            assert send.returncode == 2
            assert "another newsletter process is using this ledger" in send.stderr
            assert first.proc.poll() is None
            assert first.stop() == 0
        # the lock died with the process: a new daemon starts
        with daemon(cfg) as again:
            assert again.stop() == 0


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
            wait_for(lambda: server.received, 20, "delivery with the old configuration")
            assert proc.proc.poll() is None
            assert proc.stop() == 0
        assert [m.rcpt_tos for m in server.received] == [["alice@example.org"]]


def test_daemon_jobs_for_groups_schedules(tmp_path: Path) -> None:
    from newsletter.daemon.schedule import GLOBAL, jobs_for

    (tmp_path / "d").mkdir()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "digests": {"directory": "d"},
                "subscribers": [
                    {"email": "a@example.org", "keywords": ["x"]},
                    {"email": "b@example.org", "keywords": ["x"], "schedule": "0 7 * * 1"},
                    {"email": "c@example.org", "keywords": ["x"], "schedule": "0  7 * * 1"},
                    {"email": "d@example.org", "keywords": ["x"]},
                ],
            }
        )
    )
    jobs = jobs_for(load_config(cfg))
    assert [(j.key, j.emails) for j in jobs] == [
        (GLOBAL, ("a@example.org", "d@example.org")),
        ("own:0 7 * * 1", ("b@example.org", "c@example.org")),
    ]


@pytest.mark.slow
def test_daemon_archives_each_sent_issue(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """The daemon writes the archive after a pass (on its ledger thread, the loop goes on:
    a second digest is picked up and delivered after the first was archived)."""
    from tests.conftest import settled_copy

    with smtp_server() as server:
        cfg = write_config(
            tmp_path, server.port, [ALICE], schedule={"cron": EVERY_2S, "timezone": "UTC"}, archive={"directory": "a"}
        )
        with daemon(cfg) as proc:
            settled_copy(seeds["001"], tmp_path / "digests")
            wait_for(lambda: list((tmp_path / "a").glob("*/[0-9a-f]*.html")), 30, "the first issue archived")
            settled_copy(seeds["002"], tmp_path / "digests")
            wait_for(lambda: len(list((tmp_path / "a").glob("*/[0-9a-f]*.html"))) == 2, 30, "the second issue archived")
            assert proc.stop() == 0
        assert len(server.by_recipient()["alice@example.org"]) == 2
    [index] = (tmp_path / "a").glob("*/index.html")
    assert "2 issues" in index.read_text(encoding="utf-8")
