"""The send pass (delivery/service.py) through the Sender seam: an in-memory transport
(tests/memsender.py) instead of a wire, a real ledger file, real digests. What SMTP
itself does (retries, TLS, AUTH, faults) is in test_delivery_smtp*.py against a real aiosmtpd."""

from __future__ import annotations

import asyncio
from pathlib import Path

from newsletter.config import load_config
from newsletter.delivery.service import PassOptions, run_send, send_pass
from newsletter.digest.scan import load_digests
from newsletter.matching.matcher import plan
from newsletter.store import SqliteLedger
from tests.conftest import settled_copy
from tests.memsender import MemoryTransport
from tests.smtpd import EXAMPLE_SUBSCRIBERS, write_config

NO_SERVER = 9  # the discard port: nothing listens, and nothing may try


def _config(tmp_path: Path, seeds: dict[str, Path], *names: str) -> Path:
    cfg = write_config(tmp_path, NO_SERVER, EXAMPLE_SUBSCRIBERS)
    for name in names:
        settled_copy(seeds[name], tmp_path / "digests")
    return cfg


def test_service_pass_sends_each_planned_email_once_then_nothing_new(tmp_path: Path, seeds: dict[str, Path]) -> None:
    cfg = _config(tmp_path, seeds, "000", "001")
    config = load_config(cfg)
    transport = MemoryTransport()
    first = run_send(config, PassOptions(sender=transport))
    planned = {s.email for s, ms in plan(config.subscribers, load_digests([seeds["000"], seeds["001"]]).papers) if ms}
    assert first.exit_code == 0 and first.sent == len(planned) == len(transport.outbox)
    assert {m.recipient for m in transport.outbox} == planned
    for sent in transport.outbox:
        assert sent.sender == "digest@example.org"
        assert sent.message["To"] and sent.recipient in sent.message["To"]
    again = run_send(load_config(cfg), PassOptions(sender=transport))
    assert (again.sent, again.failed, again.pending) == (0, 0, 0)
    assert len(transport.outbox) == len(planned)  # nothing twice
    with SqliteLedger.open(tmp_path / "ledger.sqlite3") as ledger:
        assert ledger.delivery_counts() == {"sent": len(planned), "pending": 0, "failed": 0}


def test_service_refused_recipient_is_failed_and_counts_as_a_hard_bounce(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    cfg = _config(tmp_path, seeds, "000", "001")
    transport = MemoryTransport(refuse={"bob@example.org": "550 5.1.1 no such user"})
    summary = run_send(load_config(cfg), PassOptions(sender=transport))
    assert summary.exit_code == 1 and summary.failed == 1
    assert summary.failures == [("bob@example.org", "550 5.1.1 no such user (RCPT TO)")]
    assert not transport.to("bob@example.org") and transport.to("alice@example.org")
    with SqliteLedger.open(tmp_path / "ledger.sqlite3") as ledger:
        assert ledger.suppression("bob@example.org") is not None  # hard limit 1: suppressed
        [bounced] = ledger.bounced()
        assert (bounced["email"], bounced["hard"], bounced["source"]) == ("bob@example.org", 1, "smtp")


def test_service_deferred_recipient_stays_pending_and_goes_with_the_same_bytes_next_time(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    cfg = _config(tmp_path, seeds, "000", "001")
    busy = MemoryTransport(defer=frozenset({"alice@example.org"}))
    first = run_send(load_config(cfg), PassOptions(sender=busy))
    assert first.pending == 1 and first.exit_code == 1 and not busy.to("alice@example.org")
    later = MemoryTransport()
    second = run_send(load_config(cfg), PassOptions(sender=later))
    assert (second.resent, second.sent, second.pending) == (1, 1, 0)
    [resent] = later.to("alice@example.org")
    assert resent.message["Message-ID"].startswith("<")  # the recorded message, sent as recorded
    with SqliteLedger.open(tmp_path / "ledger.sqlite3") as ledger:
        [row] = [d for d in ledger.deliveries("alice@example.org")]
        assert (row["status"], row["attempts"], row["message_id"]) == ("sent", 2, resent.message["Message-ID"])


def test_service_stop_before_sending_leaves_the_pass_for_the_next_start(tmp_path: Path, seeds: dict[str, Path]) -> None:
    cfg = _config(tmp_path, seeds, "000", "001")
    config = load_config(cfg)
    transport = MemoryTransport()

    async def stopped_pass() -> int:
        stop = asyncio.Event()
        stop.set()
        with SqliteLedger.open(config.ledger_path) as ledger:
            summary = await send_pass(config, ledger, PassOptions(sender=transport, stop=stop))
            return len(ledger.unfinished_runs()) + summary.sent

    assert asyncio.run(stopped_pass()) == 1  # no mail, one unfinished run
    assert transport.outbox == []
    resumed = run_send(load_config(cfg), PassOptions(sender=transport))
    assert resumed.sent == len(transport.outbox) > 0
    with SqliteLedger.open(config.ledger_path) as ledger:
        assert ledger.unfinished_runs() == []
