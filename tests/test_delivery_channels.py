"""Chat channels (SPEC 2.5 "Channels") on the same ledger as email: a real aiosmtpd for the
mail, a local HTTP server standing in for Slack, Discord, Matrix and a webhook endpoint
(their documented answers: 200/204, 429 with Retry-After or a JSON retry_after, 5xx,
4xx). Never posted twice once the service answered 2xx; retried; failures in status.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newsletter.config import load_config
from newsletter.delivery.service import PassOptions, SendSummary, run_send
from tests.conftest import ROOT, run_cli
from tests.smtpd import SmtpServer, smtp_server, write_config

PAPERS = [
    {
        "id": "2611.01234",
        "title": "Contrastive Learning of Sparse Reward Models <for> Agents & Robots",
        "abstract": "We study *contrastive learning* of reward models; see @everyone <!channel> and [x](y).",
        "authors": 2,
    },
    {
        "id": "2611.02345",
        "title": "Masked Diffusion for Text-to-Image Restoration",
        "abstract": "Masked diffusion models restore degraded images.",
    },
]
Handler = Callable[[Request], Response]


class Service:
    """One fake service on the local server: what it was asked, and what it answers
    (``answers`` first, one each, then ``ok``)."""

    def __init__(self, server: HTTPServer, path: str, ok: Response, method: str = "POST") -> None:
        self.asked: list[Request] = []
        self.bodies: list[bytes] = []
        self.answers: list[Handler] = []
        self.ok = ok
        server.expect_request(path, method=method).respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        self.asked.append(request)
        self.bodies.append(request.get_data())
        if self.answers:
            return self.answers.pop(0)(request)
        return self.ok


@pytest.fixture
def services(httpserver_ipv4: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Service]]:
    found = {
        "slack": Service(httpserver_ipv4, "/services/T000/B000/XXXX", Response("ok")),
        "discord": Service(httpserver_ipv4, "/api/webhooks/1/tok", Response(status=204)),
        "webhook": Service(httpserver_ipv4, "/hook", Response(status=202)),
    }
    monkeypatch.setenv("LAB_SLACK", httpserver_ipv4.url_for("/services/T000/B000/XXXX"))
    monkeypatch.setenv("LAB_DISCORD", httpserver_ipv4.url_for("/api/webhooks/1/tok"))
    monkeypatch.setenv("HOOK_URL", httpserver_ipv4.url_for("/hook"))
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    yield found


def subscriber(*channels: str, send_email: bool = True, homeserver: str = "") -> dict[str, Any]:
    all_ = {
        "slack": {"type": "slack", "url_env": "LAB_SLACK"},
        "discord": {"type": "discord", "url_env": "LAB_DISCORD"},
        "matrix": {"type": "matrix", "homeserver": homeserver, "room": "!lab:example.org", "token_env": "MX_TOKEN"},
        "webhook": {"type": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
    }
    entry: dict[str, Any] = {
        "email": "alice@example.org",
        "name": "Alice",
        "keywords": ["contrastive learning"],
        "channels": [all_[c] for c in channels],
    }
    if not send_email:
        entry["send_email"] = False
    return entry


def setup(tmp: Path, server: SmtpServer, http: HTTPServer, *channels: str, send_email: bool = True) -> Path:
    sub = subscriber(*channels, send_email=send_email, homeserver=http.url_for("/").rstrip("/"))
    cfg = write_config(tmp, server.port, [sub])
    (tmp / "digests" / "today.json").write_text(json.dumps(PAPERS), encoding="utf-8")
    return cfg


def send(cfg: Path) -> SendSummary:
    return run_send(load_config(cfg), PassOptions(backoff=0.01))


def test_channels_slack_gets_the_emails_papers_once_over_several_runs(
    tmp_path: Path, httpserver_ipv4: HTTPServer, services: dict[str, Service]
) -> None:
    slack = services["slack"]
    with smtp_server() as server:
        cfg = setup(tmp_path, server, httpserver_ipv4, "slack")
        first = run_cli("send", "-c", str(cfg), "-v")
        assert first.returncode == 0, first.stderr
        assert "channels: posted 1, failed 0, pending 0" in first.stdout
        (payload,) = [json.loads(b) for b in slack.bodies]
        assert len(server.received) == 1  # the email too
        texts = [b["text"]["text"] for b in payload["blocks"]]
        assert texts[0].startswith("*1 new paper")
        paper = texts[1]
        # the title linked to its page, escaped as Slack asks: no <!channel> ping, no broken link
        assert "<https://arxiv.org/abs/2611.01234|Contrastive Learning of Sparse Reward Models &lt;for&gt;" in paper
        assert "Agents &amp; Robots>" in paper
        assert "&lt;!channel&gt;" in paper and "<!channel>" not in paper
        assert "Masked Diffusion" not in json.dumps(payload)  # the email's papers, no others
        assert payload["unfurl_links"] is False

        (tmp_path / "digests" / "again.json").write_text(json.dumps(PAPERS[:1]), encoding="utf-8")
        second = run_cli("send", "-c", str(cfg))
        assert second.returncode == 0, second.stderr
        assert len(slack.bodies) == 1 and len(server.received) == 1  # nothing twice, by any way


def test_channels_slack_429_with_retry_after_is_posted_once_after_waiting(
    tmp_path: Path, httpserver_ipv4: HTTPServer, services: dict[str, Service]
) -> None:
    slack = services["slack"]
    slack.answers = [lambda r: Response("rate_limited", status=429, headers={"Retry-After": "1"})]
    with smtp_server() as server:
        summary = send(setup(tmp_path, server, httpserver_ipv4, "slack"))
    assert (summary.channel_sent, summary.channel_failed, summary.channel_pending) == (1, 0, 0)
    assert len(slack.bodies) == 2 and slack.bodies[0] == slack.bodies[1]  # the same message asked again


def test_channels_5xx_stays_pending_then_goes_out_at_the_next_pass_without_a_second_email(
    tmp_path: Path, httpserver_ipv4: HTTPServer, services: dict[str, Service]
) -> None:
    slack = services["slack"]
    slack.answers = [lambda r: Response("upstream", status=503)] * 5  # every try of the first pass
    with smtp_server() as server:
        cfg = setup(tmp_path, server, httpserver_ipv4, "slack")
        first = send(cfg)
        assert (first.channel_sent, first.channel_pending, first.exit_code) == (0, 1, 1)
        status = json.loads(run_cli("status", "-c", str(cfg), "--json").stdout)
        assert status["channels"] == {"failed": [], "pending": 1}

        second = send(cfg)

        assert (second.channel_sent, second.channel_pending, second.exit_code) == (1, 0, 0)
        assert len(server.received) == 1  # the email went out once
        assert len(slack.bodies) == 6 and len(set(slack.bodies)) == 1


def test_channels_4xx_is_failed_and_shown_in_status(
    tmp_path: Path, httpserver_ipv4: HTTPServer, services: dict[str, Service]
) -> None:
    services["slack"].answers = [lambda r: Response("no_service", status=404)]
    with smtp_server() as server:
        cfg = setup(tmp_path, server, httpserver_ipv4, "slack")
        result = run_cli("send", "-c", str(cfg))
        assert result.returncode == 1
        assert "failed: alice@example.org slack:LAB_SLACK: HTTP 404 Not Found: no_service" in result.stderr
        assert httpserver_ipv4.url_for("/") not in result.stderr + result.stdout  # the webhook URL is a secret
        status = run_cli("status", "-c", str(cfg))
        assert "channels: 1 message part(s) failed, 0 pending" in status.stdout
        assert "failed alice@example.org slack:LAB_SLACK (1/1): HTTP 404 Not Found: no_service" in status.stdout
        again = send(cfg)
        assert again.channel_sent == 0 and len(services["slack"].bodies) == 1  # failed: not posted again


def test_channels_redirect_is_not_followed_and_the_part_fails(
    tmp_path: Path, httpserver_ipv4: HTTPServer, services: dict[str, Service]
) -> None:
    """A webhook answering with a redirect (to an internal address, or anywhere) is not
    followed: the part, signed body and all, goes nowhere else; it is failed, shown in status."""
    moved: list[Request] = []
    httpserver_ipv4.expect_request("/internal/admin").respond_with_handler(
        lambda request: moved.append(request) or Response(status=204)
    )
    services["webhook"].answers = [
        lambda r: Response(status=307, headers={"Location": httpserver_ipv4.url_for("/internal/admin")})
    ]
    with smtp_server() as server:
        cfg = setup(tmp_path, server, httpserver_ipv4, "webhook")
        result = send(cfg)
    assert (result.channel_sent, result.channel_failed) == (0, 1)
    assert moved == [] and len(services["webhook"].bodies) == 1
    status = run_cli("status", "-c", str(cfg))
    assert "failed alice@example.org webhook:HOOK_URL (1/1): HTTP 307 Temporary Redirect" in status.stdout


def test_channels_webhook_posts_the_match_json_signed_with_hmac(
    tmp_path: Path, httpserver_ipv4: HTTPServer, services: dict[str, Service]
) -> None:
    hook = services["webhook"]
    with smtp_server() as server:
        send(setup(tmp_path, server, httpserver_ipv4, "webhook"))
    (request,) = hook.asked
    body = hook.bodies[0]
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert request.headers["X-Signature"] == f"sha256={expected}"
    data = json.loads(body)
    assert data["email"] == "alice@example.org"
    (paper,) = data["papers"]
    assert paper["id"] == "2611.01234" and paper["matched"] == [
        {"keyword": "contrastive learning", "fields": ["title", "abstract"]}
    ]
    assert paper["url"] == "https://arxiv.org/abs/2611.01234" and isinstance(paper["score"], int)


def test_channels_discord_json_retry_after_and_no_pings(
    tmp_path: Path, httpserver_ipv4: HTTPServer, services: dict[str, Service]
) -> None:
    discord = services["discord"]
    discord.answers = [
        lambda r: Response('{"message": "You are being rate limited.", "retry_after": 0.2, "global": false}', 429)
    ]
    with smtp_server() as server:
        summary = send(setup(tmp_path, server, httpserver_ipv4, "discord"))
    assert summary.channel_sent == 1 and len(discord.bodies) == 2
    assert discord.asked[-1].args.get("wait") == "true"
    message = json.loads(discord.bodies[-1])
    assert message["allowed_mentions"] == {"parse": []}
    (embed,) = message["embeds"]
    assert embed["url"] == "https://arxiv.org/abs/2611.01234"
    assert r"\@everyone" in embed["description"] and r"\[x\]\(y\)" in embed["description"]


def test_channels_matrix_put_with_token_and_the_same_txn_id_on_retry(
    tmp_path: Path, httpserver_ipv4: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[Request] = []

    def handler(request: Request) -> Response:
        asked.append(request)
        if len(asked) == 1:
            return Response('{"errcode": "M_UNKNOWN"}', status=502)
        return Response('{"event_id": "$abc"}', content_type="application/json")

    route = re.compile(r"/_matrix/client/v3/rooms/.+")
    httpserver_ipv4.expect_request(route, method="PUT").respond_with_handler(handler)
    monkeypatch.setenv("MX_TOKEN", "syt_secret_token")
    with smtp_server() as server:
        summary = send(setup(tmp_path, server, httpserver_ipv4, "matrix"))
    assert summary.channel_sent == 1 and len(asked) == 2
    first, second = asked
    assert first.path == second.path and first.path.startswith("/_matrix/client/v3/rooms/!lab:example.org/send/")
    assert first.headers["Authorization"] == "Bearer syt_secret_token"
    content = json.loads(second.get_data())
    assert content["msgtype"] == "m.text" and content["format"] == "org.matrix.custom.html"
    assert "&lt;for&gt; Agents &amp; Robots" in content["formatted_body"]
    assert "<for> Agents & Robots" in content["body"]


def test_channels_only_subscriber_gets_no_email_and_no_second_post(
    tmp_path: Path, httpserver_ipv4: HTTPServer, services: dict[str, Service]
) -> None:
    with smtp_server() as server:
        cfg = setup(tmp_path, server, httpserver_ipv4, "slack", send_email=False)
        first = send(cfg)
        second = send(cfg)
        assert server.received == []
    assert (first.channel_sent, second.channel_sent) == (1, 0)
    assert len(services["slack"].bodies) == 1


def test_channels_send_killed_right_after_its_first_batch_is_recorded_posts_every_part_once(
    tmp_path: Path, httpserver_ipv4: HTTPServer, services: dict[str, Service]
) -> None:
    """A real ``send`` SIGKILLed the moment its first batch of deliveries is committed
    (tests/killafter.py), then ``send`` again: every email once, every channel part
    once. (The parts were once recorded in a second transaction: lost in that window.)"""
    n = 40  # more than one batch (BATCH = 32)
    subs = [{**subscriber("slack", "webhook"), "email": f"user{i:02d}@example.org"} for i in range(n)]
    for sub in subs[:4]:
        sub["send_email"] = False  # channels only
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, subs)
        (tmp_path / "digests" / "today.json").write_text(json.dumps(PAPERS), encoding="utf-8")
        killed = subprocess.run(
            [sys.executable, "-m", "tests.killafter", "send", "-c", str(cfg)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=300,
            check=False,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert server.received == [] and services["webhook"].bodies == []  # died before any went out
        again = run_cli("send", "-c", str(cfg))
        assert again.returncode == 0, again.stderr
        assert run_cli("send", "-c", str(cfg)).returncode == 0  # and a third pass adds nothing
        mailed = server.by_recipient()
    assert sorted(mailed) == [s["email"] for s in subs[4:]]
    assert all(len(copies) == 1 for copies in mailed.values())
    hooked = sorted(json.loads(b)["email"] for b in services["webhook"].bodies)
    assert hooked == [s["email"] for s in subs]
    assert len(services["slack"].bodies) == n


def test_check_names_a_missing_channel_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAB_SLACK", raising=False)
    cfg = write_config(tmp_path, 2525, [subscriber("slack")])

    result = run_cli("check", "-c", str(cfg))

    assert result.returncode == 2
    assert "channel slack:LAB_SLACK: the environment variable LAB_SLACK (url_env) is unset or empty" in result.stderr


def test_send_to_a_channel_is_a_test_post_that_records_nothing(
    tmp_path: Path, httpserver_ipv4: HTTPServer, services: dict[str, Service]
) -> None:
    with smtp_server() as server:
        cfg = setup(tmp_path, server, httpserver_ipv4, "webhook")
        env = {"TRY_SLACK": httpserver_ipv4.url_for("/services/T000/B000/XXXX")}

        result = run_cli("send", "-c", str(cfg), "--to", "slack:TRY_SLACK", env=env)

        assert result.returncode == 0, result.stderr
        assert "test send: 1 paper(s) for alice@example.org posted to slack:TRY_SLACK" in result.stdout
        assert len(services["slack"].bodies) == 1 and services["webhook"].bodies == []
        unknown = run_cli("send", "-c", str(cfg), "--to", "slack:NOPE_UNSET")
        assert unknown.returncode == 2 and "the environment variable NOPE_UNSET is unset or empty" in unknown.stderr
        # nothing was recorded: the real pass still delivers the paper, by email and webhook
        real = send(cfg)
        assert (real.sent, real.channel_sent) == (1, 1) and len(server.received) == 1


@pytest.mark.parametrize(
    ("channel", "said"),
    [
        ({"type": "telegram", "url_env": "X"}, "unknown channel type 'telegram'"),
        ({"type": "slack", "url": "https://hooks.slack.com/services/T/B/X"}, "channels[0].url: unknown key"),
        ({"type": "slack", "url_env": "not a name"}, "is not an environment variable name"),
        ({"type": "matrix", "homeserver": "matrix.example.org", "room": "!a:b", "token_env": "T"}, "homeserver URL"),
        ({"type": "matrix", "homeserver": "https://m.org", "room": "lab", "token_env": "T"}, "not a Matrix room"),
        (
            {"type": "matrix", "homeserver": "https://m.org", "room": "!a\x1b[2J:b", "token_env": "T"},
            "not a Matrix room",
        ),
    ],
)
def test_check_names_a_bad_channel(tmp_path: Path, channel: dict[str, Any], said: str) -> None:
    entry = subscriber()
    entry["channels"] = [channel]
    cfg = write_config(tmp_path, 2525, [entry])

    result = run_cli("check", "-c", str(cfg))

    assert result.returncode == 2
    assert said in result.stderr, result.stderr


def test_channels_dry_run_names_where_each_digest_would_go_and_posts_nothing(
    tmp_path: Path, httpserver_ipv4: HTTPServer, services: dict[str, Service]
) -> None:
    with smtp_server() as server:
        cfg = setup(tmp_path, server, httpserver_ipv4, "slack", "discord", send_email=False)

        dry = run_cli("send", "-c", str(cfg), "--dry-run")

        assert dry.returncode == 0, dry.stderr
        lines = dry.stdout.splitlines()
        at = lines.index("alice@example.org: 1 paper")
        assert lines[at + 1] == "  to: slack:LAB_SLACK, discord:LAB_DISCORD"  # channels only: no "email"
        assert [s.asked for s in services.values()] == [[], [], []] and server.received == []
        # with the email as well, it says so first
        (tmp_path / "both").mkdir()
        both = write_config(tmp_path / "both", server.port, [subscriber("webhook")])
        (tmp_path / "both" / "digests" / "today.json").write_text(json.dumps(PAPERS), encoding="utf-8")
        again = run_cli("send", "-c", str(both), "--dry-run")
        assert "alice@example.org: 1 paper\n  to: email, webhook:HOOK_URL\n" in again.stdout, again.stdout
        assert [s.asked for s in services.values()] == [[], [], []] and server.received == []


def test_check_refuses_send_email_false_without_a_channel(tmp_path: Path) -> None:
    entry = subscriber(send_email=False)
    cfg = write_config(tmp_path, 2525, [entry])

    result = run_cli("check", "-c", str(cfg))

    assert result.returncode == 2
    assert "send_email: false needs at least one of `channels:`" in result.stderr, result.stderr


# --------------------------------------------------------------------------- several senders (PostgreSQL)


def test_channels_two_senders_on_postgresql_post_every_part_once(
    tmp_path: Path, httpserver_ipv4: HTTPServer, services: dict[str, Service], pg_url: str
) -> None:
    """Two senders run the same pass at once on one PostgreSQL ledger (one plans, one
    joins): every email once, every chat message once, channels-only subscribers never
    mailed; a later pass posts nothing again."""
    n = 12
    subs = [{**subscriber("slack", "webhook"), "email": f"user{i:02d}@example.org"} for i in range(n)]
    for sub in subs[:3]:
        sub["send_email"] = False
    fire_at = datetime(2030, 1, 1, 7, tzinfo=UTC)
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, subs, state=pg_url)
        (tmp_path / "digests" / "today.json").write_text(json.dumps(PAPERS), encoding="utf-8")
        config = load_config(cfg)
        assert len(config.subscribers) == n and config.left_out == ()
        summaries: list[SendSummary] = []

        def sender() -> None:
            summaries.append(run_send(config, PassOptions(backoff=0.01, fire_at=fire_at)))

        hosts = [threading.Thread(target=sender) for _ in range(2)]
        for host in hosts:
            host.start()
        for host in hosts:
            host.join(timeout=300)
        later = run_send(config, PassOptions(backoff=0.01, fire_at=datetime(2030, 1, 2, tzinfo=UTC)))
        mailed = server.by_recipient()
    assert [s.exit_code for s in summaries] == [0, 0], summaries
    assert sum(s.channel_sent for s in summaries) == 2 * n and later.channel_sent == 0
    assert sorted(mailed) == [s["email"] for s in subs[3:]]
    assert all(len(copies) == 1 for copies in mailed.values())
    assert sorted(json.loads(b)["email"] for b in services["webhook"].bodies) == [s["email"] for s in subs]
    assert len(services["slack"].bodies) == n


def test_channels_5xx_on_postgresql_is_posted_at_the_next_pass_once(
    tmp_path: Path, httpserver_ipv4: HTTPServer, services: dict[str, Service], pg_url: str
) -> None:
    """A part a service did not take on the claim path is given back, not held: the
    next pass (any host) posts it, once."""
    slack = services["slack"]
    slack.answers = [lambda r: Response("upstream", status=503)] * 5  # every try of the first pass
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, [subscriber("slack")], state=pg_url)
        (tmp_path / "digests" / "today.json").write_text(json.dumps(PAPERS), encoding="utf-8")
        first = run_send(load_config(cfg), PassOptions(backoff=0.01, fire_at=datetime(2030, 1, 1, tzinfo=UTC)))
        assert (first.channel_sent, first.channel_pending, first.exit_code) == (0, 1, 1)
        second = run_send(load_config(cfg), PassOptions(backoff=0.01, fire_at=datetime(2030, 1, 2, tzinfo=UTC)))
        third = run_send(load_config(cfg), PassOptions(backoff=0.01, fire_at=datetime(2030, 1, 3, tzinfo=UTC)))
        assert len(server.received) == 1
    assert (second.channel_sent, second.channel_pending, second.exit_code) == (1, 0, 0)
    assert third.channel_sent == 0
    assert len(slack.bodies) == 6 and slack.bodies[5] == slack.bodies[0]  # 5 refused tries, then the same message


def test_channels_service_dripping_its_answer_is_cut_off_and_the_part_stays_pending(
    tmp_path: Path, httpserver_ipv4: HTTPServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # whatever answers at the webhook URL sends a header line every 0.2 s, each well
    # within the read timeout (1 s here): the attempt is cut off at the timeout, the
    # part stays pending for the next pass, the morning's email is not held up
    from newsletter.delivery.channels import stage

    monkeypatch.setattr(stage, "TIMEOUT", 1.0)
    monkeypatch.setattr(stage, "RETRIES", 0)
    sent: list[int] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def drip() -> None:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for n in range(150):
                conn.sendall(b"X-Filler-%d: x\r\n" % n)
                sent.append(n)
                time.sleep(0.2)
            conn.sendall(b"Content-Length: 2\r\n\r\nok")

    threading.Thread(target=drip, daemon=True).start()
    monkeypatch.setenv("LAB_SLACK", f"http://127.0.0.1:{listener.getsockname()[1]}/services/T000/B000/XXXX")
    with smtp_server() as server, listener:
        cfg = setup(tmp_path, server, httpserver_ipv4, "slack")
        summary = send(cfg)
        assert (summary.channel_sent, summary.channel_pending) == (0, 1)
        assert len(server.received) == 1
    assert sent and sent[-1] < 149  # cut off mid-header, not waited out
    assert "slack:LAB_SLACK (1/1): ReadTimeout: no answer from the service; left for the next pass" in caplog.text
