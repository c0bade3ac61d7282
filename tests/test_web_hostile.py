"""The web layer as an attacker or an unlucky user tries it: the real endpoint and the
real preview on 127.0.0.1, real sockets, a real SQLite ledger (locked by a real second
connection), and the log as the operator reads it."""

from __future__ import annotations

import logging
import re
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import newsletter.web.app as web_app
from newsletter.config import load_config
from newsletter.render.links.feedback import feedback_links
from newsletter.render.links.tokens import unsubscribe_token
from newsletter.web.preview import PreviewServer
from newsletter.web.unsubscribe import UnsubscribeServer
from tests.conftest import newsletter, settled_copy
from tests.smtpd import smtp_server, write_config
from tests.test_web import FORM, SECRET, config_file, exchange, request, statuses, suppressed
from tests.webthread import Background, endpoint_of

ROOT = Path(__file__).resolve().parent.parent
ONE_CLICK = b"List-Unsubscribe=One-Click"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)


@pytest.fixture()
def endpoint(tmp_path: Path) -> Iterator[tuple[UnsubscribeServer, Path]]:
    cfg = config_file(tmp_path)
    with endpoint_of(cfg, port=0) as server:
        yield server, cfg


def path_of(address: str) -> str:
    return "/unsubscribe/" + unsubscribe_token(address, SECRET)


def one_click(path: str) -> bytes:
    return request(
        "POST", path, {"Content-Type": FORM, "Content-Length": str(len(ONE_CLICK)), "Connection": "close"}, ONE_CLICK
    )


def body_of(raw: bytes) -> str:
    return raw.partition(b"\r\n\r\n")[2].decode("utf-8", "replace")


def wait_for(caplog: pytest.LogCaptureFixture, text: str) -> None:
    deadline = time.monotonic() + 15  # a bound on waiting for the line, never a speed check
    while not any(text in r.getMessage() for r in caplog.records):
        if time.monotonic() > deadline:
            pytest.fail(f"no log line {text!r}: {caplog.text}")
        time.sleep(0.05)


