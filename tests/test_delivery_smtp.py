"""The pooled SMTP sender against a real aiosmtpd server with injected faults."""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.config import Smtp
from newsletter.delivery.smtp import Outgoing, Result, SendStats, SmtpSender, envelope_address, iterate, wire_data
from tests.ledgerhelp import pending
from tests.smtpd import Faults, free_port, smtp_server


def outgoing(n: int, *, size: int = 2000) -> list[Outgoing]:
    items = []
    for i in range(n):
        msg = EmailMessage()
        msg["From"] = "digest@example.org"
        msg["To"] = f"user{i}@example.org"
        msg["Subject"] = f"message {i}"
        msg["Message-ID"] = f"<m{i}@example.org>"
        msg.set_content("x" * size)
        items.append(Outgoing(i, "digest@example.org", f"user{i}@example.org", msg.as_bytes(), f"<m{i}@example.org>"))
    return items


def send(settings: Smtp, items: list[Outgoing], **kwargs: Any) -> tuple[SendStats, list[Result]]:
    results: list[Result] = []

    async def record(result: Result) -> None:
        results.append(result)

    sender = SmtpSender(settings, on_result=record, backoff=0.01, **kwargs)
    stats = asyncio.run(sender.send_all(iterate(items)))
    return stats, results


def test_sessions_are_reused_in_parallel() -> None:
    with smtp_server() as server:
        settings = Smtp(host=server.host, port=server.port, connections=4)
        stats, results = send(settings, outgoing(60))
        assert stats.sent == 60 and stats.failed == stats.pending == 0
        assert all(r.status == "sent" and r.attempts == 1 for r in results)
        assert sorted(server.by_recipient()) == sorted(f"user{i}@example.org" for i in range(60))
        assert server.handler.sessions <= 4  # one EHLO per session, many messages each
        assert len({m.session for m in server.received}) >= 2  # really in parallel


def test_421_and_dropped_connections_retry_until_everyone_has_one() -> None:
    faults = Faults(tempfail=0.2, drop=0.05, seed=11)
    with smtp_server(faults) as server:
        settings = Smtp(host=server.host, port=server.port, connections=4, retries=8)
        stats, results = send(settings, outgoing(200))
        got = server.by_recipient()
        assert stats.sent == 200, stats
        assert all(len(got[f"user{i}@example.org"]) == 1 for i in range(200))
        assert server.handler.tempfailed > 20 and server.handler.dropped > 3
        assert max(r.attempts for r in results) > 1


def test_550_recipient_fails_with_reply_and_the_others_go() -> None:
    faults = Faults(reject=frozenset({"user3@example.org"}))
    with smtp_server(faults) as server:
        stats, results = send(Smtp(host=server.host, port=server.port, connections=2), outgoing(10))
        assert (stats.sent, stats.failed) == (9, 1)
        failed = [r for r in results if r.status == "failed"]
        assert failed[0].item.recipient == "user3@example.org"
        assert failed[0].attempts == 1  # permanent: not retried
        assert "550" in (failed[0].error or "") and "User unknown" in (failed[0].error or "")
        assert len(server.received) == 9


def test_lost_reply_after_data_stays_pending_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with smtp_server(Faults(slow=1.5)) as server:
        settings = Smtp(host=server.host, port=server.port, connections=1, timeout=0.5)
        with caplog.at_level(logging.WARNING):
            stats, results = send(settings, outgoing(1))
        assert stats.pending == 1 and stats.lost_replies == 1
        assert results[0].attempts == 1  # never retried under the same run, never a new id
        assert "may have been delivered" in (results[0].error or "")
        assert "<m0@example.org>" in caplog.text


def test_server_down_leaves_everything_pending_quickly() -> None:
    settings = Smtp(host="127.0.0.1", port=free_port(), connections=2, retries=2, timeout=2)
    stats, results = send(settings, outgoing(20))
    # what was taken stays pending; the rest is not even taken from the producer
    assert stats.sent == 0 and stats.pending == len(results) < 20
    assert stats.stopped and "cannot connect" in stats.stopped
    assert sum(r.attempts for r in results) <= 2 * 3 + 2  # the rest are not even tried: quick by counting


