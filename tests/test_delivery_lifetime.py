"""The queue lifetime (``smtp.queue_lifetime_hours``): a delivery that only ever meets
temporary failures is retried until it has been pending that long, then given up:
``failed``, with why, in ``send``'s output, the log and ``status``. A real aiosmtpd on
127.0.0.1 answers 451 to one recipient; a real SQLite ledger (and PostgreSQL), whose
rows are aged in the database itself to make "five days later" (nothing sleeps)."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
from pytest_httpserver import HTTPServer
from werkzeug import Response

from newsletter.config import load_config
from newsletter.delivery.service import PassOptions, SendSummary, run_send
from newsletter.store.choose import open_ledger
from tests.conftest import newsletter, run_cli, settled_copy, text_of, wait_for
from tests.smtpd import EXAMPLE_SUBSCRIBERS, Faults, smtp_server, write_config

DAY = 86400.0
BOB = "bob@example.org"
GREYLISTED = "451 4.7.1 <bob@example.org>: Recipient address rejected: Greylisted, try again later"
LAST = f"{GREYLISTED} (RCPT TO)"  # the error as the sender records it
GAVE_UP = f"gave up after 5 days of temporary failures; last: {LAST}"


def age(cfg: Path, seconds: float, table: str = "deliveries") -> None:
    """Every row of ``table`` recorded ``seconds`` earlier, in the ledger itself (SQLite
    file or PostgreSQL database, as ``state:`` names it)."""
    config = load_config(cfg)
    sql = f"UPDATE {table} SET created_at = created_at - {seconds}"  # (a test's own constant)
    if config.ledger_url is not None:
        with psycopg.connect(config.ledger_url) as pg:
            pg.execute(sql)
            # and the passes planned then (a `send` joins one planned in the last minute)
            pg.execute("UPDATE passes SET planned_at = planned_at - make_interval(secs => %s)", (seconds,))
        return
    db = sqlite3.connect(config.ledger_path, timeout=30)
    with db:  # one transaction, committed
        db.execute(sql)
    db.close()


def deliveries_of(cfg: Path, email: str) -> list[dict[str, Any]]:
    with open_ledger(load_config(cfg)) as ledger:
        return ledger.deliveries(email)


def send(cfg: Path) -> SendSummary:
    return run_send(load_config(cfg), PassOptions(backoff=0.01))


def greylisting(**more: Any) -> Faults:
    return Faults(rcpt_replies={BOB: GREYLISTED}, **more)


def setup(tmp: Path, seeds: dict[str, Path], port: int, **smtp: Any) -> Path:
    cfg = write_config(tmp, port, EXAMPLE_SUBSCRIBERS, smtp={"retries": 1, **smtp})
    for name in ("000", "001"):
        settled_copy(seeds[name], tmp / "digests")
    return cfg


def test_lifetime_greylisted_delivery_is_retried_for_five_days_then_failed(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    with smtp_server(greylisting()) as server:
        cfg = setup(tmp_path, seeds, server.port)
        first = send(cfg)
        assert (first.sent, first.failed, first.pending) == (2, 0, 1)
        (bob,) = deliveries_of(cfg, BOB)
        assert (bob["status"], bob["attempts"], bob["last_error"]) == ("pending", 2, LAST)

        age(cfg, 4 * DAY)  # four days on: still within the lifetime, tried again
        second = send(cfg)
        assert (second.resent, second.failed, second.pending) == (1, 0, 1)
        (bob,) = deliveries_of(cfg, BOB)
        assert (bob["status"], bob["attempts"]) == ("pending", 4)

        age(cfg, DAY + 60)  # five days and a minute since it was first recorded pending
        settled_copy(seeds["002"], tmp_path / "digests")  # and the others have new papers today
        before = len(server.received)
        result = run_cli("send", "-c", str(cfg))

        assert result.returncode == 1  # as for any failed delivery
        assert f"failed: {BOB}: {GAVE_UP}" in result.stderr.splitlines()
        logged = [line for line in result.stderr.splitlines() if "WARNING" in line and "gave up" in line]
        assert len(logged) == 1 and logged[0].endswith(f"{BOB}: {GAVE_UP}")
        others = {m.rcpt_tos[0] for m in server.received[before:]}
        assert others == {"alice@example.org", "chen@example.org"}  # everybody else delivered
        old, new = deliveries_of(cfg, BOB)
        assert (old["status"], old["attempts"], old["last_error"]) == ("failed", 4, GAVE_UP)  # not tried again
        assert new["status"] == "pending"  # today's papers, with the old one's carried (still greylisted)
        assert set(old["papers"]) <= set(new["papers"])

        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        assert {"email": BOB, "error": GAVE_UP} in status["failed"]
        assert status["deliveries"]["failed"] == 1
        assert f"  failed {BOB}: {GAVE_UP}" in newsletter("status", "-c", str(cfg)).output.splitlines()


def test_lifetime_runs_out_while_the_pass_tries_it_failed_in_that_pass(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """Within the lifetime when the pass starts, past it when its attempt fails: given up
    in that very pass, after its attempt (the gate holds the other messages' replies
    while the test ages the row)."""
    gate = threading.Event()
    with smtp_server(greylisting(gate=gate)) as server:
        cfg = setup(tmp_path, seeds, server.port, retries=0)
        gate.set()
        send(cfg)
        age(cfg, 4 * DAY)
        settled_copy(seeds["002"], tmp_path / "digests")  # alice's message will wait at the gate
        gate.clear()
        done: list[SendSummary] = []
        passing = threading.Thread(target=lambda: done.append(send(cfg)))
        passing.start()
        wait_for(lambda: server.handler.held, 60, "a message of the pass held at the gate")
        wait_for(lambda: deliveries_of(cfg, BOB)[0]["attempts"] == 2, 60, "bob's delivery tried in the pass")
        age(cfg, DAY)
        gate.set()
        passing.join(60)
    (summary,) = done
    assert summary.exit_code == 1 and (BOB, GAVE_UP) in summary.failures
    assert deliveries_of(cfg, BOB)[0]["status"] == "failed"


def test_lifetime_zero_never_gives_up(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server(greylisting()) as server:
        cfg = setup(tmp_path, seeds, server.port, queue_lifetime_hours=0)
        send(cfg)
        age(cfg, 365 * DAY)
        summary = send(cfg)
        assert (summary.resent, summary.failed, summary.pending) == (1, 0, 1)
    (bob,) = deliveries_of(cfg, BOB)
    assert (bob["status"], bob["attempts"]) == ("pending", 4)


def test_lifetime_reply_lost_after_the_data_is_given_up_saying_it_may_have_arrived(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    """The server keeps the message and holds its reply past ``smtp.timeout``: the outcome
    is unknown, kept pending (same Message-ID) until the lifetime, then given up saying so."""
    with smtp_server(Faults(slow=3.0)) as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS[:2], smtp={"retries": 0, "timeout": 0.5})
        settled_copy(seeds["001"], tmp_path / "digests")
        first = send(cfg)
        assert first.pending == 2  # the server has them; here their outcome is unknown
        age(cfg, 5 * DAY + 60)
        summary = send(cfg)
    assert summary.exit_code == 1
    errors = dict(summary.failures)
    assert set(errors) == {"alice@example.org", BOB}
    assert errors[BOB].startswith(
        "gave up after 5 days of temporary failures; the outcome of its last attempt is unknown (it may have been "
        "delivered): timed out waiting for the reply to DATA"
    )
    assert "(may have been delivered)" not in errors[BOB]


def test_lifetime_channel_part_answered_503_for_five_days_is_given_up(
    tmp_path: Path, httpserver_ipv4: HTTPServer, monkeypatch: Any
) -> None:
    asked: list[bytes] = []

    def unavailable(request: Any) -> Response:
        asked.append(request.get_data())
        return Response("upstream connect error \x1b[2J", status=503)  # a terminal escape: never raw

    httpserver_ipv4.expect_request("/services/T0/B0/X", method="POST").respond_with_handler(unavailable)
    monkeypatch.setenv("LAB_SLACK", httpserver_ipv4.url_for("/services/T0/B0/X"))
    sub = {
        "email": "alice@example.org",
        "keywords": ["contrastive learning"],
        "channels": [{"type": "slack", "url_env": "LAB_SLACK"}],
    }
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, [sub])
        paper = {"id": "2611.01234", "title": "Contrastive Learning of Reward Models", "abstract": "We study it."}
        (tmp_path / "digests" / "today.json").write_text(json.dumps([paper]), encoding="utf-8")
        first = send(cfg)
        assert (first.sent, first.channel_pending, first.channel_failed) == (1, 1, 0)
        age(cfg, 4 * DAY, table="channel_parts")
        assert send(cfg).channel_pending == 1  # tried again: 5 tries a pass
        assert len(asked) == 10

        age(cfg, DAY + 60, table="channel_parts")
        last = send(cfg)

    assert (last.channel_sent, last.channel_pending, last.channel_failed, last.exit_code) == (0, 0, 1, 1)
    last_error = "HTTP 503 Service Unavailable: upstream connect error \\x1b[2J"  # (escaped by the poster)
    gave_up = f"gave up after 5 days of temporary failures; last: {last_error}"
    assert last.failures == [("alice@example.org slack:LAB_SLACK", gave_up)]
    assert len(asked) == 10  # not posted again
    status = json.loads(run_cli("status", "-c", str(cfg), "--json").stdout)
    assert [f["error"] for f in status["channels"]["failed"]] == [gave_up]
    assert status["channels"]["pending"] == 0
    text = run_cli("status", "-c", str(cfg)).stdout
    assert f"  failed alice@example.org slack:LAB_SLACK (1/1): {gave_up}" in text.splitlines()
    assert "\x1b" not in text


def test_lifetime_postgres_greylisted_delivery_given_up_after_five_days(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str
) -> None:
    """The claim path of several senders, on the database's clock."""
    with smtp_server(greylisting()) as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS, smtp={"retries": 0}, state=pg_url)
        for name in ("000", "001"):
            settled_copy(seeds[name], tmp_path / "digests")
        first = send(cfg)
        assert (first.sent, first.failed, first.pending) == (2, 0, 1)
        age(cfg, 4 * DAY)
        assert (send(cfg).failed, deliveries_of(cfg, BOB)[0]["attempts"]) == (0, 2)  # tried again

        age(cfg, DAY + 60)
        last = send(cfg)

    assert last.exit_code == 1 and last.failures == [(BOB, GAVE_UP)]
    bob, carrying = deliveries_of(cfg, BOB)
    assert (bob["status"], bob["attempts"], bob["last_error"]) == ("failed", 2, GAVE_UP)
    # its papers carried into a new delivery at once (no new digest: they are all it holds),
    # tried in this pass and pending again: the server still greylists bob
    assert (carrying["status"], carrying["papers"]) == ("pending", bob["papers"])
    status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
    assert status["failed"] == [{"email": BOB, "error": GAVE_UP}]
    assert status["deliveries"] == {"sent": 2, "pending": 1, "failed": 1}