def test_web_click_while_the_ledger_is_locked_says_try_again_then_records(
    endpoint: tuple[UnsubscribeServer, Path], caplog: pytest.LogCaptureFixture
) -> None:
    server, cfg = endpoint
    port = server.server_address[1]
    caplog.set_level(logging.INFO)
    alice = path_of("alice@example.org")
    feedback = feedback_links("", "alice@example.org", unsubscribe_token("alice@example.org", SECRET), "2501.1", SECRET)
    more = feedback[0][1]
    holder = sqlite3.connect(load_config(cfg).ledger_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a backup tool, a sqlite3 shell, a long write
    try:
        assert statuses(exchange(port, request("GET", alice, {"Connection": "close"}))) == [200]  # reads still work
        for raw in (
            exchange(port, one_click(alice), wait=30),
            exchange(port, request("POST", more, {"Content-Length": "0", "Connection": "close"}), wait=30),
        ):
            assert statuses(raw) == [503], raw[:300]
            assert re.search(rb"\r\nRetry-After: \d+\r\n", raw), raw[:400]
            page = body_of(raw)
            assert "nothing was changed" in page and "Try again" in page, page
            assert "Traceback" not in page and "sqlite" not in page.lower()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert suppressed(cfg) == set()
    assert not [r for r in caplog.records if r.exc_info], "a busy ledger is one line, not a traceback"
    assert [r for r in caplog.records if r.levelno == logging.ERROR and "locked" in r.getMessage()]
    # the same click once the lock is gone: recorded
    assert statuses(exchange(port, one_click(alice), wait=30)) == [200]
    assert suppressed(cfg) == {"alice@example.org"}


def test_web_slow_body_is_408_and_changes_nothing(
    endpoint: tuple[UnsubscribeServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, cfg = endpoint
    port = server.server_address[1]
    monkeypatch.setattr(web_app, "BODY_SECONDS", 0.5, raising=False)
    head = request("POST", path_of("bob@example.org"), {"Content-Type": FORM, "Content-Length": str(len(ONE_CLICK))})
    # headers complete, the body never: without a deadline the connection is held for ever
    raw = exchange(port, head + ONE_CLICK[:5], wait=20)
    assert statuses(raw) == [408], raw[:300]
    assert b"Connection: close" in raw and "did not arrive in time" in body_of(raw)
    assert suppressed(cfg) == set()


def test_web_client_gone_mid_body_is_one_line_without_traceback(
    endpoint: tuple[UnsubscribeServer, Path], caplog: pytest.LogCaptureFixture
) -> None:
    server, cfg = endpoint
    port = server.server_address[1]
    caplog.set_level(logging.DEBUG)
    head = request("POST", path_of("carol@example.org"), {"Content-Type": FORM, "Content-Length": str(len(ONE_CLICK))})
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(head + ONE_CLICK[:5])
            time.sleep(0.2)  # the handler is reading the body when the client goes
    wait_for(caplog, "request body not received")
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert suppressed(cfg) == set()
    assert statuses(exchange(port, request("GET", "/healthz", {"Connection": "close"}))) == [200]


def test_web_parser_refusals_get_the_apps_page_without_echo(endpoint: tuple[UnsubscribeServer, Path]) -> None:
    server, cfg = endpoint
    port = server.server_address[1]
    alice = path_of("alice@example.org")
    token = alice.rsplit("/", 1)[1]
    refused = [
        f"FOO {alice} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),  # an unknown method
        f"GET {alice}\x00 HTTP/1.1\r\nHost: x\r\n\r\n".encode(),  # a NUL in the path
        request("GET", alice, {"X-Big": "a" * 20_000}),  # a header too large
        request("GET", alice, {f"X-{i}": "1" for i in range(300)}),  # too many headers
        request(
            "POST",
            alice,
            {"Content-Length": "26", "Transfer-Encoding": "chunked"},
            b"1a\r\n" + ONE_CLICK + b"\r\n0\r\n\r\n",
        ),  # smuggling
    ]
    for data in refused:
        raw = exchange(port, data)
        assert statuses(raw) == [400], raw[:300]
        head, _, body = raw.partition(b"\r\n\r\n")
        for header in (
            b"Content-Type: text/html",
            b"Content-Security-Policy: default-src 'none'",
            b"X-Content-Type-Options: nosniff",
            b"Cache-Control: no-store",
            b"Referrer-Policy: no-referrer",
            b"Server: paper-digest\r\n",
        ):
            assert header in head, (header, head)
        assert b"aiohttp" not in raw and token.encode() not in raw and b"a" * 100 not in raw
        assert body.startswith(b"<!doctype html>") and b"could not be read" in body
    assert suppressed(cfg) == set()


def test_web_preview_answers_only_its_loopback_names(tmp_path: Path) -> None:
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 reaches
    the preview's socket with ``Host: evil.example``; it must read no subscriber."""
    cfg = config_file(tmp_path)
    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    server = PreviewServer(cfg, port=0, digests=seeds)
    background = Background(server).start()
    port = server.server_address[1]
    try:
        for host, status in (
            ("evil.example", 421),
            (f"evil.example:{port}", 421),
            ("127.0.0.1.evil.example", 421),
            (f"127.0.0.1:{port}", 200),
            (f"localhost:{port}", 200),
            ("LOCALHOST", 200),
        ):
            for path in ("/", "/s/alice@example.org", "/raw/alice@example.org.eml"):
                raw = exchange(port, request("GET", path, {"Host": host, "Connection": "close"}), wait=30)
                assert statuses(raw) == [status], (host, path, raw[:300])
                if status == 421:
                    assert b"alice@example.org" not in raw.partition(b"\r\n\r\n")[2]
    finally:
        background.stop()


def test_web_link_of_a_removed_subscriber_still_unsubscribes(tmp_path: Path) -> None:
    """Zoe got a digest, then was removed from the configuration: the link in that email
    (and the provider's one-click POST) still works, and records her suppression, so a
    later re-import of an old list does not write to her again."""
    subscribers = [{"email": f"{n}@example.org", "keywords": ["learning"]} for n in ("alice", "zoe")]
    unsub = {"url": "https://x.org/u/{{ token }}"}
    sender = {"from": "Paper Digest <digest@example.org>", "unsubscribe": unsub}
    with smtp_server() as smtp:
        cfg = write_config(tmp_path, smtp.port, subscribers, sender=sender)
        for seed in sorted((ROOT / "seeds").glob("*.txt"))[:1]:
            settled_copy(seed, tmp_path / "digests")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        assert "zoe@example.org" in smtp.by_recipient()
    write_config(tmp_path, smtp.port, subscribers[:1], sender=sender)  # Zoe removed
    server = UnsubscribeServer(load_config(cfg), port=0)
    background = Background(server).start()
    port = server.server_address[1]
    try:
        zoe = path_of("zoe@example.org")
        page = exchange(port, request("GET", zoe, {"Connection": "close"}))
        assert statuses(page) == [200] and "z***@example.org" in body_of(page)
        assert statuses(exchange(port, one_click(zoe))) == [200]
        assert statuses(exchange(port, one_click(path_of("nobody@example.org")))) == [404]  # never delivered to
    finally:
        background.stop()
    assert suppressed(cfg) == {"zoe@example.org"}


def _answered(port: int) -> list[int]:
    """The statuses a new connection gets for one request; none when it is closed or reset."""
    try:
        return statuses(exchange(port, request("GET", "/healthz", {"Connection": "close"}), wait=5))
    except ConnectionResetError:
        return []


def _healthz_on(sock: socket.socket) -> bytes:
    """One keep-alive request on an open connection: the answer's head."""
    sock.sendall(request("GET", "/healthz", {}))
    return sock.recv(4096)


def test_web_connection_flood_is_capped_and_the_endpoint_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Connections past the cap are closed at once (one warning), so a flood never takes
    the descriptors the daemon's pass needs; once some end, new ones are served."""
    caplog.set_level(logging.WARNING, logger="newsletter")
    cfg = config_file(tmp_path)
    config = load_config(cfg)
    server = UnsubscribeServer(config, port=0)
    server.max_connections = 3
    running = Background(server).start()
    held: list[socket.socket] = []
    try:
        port = server.server_address[1]
        for _ in range(3):  # three keep-alive connections, each answered: all three are held
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            held.append(sock)
            assert statuses(_healthz_on(sock)) == [200]
        for _ in range(2):  # the fourth and fifth are closed without an answer
            assert _answered(port) == []
        wait_for(caplog, "3 connections open, the most allowed")
        assert sum("connections open" in r.getMessage() for r in caplog.records) == 1  # one line, not one each
        assert all(statuses(_healthz_on(sock)) == [200] for sock in held)  # the held ones still work
        held.pop().close()
        deadline = time.monotonic() + 15  # waits for the server to see the close, never a speed check
        while _answered(port) != [200]:
            if time.monotonic() > deadline:
                pytest.fail("a connection ended, yet new ones are still refused")
            time.sleep(0.05)
    finally:
        for sock in held:
            sock.close()
        running.stop()


def test_web_connection_cap_follows_the_descriptor_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
        assert web_app.connection_cap() == 256  # systemd's default soft limit: a quarter for the web
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(40, hard), hard))
        assert web_app.connection_cap() == 16
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
