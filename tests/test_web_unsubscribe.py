"""One-click unsubscribe (RFC 8058): the endpoint over real HTTP on 127.0.0.1, a real
SQLite ledger, real aiosmtpd deliveries, the real `serve` and `run` processes, and a
headless Chromium driven by Selenium pressing the button."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import yaml

from newsletter.config import load_config
from newsletter.render.links.tokens import unsubscribe_token
from newsletter.store import SCHEMA_VERSION, SqliteLedger
from newsletter.store.sqlite.migrate import migrations
from newsletter.web.unsubscribe import BadRequest, TokenIndex, UnsubscribeServer, mask, parse_body
from tests.conftest import chrome_driver, newsletter, settled_copy
from tests.smtpd import EXAMPLE_SUBSCRIBERS, Faults, free_port, smtp_server, write_config
from tests.webthread import endpoint_of

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-0123456789"
ALICE, BOB = EXAMPLE_SUBSCRIBERS[0], EXAMPLE_SUBSCRIBERS[1]
ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    # in-process code and every subprocess (they inherit os.environ) use the same secret
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)


def make_config(
    tmp_path: Path,
    smtp_port: int,
    http_port: int,
    subscribers: list[dict[str, Any]] | None = None,
    *,
    url: str | None = None,
    sender: str = "Paper Digest <digest@example.org>",
    **top: Any,
) -> Path:
    unsub = {
        "url": url or f"http://127.0.0.1:{http_port}/unsubscribe/{{{{ token }}}}",
        "listen": f"127.0.0.1:{http_port}",
        "mailto": "unsubscribe@example.org",
    }
    return write_config(
        tmp_path, smtp_port, subscribers or [ALICE, BOB], sender={"from": sender, "unsubscribe": unsub}, **top
    )


def add_seeds(cfg: Path, seeds: dict[str, Path], *names: str) -> None:
    for name in names:
        settled_copy(seeds[name], cfg.parent / "digests")


def http(
    url: str, *, data: bytes | None = None, method: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str, Any]:
    req = urllib.request.Request(
        url,
        data=data,
        method=method or ("POST" if data is not None else "GET"),
        headers=headers or ({"Content-Type": FORM} if data is not None else {}),
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode("utf-8"), resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8"), exc.headers


def unsubscribe_url_of(msg: Message) -> str:
    """The http(s) URL of a delivered message's List-Unsubscribe header."""
    header = str(msg["List-Unsubscribe"])
    m = re.search(r"<(https?://[^>]+)>", header)
    assert m, header
    return m.group(1)


def suppressed(cfg: Path) -> set[str]:
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:  # a fresh connection: what survives
        return ledger.suppressed()