# ---------------------------------------------------------------------- the carry: a given-up
# delivery's papers go out with the subscriber's next delivery (plan.compute_deliveries)

A1 = {"id": "2611.00001", "title": "Video Diffusion Models", "abstract": "Diffusion for video generation."}  # 8
SHARED = {"id": "2611.00002", "title": "Diffusion Transformers at Scale", "abstract": "Diffusion, also for video."}  # 5
A2 = {"id": "2611.00003", "title": "Graph Networks", "abstract": "Heat diffusion on graphs."}  # 1
B1 = {"id": "2611.00004", "title": "Video Editing", "abstract": "We study it."}  # 3
B2 = {"id": "2611.00005", "title": "Diffusion Distillation", "abstract": "Faster diffusion sampling."}  # 4
DAY_1 = [A1, SHARED, A2]
DAY_6 = [SHARED, B1, B2]
CAROL = "carol@example.org"
REFUSED = "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown"


def reader(email: str, **more: Any) -> dict[str, Any]:
    return {"email": email, "keywords": ["diffusion", "video"], "max_papers": 4, **more}


def digest(tmp: Path, name: str, papers: list[dict[str, str]]) -> None:
    (tmp / "digests" / f"{name}.json").write_text(json.dumps(papers), encoding="utf-8")


def titles_in(server: Any, email: str, start: int = 0) -> list[list[str]]:
    """The paper titles of each message to ``email`` since ``start``, in the order shown."""
    out = []
    for received in server.received[start:]:
        if received.rcpt_tos == [email]:
            text = text_of(received.message)
            shown = [p["title"] for p in (A1, SHARED, A2, B1, B2) if p["title"] in text]
            out.append(sorted(shown, key=text.index))
    return out


