"""The ledger contract: the same behaviour checks, through the public methods, on both
backends (a SQLite file, and a database of the session's throwaway PostgreSQL).
Whatever a pass, ``status``, the bounce reader or the web endpoints rely on must hold
on each; the claim API of several senders is in test_ledger_claims.py."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from newsletter.base.errors import LedgerError
from newsletter.bounces.policy import BouncePolicy
from newsletter.digest import Paper
from newsletter.store import ChannelPart, FailedDelivery, FetchState, Ledger, NewDelivery, Outcome, SqliteLedger
from newsletter.store.postgres import PostgresLedger

AnyLedger = Ledger  # the protocol both backends satisfy (mypy checks it in newsletter/store/choose.py)


@dataclass
class Backend:
    name: str
    open: Callable[[], AnyLedger]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Backend:
    if request.param == "sqlite":
        path = tmp_path / "ledger.sqlite3"
        return Backend("sqlite", lambda: SqliteLedger.open(path))
    url = request.getfixturevalue("pg_url")
    return Backend("postgres", lambda: PostgresLedger.open(url))


@pytest.fixture
def ledger(backend: Backend) -> Iterator[AnyLedger]:
    opened = backend.open()
    yield opened
    opened.close()


def paper(n: int, *, title: str | None = None, arxiv: str | None = None) -> Paper:
    return Paper(
        title=title or f"Paper number {n}",
        abstract=f"Abstract of paper {n}.",
        id=arxiv or f"p{n}",
        source="test",
        arxiv_id=arxiv,
    )


def new(email: str, n: int, papers: tuple[str, ...] = ("p1",), data: bytes = b"msg") -> NewDelivery:
    return NewDelivery(email, f"<{n}.{email}@digest.test>", papers, "digest@example.org", data + b"-" + str(n).encode())


# --------------------------------------------------------------------------- digests


def test_ledger_digests_recorded_in_pickup_order(ledger: AnyLedger) -> None:
    assert ledger.last_digest_id() == 0
    first = ledger.record_digest(path="/d/a.txt", sha256="a" * 64, papers=[paper(1), paper(2)])
    bad = ledger.record_digest(path="/d/b.txt", sha256="b" * 64, error="not a digest: line 3")
    assert bad > first
    assert ledger.last_digest_id() == bad
    assert ledger.has_digest("a" * 64) and not ledger.has_digest("c" * 64)
    rows = ledger.digests()
    assert [(r.path, r.status, r.papers, r.error) for r in rows] == [
        ("/d/a.txt", "ok", 2, None),
        ("/d/b.txt", "failed", 0, "not a digest: line 3"),
    ]
    assert rows[0].seen_at > 0


def test_ledger_papers_after_merges_and_bounds(ledger: AnyLedger) -> None:
    d1 = ledger.record_digest(path="1", sha256="1" * 64, papers=[paper(1), paper(2, arxiv="2601.00002")])
    ledger.record_digest(path="2", sha256="2" * 64, error="broken")
    d3 = ledger.record_digest(
        path="3", sha256="3" * 64, papers=[paper(3), paper(9, title="Paper number 2", arxiv="2601.00002")]
    )
    titles = [p.title for p in ledger.papers_after(0)]
    assert titles == ["Paper number 1", "Paper number 2", "Paper number 3"]  # the later record merged in
    assert [p.title for p in ledger.papers_after(d1)] == ["Paper number 3", "Paper number 2"]
    assert [p.title for p in ledger.papers_after(0, upto=d1)] == ["Paper number 1", "Paper number 2"]
    assert ledger.papers_after(d3) == []
    assert ledger.papers_by_id(["p1", "p3", "nope"])["p3"].abstract == "Abstract of paper 3."
    assert set(ledger.papers_by_id(["p1", "p3", "nope"])) == {"p1", "p3"}


def test_ledger_survives_reopening(backend: Backend) -> None:
    with backend.open() as first:
        first.record_digest(path="x", sha256="x" * 64, papers=[paper(1)])
        first.register_subscribers(["ana@example.org"])
        [[key]] = first.record([([new("ana@example.org", 1)], 1)])
    with backend.open() as again:
        assert again.has_digest("x" * 64)
        assert again.horizons(["ana@example.org"]) == {"ana@example.org": 1}
        assert [p.id for p in again.pendings([key])] == [key]


# --------------------------------------------------------------------------- subscribers and horizons


def test_ledger_new_subscribers_start_at_the_current_digest(ledger: AnyLedger) -> None:
    ledger.record_digest(path="1", sha256="1" * 64, papers=[paper(1)])
    assert ledger.register_subscribers(["ana@example.org", "bo@example.org"]) == 2
    d2 = ledger.record_digest(path="2", sha256="2" * 64, papers=[paper(2)])
    assert ledger.register_subscribers(["ana@example.org", "cy@example.org"]) == 1
    assert ledger.horizons(["ana@example.org", "cy@example.org", "zed@example.org"]) == {
        "ana@example.org": 1,
        "cy@example.org": d2,
    }
    ledger.advance(["ana@example.org"], d2)
    ledger.advance(["ana@example.org"], 1)  # never backwards
    assert ledger.horizons(["ana@example.org"]) == {"ana@example.org": d2}
    rows = ledger.subscriber_rows(["ana@example.org"])
    assert rows["ana@example.org"].horizon == d2 and rows["ana@example.org"].first_seen > 0


def test_ledger_backfill_gives_newcomers_the_latest_digest(ledger: AnyLedger) -> None:
    assert ledger.backfill(["ana@example.org"]) == []  # no digest yet
    ledger.record_digest(path="1", sha256="1" * 64, papers=[paper(1)])
    d2 = ledger.record_digest(path="2", sha256="2" * 64, papers=[paper(2)])
    ledger.register_subscribers(["ana@example.org", "bo@example.org"])
    ledger.record([([new("bo@example.org", 1)], d2)])
    assert ledger.backfill(["ana@example.org", "bo@example.org", "new@example.org"]) == [
        "ana@example.org",
        "new@example.org",
    ]
    assert ledger.horizons(["ana@example.org", "new@example.org"]) == {
        "ana@example.org": d2 - 1,
        "new@example.org": d2 - 1,
    }


# --------------------------------------------------------------------------- the outbox


def test_ledger_record_pending_then_outcomes(ledger: AnyLedger) -> None:
    d = ledger.record_digest(path="1", sha256="1" * 64, papers=[paper(1), paper(2)])
    ledger.register_subscribers(["ana@example.org", "bo@example.org", "cy@example.org"])
    [ids] = ledger.record(
        [([new("ana@example.org", 1, ("p1", "p2")), new("bo@example.org", 2), new("cy@example.org", 3)], d)]
    )
    a, b, c = ids
    assert ledger.pending_ids() == [a, b, c]
    assert ledger.delivery_counts() == {"sent": 0, "pending": 3, "failed": 0}
    got = ledger.pendings([c, a, 999_999])
    assert [(p.id, p.email, p.message, p.attempts) for p in got] == [
        (c, "cy@example.org", b"msg-3", 0),
        (a, "ana@example.org", b"msg-1", 0),
    ]
    assert ledger.excluded_papers(["ana@example.org"]) == {"ana@example.org": {"p1", "p2"}}
    ledger.record(
        outcomes=[
            Outcome(a, "sent", 1),
            Outcome(b, "failed", 2, "550 no such user"),
            Outcome(c, "pending", 5, "421 busy"),
        ]
    )
    assert ledger.delivery_counts() == {"sent": 1, "pending": 1, "failed": 1}
    assert ledger.sent_papers("ana@example.org") == {"p1", "p2"}
    assert ledger.excluded_papers(["ana@example.org", "cy@example.org"]) == {
        "ana@example.org": {"p1", "p2"},
        "cy@example.org": {"p1"},
    }
    assert ledger.pendings([a]) == []  # sent: its bytes are gone
    assert [(f.email, f.error) for f in ledger.failed()] == [("bo@example.org", "550 no such user")]
    rows = {r["id"]: r for r in ledger.deliveries()}
    assert rows[a]["status"] == "sent" and rows[a]["sent_at"] and rows[a]["papers"] == ["p1", "p2"]
    assert (rows[c]["status"], rows[c]["attempts"], rows[c]["last_error"]) == ("pending", 5, "421 busy")
    assert rows[b]["size"] == len(b"msg-2")
    assert [r["id"] for r in ledger.deliveries("cy@example.org")] == [c]
    assert ledger.horizons(["ana@example.org"]) == {"ana@example.org": d}


def test_ledger_record_sent_only_in_one_call(ledger: AnyLedger) -> None:
    ledger.register_subscribers(["ana@example.org", "bo@example.org"])
    [ids] = ledger.record([([new("ana@example.org", 1, ("p1",)), new("bo@example.org", 2, ("p1", "p7"))], 0)])
    ledger.record(outcomes=[Outcome(i, "sent", 1) for i in ids])
    assert ledger.pending_ids() == []
    assert ledger.sent_papers("bo@example.org") == {"p1", "p7"}
    assert ledger.delivery_counts_by_email() == {"ana@example.org": 1, "bo@example.org": 1}
    last = ledger.last_deliveries()
    assert set(last) == {"ana@example.org", "bo@example.org"} and last["ana@example.org"].status == "sent"


def test_ledger_batches_and_outcomes_share_one_write(ledger: AnyLedger) -> None:
    [[first]] = ledger.record([([new("ana@example.org", 1)], 0)])
    ids = ledger.record([([new("bo@example.org", 2)], 0), ([new("cy@example.org", 3)], 0)], [Outcome(first, "sent", 1)])
    assert len(ids) == 2 and all(len(batch) == 1 for batch in ids)
    assert ledger.delivery_counts() == {"sent": 1, "pending": 2, "failed": 0}


def test_ledger_sent_papers_are_the_addresss_whatever_its_spelling(ledger: AnyLedger) -> None:
    """One address, one set of papers sent (keyed by the address key): the configuration
    changing the case of an address never sends its papers again."""
    [[first]] = ledger.record([([new("Ana@Example.org", 1, ("p1", "p2"))], 0)])
    ledger.record(outcomes=[Outcome(first, "sent", 1)])
    [[second]] = ledger.record([([new("ana@example.org", 2, ("p2", "p3"))], 0)])
    ledger.record(outcomes=[Outcome(second, "sent", 1)])
    for spelling in ("Ana@Example.org", "ana@example.org", "ANA@EXAMPLE.ORG"):
        assert ledger.sent_papers(spelling) == {"p1", "p2", "p3"}
    assert ledger.excluded_papers(["ANA@example.org", "bo@example.org"]) == {
        "ANA@example.org": {"p1", "p2", "p3"},
        "bo@example.org": set(),
    }


# --------------------------------------------------------------------------- chat channels (issue 27)


def with_parts(delivery: NewDelivery, *parts: tuple[str, int, int, str]) -> NewDelivery:
    """``delivery`` carrying chat parts (channel, part, parts, payload); their
    delivery_id is the one the ledger gives the delivery."""
    found = tuple(ChannelPart(0, "ignored@example.org", c, n, of, text) for c, n, of, text in parts)
    return replace(delivery, channel_parts=found)


def test_ledger_channel_parts_recorded_with_their_delivery_pending_then_sent_never_again(ledger: AnyLedger) -> None:
    ledger.register_subscribers(["ana@example.org", "bo@example.org", "cy@example.org"])
    ana = with_parts(
        new("ana@example.org", 1),
        ("slack:LAB_SLACK", 1, 2, '{"text": "one"}'),
        ("slack:LAB_SLACK", 2, 2, '{"text": "two"}'),
    )
    bo = with_parts(new("bo@example.org", 2), ("webhook:HOOK", 1, 1, '{"papers": []}'))
    [[a, _], [b]] = ledger.record([([ana, new("cy@example.org", 3)], 0), ([bo], 0)])  # cy: email only
    pending = ledger.pending_channel_parts()
    assert {r.email for r in pending} == {"ana@example.org", "bo@example.org"}  # the delivery's own address
    assert [(r.delivery_id, r.channel, r.part, r.parts, r.payload, r.status) for r in pending] == [
        (a, "slack:LAB_SLACK", 1, 2, '{"text": "one"}', "pending"),
        (a, "slack:LAB_SLACK", 2, 2, '{"text": "two"}', "pending"),
        (b, "webhook:HOOK", 1, 1, '{"papers": []}', "pending"),
    ]
    first, second, hook = (r.id for r in pending)
    ledger.channel_outcome(first, "sent", 1, None)
    ledger.channel_outcome(second, "pending", 3, "HTTP 503")
    ledger.channel_outcome(hook, "failed", 1, "HTTP 404 Not Found")
    ledger.channel_outcome(first, "failed", 9, "late")  # a sent part never moves again
    assert [(r.id, r.attempts, r.error) for r in ledger.pending_channel_parts()] == [(second, 3, "HTTP 503")]
    (failed,) = ledger.channel_failures()
    assert (failed.email, failed.channel, failed.error) == ("bo@example.org", "webhook:HOOK", "HTTP 404 Not Found")


LIFETIME = 5 * 86400.0


def gave_up(last: str | None) -> str:
    return f"gave up; last: {last}"


def test_ledger_gives_up_what_is_pending_past_the_lifetime_as_if_it_were_refused(ledger: AnyLedger) -> None:
    """Pending since before ``now - lifetime``: failed with ``why(last error)``; its papers
    are then what a delivery refused with a 5xx leaves (neither sent nor waiting)."""
    people = ["ana@example.org", "bo@example.org", "cy@example.org", "di@example.org"]
    ledger.register_subscribers(people)
    ids = ledger.record([([new(e, n, (f"p{n}",)) for n, e in enumerate(people)], 3)])[0]
    ledger.record(
        outcomes=[Outcome(ids[0], "failed", 1, "550 5.1.1 unknown"), Outcome(ids[1], "pending", 2, "451 4.7.1 later")]
    )
    ledger.record(outcomes=[Outcome(ids[3], "sent", 1)])
    now = time.time()
    assert ledger.give_up_pending(LIFETIME, gave_up, now=now + LIFETIME - 60) == []  # a minute to go
    assert ledger.delivery_counts() == {"sent": 1, "pending": 2, "failed": 1}

    given = ledger.give_up_pending(LIFETIME, gave_up, now=now + LIFETIME + 60)

    assert given == [
        FailedDelivery("bo@example.org", "gave up; last: 451 4.7.1 later"),
        FailedDelivery("cy@example.org", "gave up; last: None"),  # never tried: no error yet
    ]
    assert ledger.delivery_counts() == {"sent": 1, "pending": 0, "failed": 3}
    assert ledger.failed()[1:] == given and ledger.pending_ids() == []
    assert [d["attempts"] for d in ledger.deliveries()] == [1, 2, 0, 1]  # as they were
    refused = ledger.excluded_papers(people[:3])
    assert refused == {"ana@example.org": set(), "bo@example.org": set(), "cy@example.org": set()}
    assert set(ledger.horizons(people).values()) == {3}
    assert ledger.give_up_pending(LIFETIME, gave_up, now=now + 2 * LIFETIME) == []  # once


def test_ledger_carries_the_papers_of_deliveries_given_up_until_the_next_is_recorded(ledger: AnyLedger) -> None:
    """What a subscriber's next delivery carries: the papers of its deliveries given up by
    the lifetime (never those refused with a 5xx), until a delivery of it is recorded after
    the give-up; only papers picked up within ``within`` seconds; not when a chat part of
    it was posted (di: the papers were seen there)."""
    people = ["ana@example.org", "bo@example.org", "cy@example.org", "di@example.org"]
    ledger.register_subscribers(people)
    ledger.record_digest(path="1", sha256="1" * 64, papers=[paper(n) for n in range(1, 6)])
    batch = [
        new("ana@example.org", 1, ("p2", "p1")),
        new("bo@example.org", 2, ("p3",)),
        new("cy@example.org", 3, ("p4",)),
        with_parts(new("di@example.org", 4, ("p5",)), ("slack:LAB_SLACK", 1, 1, "{}")),
    ]
    _, bo, cy, _ = ledger.record([(batch, 1)])[0]
    ledger.record(outcomes=[Outcome(bo, "failed", 1, "550 5.1.1 unknown"), Outcome(cy, "pending", 1, "451 later")])
    (di_slack,) = ledger.pending_channel_parts()
    ledger.channel_outcome(di_slack.id, "sent", 1, None)
    assert ledger.carried_papers(people, 30 * 86400) == {}  # pending: not carried (it may still go out)

    assert len(ledger.give_up_pending(0.0, gave_up)) == 3  # ana, cy and di: everything pending
    month = 30 * 86400
    assert ledger.carried_papers([*people, "Ana@Example.org"], month) == {
        "ana@example.org": ["p2", "p1"],
        "Ana@Example.org": ["p2", "p1"],  # any spelling of the address
        "cy@example.org": ["p4"],
    }
    assert ledger.carried_papers(people, month, now=time.time() + month + 60) == {}  # picked up too long ago

    ledger.record([([new("ana@example.org", 5, ("p1", "p5"))], 1)])  # ana's next delivery took them
    assert ledger.carried_papers(people, month) == {"cy@example.org": ["p4"]}


def test_ledger_gives_up_channel_parts_pending_past_the_lifetime(ledger: AnyLedger) -> None:
    ledger.register_subscribers(["ana@example.org"])
    ana = with_parts(
        new("ana@example.org", 1),
        ("slack:LAB_SLACK", 1, 2, '{"text": "one"}'),
        ("slack:LAB_SLACK", 2, 2, '{"text": "two"}'),
        ("webhook:HOOK", 1, 1, "{}"),
    )
    ledger.record([([ana], 0)])
    first, second, hook = (r.id for r in ledger.pending_channel_parts())
    ledger.channel_outcome(first, "pending", 5, "HTTP 503 Service Unavailable")
    ledger.channel_outcome(hook, "sent", 1, None)
    now = time.time()
    assert ledger.give_up_channel_parts(LIFETIME, gave_up, now=now + LIFETIME - 60) == []

    given = ledger.give_up_channel_parts(LIFETIME, gave_up, now=now + LIFETIME + 60)

    assert [(r.id, r.status, r.error) for r in given] == [
        (first, "failed", "gave up; last: HTTP 503 Service Unavailable"),
        (second, "failed", "gave up; last: None"),  # held back by the first: never posted
    ]
    assert ledger.pending_channel_parts() == []
    assert {r.id for r in ledger.channel_failures()} == {first, second}


# --------------------------------------------------------------------------- runs


def test_ledger_runs_interrupted_and_resumed(ledger: AnyLedger) -> None:
    assert ledger.last_run() is None
    first = ledger.start_run(["ana@example.org"])
    ledger.plan_run(first, 4)
    [run] = ledger.unfinished_runs()
    assert (run.id, run.serving, run.upto) == (first, ("ana@example.org",), 4)
    second = ledger.start_run(None, resumes=[first])
    assert [r.id for r in ledger.unfinished_runs()] == [second]
    ledger.finish_run(second, 3, 1, 0, finished=False)  # stopped: still to finish
    assert [r.serving for r in ledger.unfinished_runs()] == [None]
    ledger.finish_run(second, 3, 1, 0)
    assert ledger.unfinished_runs() == []
    last = ledger.last_run()
    assert last is not None and last > 0


def test_ledger_runs_since_say_whom_each_pass_served(ledger: AnyLedger) -> None:
    """What the daemon asks at start to tell a fire it was down for (whom the passes
    started since the fire served) on both backends."""
    before = time.time() - 1
    ledger.start_run(["ana@example.org"])
    ledger.start_run(None)
    assert ledger.runs_since(before) == [("ana@example.org",), None]
    assert ledger.runs_since(time.time() + 60) == []


# --------------------------------------------------------------------------- suppressions


def test_ledger_suppress_pause_and_resubscribe(ledger: AnyLedger) -> None:
    d = ledger.record_digest(path="1", sha256="1" * 64, papers=[paper(1)])
    ledger.register_subscribers(["ana@example.org"])
    assert ledger.suppress("Ana@Example.org ", source="one-click") is True
    assert ledger.suppress("ana@example.org", source="cli") is False  # already
    assert ledger.suppress("ana@example.org", source="pause", until=4e9) is False  # a pause never shortens it
    found = ledger.suppression("ANA@example.org")
    assert found is not None and (found.email, found.source, found.until) == ("ana@example.org", "cli", None)
    assert ledger.suppressions().active("Ana@example.org")
    assert ledger.suppressed() == {"ana@example.org"}
    assert ledger.suppression_counts() == {"suppressed": 1, "paused": 0}
    ledger.suppress("bo@example.org", source="pause", until=2e9)
    assert ledger.suppression_counts(now=1e9) == {"suppressed": 2, "paused": 1}
    assert ledger.suppressed(now=3e9) == {"ana@example.org"}  # the pause has ended by then
    d2 = ledger.record_digest(path="2", sha256="2" * 64, papers=[paper(2)])
    assert ledger.unsuppress("ana@example.org") is True
    assert ledger.unsuppress("ana@example.org") is False
    assert ledger.horizons(["ana@example.org"]) == {"ana@example.org": d2} and d2 > d


def test_ledger_cancel_suppressed_pendings(ledger: AnyLedger) -> None:
    [ids] = ledger.record([([new("ana@example.org", 1), new("bo@example.org", 2), new("cy@example.org", 3)], 0)])
    ledger.suppress("Ana@example.org", source="one-click")
    ledger.record_bounce("bo@example.org", kind="hard", source="smtp", delivery_id=None, policy=BouncePolicy())
    cancelled = ledger.cancel_suppressed()
    assert [(c.id, c.email) for c in cancelled] == [(ids[0], "ana@example.org"), (ids[1], "bo@example.org")]
    assert {f.email: f.error for f in ledger.failed()} == {
        "ana@example.org": "unsubscribed",
        "bo@example.org": "bounced",
    }
    assert ledger.pending_ids() == [ids[2]]


# --------------------------------------------------------------------------- bounces


def test_ledger_bounces_tie_reports_and_suppress(ledger: AnyLedger) -> None:
    [ids] = ledger.record([([new("ana@example.org", 1), new("bo@example.org", 2)], 0)])
    ledger.record(outcomes=[Outcome(i, "sent", 1) for i in ids])
    ref = ledger.delivery_for("1.ana@example.org@digest.test")
    assert ref is not None and (ref.id, ref.email) == (ids[0], "ana@example.org")
    assert ledger.delivery_for("<nope@digest.test>") is None
    by_sender = ledger.delivery_by_sender("DIGEST@example.org")
    assert by_sender is not None and by_sender.id == ids[1]
    assert ledger.last_delivery_to("ANA@example.org") == ids[0]
    why = ledger.record_bounce(
        "ana@example.org",
        kind="hard",
        source="dsn",
        delivery_id=ids[0],
        status="5.1.1",
        diagnostic="user unknown",
        report_id="<r1@mx>",
        policy=BouncePolicy(),
    )
    assert why == "1 hard bounce"
    assert ledger.has_report("<r1@mx>") and not ledger.has_report("<r2@mx>")
    again = ledger.record_bounce(
        "ana@example.org", kind="hard", source="dsn", delivery_id=ids[0], report_id="<r1@mx>", policy=BouncePolicy()
    )
    assert again is None  # the same report: recorded once
    [row] = ledger.bounced()
    assert (row["email"], row["hard"], row["status"]) == ("ana@example.org", 1, "5.1.1")
    assert row["reason"] == "1 hard bounce (last: 5.1.1 user unknown)"


def test_ledger_soft_bounces_count_when_consecutive(ledger: AnyLedger) -> None:
    ids = []
    for n in range(3):
        [[key]] = ledger.record([([new("ana@example.org", n)], 0)])
        ledger.record(outcomes=[Outcome(key, "sent", 1)])
        ids.append(key)
    assert (
        ledger.record_bounce(
            "ana@example.org", kind="soft", source="dsn", delivery_id=ids[0], policy=BouncePolicy(soft=2)
        )
        is None
    )
    # the second delivery went through: the run is broken, the third starts again
    assert (
        ledger.record_bounce(
            "ana@example.org", kind="soft", source="dsn", delivery_id=ids[2], policy=BouncePolicy(soft=2)
        )
        is None
    )
    [[fourth]] = ledger.record([([new("ana@example.org", 9)], 0)])
    ledger.record(outcomes=[Outcome(fourth, "sent", 1)])
    why = ledger.record_bounce(
        "ana@example.org", kind="soft", source="dsn", delivery_id=fourth, policy=BouncePolicy(soft=2)
    )
    assert why == "2 consecutive soft bounces"
    assert ledger.suppressed() == {"ana@example.org"}


def test_ledger_bounce_keeps_the_users_own_unsubscribe(ledger: AnyLedger) -> None:
    [[key]] = ledger.record([([new("ana@example.org", 1)], 0)])
    ledger.suppress("ana@example.org", source="one-click")
    assert (
        ledger.record_bounce("ana@example.org", kind="hard", source="smtp", delivery_id=key, policy=BouncePolicy())
        is None
    )
    found = ledger.suppression("ana@example.org")
    assert found is not None and found.source == "one-click"
    assert ledger.bounced() == []


# --------------------------------------------------------------------------- fetch state and feedback


def test_ledger_fetch_state_replaced(ledger: AnyLedger) -> None:
    assert ledger.fetch_states() == {}
    first = FetchState("huggingface", "https://h/a", '"e1"', None, 10.0, "written", "/d/x.json", 200, 10.0)
    ledger.record_fetch(first)
    later = FetchState("huggingface", "https://h/a", '"e1"', "Mon", 20.0, "unchanged", None, 304, 10.0)
    ledger.record_fetch(later)
    ledger.record_fetch(FetchState("arxiv-cs.CL", "https://a", None, None, 5.0, "failed", "timeout", None, None))
    states = ledger.fetch_states()
    assert list(states) == ["arxiv-cs.CL", "huggingface"]
    assert states["huggingface"] == later


def test_ledger_feedback_latest_action_wins(ledger: AnyLedger) -> None:
    assert ledger.record_feedback("Ana@example.org", "p1", "like", title="One", source="email") is True
    assert ledger.record_feedback("ana@example.org", "p1", "like", title="One", source="cli") is False
    assert ledger.record_feedback("ana@example.org", "p1", "dislike", title="One", source="cli") is True
    ledger.record_feedback("bo@example.org", "p2", "like", title="Two", source="email")
    rows = ledger.feedback_rows("ANA@example.org")
    assert [(r.email, r.paper_id, r.action, r.source) for r in rows] == [("ana@example.org", "p1", "dislike", "cli")]
    assert len(ledger.feedback_rows()) == 2
    assert ledger.forget_feedback("ana@example.org", "p1") is True
    assert ledger.forget_feedback("ana@example.org", "p1") is False
    with pytest.raises(ValueError):
        ledger.record_feedback("ana@example.org", "p1", "love", title="One", source="cli")


# --------------------------------------------------------------------------- moved into the protocol (issue 22)


def test_ledger_partial_digest_keeps_its_missing_ids(ledger: AnyLedger) -> None:
    ledger.record_digest(path="a.txt", sha256="a", papers=[paper(1)], missing=("2501.00001", "2501.00002"))
    ledger.record_digest(path="b.txt", sha256="b", papers=[paper(2)])
    first, second = ledger.digests()
    assert first.missing == ("2501.00001", "2501.00002") and first.shown_status == "partial"
    assert second.missing == () and second.shown_status == "ok"


def test_ledger_files_that_are_not_digests_are_noted_once(ledger: AnyLedger) -> None:
    assert ledger.note_ignored([("/d/paper.pdf", "a PDF"), ("/d/shot.png", "an image")]) == {
        "/d/paper.pdf",
        "/d/shot.png",
    }
    assert ledger.note_ignored([("/d/paper.pdf", "a PDF"), ("/d/new.docx", "a text document")]) == {"/d/new.docx"}


def test_ledger_mail_set_aside_once_per_message_by_kind(ledger: AnyLedger) -> None:
    assert ledger.record_set_aside("<r1@mx>", kind="ignored", reason="forged", detail="no Message-ID") is True
    assert ledger.record_set_aside("<r1@mx>", kind="ignored", reason="forged again") is False
    assert ledger.record_set_aside("cur/17", kind="quarantined", reason="cannot be read") is True
    [ignored] = ledger.set_aside("ignored")
    assert (ignored["message"], ignored["reason"], ignored["detail"]) == ("<r1@mx>", "forged", "no Message-ID")
    assert ignored["at"] is not None and ignored["at"].endswith("+00:00")
    assert [q["message"] for q in ledger.set_aside("quarantined")] == ["cur/17"]


def test_ledger_mailbox_mark_only_grows_per_folder_uidvalidity_and_judge(backend: Backend) -> None:
    # two readers of one folder (two hosts on the PostgreSQL ledger): each raises the mark to
    # what it finished, in any order; the mark never goes back
    box = "imap://bounces@mail.example.org:993/INBOX"
    first, second = backend.open(), backend.open()
    try:
        assert first.mailbox_mark(box, 7, "1:unsubscribe@example.org") == 0
        first.raise_mailbox_mark(box, 7, "1:unsubscribe@example.org", 120)
        second.raise_mailbox_mark(box, 7, "1:unsubscribe@example.org", 80)  # a slower reader, done later
        assert second.mailbox_mark(box, 7, "1:unsubscribe@example.org") == 120
        assert first.mailbox_mark(box, 7, "2:unsubscribe@example.org") == 0  # another judge: nothing known
        assert first.mailbox_mark("imap://other@mail.example.org:993/INBOX", 7, "1:unsubscribe@example.org") == 0
        # the folder recreated: the old numbering says nothing any more, and is forgotten
        second.raise_mailbox_mark(box, 9, "1:unsubscribe@example.org", 3)
        assert first.mailbox_mark(box, 9, "1:unsubscribe@example.org") == 3
        assert first.mailbox_mark(box, 7, "1:unsubscribe@example.org") == 0
    finally:
        first.close()
        second.close()


def test_ledger_known_mail_of_a_maildir_remembered_forgotten_and_per_judge(ledger: AnyLedger) -> None:
    box = "maildir://host/var/mail/bounces"
    assert ledger.known_mail(box, "1:a@example.org") == set()
    ledger.remember_known_mail(box, "1:a@example.org", add={"n1", "n2", "n3"}, gone=set())
    ledger.remember_known_mail(box, "1:a@example.org", add={"n3", "n4"}, gone={"n1"})  # n3 again: once
    assert ledger.known_mail(box, "1:a@example.org") == {"n2", "n3", "n4"}
    assert ledger.known_mail("maildir://other/var/mail/bounces", "1:a@example.org") == set()
    # judged anew (another unsubscribe address): what the old judge left is dropped
    ledger.remember_known_mail(box, "1:b@example.org", add={"n2"}, gone=set())
    assert ledger.known_mail(box, "1:b@example.org") == {"n2"}
    assert ledger.known_mail(box, "1:a@example.org") == set()


def test_ledger_sent_issues_are_the_accepted_deliveries(ledger: AnyLedger) -> None:
    [[one, two]] = ledger.record([([new("ana@example.org", 1, ("p1", "p2")), new("bo@example.org", 2)], 0)])
    ledger.record(outcomes=[Outcome(one, "sent", 1), Outcome(two, "failed", 1, "550 no")])
    [issue] = ledger.sent_issues()
    assert (issue.email, issue.message_id, issue.paper_ids) == (
        "ana@example.org",
        "<1.ana@example.org@digest.test>",
        ("p1", "p2"),
    )
    assert issue.sent_at > 0


def test_ledger_vectors_kept_once_per_model_and_text(ledger: AnyLedger) -> None:
    ledger.store_vectors("m1", {"k1": b"\x00\x01", "k2": b"\x02"})
    ledger.store_vectors("m1", {"k1": b"\xff"})  # an existing one stays
    ledger.store_vectors("m2", {"k1": b"\x03"})
    assert ledger.stored_vectors("m1") == {"k1": b"\x00\x01", "k2": b"\x02"}
    assert ledger.stored_vectors("m1", ["k2", "k9"]) == {"k2": b"\x02"}
    assert ledger.stored_vectors("m2", []) == {}


def test_ledger_sqlite_locked_during_a_feedback_click_is_one_ledger_error(tmp_path: Any) -> None:
    """Another program holding the write lock while a feedback click records: a
    LedgerError naming the file and what to do (the feedback methods are inside the
    error translation), never a raw sqlite3 error."""
    import sqlite3

    path = tmp_path / "ledger.sqlite3"
    ledger = SqliteLedger.open(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # e.g. a sqlite3 shell in the middle of a write
    try:
        ledger.conn.execute("PRAGMA busy_timeout=100")
        with pytest.raises(LedgerError) as caught:
            ledger.record_feedback("ana@example.org", "p1", "like", title="One", source="email")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        ledger.close()
    assert caught.value.path == str(path) and "locked by another program" in str(caught.value)
