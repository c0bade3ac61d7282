"""Several senders on one PostgreSQL ledger, as real processes (SPEC 6d, issue 23): three
``newsletter send`` processes, a few thousand subscribers, a real aiosmtpd
(tests/smtpd.py) whose gate holds every session inside DATA so that the faults hit
mid-transaction without any sleep: one sender SIGKILLed and never restarted, one frozen
(SIGSTOP) past its lease then thawed; and, in network namespaces (tests/netns.py), one
sender cut off from the database while it still reaches the SMTP server.

What is checked comes from the server and the ledger, never from the senders' word:
every subscriber served, one Message-ID per subscriber, duplicates at most
``smtp.connections`` per faulted sender, late writes refused and counted, every delivery
``sent``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from newsletter.store.postgres import PostgresLedger
from tests.conftest import ROOT, newsletter, settled_copy, wait_for
from tests.netns import Network, free_subnet
from tests.pgserver import PgServer
from tests.smtpd import Faults, SmtpServer

SUBSCRIBERS = 2400
CONNECTIONS = 2  # SMTP sessions per sender: the duplicate bound per faulted sender
LEASE = 6.0  # seconds (short: the takeovers wait one lease)
GATE_AFTER = 400  # DATA commands let through before the gate holds every session


def _config(directory: Path, url: str, smtp: SmtpServer, seed: Path) -> Path:
    (directory / "digests").mkdir()
    settled_copy(seed, directory / "digests")
    subs = [
        {"email": f"r{i:05d}@example.org", "keywords": ["learning"], "send_empty": True} for i in range(SUBSCRIBERS)
    ]
    data: dict[str, Any] = {
        "digests": {"directory": "digests", "settle_seconds": 0},
        "state": url,
        "ledger": {"lease_seconds": LEASE},
        "sender": {"from": "Paper Digest <digest@example.org>"},
        "smtp": {"host": smtp.host, "port": smtp.port, "connections": CONNECTIONS, "retries": 2, "timeout": 2},
        "subscribers": subs,
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _sender(cfg: Path, log: Path, prefix: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    argv = [*prefix, sys.executable, "-m", "newsletter", "send", "-c", str(cfg), "--log-level", "info"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)


def _wait_exit(proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"sender still running after {timeout} s:\n{log.read_text()[-3000:]}") from None


@pytest.fixture
def gate() -> threading.Event:
    return threading.Event()


def _check_served(smtp: SmtpServer, url: str, faulted: int) -> dict[str, Any]:
    """The server's and the ledger's view after the pass: everything asserted here."""
    by_rcpt = smtp.by_recipient()
    assert len(by_rcpt) == SUBSCRIBERS  # every subscriber served (nothing lost)
    ids = {rcpt: {m.message_id for m in msgs} for rcpt, msgs in by_rcpt.items()}
    assert all(len(found) == 1 for found in ids.values())  # one Message-ID per subscriber
    duplicates = len(smtp.received) - SUBSCRIBERS
    assert 0 <= duplicates <= faulted * CONNECTIONS
    with PostgresLedger.open(url) as ledger:
        assert ledger.delivery_counts() == {"sent": SUBSCRIBERS, "pending": 0, "failed": 0}
        planned = {d["email"]: d["message_id"] for d in ledger.deliveries()}
        assert planned == {rcpt: next(iter(found)) for rcpt, found in ids.items()}  # no strangers
        status = ledger.claim_status()
    return {"duplicates": duplicates, "status": status}


@pytest.mark.slow
def test_manyhosts_one_killed_one_frozen_every_subscriber_once(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str, gate: threading.Event
) -> None:
    smtp = SmtpServer(Faults(gate=gate, gate_after=GATE_AFTER)).start()
    try:
        cfg = _config(tmp_path, pg_url, smtp, seeds["000"])
        logs = [tmp_path / f"s{n}.log" for n in (1, 2, 3)]
        procs = [_sender(cfg, log) for log in logs]
        # every session of the three senders is inside DATA, held by the gate
        wait_for(lambda: smtp.handler.held == 3 * CONNECTIONS, 90, "every session held at DATA")
        killed, frozen, healthy = procs
        killed.kill()  # SIGKILL mid-transaction, never restarted
        frozen.send_signal(signal.SIGSTOP)  # frozen inside its transactions, past its lease
        gate.set()
        assert _wait_exit(healthy, logs[2]) == 0, logs[2].read_text()[-3000:]
        frozen.send_signal(signal.SIGCONT)
        _wait_exit(frozen, logs[1])
        killed.wait()
        seen = _check_served(smtp, pg_url, faulted=2)
        status = seen["status"]
        assert status.finished and status.takeovers >= 1
        assert status.refused >= 1  # the thawed sender's late outcomes were refused
        assert "late write refused" in logs[1].read_text()
        shown = newsletter("status", "-c", str(cfg), "--json")
        assert shown.exit_code == 0, shown.output
        current = json.loads(shown.output)["pass"]
        assert current["finished"] and current["counts"]["sent"] == SUBSCRIBERS == current["deliveries"]
        assert current["holders"] == [] and current["refused"] == status.refused >= 1
        text = newsletter("status", "-c", str(cfg)).output
        assert f"late writes refused: {status.refused}" in text and f"{SUBSCRIBERS} sent, 0 claimed" in text
    finally:
        gate.set()
        smtp.stop()


@pytest.fixture
def network() -> Iterator[Network]:
    with Network() as net:
        net.bridge("db", free_subnet(241))
        net.bridge("mail", free_subnet(242))
        net.host("cut", networks=["db", "mail"])
        yield net


@pytest.mark.slow
def test_manyhosts_sender_cut_off_from_the_database_stops_and_others_finish(
    tmp_path: Path, seeds: dict[str, Path], network: Network, gate: threading.Event
) -> None:
    db, mail = network.bridges["db"], network.bridges["mail"]
    with PgServer(listen=["127.0.0.1", db.address]) as pg:
        url = pg.url(pg.create_database(), host=db.address)
        smtp = SmtpServer(Faults(gate=gate, gate_after=GATE_AFTER), host=mail.address).start()
        try:
            cfg = _config(tmp_path, url, smtp, seeds["000"])
            logs = [tmp_path / f"s{n}.log" for n in (1, 2, 3)]
            cut = _sender(cfg, logs[0], network.hosts["cut"].command([]))
            others = [_sender(cfg, log) for log in logs[1:]]
            wait_for(lambda: smtp.handler.held == 3 * CONNECTIONS, 90, "every session held at DATA")
            network.cut("cut", "db")  # the database is gone for it; the SMTP server is not
            gate.set()
            for proc, log in zip(others, logs[1:], strict=True):
                assert _wait_exit(proc, log) == 0, log.read_text()[-3000:]
            assert _wait_exit(cut, logs[0]) == 1  # it stopped: its ledger was lost
            assert "Traceback" not in logs[0].read_text()
            network.heal("cut", "db")
            seen = _check_served(smtp, url, faulted=1)
            assert seen["status"].finished and seen["status"].takeovers >= 1
        finally:
            gate.set()
            smtp.stop()
