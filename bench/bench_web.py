"""The web layer: ``preview --serve`` for 5,000 subscribers, and the unsubscribe endpoint.

``preview --serve``: the real aiohttp server on 127.0.0.1 (in a thread), real HTTP
requests, the four seeds, 5,000 subscribers with four kinds of profile. Prints the
time to read and compile everything once (before listening), then the median and
worst of several loads of: the index (page 1 and page 100 of 50 rows), a search,
one subscriber's page, and its raw .eml. Side by side, the cost of one page load
the way the ``http.server`` version built it (every subscriber's email rendered
on every load: ``build_previews``), measured once.

Unsubscribe endpoint: GET requests on one keep-alive connection (ms each), and the
slowest of 20 concurrent connects (a listen backlog of 5 made some wait 1-2 s for a
SYN retransmit).
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from newsletter.app.preview import build_previews
from newsletter.config import load_config
from newsletter.render.links.tokens import unsubscribe_token
from newsletter.store import SqliteLedger
from newsletter.web.preview import PreviewServer
from newsletter.web.unsubscribe import UnsubscribeServer
from tests.webthread import Background

ROOT = Path(__file__).resolve().parent.parent
SUBSCRIBERS = 5000
LOADS = 7


def _config(directory: Path, count: int) -> Path:
    data = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
    data["digests"]["directory"] = str(ROOT / "seeds")
    data["state"] = str(directory / "state.sqlite3")
    keywords = [["agent*"], ["diffusion", "image"], ["reasoning", "math"], ["speech"]]
    data["subscribers"] = [
        {"email": f"user{i:04d}@example.org", "name": f"User {i}", "keywords": keywords[i % 4]} for i in range(count)
    ]
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _get(url: str) -> tuple[float, int]:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as resp:
        size = len(resp.read())
    return time.perf_counter() - began, size


def preview_serve(directory: Path) -> None:
    cfg = _config(directory, SUBSCRIBERS)
    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    server = PreviewServer(cfg, port=0, digests=seeds)
    began = time.perf_counter()
    server.source.snapshot()
    startup = time.perf_counter() - began
    background = Background(server).start()
    print(f"preview --serve, {SUBSCRIBERS} subscribers, {len(seeds)} digests")
    print(f"  start (config, templates, digests read and compiled once): {startup * 1000:.0f} ms")
    try:
        for label, path in (
            ("index, page 1", ""),
            ("index, page 100", "?page=100"),
            ("search ?q=user4321", "?q=user4321"),
            ("subscriber page", "s/user2001@example.org"),
            ("raw .eml", "raw/user2001@example.org.eml"),
        ):
            runs = [_get(server.url + path) for _ in range(LOADS)]
            times = [t for t, _ in runs]
            print(
                f"  {label:<22} median {statistics.median(times) * 1000:6.1f} ms   "
                f"worst {max(times) * 1000:6.1f} ms   {runs[0][1] / 1024:6.1f} KB"
            )
    finally:
        background.stop()
    began = time.perf_counter()
    run = build_previews(load_config(cfg), digests=seeds)
    before = time.perf_counter() - began
    print(
        f"  before (http.server: every email rendered on every load): {before * 1000:.0f} ms per page "
        f"({len(run.previews)} previews)"
    )


def unsubscribe_endpoint(directory: Path) -> None:
    os.environ.setdefault("NEWSLETTER_UNSUBSCRIBE_SECRET", "bench-secret")
    data = {
        "digests": {"directory": str(ROOT / "seeds")},
        "state": str(directory / "unsub.sqlite3"),
        "subscribers": [{"email": f"u{i}@example.org", "keywords": ["x"]} for i in range(100)],
    }
    cfg = directory / "unsub.yaml"
    cfg.write_text(yaml.safe_dump(data), encoding="utf-8")
    config = load_config(cfg)
    SqliteLedger.open(config.ledger_path).close()
    server = UnsubscribeServer(config, port=0)
    background = Background(server).start()
    port = server.server_address[1]
    try:
        path = "/unsubscribe/" + unsubscribe_token("u7@example.org", os.environ["NEWSLETTER_UNSUBSCRIBE_SECRET"])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        times = []
        for _ in range(200):
            began = time.perf_counter()
            conn.request("GET", path)
            conn.getresponse().read()
            times.append(time.perf_counter() - began)
        conn.close()
        print("unsubscribe endpoint")
        print(f"  keep-alive GET (confirm page, ledger read): median {statistics.median(times) * 1000:.1f} ms")

        slowest: list[float] = []
        barrier = threading.Barrier(20)

        def connect() -> None:
            barrier.wait()
            began = time.perf_counter()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while sock.recv(4096):
                    pass
            slowest.append(time.perf_counter() - began)

        threads = [threading.Thread(target=connect) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(f"  20 concurrent connects: slowest {max(slowest) * 1000:.1f} ms")
    finally:
        background.stop()


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        preview_serve(Path(tmp))
        unsubscribe_endpoint(Path(tmp))


if __name__ == "__main__":
    run()