def test_max_per_second_spaces_messages() -> None:
    with smtp_server() as server:
        settings = Smtp(host=server.host, port=server.port, connections=4, max_per_second=20)
        stats, _ = send(settings, outgoing(12))
        assert stats.sent == 12
        # at the server: 12 transactions at most 20 a second span at least 11 gaps of 1/20 s
        first, last = min(server.handler.mail_times), max(server.handler.mail_times)
        assert len(server.handler.mail_times) == 12 and last - first >= 11 / 20 - 0.05


def test_result_is_committed_before_the_next_transaction() -> None:
    """The worker awaits on_result before its next SMTP step: with one connection,
    the server never holds a message whose predecessor's result is unrecorded."""
    with smtp_server() as server:
        recorded: list[int] = []

        async def record(result: Result) -> None:
            await asyncio.sleep(0.01)
            assert len(server.received) == len(recorded) + 1
            recorded.append(result.item.key)

        sender = SmtpSender(Smtp(host=server.host, port=server.port, connections=1), on_result=record)
        stats = asyncio.run(sender.send_all(iterate(outgoing(15))))
        assert stats.sent == 15 and recorded == list(range(15))


def test_stop_event_finishes_in_flight_and_leaves_the_rest_pending() -> None:
    with smtp_server(Faults(slow=0.05)) as server:
        settings = Smtp(host=server.host, port=server.port, connections=2)
        stop = asyncio.Event()
        results: list[Result] = []

        async def record(result: Result) -> None:
            results.append(result)
            if len(results) == 4:
                stop.set()

        sender = SmtpSender(settings, on_result=record, stop=stop)
        stats = asyncio.run(sender.send_all(iterate(outgoing(40))))
        assert 4 <= stats.sent <= 6  # what was in flight when the stop came still completes
        assert stats.sent == len(server.received)
        assert all(r.status == "pending" and r.attempts == 0 for r in results if r.status != "sent")


def test_group_commit_records_new_deliveries_and_outcomes_together(tmp_path: Any) -> None:
    """SqliteLedger.record: batches recorded pending and outcomes in one transaction; an
    outcome-only commit of accepted messages marks them sent, adds the attempts,
    records their papers and drops their bytes."""
    from newsletter.store import NewDelivery, Outcome, SqliteLedger

    with SqliteLedger.open(tmp_path / "l.sqlite3") as ledger:
        ledger.register_subscribers(["a@x.org", "b@x.org", "c@x.org"])
        (first,) = ledger.record(
            [
                (
                    [
                        NewDelivery("a@x.org", "<1@x>", ("p1", "p2"), "d@x.org", b"A"),
                        NewDelivery("b@x.org", "<2@x>", ("p3",), "d@x.org", b"B"),
                    ],
                    0,
                )
            ],
        )
        a, b = first
        keys = ledger.record(
            [([NewDelivery("c@x.org", "<3@x>", ("p4",), "d@x.org", b"C")], 0)],
            [Outcome(a, "sent", 2), Outcome(b, "failed", 1, "550 no such user")],
        )
        (c,) = keys[0]
        assert ledger.record([], [Outcome(c, "sent", 1)]) == []  # outcome only: one statement
        rows = {d["id"]: d for d in ledger.deliveries()}
        assert [rows[k]["status"] for k in (a, b, c)] == ["sent", "failed", "sent"]
        assert (rows[a]["attempts"], rows[b]["attempts"], rows[c]["attempts"]) == (2, 1, 1)
        assert rows[b]["last_error"] == "550 no such user"
        assert ledger.sent_papers("a@x.org") == {"p1", "p2"} and ledger.sent_papers("b@x.org") == set()
        assert ledger.sent_papers("c@x.org") == {"p4"}
        assert pending(ledger, a) is None and pending(ledger, c) is None and ledger.pending_ids() == []
        (blob,) = ledger.conn.execute("SELECT message FROM deliveries WHERE id = ?", (c,)).fetchone()
        assert blob is None  # the bytes go once the server accepted the message
        assert ledger.pendings([a, b, c]) == []


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"Subject: x", b".", b"..", b"\r\n", b"\r", b"\n", b" ", b"=2E", b"\xe2"])))
def test_wire_data_is_what_aiosmtplib_sends(chunks: list[bytes]) -> None:
    """The prepared DATA bytes equal aiosmtplib's (line endings, dot-stuffing, the final
    dot) for every message with CRLF line endings; the others are left to aiosmtplib."""
    from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

    message = b"".join(chunks)
    wire = wire_data(message)
    expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"
    lone = message.replace(b"\r\n", b"").count(b"\r") + message.replace(b"\r\n", b"").count(b"\n")
    assert wire == (None if lone else expected)


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.text(st.sampled_from('ab.@_+-<>"() ,;:é\r\nxyz0'), max_size=30),
        st.from_regex(r"[a-z0-9_+-]{1,8}(\.[a-z0-9]{1,5}){0,2}@[a-z0-9-]{1,8}(\.[a-z]{2,4}){0,2}", fullmatch=True),
    )
)
def test_envelope_address_is_what_aiosmtplib_puts_in_mail_and_rcpt(address: str) -> None:
    """The address written directly in MAIL FROM and RCPT TO is aiosmtplib's quoting of
    it, for every address the fast path takes; the others are left to aiosmtplib."""
    from aiosmtplib.email import quote_address

    quoted = envelope_address(address)
    if quoted is not None:
        assert quoted == quote_address(address).encode("ascii")