@contextmanager
def serve_process(cfg: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    """`newsletter serve` as a real process, up when /healthz answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "serve", "-c", str(cfg)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if http(f"http://127.0.0.1:{port}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve did not come up: {proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        assert code == 0, proc.stdout.read() if proc.stdout else ""


@contextmanager
def in_process(cfg: Path) -> Iterator[UnsubscribeServer]:
    """The endpoint in this process (a thread), on the config's listen port."""
    with endpoint_of(cfg) as server:
        yield server


# --------------------------------------------------------------------------- the main flow


def test_one_click_post_suppresses_and_next_send_skips(tmp_path: Path, seeds: dict[str, Path]) -> None:
    port = free_port()
    with smtp_server() as smtp:
        cfg = make_config(tmp_path, smtp.port, port)
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        first = smtp.by_recipient()
        assert sorted(first) == ["alice@example.org", "bob@example.org"]
        url = unsubscribe_url_of(first["alice@example.org"][0].message)
        assert url.startswith(f"http://127.0.0.1:{port}/unsubscribe/")
        assert url.endswith(unsubscribe_token("alice@example.org", SECRET))

        with serve_process(cfg, port):
            status, page, headers = http(url, data=ONE_CLICK)  # what Gmail sends (RFC 8058)
            assert status == 200, page
            assert "You are unsubscribed" in page and "al***@example.org" in page
            assert headers["Referrer-Policy"] == "no-referrer"
            assert http(url, data=ONE_CLICK)[0] == 200  # idempotent
        assert suppressed(cfg) == {"alice@example.org"}

        add_seeds(cfg, seeds, "002", "003")
        result = newsletter("send", "-c", str(cfg), "-v")
        assert result.exit_code == 0, result.output
        assert "1 unsubscribed skipped" in result.output
        later = smtp.received[2:]
        assert [m.rcpt_tos for m in later] == [["bob@example.org"]]  # the others still delivered

        status_json = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        assert status_json["suppressed"] == 1 and status_json["paused"] == 0
        assert status_json["deliveries"] == {"sent": 3, "pending": 0, "failed": 0}
        assert "unsubscribed: 1 address" in newsletter("status", "-c", str(cfg)).output

        dry = newsletter("send", "-c", str(cfg), "--dry-run")
        assert "alice@example.org: unsubscribed, skipped" in dry.output

        out = tmp_path / "previews"
        result = newsletter("preview", "-c", str(cfg), "--digest", str(seeds["002"]), "--out", str(out))
        assert result.exit_code == 0, result.output
        assert "alice@example.org: no email (unsubscribed)" in result.output
        assert not (out / "alice@example.org.html").exists() and (out / "bob@example.org.html").exists()
        assert "no email: unsubscribed" in (out / "index.html").read_text()


def test_without_a_secret_variable_links_use_the_kept_secret_and_path_forgeries_fail(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No NEWSLETTER_UNSUBSCRIBE_SECRET: `send` signs with the secret kept beside the ledger
    and `serve` (another process) accepts its links, while a token made from the config
    path (what anyone who guesses the path could compute before) unsubscribes nobody."""
    monkeypatch.delenv("NEWSLETTER_UNSUBSCRIBE_SECRET")
    port = free_port()
    with smtp_server() as smtp:
        cfg = make_config(tmp_path, smtp.port, port)
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        url = unsubscribe_url_of(smtp.by_recipient()["alice@example.org"][0].message)
    derived = hashlib.sha256(f"paper-digest unsubscribe:{cfg.resolve()}".encode()).hexdigest()
    forged = f"http://127.0.0.1:{port}/unsubscribe/{unsubscribe_token('bob@example.org', derived)}"
    with serve_process(cfg, port) as proc:
        assert http(forged, data=ONE_CLICK)[0] == 404
        assert http(url, data=ONE_CLICK)[0] == 200
    assert suppressed(cfg) == {"alice@example.org"}
    assert proc.stdout is not None and "fallback secret" not in proc.stdout.read()


def test_https_headers_point_at_the_endpoint(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """Behind a reverse proxy: the delivered message carries the https URL and
    List-Unsubscribe-Post; the path the proxy forwards works on the listener."""
    port = free_port()
    with smtp_server() as smtp:
        cfg = make_config(tmp_path, smtp.port, port, url="https://digest.example.org/unsubscribe/{{ token }}")
        add_seeds(cfg, seeds, "000")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        received = smtp.by_recipient()["alice@example.org"][0]
        msg = received.message
        raw = received.data.split(b"\r\n\r\n")[0].decode("ascii")
        # the URI is whole on its line: never RFC 2047-encoded (no client would decode it there)
        assert re.search(
            r"^List-Unsubscribe: <mailto:[^>]+>,\r\n <https://digest\.example\.org/unsubscribe/"
            r"[A-Za-z0-9_-]{43}>\r\n",
            raw,
            re.M,
        ), raw
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert str(msg["List-Unsubscribe"]).startswith("<mailto:unsubscribe@example.org?subject=")
        url = unsubscribe_url_of(msg)
        assert url == f"https://digest.example.org/unsubscribe/{unsubscribe_token('alice@example.org', SECRET)}"
        with in_process(cfg) as server:
            path = url.removeprefix("https://digest.example.org")
            assert http(server.url.rstrip("/") + path, data=ONE_CLICK)[0] == 200
        assert suppressed(cfg) == {"alice@example.org"}


def test_get_bad_tokens_and_bad_bodies_change_nothing(tmp_path: Path) -> None:
    port = free_port()
    cfg = make_config(
        tmp_path,
        2525,
        port,
        sender='"Papers & Co\'s (AI)" <digest@example.org>',
        subscribers=[ALICE, {"email": "o'brien+x@example.org", "keywords": ["x"]}],
    )
    good = f"http://127.0.0.1:{port}/unsubscribe/{unsubscribe_token('alice@example.org', SECRET)}"
    with in_process(cfg):
        for _ in range(3):  # a mail scanner following the link, repeatedly
            status, page, headers = http(good)
            assert status == 200
            assert '<form method="post" id="unsubscribe-form">' in page
            assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page
            assert "Papers &amp; Co&#39;s (AI)" in page and "Co's" not in page  # escaped
            assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert http(good, method="HEAD")[0] == 200
        status, page, _ = http(
            f"http://127.0.0.1:{port}/unsubscribe/" + unsubscribe_token("o'brien+x@example.org", SECRET)
        )
        assert status == 200 and "o&#39;***@example.org" in page

        forged = [
            "A" * 43,  # well-formed, nobody's
            unsubscribe_token("alice@example.org", "another-secret"),  # another secret
            unsubscribe_token("eve@example.org", SECRET),  # right secret, not a subscriber
            unsubscribe_token("alice@example.org", SECRET)[:-1],  # truncated
            unsubscribe_token("alice@example.org", SECRET) + "x",
            "%3Cscript%3E",
            "",
        ]
        for token in forged:
            url = f"http://127.0.0.1:{port}/unsubscribe/{token}"
            assert http(url)[0] == 404, token
            status, page, _ = http(url, data=ONE_CLICK)
            assert status == 404, token
            assert "<script>" not in page
        for path in ("/", "/unsubscribe", "/u/x", "/unsubscribe/a/b"):
            assert http(f"http://127.0.0.1:{port}{path}")[0] == 404

        bad_bodies: list[tuple[bytes, dict[str, str]]] = [
            (b"", {"Content-Type": FORM}),
            (b"List-Unsubscribe=one-click", {"Content-Type": FORM}),
            (b"List-Unsubscribe=One-Click&List-Unsubscribe=One-Click", {"Content-Type": FORM}),
            # an extra field beside the action is accepted since the web layer (issue 16): test_web.py
            (b"List-Unsubscribe", {"Content-Type": FORM}),
            (b"%%%", {"Content-Type": FORM}),
            (b"\xff\xfe", {"Content-Type": FORM}),
            (b'{"List-Unsubscribe": "One-Click"}', {"Content-Type": "application/json"}),
            (b"--x\r\nbroken", {"Content-Type": "multipart/form-data; boundary=x"}),
            (b"pause_weeks=0", {"Content-Type": FORM}),
            (b"pause_weeks=53", {"Content-Type": FORM}),
            (b"pause_weeks=four", {"Content-Type": FORM}),
        ]
        for body, headers in bad_bodies:
            status, page, _ = http(good, data=body, headers=headers)
            assert status == 400, body
        assert http(good, data=b"x" * 10_000)[0] == 413
        assert suppressed(cfg) == set()

        # multipart/form-data is allowed by RFC 8058 too
        boundary = "----b0undary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
            f"One-Click\r\n--{boundary}--\r\n"
        ).encode()
        status, page, _ = http(good, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert status == 200, page
        assert suppressed(cfg) == {"alice@example.org"}
        status, page, _ = http(good)  # the page now says so, and offers no button
        assert status == 200 and "is unsubscribed" in page and "<form" not in page


def test_suppression_survives_restarts_and_resubscribe_lifts_it(tmp_path: Path, seeds: dict[str, Path]) -> None:
    port = free_port()
    with smtp_server() as smtp:
        cfg = make_config(tmp_path, smtp.port, port)
        url = f"http://127.0.0.1:{port}/unsubscribe/{unsubscribe_token('alice@example.org', SECRET)}"
        with serve_process(cfg, port):
            assert http(url, data=ONE_CLICK)[0] == 200
        assert suppressed(cfg) == {"alice@example.org"}  # a new SqliteLedger, after the process ended
        with serve_process(cfg, port):  # a new server process sees it
            status, page, _ = http(url)
            assert status == 200 and "is unsubscribed" in page

        add_seeds(cfg, seeds, "000")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        assert [m.rcpt_tos for m in smtp.received] == [["bob@example.org"]]

        result = newsletter("resubscribe", "-c", str(cfg), "Alice@Example.org")
        assert result.exit_code == 0, result.output
        assert "alice@example.org: resubscribed" in result.output
        assert suppressed(cfg) == set()
        again = subprocess.run(
            [sys.executable, "-m", "newsletter", "resubscribe", "-c", str(cfg), "alice@example.org"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert again.returncode == 1
        assert again.stderr.strip() == "error: alice@example.org is not unsubscribed; nothing changed"
        unknown = newsletter("resubscribe", "-c", str(cfg), "nobody@example.org")
        assert unknown.exit_code == 1
        assert "not unsubscribed (nor a subscriber in the configuration)" in unknown.output
        assert newsletter("resubscribe", "-c", str(cfg), "not an address").exit_code == 2
        assert json.loads(newsletter("status", "-c", str(cfg), "--json").output)["suppressed"] == 0

        # no backlog of what was missed: only digests picked up from now on
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        assert len(smtp.received) == 1
        add_seeds(cfg, seeds, "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        assert sorted(r for m in smtp.received[1:] for r in m.rcpt_tos) == ["alice@example.org", "bob@example.org"]


def test_pending_delivery_to_unsubscribed_is_not_resent(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server(Faults(tempfail=1.0)) as down:
        cfg = make_config(tmp_path, down.port, free_port(), smtp={"retries": 0})
        add_seeds(cfg, seeds, "000")
        result = newsletter("send", "-c", str(cfg))
        assert result.exit_code == 1 and "pending 2" in result.output
    result = newsletter("unsubscribe", "-c", str(cfg), "alice@example.org")
    assert result.exit_code == 0 and "alice@example.org: unsubscribed" in result.output
    assert "unsubscribed already" in newsletter("unsubscribe", "-c", str(cfg), "alice@example.org").output
    with smtp_server(port=down.port) as up:
        result = newsletter("send", "-c", str(cfg), "-v")
        assert result.exit_code == 0, result.output
        assert "1 pending dropped (unsubscribed)" in result.output
        assert [m.rcpt_tos for m in up.received] == [["bob@example.org"]]
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        (alice,) = ledger.deliveries("alice@example.org")
        assert (alice["status"], alice["last_error"]) == ("failed", "unsubscribed")


def test_pause_for_weeks(tmp_path: Path, seeds: dict[str, Path]) -> None:
    port = free_port()
    cfg = make_config(tmp_path, 2525, port)
    url = f"http://127.0.0.1:{port}/unsubscribe/{unsubscribe_token('bob@example.org', SECRET)}"
    with in_process(cfg):
        before = time.time()
        status, page, _ = http(url, data=b"pause_weeks=4")
        after = time.time()
        assert status == 200 and "Digests paused" in page
        status, page, _ = http(url)
        assert "paused until" in page and 'id="unsubscribe"' in page and 'id="pause"' not in page
        status_json = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        assert (status_json["suppressed"], status_json["paused"]) == (1, 1)
        with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
            until = ledger.suppression("bob@example.org").until  # type: ignore[union-attr]
            assert until is not None and before + 28 * 86400 <= until <= after + 28 * 86400  # four weeks from the click
            assert ledger.suppressed(now=until + 1) == set()  # ends by itself
        # unsubscribing for good while paused; a later pause does not shorten it
        assert http(url, data=ONE_CLICK)[0] == 200
        assert http(url, data=b"pause_weeks=1")[0] == 200
        with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
            assert ledger.suppression("bob@example.org").until is None  # type: ignore[union-attr]


# --------------------------------------------------------------------------- inside the daemon


@pytest.mark.asyncio
async def test_listener_inside_newsletter_run(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """The daemon's endpoint in its own event loop (the requests from a thread, as a
    browser's would come while the loop serves)."""
    from tests.indaemon import in_daemon
    from tests.memsender import MemoryTransport

    port = free_port()
    transport = MemoryTransport()
    cfg = make_config(tmp_path, 1, port, schedule={"cron": "0 8 * * *", "timezone": "UTC"})
    get = asyncio.to_thread
    async with in_daemon(cfg, transport=transport) as rig:
        assert f"unsubscribe endpoint on http://127.0.0.1:{port}/" in rig.text()
        assert (await get(http, f"http://127.0.0.1:{port}/healthz"))[0] == 200
        url = f"http://127.0.0.1:{port}/unsubscribe/{unsubscribe_token('alice@example.org', SECRET)}"
        assert (await get(http, url))[0] == 200
        assert suppressed(cfg) == set()
        status, page, _ = await get(http, url, data=ONE_CLICK)
        assert status == 200 and "You are unsubscribed" in page
        assert suppressed(cfg) == {"alice@example.org"}

        add_seeds(cfg, seeds, "000")
        await rig.poll()
        await rig.fire("global")
        await rig.fire("global")  # another fire after the delivering pass: still nothing for alice
        assert [m.recipient for m in transport.outbox] == ["bob@example.org"]

        # SIGHUP: a new subscriber's token works without a restart
        data = yaml.safe_load(cfg.read_text())
        data["subscribers"].append({"email": "carol@example.org", "keywords": ["x"]})
        cfg.write_text(yaml.safe_dump(data))
        carol = f"http://127.0.0.1:{port}/unsubscribe/{unsubscribe_token('carol@example.org', SECRET)}"
        assert (await get(http, carol))[0] == 404
        await rig.daemon.reload_config()
        assert "configuration reloaded" in rig.text()
        assert (await get(http, carol, data=ONE_CLICK))[0] == 200
    assert "unsubscribe endpoint stopped" in rig.text()
    with pytest.raises(OSError):
        http(f"http://127.0.0.1:{port}/healthz")
    assert suppressed(cfg) == {"alice@example.org", "carol@example.org"}
    assert "/unsubscribe/" + unsubscribe_token("alice@example.org", SECRET) not in rig.text()  # redacted
    assert "POST /unsubscribe/" + unsubscribe_token("alice@example.org", SECRET)[:6] + "…" in rig.text()  # logged, cut


def test_run_refuses_a_busy_listen_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = make_config(tmp_path, 2525, port)
        result = subprocess.run(
            [sys.executable, "-m", "newsletter", "run", "-c", str(cfg)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr


# --------------------------------------------------------------------------- the browser


@pytest.mark.slow
def test_browser_footer_link_button_confirmation(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    assert shutil.which("chromedriver"), "install Debian's chromium-driver (.ci/run does)"
    port = free_port()
    with smtp_server() as smtp:
        cfg = make_config(tmp_path, smtp.port, port)
        add_seeds(cfg, seeds, "000")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        msg = smtp.by_recipient()["alice@example.org"][0].message
    html = next(part for part in msg.walk() if part.get_content_type() == "text/html")
    payload = html.get_payload(decode=True)
    assert isinstance(payload, bytes)
    links = re.findall(r'<a href="([^"]+)"[^>]*>Unsubscribe</a>', payload.decode("utf-8"))
    assert len(links) == 1, links
    link = links[0].replace("&amp;", "&")
    assert link == f"http://127.0.0.1:{port}/unsubscribe/{unsubscribe_token('alice@example.org', SECRET)}"

    with serve_process(cfg, port):
        driver = chrome_driver(tmp_path, monkeypatch)
        try:
            driver.get(link)
            assert driver.find_element(By.ID, "title").text == "Unsubscribe from Paper Digest"
            assert driver.find_element(By.ID, "address").text == "al***@example.org"
            driver.save_screenshot(str(tmp_path / "unsubscribe-page.png"))
            assert suppressed(cfg) == set()  # opening the page changed nothing
            driver.find_element(By.ID, "unsubscribe").click()
            done = WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.ID, "done")))
            assert done.text == "You are unsubscribed"
            assert "al***@example.org will get no more digests from Paper Digest." in driver.page_source
            shot = tmp_path / "unsubscribe-confirmed.png"
            driver.save_screenshot(str(shot))
            assert shot.stat().st_size > 3000
            print("screenshots:", tmp_path / "unsubscribe-page.png", shot)
        finally:
            driver.quit()
    assert suppressed(cfg) == {"alice@example.org"}


# --------------------------------------------------------------------------- units and the ledger


def test_token_index_mask_and_bodies(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, 2525, 8026)
    index = TokenIndex(load_config(cfg), SECRET)
    assert len(index) == 2
    assert index.resolve(unsubscribe_token("ALICE@example.org", SECRET)) == "alice@example.org"
    assert index.resolve(unsubscribe_token("alice@example.org", "x")) is None
    assert index.resolve("short") is None
    assert mask("alice@example.org") == "al***@example.org" and mask("bo@x.org") == "b***@x.org"
    assert parse_body(FORM, ONE_CLICK).weeks is None
    assert parse_body(None, ONE_CLICK).weeks is None
    assert parse_body(f"{FORM}; charset=utf-8", b"pause_weeks=2").weeks == 2
    for ctype, body in (
        (FORM, b"List-Unsubscribe=One-Click&List-Unsubscribe=One-Click"),
        ("application/json", ONE_CLICK),
        (FORM, b"pause_weeks=2&List-Unsubscribe=One-Click"),
    ):
        with pytest.raises(BadRequest):
            parse_body(ctype, body)
    assert "listen: not" not in newsletter("check", "-c", str(cfg)).output
    data = yaml.safe_load(cfg.read_text())
    data["sender"]["unsubscribe"]["listen"] = "8026"
    cfg.write_text(yaml.safe_dump(data))
    result = newsletter("check", "-c", str(cfg))
    assert result.exit_code == 2 and "sender.unsubscribe.listen: '8026' is not HOST:PORT" in result.output


def test_ledger_v1_migrates_to_suppressions(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(migrations()[1])
    conn.execute("INSERT INTO digests(path, sha256, status, papers, seen_at) VALUES ('a', 'h', 'ok', 0, 1)")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    old = SqliteLedger.open_readonly(path)  # `status` on a ledger not yet migrated
    assert old is not None
    with old:
        assert old.suppressed() == set() and old.suppression_counts() == {"suppressed": 0, "paused": 0}
    with SqliteLedger.open(path) as ledger:
        assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 2
        assert [d.sha256 for d in ledger.digests()] == ["h"]  # kept
        assert ledger.suppress("Alice@Example.org", source="cli") is True
        assert ledger.suppress("alice@example.org", source="cli") is False
    with SqliteLedger.open(path) as ledger:
        assert ledger.suppressed() == {"alice@example.org"}
        assert ledger.unsuppress("ALICE@example.org") is True
        assert ledger.unsuppress("alice@example.org") is False


def test_pause_page_names_the_day_in_the_schedule_time_zone(tmp_path: Path) -> None:
    """A pause that ends at 09:00 on 18 December in Sydney (22:00 UTC on the 17th): the
    page says 18 December, the subscribers' day, not UTC's 17th (their digest of the
    18th at 07:00 would not have come, against what the page said)."""
    from datetime import UTC, datetime

    port = free_port()
    cfg = make_config(tmp_path, 2525, port, schedule={"cron": "0 7 * * *", "timezone": "Australia/Sydney"})
    url = f"http://127.0.0.1:{port}/unsubscribe/{unsubscribe_token('bob@example.org', SECRET)}"
    until = datetime(2036, 12, 17, 22, 0, tzinfo=UTC).timestamp()
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        ledger.register_subscribers(["bob@example.org"])
        ledger.suppress("bob@example.org", source="pause", until=until)
    with in_process(cfg):
        status, page, _ = http(url)
    assert status == 200 and "paused until 18 December 2036" in page
