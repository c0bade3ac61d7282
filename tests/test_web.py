"""The web layer (newsletter/web/, aiohttp.web): HTTP protocol cases on real sockets
against the real endpoint on 127.0.0.1, the pages through aiohttp's test client,
a real SQLite ledger, and the paged preview for many subscribers."""

from __future__ import annotations

import http.client
import logging
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from newsletter.base.resources import shipped_file
from newsletter.config import load_config
from newsletter.render.links.tokens import unsubscribe_token
from newsletter.render.pages import PAGES_PACKAGE
from newsletter.store import SqliteLedger
from newsletter.web.app import clean, client_address, parse_networks
from newsletter.web.preview import PAGE_SIZE, PreviewServer
from newsletter.web.unsubscribe import UnsubscribeServer
from tests.smtpd import write_config
from tests.webthread import Background, endpoint_of

ROOT = Path(__file__).resolve().parent.parent
SECRET = "web-test-secret-0123456789"
FORGED = "/unsubscribe/" + "A" * 43
FORM = "application/x-www-form-urlencoded"
SUBSCRIBERS = [
    {"email": f"{name}@example.org", "keywords": ["learning"]} for name in ("alice", "bob", "carol", "dave", "erin")
]


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)


def token(address: str) -> str:
    return unsubscribe_token(address, SECRET)


def config_file(tmp_path: Path, **unsubscribe: Any) -> Path:
    unsub = {"url": "https://x.org/u/{{ token }}", **unsubscribe}
    return write_config(
        tmp_path, 2525, SUBSCRIBERS, sender={"from": "Paper Digest <digest@example.org>", "unsubscribe": unsub}
    )


@pytest.fixture()
def endpoint(tmp_path: Path) -> Iterator[tuple[UnsubscribeServer, Path]]:
    """The real endpoint on a free port of 127.0.0.1, serving from its thread."""
    cfg = config_file(tmp_path)
    with endpoint_of(cfg, port=0) as server:
        yield server, cfg


def suppressed(cfg: Path) -> set[str]:
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        return ledger.suppressed()