def test_prepared_data_arrives_as_aiosmtplib_sends_it() -> None:
    """Through a real server: dot-led lines, a last line without CRLF, a lone LF (the
    slow path) arrive as aiosmtplib's own data() delivers them."""
    import aiosmtplib

    bodies = [
        b"Subject: a\r\n\r\n.starts with a dot\r\n..two\r\nend",
        b".first\r\n\r\nbody\r\n.\r\n",
        b"Subject: lone\n\nLF only\n.dot\n",
    ]
    with smtp_server() as server:
        items = [Outgoing(i, "digest@example.org", f"u{i}@example.org", b, "") for i, b in enumerate(bodies)]
        stats, _ = send(Smtp(host=server.host, port=server.port, connections=1), items)
        assert stats.sent == 3
        ours = [m.data for m in server.received]

        async def plain() -> None:
            async with aiosmtplib.SMTP(hostname=server.host, port=server.port, start_tls=False) as client:
                for i, body in enumerate(bodies):
                    await client.sendmail("digest@example.org", [f"u{i}@example.org"], body)

        asyncio.run(plain())
        assert [m.data for m in server.received[3:]] == ours


@pytest.mark.asyncio
async def test_session_abandoned_takes_what_its_last_outcome_raised_no_traceback() -> None:
    """A ledger error fails every outcome of its commit: the session that sees it first stops
    the pass, the others are cancelled with theirs failed too. Abandoning them takes those
    errors, so asyncio prints no "Task exception was never retrieved" traceback (seen when
    a full disk stopped a pass with several sessions)."""
    import gc

    from newsletter.base.errors import LedgerFullError
    from newsletter.delivery.smtp.session import Session

    seen: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: seen.append(context))

    async def record_fails() -> None:
        raise LedgerFullError("no space left on its disk", path="ledger.sqlite3")

    release = asyncio.Event()

    async def record_fails_later() -> None:
        await release.wait()
        raise LedgerFullError("no space left on its disk", path="ledger.sqlite3")

    done, running = Session(None, 0), Session(None, 1)  # type: ignore[arg-type]
    done.unsettled = asyncio.ensure_future(record_fails())
    running.unsettled = asyncio.ensure_future(record_fails_later())
    await asyncio.sleep(0)  # the first has failed; the second still runs
    done.abandon()
    running.abandon()
    release.set()
    for _ in range(3):
        await asyncio.sleep(0)
    gc.collect()
    assert [c.get("message") for c in seen] == []


def test_delivery_smtp_idn_domains_go_out_as_a_labels() -> None:
    """A subscriber (or sender) on an internationalised domain, which the configuration
    accepts, was a permanent failure ("bad address: 'ascii' codec can't encode"): the
    envelope now carries the domain's ASCII form (IDNA A-labels)."""
    items = outgoing(1)
    idn = Outgoing(1, "digest@exämple.org", "ana@bücher.de", items[0].message, "<m1@example.org>")
    with smtp_server() as server:
        stats, results = send(Smtp(host=server.host, port=server.port, connections=1), [*items, idn])
        assert (stats.sent, stats.failed) == (2, 0), [r.error for r in results]
        (got,) = [m for m in server.received if m.rcpt_tos != ["user0@example.org"]]
        assert got.rcpt_tos == ["ana@xn--bcher-kva.de"] and got.mail_from == "digest@xn--exmple-cua.org"
