"""SMTP PIPELINING (RFC 2920) on the send path: the envelope in one write when the
server offers it, and a pass that comes out the same as step by step, faults and
all (real aiosmtpd servers, a real SQLite ledger, the seed digests)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from newsletter.config import Smtp, load_config
from newsletter.delivery.service import PassOptions, run_send
from newsletter.delivery.smtp import Outgoing, Result, SendStats, SmtpSender, iterate
from newsletter.store import SqliteLedger
from tests.conftest import settled_copy
from tests.smtpd import NOBODY, Faults, smtp_server, write_config
from tests.test_delivery_smtp import outgoing

SUBSCRIBERS: list[dict[str, Any]] = [
    {"email": f"user{i:02d}@example.org", "keywords": ["model*"], "max_papers": 2 + i % 3} for i in range(10)
]


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """One unsubscribe secret for both passes (else each ledger makes its own, and the
    unsubscribe links of the two passes differ)."""
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", "pipelining-test-secret")


@dataclasses.dataclass(frozen=True)
class Pass:
    """What a user can see of a pass: the mail that arrived, the ledger, the summary."""

    envelopes: list[tuple[str, tuple[str, ...]]]
    messages: list[str]
    ledger: list[tuple[Any, ...]]
    bounces: list[tuple[Any, ...]]  # the bounces recorded (a 5xx at RCPT)
    summary: tuple[Any, ...]
    pipelined: int  # envelopes the server got in one read
    mails: int  # MAIL FROM commands the server got


def normalised(data: bytes) -> str:
    """A message as delivered, its Message-ID and Date (different each pass) replaced."""
    text = data.decode("utf-8", "replace")
    ids = re.findall(r"^Message-ID: <(.*)>\r?$", text, flags=re.M | re.I)
    for message_id in ids:
        text = text.replace(message_id, "MESSAGE-ID")
    return re.sub(r"^Date: .*?\r?$", "Date: DATE", text, flags=re.M)


def send_pass(directory: Path, seeds: dict[str, Path], faults: Faults, *, pipelining: bool) -> Pass:
    directory.mkdir()
    with smtp_server(dataclasses.replace(faults, pipelining=pipelining)) as server:
        cfg = write_config(directory, server.port, SUBSCRIBERS, smtp={"connections": 1, "retries": 2})
        settled_copy(seeds["000"], directory / "digests")
        config = load_config(cfg)
        summary = run_send(config, PassOptions(backoff=0.01))
        received = sorted(server.received, key=lambda m: m.rcpt_tos)
        with SqliteLedger.open(config.ledger_path) as ledger:
            rows = sorted((d["email"], d["status"], d["papers"], d.get("error")) for d in ledger.deliveries())
        with contextlib.closing(sqlite3.connect(config.ledger_path)) as db:
            bounces = sorted(db.execute("SELECT email, kind, source, status, diagnostic FROM bounces"))
        return Pass(
            envelopes=[(m.mail_from, tuple(m.rcpt_tos)) for m in received],
            messages=[normalised(m.data) for m in received],
            ledger=rows,
            bounces=bounces,
            summary=(summary.sent, summary.failed, summary.pending, summary.stopped, sorted(summary.failures)),
            pipelined=server.handler.pipelined,
            mails=server.handler.mails,
        )


FAULTS = {
    "clean": Faults(),
    "refused recipients": Faults(
        reject=frozenset({"user02@example.org"}),
        rcpt_replies={
            "user05@example.org": "550 5.7.1 Relaying denied",  # a policy refusal: no bounce recorded
            "user07@example.org": "451 4.7.1 Too many recipients, slow down",  # rate limit at RCPT
        },
    ),
    "DATA refused, rate limited, dropped": Faults(
        data_start_replies={"user04@example.org": "421 4.7.0 Try again later"},  # 421 to the DATA command
        rate_limit=(3,),  # 451 4.7.1 after the third message's body
        drop=0.15,  # the connection dropped after a body, before its reply
        seed=3,
    ),
    "sender refused": Faults(mail_replies={"digest@example.org": "553 5.7.1 Sender address rejected"}),
    "sender deferred": Faults(mail_replies={"digest@example.org": "451 4.3.0 Temporary local problem"}),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_pipeline_pass_is_the_same_as_step_by_step(name: str, tmp_path: Path, seeds: dict[str, Path]) -> None:
    """The same pass to a server with and without PIPELINING: the same messages to the
    same envelopes, the same ledger outcomes, the same summary; only the round trips
    differ (every envelope in one read with PIPELINING, none without)."""
    faults = FAULTS[name]
    stepwise = send_pass(tmp_path / "stepwise", seeds, faults, pipelining=False)
    pipelined = send_pass(tmp_path / "pipelined", seeds, faults, pipelining=True)
    assert pipelined.envelopes == stepwise.envelopes
    assert pipelined.messages == stepwise.messages
    assert pipelined.ledger == stepwise.ledger
    assert pipelined.bounces == stepwise.bounces
    assert pipelined.summary == stepwise.summary
    assert stepwise.pipelined == 0
    assert pipelined.pipelined == pipelined.mails == stepwise.mails > 0


def test_pipeline_refusals_are_recorded_as_step_by_step(
    tmp_path: Path, seeds: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """What the equivalence above compares is what a user expects of each fault."""
    faults = FAULTS["refused recipients"]
    done = send_pass(tmp_path / "p", seeds, faults, pipelining=True)
    by_email = {row[0]: row for row in done.ledger}
    assert by_email["user02@example.org"][1] == by_email["user05@example.org"][1] == "failed"
    assert [(b[0], b[1]) for b in done.bounces] == [("user02@example.org", "hard")]  # 5.7.1: no bounce
    assert by_email["user07@example.org"][1] == "pending"
    assert sum(row[1] == "sent" for row in done.ledger) == len(SUBSCRIBERS) - 3
    assert [e[1] for e in done.envelopes] == [(row[0],) for row in done.ledger if row[1] == "sent"]

    stopped = send_pass(tmp_path / "s", seeds, FAULTS["sender refused"], pipelining=True)
    assert stopped.envelopes == [] and stopped.summary[0] == 0
    assert "refused the sender digest@example.org: 553 5.7.1" in (stopped.summary[3] or "")
    assert {row[1] for row in stopped.ledger} == {"pending"}

    data = send_pass(tmp_path / "d", seeds, FAULTS["DATA refused, rate limited, dropped"], pipelining=True)
    assert {row[1] for row in data.ledger if row[0] == "user04@example.org"} == {"pending"}
    assert "user04@example.org: 421 4.7.0 Try again later (DATA); giving up" in caplog.text
    assert "rate limited (451 4.7.1 Too many messages, slow down (DATA))" in caplog.text


def test_pipeline_354_after_refused_recipient_sends_no_body() -> None:
    """A server that offers PIPELINING but answers DATA with 354 after refusing the
    recipient (RFC 2920 wants 503): the body is never sent, nothing is delivered to
    anyone, the recipient is refused as step by step; the next message goes through."""
    faults = Faults(
        pipelining=True,
        data_after_refusal=True,
        reject=frozenset({"user1@example.org"}),
        rcpt_replies={"user3@example.org": "451 4.2.1 Mailbox busy"},
    )
    with smtp_server(faults) as server:
        stats, results = send_with(Smtp(host=server.host, port=server.port, connections=1, retries=1), outgoing(5))
        by_recipient = {r.item.recipient: r for r in results}
        assert [m.rcpt_tos for m in server.received] == [[f"user{i}@example.org"] for i in (0, 2, 4)]
        assert NOBODY not in server.by_recipient()  # no body after the stray 354
        assert server.handler.after_stray_354 == 0  # nor anything else (an RSET would be taken as body)
        assert by_recipient["user1@example.org"].status == "failed"
        assert by_recipient["user1@example.org"].bounce == "hard"
        assert "550 5.1.1" in (by_recipient["user1@example.org"].error or "")
        assert by_recipient["user3@example.org"].status == "pending"
        assert by_recipient["user3@example.org"].error == "451 4.2.1 Mailbox busy (RCPT TO)"
        assert stats.sent == 3 and server.handler.pipelined == server.handler.mails
        assert server.handler.sessions > 1  # the session went down after each stray 354


def send_with(settings: Smtp, items: list[Outgoing]) -> tuple[SendStats, list[Result]]:
    results: list[Result] = []

    async def record(result: Result) -> None:
        results.append(result)

    sender = SmtpSender(settings, on_result=record, backoff=0.01)
    stats = asyncio.run(sender.send_all(iterate(items)))
    return stats, results


def test_pipeline_unrecorded_outcome_sends_no_body() -> None:
    """The previous outcome cannot be recorded while the next envelope's replies come
    back: its body never goes (the server holds one accepted, unrecorded message at
    most), and the ledger's error stops the run."""
    calls: list[int] = []

    async def broken(result: Result) -> None:
        calls.append(result.item.key)
        if len(calls) == 2:
            raise OSError("disk full")

    with smtp_server(Faults(pipelining=True)) as server:
        sender = SmtpSender(Smtp(host=server.host, port=server.port, connections=1), on_result=broken, backoff=0.01)
        with pytest.raises(OSError, match="disk full"):
            asyncio.run(sender.send_all(iterate(outgoing(5))))
        assert [m.rcpt_tos for m in server.received] == [["user0@example.org"], ["user1@example.org"]]
        assert server.handler.mails == 3 == server.handler.pipelined  # the third envelope went, its body did not