def exchange(port: int, data: bytes, *, wait: float = 2.0) -> bytes:
    """Send raw bytes on one connection; everything the server answers until it closes
    or is quiet for ``wait`` seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except TimeoutError:
            pass
    return out


def statuses(raw: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb"HTTP/1\.[01] (\d{3}) ", raw)]


def request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "127.0.0.1", **headers}.items())
    return f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + body


def chunked(body: bytes, size: int = 7) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


# --------------------------------------------------------------------------- protocol cases (real sockets)


def test_web_forged_token_with_chunked_body_gets_one_response(endpoint: tuple[UnsubscribeServer, Path]) -> None:
    server, cfg = endpoint
    port = server.server_address[1]
    body = chunked(b"List-Unsubscribe=One-Click")
    # the forged POST, then a pipelined GET on the same connection: one answer each, in order
    raw = exchange(
        port,
        request("POST", FORGED, {"Transfer-Encoding": "chunked", "Content-Type": FORM}, body)
        + request("GET", "/healthz", {"Connection": "close"}),
    )
    assert statuses(raw) == [404, 200], raw[:400]
    assert suppressed(cfg) == set()


def test_web_oversized_body_is_one_413(endpoint: tuple[UnsubscribeServer, Path]) -> None:
    server, cfg = endpoint
    port = server.server_address[1]
    junk = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 400  # 12 KB that looks like requests
    for path in (FORGED, "/unsubscribe/" + token("alice@example.org")):
        raw = exchange(port, request("POST", path, {"Content-Length": str(len(junk)), "Content-Type": FORM}, junk))
        assert statuses(raw) == [413], raw[:400]
        assert b"Connection: close" in raw
    big = b"List-Unsubscribe=One-Click&pad=" + b"x" * 9000
    raw = exchange(
        port,
        request(
            "POST", "/unsubscribe/" + token("bob@example.org"), {"Transfer-Encoding": "chunked"}, chunked(big, 4096)
        ),
    )
    assert statuses(raw) == [413], raw[:400]
    assert suppressed(cfg) == set()


def test_web_bad_content_length_is_400_without_traceback(
    endpoint: tuple[UnsubscribeServer, Path], caplog: pytest.LogCaptureFixture
) -> None:
    server, _ = endpoint
    port = server.server_address[1]
    caplog.set_level(logging.DEBUG)
    for value in ("²", "-1", "1e3", "12 34"):
        raw = exchange(port, request("POST", FORGED, {"Content-Length": value}, b"ab"))
        assert statuses(raw) == [400], (value, raw[:300])
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("bad request from 127.0.0.1: 400" in r.getMessage() for r in caplog.records)
    assert statuses(exchange(port, request("GET", "/healthz", {"Connection": "close"}))) == [200]  # still serving


def test_web_access_log_has_no_control_bytes_nor_a_whole_token(
    endpoint: tuple[UnsubscribeServer, Path], caplog: pytest.LogCaptureFixture
) -> None:
    server, cfg = endpoint
    port = server.server_address[1]
    caplog.set_level(logging.DEBUG)
    alice = token("alice@example.org")
    nasty = [
        request("GET", "/unsubscribe/\x00\x1b[31mred\r", {"Connection": "close"}),  # raw bytes: refused by the parser
        request("GET", "/unsubscribe/%00%1b[2J%0d%0aFAKE%20200%e2%80%a8" + "B" * 43, {"Connection": "close"}),
        request("GET", "/unsubscribe/" + alice, {"Connection": "close", "X-Forwarded-For": "1.2.3.4\x1b[0m"}),
        request("GET", "/unsubscribe/" + alice, {"Connection": "close"}),
        request("GET", "/u/" + alice + "?t=" + alice, {"Connection": "close"}),  # a misrouted proxy path
        request(
            "POST",
            "/unsubscribe/" + alice,
            {"Content-Length": "26", "Connection": "close"},
            b"List-Unsubscribe=One-Click",
        ),
    ]
    for data in nasty:
        assert len(statuses(exchange(port, data))) == 1
    assert suppressed(cfg) == {"alice@example.org"}
    lines = [r.getMessage() for r in caplog.records] + [caplog.text]
    for line in lines:
        assert not re.search(r"[\x00-\x1f\x7f\u2028]", line.rstrip("\n").replace("\n", "")), repr(line)
        assert alice not in line
    access = [r.getMessage() for r in caplog.records if r.name == "newsletter.unsubscribe"]
    assert any(f"GET /unsubscribe/{alice[:6]}… 200" in a for a in access), access
    assert any("/unsubscribe/\\x00\\x1b[2J\\x0d\\x0aFAKE\\x20200\\u2028B… 404" in a for a in access), access
    assert any(a.startswith("127.0.0.1 GET /u/") and "?t=" in a for a in access), access


def test_web_backlog_takes_20_concurrent_connects_without_stalling(
    endpoint: tuple[UnsubscribeServer, Path],
) -> None:
    server, _ = endpoint
    port = server.server_address[1]
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True)
    backlog = int(listening.stdout.split()[2])  # Send-Q of a listening socket is its backlog
    assert backlog >= 128, listening.stdout
    times: list[float] = []
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def one() -> None:
        start.wait()
        began = time.perf_counter()
        try:
            raw = exchange(port, request("GET", "/healthz", {"Connection": "close"}), wait=5)
            assert statuses(raw) == [200]
        except BaseException as exc:  # reported below
            errors.append(exc)
        times.append(time.perf_counter() - began)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    # no SYN can be dropped: the backlog (asserted above) holds all 20 at once; the times are
    # printed, not asserted (a busy machine is slow, not wrong)
    print(f"20 concurrent connects: slowest {max(times) * 1000:.0f} ms")
    assert len(times) == 20


def test_web_keep_alive_serves_many_requests_on_one_connection(endpoint: tuple[UnsubscribeServer, Path]) -> None:
    server, _ = endpoint
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
    url = "/unsubscribe/" + token("carol@example.org")
    conn.request("GET", url)
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read()
    first = conn.sock
    began = time.perf_counter()
    for _ in range(30):
        conn.request("GET", url)
        resp = conn.getresponse()
        assert resp.status == 200 and b"carol"[:2] in resp.read()
        assert resp.getheader("Connection", "").lower() != "close"
    per = (time.perf_counter() - began) / 30
    assert conn.sock is first  # the same TCP connection all along
    conn.close()
    print(f"keep-alive GET: {per * 1000:.1f} ms per request")


# --------------------------------------------------------------------------- bodies, headers (test client)


@pytest.mark.asyncio
async def test_web_accepts_chunked_trailing_crlf_extra_field_text_plain(tmp_path: Path, aiohttp_client: Any) -> None:
    cfg = config_file(tmp_path)
    with UnsubscribeServer(load_config(cfg), port=0) as server:
        client: TestClient[Any, Any] = await aiohttp_client(server.app)

        async def chunks() -> Any:
            yield b"List-Unsub"
            yield b"scribe=One-Click"

        accepted: list[tuple[str, Any, dict[str, str]]] = [
            ("alice@example.org", chunks(), {"Content-Type": FORM}),
            ("bob@example.org", b"List-Unsubscribe=One-Click\r\n", {"Content-Type": FORM}),
            ("carol@example.org", b"List-Unsubscribe=One-Click&submit=Unsubscribe", {"Content-Type": FORM}),
            ("dave@example.org", b"List-Unsubscribe=One-Click\r\n", {"Content-Type": "text/plain"}),
        ]
        for address, body, headers in accepted:
            resp = await client.post("/unsubscribe/" + token(address), data=body, headers=headers)
            assert resp.status == 200, (address, await resp.text())
            assert "You are unsubscribed" in await resp.text()
        resp = await client.post(
            "/unsubscribe/" + token("erin@example.org"),
            data=b"pause_weeks=2&List-Unsubscribe=One-Click",
            headers={"Content-Type": FORM},
        )
        assert resp.status == 400  # two actions at once: which one?
        for weeks in ("0", "13", "٣"):  # the page offers 1 to 12 weeks; ASCII digits only
            erin = "/unsubscribe/" + token("erin@example.org")
            resp = await client.post(erin, data=f"pause_weeks={weeks}".encode(), headers={"Content-Type": FORM})
            assert resp.status == 400, weeks
        resp = await client.post(erin, data=b"pause_weeks=12", headers={"Content-Type": FORM})
        assert resp.status == 200 and "Digests paused" in await resp.text()
    everybody = {"alice@example.org", "bob@example.org", "carol@example.org", "dave@example.org", "erin@example.org"}
    assert suppressed(cfg) == everybody


@pytest.mark.asyncio
async def test_web_security_headers_and_error_pages_on_every_response(tmp_path: Path, aiohttp_client: Any) -> None:
    cfg = config_file(tmp_path)
    with UnsubscribeServer(load_config(cfg), port=0) as server:
        client: TestClient[Any, Any] = await aiohttp_client(server.app)
        good = "/unsubscribe/" + token("alice@example.org")
        cases = [
            ("GET", good, 200),
            ("HEAD", good, 200),
            ("GET", "/healthz", 200),
            ("GET", "/nowhere", 404),
            ("POST", FORGED, 404),
            ("PUT", good, 405),
            ("POST", good, 400),
        ]
        for method, path, status in cases:
            resp = await client.request(method, path)
            assert resp.status == status, (method, path)
            assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Referrer-Policy"] == "no-referrer"
            assert resp.headers["X-Frame-Options"] == "DENY"
            assert resp.headers["Server"] == "paper-digest"
            if status >= 400 and method != "HEAD":
                page = await resp.text()
                assert page.startswith("<!doctype html>") and "Traceback" not in page
        resp = await client.post(good, data=b"x" * 10_000, headers={"Content-Type": FORM})
        assert resp.status == 413 and "too large" in await resp.text()
        assert "Allow" in (await client.put(good)).headers
    assert suppressed(cfg) == set()


def test_web_x_forwarded_for_only_from_a_trusted_proxy(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    trusted = parse_networks(["127.0.0.1", "10.0.0.0/8"])
    assert client_address("127.0.0.1", ["203.0.113.7"], trusted) == "203.0.113.7"
    assert client_address("127.0.0.1", ["198.51.100.1, 203.0.113.7, 10.1.2.3"], trusted) == "203.0.113.7"
    assert client_address("192.0.2.9", ["203.0.113.7"], trusted) == "192.0.2.9"  # not our proxy
    assert client_address("127.0.0.1", ["203.0.113.7"], ()) == "127.0.0.1"  # none configured
    assert client_address("127.0.0.1", ["not-an-ip\x1b"], trusted) == "127.0.0.1"

    caplog.set_level(logging.INFO)
    for proxies, expected in (([], "127.0.0.1 GET /healthz"), (["127.0.0.1"], "203.0.113.7 GET /healthz")):
        cfg = config_file(tmp_path, trusted_proxies=proxies)
        server = UnsubscribeServer(load_config(cfg), port=0)
        background = Background(server).start()
        try:
            data = request("GET", "/healthz", {"X-Forwarded-For": "203.0.113.7", "Connection": "close"})
            assert statuses(exchange(server.server_address[1], data)) == [200]
        finally:
            background.stop()
        assert any(r.getMessage().startswith(expected) for r in caplog.records), caplog.text
        caplog.clear()

    data = yaml.safe_load(cfg.read_text())
    data["sender"]["unsubscribe"]["trusted_proxies"] = ["10.0.0.0/33"]
    cfg.write_text(yaml.safe_dump(data))
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "check", "-c", str(cfg)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2 and "sender.unsubscribe.trusted_proxies" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_web_log_cleaning_and_shipped_templates() -> None:
    assert clean("a\x00b\x1bc\u2028 d") == "a\\x00b\\x1bc\\u2028\\x20d"
    assert clean("/u/" + "x" * 43) == "/u/xxxxxx…"
    assert len(clean("/" + "a b" * 1000)) <= 301
    for name in ("layout.html", "confirm.html", "done.html", "message.html", "index.html", "subscriber.html"):
        found = shipped_file(name, PAGES_PACKAGE)
        assert found is not None and "{%" in found.read_text(encoding="utf-8"), name


# --------------------------------------------------------------------------- the preview at scale


def many_subscribers(tmp_path: Path, count: int) -> Path:
    data = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
    data["digests"]["directory"] = str(ROOT / "seeds")
    data["state"] = str(tmp_path / "state.sqlite3")
    data["templates"] = str(tmp_path / "templates")
    (tmp_path / "templates").mkdir()
    keywords = [["agent*"], ["diffusion"], ["reasoning"], ["zzz-nothing"]]
    data["subscribers"] = [
        {"email": f"user{i:04d}@example.org", "name": f"User {i}", "keywords": keywords[i % 4]} for i in range(count)
    ]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.asyncio
async def test_web_preview_index_is_paged_and_searchable(tmp_path: Path, aiohttp_client: Any) -> None:
    cfg = many_subscribers(tmp_path, 120)
    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    with PreviewServer(cfg, port=0, digests=seeds) as server:
        client: TestClient[Any, Any] = await aiohttp_client(server.app)
        resp = await client.get("/")
        page = await resp.text()
        assert resp.status == 200
        rows = re.findall(r'<tr class="subscriber">', page)
        assert len(rows) == PAGE_SIZE == 50
        assert "Subscribers 1–50 of 120" in page and "Page 1 of 3" in page
        assert 'href="/?page=2"' in page and 'id="prev"' not in page
        assert 'href="/s/user0000@example.org"' in page and "user0050@" not in page
        assert "no email: nothing matched" in page  # the zzz-nothing profiles

        page3 = await (await client.get("/?page=3")).text()
        assert len(re.findall(r'<tr class="subscriber">', page3)) == 20 and 'id="next"' not in page3
        assert "user0119@example.org" in page3
        assert "Page 3 of 3" in (await (await client.get("/?page=99")).text())  # clamped

        found = await (await client.get("/?q=USER 11")).text()  # by name, case-insensitive
        assert len(re.findall(r'<tr class="subscriber">', found)) == 11  # User 11, 110..119
        assert "matching “USER 11” (120 in all)" in found
        assert "<script>" not in await (await client.get("/?q=<script>")).text()

        sub = await client.get("/s/user0001@example.org")
        assert sub.status == 200 and "new papers for you</h1>" in await sub.text()
        assert (await client.get("/s/user0003@example.org")).status == 404  # nothing matched: no email
        assert "script-src 'unsafe-inline'" in sub.headers["Content-Security-Policy"]
        assert server.source.rebuilds == 1  # configuration, templates and digests read once

        (tmp_path / "templates" / "digest.txt.j2").write_text("Edited for {{ email }}\n", encoding="utf-8")
        text = await (await client.get("/raw/user0001@example.org.txt")).text()
        assert text == "Edited for user0001@example.org\n" and server.source.rebuilds == 2


def test_web_preview_pages_are_fast_for_5000_subscribers(tmp_path: Path) -> None:
    import urllib.request

    cfg = many_subscribers(tmp_path, 5000)
    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    server = PreviewServer(cfg, port=0, digests=seeds)
    background = Background(server).start()
    try:
        server.source.snapshot()  # what `preview --serve` does before listening

        def get(path: str) -> tuple[float, bytes]:
            began = time.perf_counter()
            with urllib.request.urlopen(server.url + path.lstrip("/"), timeout=30) as resp:
                return time.perf_counter() - began, resp.read()

        timings = {path: get(path) for path in ("/", "/?page=100", "/?q=user4999", "/s/user2000@example.org")}
    finally:
        background.stop()
    for path, (seconds, body) in timings.items():
        print(f"preview --serve, 5000 subscribers: {path} {seconds * 1000:.0f} ms, {len(body) / 1024:.0f} KB")
    assert len(timings["/"][1]) < 200_000  # one page of the list, not 5,000 rows
    assert b"user4999@example.org" in timings["/?q=user4999"][1]
    assert b'<iframe id="email"' in timings["/s/user2000@example.org"][1]
    # the times are printed, not asserted (shared machines): `make bench` measures them side by side


def test_web_serve_and_preview_refuse_a_busy_port(tmp_path: Path) -> None:
    cfg = config_file(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for args, says in (
            (["serve", "-c", str(cfg), "--port", str(port)], f"error: cannot listen on 127.0.0.1:{port}"),
            (["preview", "-c", str(cfg), "--serve", "--port", str(port)], f"error: cannot serve on 127.0.0.1:{port}"),
        ):
            result = subprocess.run(
                [sys.executable, "-m", "newsletter", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 1, result.stderr
            assert result.stderr.strip().splitlines()[-1].startswith(says), result.stderr
            assert "Traceback" not in result.stderr


def test_web_feedback_page_with_a_long_title_fits_a_phone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The "More like this" page names the paper: a title with a word longer than the
    screen (2,000 characters without a space) made it 13,000 px wide on a phone."""
    from newsletter.render.pages import render_page
    from tests.conftest import chrome_driver

    page = tmp_path / "feedback.html"
    title = "Self-supervised learning " + "Longtitle" * 222
    page.write_text(
        render_page("feedback.html", paper=title, more=True, list_name="Paper Digest", address="a***@example.org"),
        encoding="utf-8",
    )
    driver = chrome_driver(tmp_path, monkeypatch, width=375)
    try:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {"width": 375, "height": 800, "deviceScaleFactor": 1, "mobile": True}
        )
        driver.get(page.as_uri())
        scroll, width = driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert title[:40] in driver.page_source
    finally:
        driver.quit()
    assert scroll <= width, f"the page is {scroll} px wide on a {width} px screen"