def outage_then_day_6(tmp: Path, server: Any, *, state: str | None = None, **more: Any) -> SendSummary:
    """Day 1's digest, bob's delivery greylisted (and more faults); five days and a minute
    on, the server takes everything again and day 6's digest arrives: that pass."""
    first = send(tmp / "config.yaml")
    assert first.pending >= 1
    age(tmp / "config.yaml", 5 * DAY + 60)
    server.handler.faults.rcpt_replies.clear()
    digest(tmp, "day6", DAY_6)
    return send(tmp / "config.yaml")


def test_lifetime_given_up_papers_go_out_once_with_the_next_delivery_best_first(
    tmp_path: Path,
) -> None:
    with smtp_server(greylisting()) as server:
        cfg = write_config(tmp_path, server.port, [reader(BOB)], smtp={"retries": 0})
        digest(tmp_path, "day1", DAY_1)
        day6 = outage_then_day_6(tmp_path, server)
        assert day6.failures == [(BOB, "gave up after 5 days of temporary failures; last: " + LAST)]
        # ONE email: day 1's papers and day 6's, best first, at most max_papers (4): the
        # weakest (day 1's graph paper) left out; the paper of both digests once
        assert titles_in(server, BOB) == [[A1["title"], SHARED["title"], B2["title"], B1["title"]]]
        old, new = deliveries_of(cfg, BOB)
        assert old["status"] == "failed" and new["status"] == "sent"
        assert A2["id"] not in new["papers"]
        assert {A1["id"], SHARED["id"], B1["id"], B2["id"]} <= set(new["papers"])

        third = send(cfg)  # nothing new, nothing carried twice
        assert (third.sent, third.pending, third.failed) == (0, 0, 0)
        assert len(titles_in(server, BOB)) == 1