def test_pipeline_only_when_offered_and_every_envelope_in_one_read() -> None:
    """With PIPELINING offered, every envelope arrives in one read (the first after
    EHLO too), across parallel sessions; without it, none does and all is delivered
    alike."""
    for offered in (True, False):
        with smtp_server(Faults(pipelining=offered)) as server:
            stats, _ = send_with(Smtp(host=server.host, port=server.port, connections=3), outgoing(40))
            assert stats.sent == 40
            assert sorted(server.by_recipient()) == sorted(f"user{i}@example.org" for i in range(40))
            assert server.handler.pipelined == (40 if offered else 0)


def test_pipeline_results_match_step_by_step_per_message() -> None:
    """The sender alone, a 421 to MAIL FROM for one message's sender (the session
    ends, the message is retried until it is left pending), a 550, a 452, a reply
    that is no SMTP reply, a reply that comes too late and dropped connections: the
    same result for every message with and without PIPELINING."""
    items = outgoing(12)
    items[4] = dataclasses.replace(items[4], sender="bulk@example.org")
    faults = Faults(
        mail_replies={"bulk@example.org": "421 4.3.2 Service shutting down"},
        reject=frozenset({"user6@example.org"}),
        rcpt_replies={"user8@example.org": "452 4.2.2 Mailbox full", "user10@example.org": "this is no reply"},
        rcpt_delay={"user2@example.org": 1.0},  # beyond the client's timeout
        drop=0.1,
        seed=7,
    )
    seen: dict[bool, list[tuple[Any, ...]]] = {}
    for offered in (False, True):
        with smtp_server(dataclasses.replace(faults, pipelining=offered)) as server:
            settings = Smtp(host=server.host, port=server.port, connections=1, retries=2, timeout=0.4)
            _, results = send_with(settings, items)
            seen[offered] = sorted((r.item.key, r.status, r.attempts, r.error, r.bounce) for r in results)
            assert server.handler.mails > len(items) and server.handler.dropped > 0  # retries included
            assert server.handler.pipelined == (server.handler.mails if offered else 0)
    assert seen[True] == seen[False]
    by_key = {row[0]: row for row in seen[True]}
    assert by_key[4][1:4] == ("pending", 3, "421 4.3.2 Service shutting down (MAIL FROM)")
    assert by_key[6][1] == "failed" and by_key[6][4] == "hard"
    assert by_key[8][1:4] == ("pending", 3, "452 4.2.2 Mailbox full (RCPT TO)")
    assert by_key[2][1:3] == ("pending", 3) and "timeout at RCPT TO" in (by_key[2][3] or "")
    assert by_key[10][1:4] == ("pending", 3, "-1 Malformed SMTP response line: this is no reply (RCPT TO)")
    assert sum(row[1] == "sent" for row in seen[True]) == 7  # 12, four pending, one failed


@pytest.mark.parametrize("offered", [True, False], ids=["pipelined", "step-by-step"])
def test_pipeline_reply_dripped_byte_by_byte_times_out_as_a_whole(offered: bool) -> None:
    """A server that drips its reply to MAIL FROM a byte every 0.1 s, each byte well
    within ``smtp.timeout`` (1 s): the whole reply has 1 s, with and without PIPELINING.
    The message stays pending (a timeout is temporary) and the client hangs up long
    before the server is done."""
    with smtp_server(Faults(pipelining=offered, drip=0.1)) as server:
        settings = Smtp(host=server.host, port=server.port, connections=1, retries=0, timeout=1)
        stats, results = send_with(settings, outgoing(1))
        assert stats.sent == 0 and server.received == []
        ((status, error),) = [(r.status, r.error or "") for r in results]
        assert status == "pending" and "timeout at MAIL FROM" in error
        assert server.handler.dripped and max(server.handler.dripped) < 40  # of 67 bytes
