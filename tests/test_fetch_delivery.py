"""Fetched digests reach subscribers: `send --fetch` and the daemon's `fetch.cron`,
against a local HTTP server (the sources) and a real aiosmtpd (the mail), with a real
ledger. Nobody touches the digest directory: the program brings the digests itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newsletter.config import load_config
from newsletter.delivery.service import pick_up_digests
from newsletter.store import SqliteLedger
from tests.conftest import NEVER_SOON, newsletter
from tests.fakeclock import FakeClock
from tests.indaemon import in_daemon
from tests.memsender import MemoryTransport
from tests.smtpd import smtp_server, write_config

# the simple JSON digest shape (an array of {title, abstract, ...}) served as the Hugging Face answer
PAPERS = [
    {
        "id": "2611.01234",
        "title": "Contrastive Learning of Sparse Reward Models for Long-Horizon Agents",
        "abstract": "We study self-supervised contrastive learning of reward models for agents.",
        "authors": 2,
        "upvotes": 3,
    },
    {
        "id": "2611.02345",
        "title": "Masked Diffusion for Text-to-Image Restoration",
        "abstract": "Masked diffusion models restore degraded images from text prompts.",
        "upvotes": 11,
    },
]
ALICE = {"email": "alice@example.org", "name": "Alice", "keywords": ["contrastive learning"]}
RSS_WEEKEND = (Path(__file__).parent / "recorded" / "arxiv-rss-weekend.xml").read_bytes()


def sources(server: HTTPServer) -> list[dict[str, Any]]:
    return [
        {"type": "huggingface", "url": server.url_for("/api/daily_papers")},
        {"type": "arxiv", "categories": ["cs.CL", "cs.LG"], "url": server.url_for("/rss/{categories}")},
    ]


def serve(server: HTTPServer, dates: list[str], asked_at: list[float] | None = None) -> None:
    def hf(request: Request) -> Response:
        dates.append(request.args.get("date", ""))
        if asked_at is not None:
            asked_at.append(time.time())
        return Response(json.dumps(PAPERS), content_type="application/json")

    server.expect_request("/api/daily_papers").respond_with_handler(hf)
    server.expect_request("/rss/cs.CL+cs.LG").respond_with_data(RSS_WEEKEND, content_type="application/rss+xml")


def body_of(data: bytes) -> str:
    from email import message_from_bytes

    msg = message_from_bytes(data)
    part = msg.get_payload(0)
    return " ".join(part.get_payload(decode=True).decode().replace("*", "").split())  # type: ignore[union-attr]


def test_fetch_send_fetch_delivers_what_it_fetched_in_the_same_pass(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    dates: list[str] = []
    serve(httpserver_ipv4, dates)
    with smtp_server() as server:
        # a long settle time: a digest dropped by hand would wait; a fetched one arrives whole
        cfg = write_config(
            tmp_path, server.port, [ALICE], settle_seconds=30, sources=sources(httpserver_ipv4), fetch={"retries": 0}
        )
        result = subprocess.run(
            [sys.executable, "-m", "newsletter", "send", "-c", str(cfg), "--fetch", "-v"],
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert result.returncode == 0, result.stderr
        assert "huggingface: wrote" in result.stdout
        assert "arxiv-cs.CL+cs.LG: no papers in the answer" in result.stdout
        assert "1 new digest; sent 1," in result.stdout
        (msg,) = server.received
        assert msg.rcpt_tos == ["alice@example.org"]
        body = body_of(msg.data)
        assert "Contrastive Learning of Sparse Reward Models" in body
        assert "Masked Diffusion" not in body  # not matching Alice's profile
    assert dates == [datetime.now(UTC).date().isoformat()]


def test_fetch_send_fetch_with_dry_run_or_without_sources_is_refused(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    cfg = write_config(tmp_path, 2525, [ALICE], sources=sources(httpserver_ipv4))
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "send", "-c", str(cfg), "--fetch", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--fetch writes digest files; it does not go with --dry-run" in result.stderr
    cfg = write_config(tmp_path, 2525, [ALICE])  # no sources
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "send", "-c", str(cfg), "--fetch"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith("no sources configured: add a `sources:` list (see config.example.yaml)")
    assert httpserver_ipv4.log == []


def test_fetch_fetched_files_are_picked_up_whatever_the_pattern_says(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, 2525, [ALICE], digests={"directory": "digests", "pattern": "*.txt"})
    digests = tmp_path / "digests"
    (digests / "huggingface-2026-11-17.json").write_text(json.dumps(PAPERS), encoding="utf-8")
    (digests / "notes.json").write_text(json.dumps(PAPERS[:1]), encoding="utf-8")  # not a .txt: left alone
    config = load_config(cfg)
    with SqliteLedger.open(config.ledger_path) as ledger:
        picked = pick_up_digests(config, ledger)
    assert picked.ok == [(str(digests / "huggingface-2026-11-17.json"), 2)]
    assert picked.unsettled == []


def test_fetch_default_pattern_takes_every_format_and_a_list_works(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, 2525, [ALICE])
    digests = tmp_path / "digests"
    for name in ("a.txt", "b.md", "c.json", "d.html", "e.xml", "f.pdf"):
        (digests / name).write_text("x", encoding="utf-8")
    from newsletter.digest.scan import digest_files

    assert [p.name for p in digest_files(load_config(cfg))] == ["a.txt", "b.md", "c.json", "d.html", "e.xml"]
    cfg = write_config(tmp_path, 2525, [ALICE], digests={"directory": "digests", "pattern": ["*.md", "*.pdf"]})
    assert [p.name for p in digest_files(load_config(cfg))] == ["b.md", "f.pdf"]


@pytest.mark.asyncio
async def test_fetch_daemon_fetches_on_fetch_cron_and_delivers_on_arrival(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    dates: list[str] = []
    serve(httpserver_ipv4, dates)
    now = datetime.now(UTC).replace(microsecond=0)
    fire = now + timedelta(seconds=20)
    cfg = write_config(
        tmp_path,
        1,
        [ALICE],
        settle_seconds=60,  # the poller would wait a minute; the fetch job picks its files up at once
        schedule={"cron": NEVER_SOON, "timezone": "UTC", "on_arrival": True},
        sources=sources(httpserver_ipv4),
        fetch={"cron": f"{fire.second} {fire.minute} {fire.hour} * * *", "retries": 0},
    )
    transport = MemoryTransport()
    async with in_daemon(cfg, clock=FakeClock(now), transport=transport) as rig:
        assert f"schedule fetch (2 sources): next run {fire.isoformat()}" in rig.text()
        assert rig.next_run("fetch") == fire
        await rig.poll()  # nothing asked before the fire: a ledger that never fetched waits for it
        assert transport.outbox == [] and dates == []
        rig.advance(20)
        await rig.fire("fetch")
        (msg,) = transport.outbox
    log = rig.text()
    assert "fetch huggingface: wrote" in log
    assert "fetch arxiv-cs.CL+cs.LG: no papers in the answer" in log
    assert "pass on-arrival: subscribers=1 sent=1" in log
    assert "fetching now" not in log
    assert msg.recipient == "alice@example.org"
    assert "Contrastive Learning of Sparse Reward Models" in body_of(msg.data)
    assert dates == [fire.date().isoformat()]
    status = newsletter("status", "-c", str(cfg), "--json")
    (hf, arxiv) = json.loads(status.output)["sources"]
    assert (hf["source"], hf["outcome"]) == ("huggingface", "written")
    assert (arxiv["source"], arxiv["outcome"]) == ("arxiv-cs.CL+cs.LG", "empty")


@pytest.mark.asyncio
async def test_fetch_daemon_catches_up_a_fetch_missed_while_it_was_down(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    from newsletter.store import FetchState

    dates: list[str] = []
    serve(httpserver_ipv4, dates)
    cfg = write_config(
        tmp_path,
        1,
        [ALICE],
        schedule={"cron": NEVER_SOON, "timezone": "UTC", "on_arrival": True},
        sources=sources(httpserver_ipv4),
        fetch={"cron": "0 0 * * *", "retries": 0},  # midnight: fired since the last fetch two days ago
    )
    config = load_config(cfg)
    two_days_ago = time.time() - 2 * 86400
    with SqliteLedger.open(config.ledger_path) as ledger:
        for source in config.sources:
            ledger.record_fetch(FetchState(source.key, "x", None, None, two_days_ago, "empty", None, 200, None))
    transport = MemoryTransport()
    async with in_daemon(cfg, transport=transport) as rig:
        assert "a fetch was missed while the daemon was not running: fetching now" in rig.text()
        assert dates == []  # not on the event loop at start: a job that runs at once
        await rig.fire("fetch-catch-up")
    assert [m.recipient for m in transport.outbox] == ["alice@example.org"]
    assert dates == [datetime.now(UTC).date().isoformat()]


@pytest.mark.asyncio
async def test_fetch_daemon_fetched_nothing_missed_no_catch_up(tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    from newsletter.store import FetchState

    dates: list[str] = []
    serve(httpserver_ipv4, dates)
    cfg = write_config(
        tmp_path, 1, [ALICE], sources=sources(httpserver_ipv4), fetch={"cron": "0 0 * * *", "retries": 0}
    )
    config = load_config(cfg)
    with SqliteLedger.open(config.ledger_path) as ledger:
        for source in config.sources:
            ledger.record_fetch(FetchState(source.key, "x", None, None, time.time(), "empty", None, 200, None))
    async with in_daemon(cfg, transport=MemoryTransport()) as rig:
        assert rig.daemon.scheduler is not None and rig.daemon.scheduler.get_job("fetch-catch-up") is None
    assert "fetching now" not in rig.text() and dates == []