def test_lifetime_refused_for_good_papers_are_not_carried(tmp_path: Path) -> None:
    """bob's day-1 delivery refused with a 5xx (final), carol's greylisted until given up:
    on day 6 carol gets day 1's papers with day 6's, bob only day 6's (one hard bounce
    does not stop his mail here: ``bounces.hard`` 2)."""
    faults = Faults(rcpt_replies={BOB: REFUSED, CAROL: GREYLISTED.replace(BOB, CAROL)})
    with smtp_server(faults) as server:
        subs = [reader(BOB), reader(CAROL)]
        cfg = write_config(tmp_path, server.port, subs, smtp={"retries": 0}, bounces={"hard": 2})
        digest(tmp_path, "day1", DAY_1)
        day6 = outage_then_day_6(tmp_path, server)
        assert [email for email, _ in day6.failures] == [CAROL]  # given up; bob's was failed on day 1
        assert titles_in(server, BOB) == [[SHARED["title"], B2["title"], B1["title"]]]
        assert titles_in(server, CAROL) == [[A1["title"], SHARED["title"], B2["title"], B1["title"]]]
    (bob_1, _) = deliveries_of(cfg, BOB)
    assert bob_1["status"] == "failed" and bob_1["last_error"].startswith("550")


def test_lifetime_carried_papers_go_through_the_changed_profile(tmp_path: Path) -> None:
    """bob excludes ``video`` since day 1: of the papers carried, only what still matches goes."""
    with smtp_server(greylisting()) as server:
        write_config(tmp_path, server.port, [reader(BOB)], smtp={"retries": 0})
        digest(tmp_path, "day1", DAY_1)
        send(tmp_path / "config.yaml")
        age(tmp_path / "config.yaml", 5 * DAY + 60)
        server.handler.faults.rcpt_replies.clear()
        write_config(tmp_path, server.port, [reader(BOB, exclude=["video"])], smtp={"retries": 0})
        digest(tmp_path, "day6", DAY_6)
        before = len(server.received)
        send(tmp_path / "config.yaml")
        assert titles_in(server, BOB, before) == [[B2["title"], A2["title"]]]


def test_lifetime_carried_papers_of_one_subscriber_never_reach_another(tmp_path: Path) -> None:
    """bob and dan both greylisted until given up, planned together on day 6 (one index
    for everyone with carried papers): dan, who now wants ``video`` too, gets his own carried
    paper and day 6's, never bob's day-1 video paper."""
    dan = "dan@example.org"
    faults = Faults(rcpt_replies={BOB: GREYLISTED, dan: GREYLISTED.replace(BOB, dan)})
    with smtp_server(faults) as server:
        subs = [reader(BOB), reader(dan, keywords=["graph"])]
        write_config(tmp_path, server.port, subs, smtp={"retries": 0})
        digest(tmp_path, "day1", DAY_1)
        send(tmp_path / "config.yaml")
        age(tmp_path / "config.yaml", 5 * DAY + 60)
        server.handler.faults.rcpt_replies.clear()
        subs = [reader(BOB), reader(dan, keywords=["graph", "video"])]
        write_config(tmp_path, server.port, subs, smtp={"retries": 0})
        digest(tmp_path, "day6", DAY_6)
        send(tmp_path / "config.yaml")
        assert titles_in(server, BOB) == [[A1["title"], SHARED["title"], B2["title"], B1["title"]]]
        (dans,) = titles_in(server, dan)
        assert sorted(dans) == sorted([A2["title"], B1["title"], SHARED["title"]])  # not A1: bob's


def test_lifetime_given_up_email_whose_slack_message_was_posted_carries_nothing(
    tmp_path: Path, httpserver_ipv4: HTTPServer, monkeypatch: Any
) -> None:
    """bob's day-1 email greylisted until given up, its Slack message posted on day 1: he
    saw those papers there, and day 6's Slack message (and email) never repeat them."""
    posted: list[str] = []

    def slack(request: Any) -> Response:
        posted.append(request.get_data(as_text=True))
        return Response("ok", status=200)

    httpserver_ipv4.expect_request("/services/T0/B0/X", method="POST").respond_with_handler(slack)
    monkeypatch.setenv("LAB_SLACK", httpserver_ipv4.url_for("/services/T0/B0/X"))
    with smtp_server(greylisting()) as server:
        sub = reader(BOB, channels=[{"type": "slack", "url_env": "LAB_SLACK"}])
        write_config(tmp_path, server.port, [sub], smtp={"retries": 0})
        digest(tmp_path, "day1", DAY_1)
        day6 = outage_then_day_6(tmp_path, server)
        assert day6.channel_sent == 1
        assert titles_in(server, BOB) == [[SHARED["title"], B2["title"], B1["title"]]]
    assert len(posted) == 2 and A1["title"] in posted[0]
    assert A1["title"] not in posted[1] and B2["title"] in posted[1]


def test_lifetime_dry_run_shows_the_carried_papers(tmp_path: Path) -> None:
    """``send --dry-run`` plans the way the pass does: the papers of the delivery given up
    are in what it says bob's next email holds."""
    with smtp_server(greylisting()) as server:
        cfg = write_config(tmp_path, server.port, [reader(BOB)], smtp={"retries": 0})
        digest(tmp_path, "day1", DAY_1)
        send(cfg)
        age(cfg, 5 * DAY + 60)
        with open_ledger(load_config(cfg)) as ledger:  # given up, as a pass would before planning
            ledger.give_up_pending(5 * DAY, lambda last: f"gave up; last: {last}")
        digest(tmp_path, "day6", DAY_6)
        result = run_cli("send", "-c", str(cfg), "--dry-run")
        assert len(server.received) == 0
    shown = [line for line in result.stdout.splitlines() if any(p["title"] in line for p in (*DAY_1, *DAY_6))]
    assert [next(p["title"] for p in (*DAY_1, *DAY_6) if p["title"] in line) for line in shown] == [
        A1["title"],
        SHARED["title"],
        B2["title"],
        B1["title"],
    ]


def test_lifetime_postgres_given_up_papers_go_out_once_with_the_next_delivery(tmp_path: Path, pg_url: str) -> None:
    """The same on the PostgreSQL ledger, through the several-senders path (a pass planned
    once, claimed by its senders)."""
    with smtp_server(greylisting()) as server:
        cfg = write_config(tmp_path, server.port, [reader(BOB)], smtp={"retries": 0}, state=pg_url)
        digest(tmp_path, "day1", DAY_1)
        day6 = outage_then_day_6(tmp_path, server)
        assert [email for email, _ in day6.failures] == [BOB]
        assert titles_in(server, BOB) == [[A1["title"], SHARED["title"], B2["title"], B1["title"]]]
        third = send(cfg)
        assert (third.sent, third.pending, third.failed) == (0, 0, 0)
        assert len(titles_in(server, BOB)) == 1
    old, new = deliveries_of(cfg, BOB)
    assert (old["status"], new["status"]) == ("failed", "sent") and A2["id"] not in new["papers"]
