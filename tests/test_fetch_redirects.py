"""Where `newsletter fetch` follows a redirect (newsletter/fetch/redirects.py): a real
process against real HTTP(S) servers on this machine, and the classes and the rule as
pure functions.

A "public" source cannot be had here (nothing reaches the internet): the rule for it is
the pure table; the servers show the loopback source (whose redirects may stay on
loopback), a private one when this machine has a private address, and the addresses that
are refused whatever the source. Each server counts the TCP connections it accepted, so
"refused without connecting" is what the server saw, not what we hope.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import pytest

from newsletter.fetch.redirects import Guard, Reach, RedirectRefused, check_step, classify, refusal, where
from tests.netns import Network, free_subnet
from tests.smtpd import self_signed
from tests.test_fetch import ARXIV_FILE, HF_BODY, HF_FILE, RSS_BODY, files, run, sources_config

# --------------------------------------------------------------------------- servers


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, routes: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.routes = routes
        self.connections = 0
        self.paths: list[str] = []
        self.tls: ssl.SSLContext | None = None
        super().__init__((host, 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        self.connections += 1
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, addr


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.server.paths.append(path)
        status, headers, body = self.server.routes.get(path, (404, {}, b"not here"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Site:
    """One HTTP(S) server: routes by path, the connections it accepted, the paths asked."""

    def __init__(self, server: _Server, scheme: str) -> None:
        self.server, self.scheme = server, scheme

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def host(self) -> str:
        host = str(self.server.server_address[0])
        return f"[{host}]" if ":" in host else host

    def url(self, path: str, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    def answer(self, path: str, body: bytes, content_type: str) -> None:
        self.server.routes[path] = (200, {"Content-Type": content_type}, body)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.server.routes[path] = (status, {"Location": location}, b"")

    @property
    def connections(self) -> int:
        return self.server.connections

    @property
    def paths(self) -> list[str]:
        return self.server.paths


@contextmanager
def site(host: str = "127.0.0.1", tls: tuple[Path, Path] | None = None) -> Iterator[Site]:
    server = _Server(host, {})
    if tls is not None:
        server.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.tls.load_cert_chain(*tls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(server, "https" if tls else "http")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def config(directory: Path, hf_url: str, rss_url: str, *, retries: int = 2) -> Path:
    return sources_config(directory, hf_url, rss_url, {"retries": retries})


def fetch(cfg: Path) -> subprocess.CompletedProcess[str]:
    return run("fetch", "-c", str(cfg), "--date", "2026-11-17")


@contextmanager
def private_address() -> Iterator[str]:
    """An address of this machine in a private range (RFC 1918) that the test owns: a
    bridge of its own (:mod:`tests.netns`) holds it while the test runs."""
    with Network() as net:
        yield net.bridge("lan", free_subnet(243)).address


# --------------------------------------------------------------------------- a real fetch


@pytest.mark.parametrize(
    ("location", "shown", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "169.254.169.254 is a link-local address"),
        ("http://0.0.0.0:{port}/api/daily_papers", "0.0.0.0:{port}", "0.0.0.0 is the unspecified address"),
        ("http://[::ffff:169.254.169.254]/latest/", "[::ffff:169.254.169.254]", "is a link-local address"),
        ("http://2852039166/latest/meta-data/", "2852039166", "169.254.169.254 is a link-local address"),
        ("http://[::ffff:0.0.0.0]:{port}/api/daily_papers", "[::ffff:0.0.0.0]:{port}", "the unspecified address"),
    ],
    ids=["metadata", "unspecified", "mapped-ipv6", "decimal", "mapped-unspecified"],
)
def test_fetch_redirect_to_an_internal_address_is_refused_without_connecting(
    tmp_path: Path, location: str, shown: str, why: str
) -> None:
    with site() as source:
        source.redirect("/api/daily_papers", location.format(port=source.port))
        source.answer("/rss/cs.CL+cs.LG", RSS_BODY, "application/rss+xml")
        cfg = config(tmp_path, source.url("/api/daily_papers"), source.url("/rss/{categories}"))

        result = fetch(cfg)

        assert result.returncode == 1
        (line,) = result.stderr.splitlines()
        assert line.startswith("error: huggingface: ")
        said = f"redirect from 127.0.0.1:{source.port} to {shown.format(port=source.port)} refused: "
        assert said in line
        assert why in line and "followed" in line
        assert "attempts" not in line  # refused at once, never retried
        assert files(tmp_path) == [ARXIV_FILE]  # the other source still written
        # one connection per source: neither a retry nor the redirect's own (0.0.0.0:port
        # would have reached this very server)
        assert source.connections == 2
        assert sorted(source.paths) == ["/api/daily_papers", "/rss/cs.CL+cs.LG"]


def test_fetch_redirect_within_loopback_by_name_or_address_is_followed(tmp_path: Path) -> None:
    with site() as source:
        source.redirect("/old/daily_papers", source.url("/api/daily_papers"), status=301)
        source.answer("/api/daily_papers", HF_BODY, "application/json")
        source.redirect("/old/rss/cs.CL+cs.LG", source.url("/rss/cs.CL+cs.LG", host="localhost"), status=308)
        source.answer("/rss/cs.CL+cs.LG", RSS_BODY, "application/rss+xml")
        # the source named by a host name: where it lives is the address its connection reached
        cfg = config(tmp_path, source.url("/old/daily_papers", host="localhost"), source.url("/old/rss/{categories}"))

        result = fetch(cfg)

        assert result.returncode == 0, result.stderr
        assert files(tmp_path) == [ARXIV_FILE, HF_FILE]
        assert (tmp_path / "digests" / HF_FILE).read_bytes() == HF_BODY


def test_fetch_redirect_from_a_private_source_to_this_machine_is_refused(tmp_path: Path) -> None:
    with private_address() as address, site(address) as lan, site() as local:
        local.answer("/api/daily_papers", HF_BODY, "application/json")
        # by name: localhost is resolved, and judged by the address it resolves to
        lan.redirect("/api/daily_papers", local.url("/api/daily_papers", host="localhost"))
        lan.redirect("/old/rss/cs.CL+cs.LG", lan.url("/rss/cs.CL+cs.LG"))  # private to private: followed
        lan.answer("/rss/cs.CL+cs.LG", RSS_BODY, "application/rss+xml")
        cfg = config(tmp_path, lan.url("/api/daily_papers"), lan.url("/old/rss/{categories}"))

        result = fetch(cfg)

        assert result.returncode == 1
        (line,) = result.stderr.splitlines()
        assert f"redirect from {lan.host}:{lan.port} to localhost:{local.port} refused: 127.0.0.1 is a loopback" in line
        assert "the source, which is on a private address" in line
        assert local.connections == 0
        assert files(tmp_path) == [ARXIV_FILE]


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/pub/daily_papers"], ids=["file", "ftp"])
def test_fetch_redirect_to_another_scheme_is_refused(tmp_path: Path, location: str) -> None:
    with site() as source:
        source.redirect("/api/daily_papers", location)
        source.answer("/rss/cs.CL+cs.LG", RSS_BODY, "application/rss+xml")
        cfg = config(tmp_path, source.url("/api/daily_papers"), source.url("/rss/{categories}"))

        result = fetch(cfg)

        assert result.returncode == 1
        (line,) = result.stderr.splitlines()
        scheme = location.split(":", 1)[0]
        said = (
            f"redirect from 127.0.0.1:{source.port} to {scheme}://127.0.0.1 refused: only http and https are followed"
        )
        assert said in line
        assert files(tmp_path) == [ARXIV_FILE]


def test_fetch_redirect_from_https_down_to_http_is_refused_https_to_https_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the fetch process trusts our certificate
    with site(tls=(cert, key)) as secure, site() as plain:
        plain.answer("/api/daily_papers", HF_BODY, "application/json")
        secure.redirect("/api/daily_papers", plain.url("/api/daily_papers"), status=301)
        secure.redirect("/old/rss/cs.CL+cs.LG", secure.url("/rss/cs.CL+cs.LG", host="localhost"))
        secure.answer("/rss/cs.CL+cs.LG", RSS_BODY, "application/rss+xml")
        cfg = config(tmp_path, secure.url("/api/daily_papers"), secure.url("/old/rss/{categories}"))

        result = fetch(cfg)

        assert result.returncode == 1
        (line,) = result.stderr.splitlines()
        said = (
            f"redirect from 127.0.0.1:{secure.port} to 127.0.0.1:{plain.port} refused: it leaves https for plain http"
        )
        assert said in line
        assert plain.connections == 0
        assert files(tmp_path) == [ARXIV_FILE]


def test_fetch_redirect_through_a_proxy_is_judged_by_its_own_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through ``HTTP_PROXY`` the connection is the proxy's (here on loopback, where a proxy
    usually is): the redirect's host is resolved and judged by us, never sent to the proxy.
    The source's name does not resolve here, so the source counts as public."""
    with site() as proxy:  # a forward proxy answers by path whatever the host asked
        proxy.redirect("/api/daily_papers", "http://127.0.0.1:5432/")
        proxy.answer("/rss/cs.CL+cs.LG", RSS_BODY, "application/rss+xml")
        monkeypatch.setenv("HTTP_PROXY", proxy.url(""))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        cfg = config(tmp_path, "http://papers.invalid/api/daily_papers", "http://papers.invalid/rss/{categories}")

        result = fetch(cfg)

        assert result.returncode == 1
        (line,) = result.stderr.splitlines()
        assert "redirect from papers.invalid to 127.0.0.1:5432 refused: 127.0.0.1 is a loopback address" in line
        assert "the source, which is on a public address" in line
        assert files(tmp_path) == [ARXIV_FILE]
        assert proxy.connections == 2 and proxy.paths == ["/api/daily_papers", "/rss/cs.CL+cs.LG"]


def test_fetch_redirects_in_a_loop_stop_after_five(tmp_path: Path) -> None:
    with site() as source:
        source.redirect("/api/daily_papers", "/again")
        source.redirect("/again", "/api/daily_papers")
        source.answer("/rss/cs.CL+cs.LG", RSS_BODY, "application/rss+xml")
        cfg = config(tmp_path, source.url("/api/daily_papers"), source.url("/rss/{categories}"), retries=0)

        result = fetch(cfg)

        assert result.returncode == 1
        assert "huggingface" in result.stderr and "more than 5 redirects" in result.stderr
        assert source.paths.count("/api/daily_papers") + source.paths.count("/again") == 6


# --------------------------------------------------------------------------- the guard, one hop


def test_guard_judges_a_host_name_by_the_addresses_it_resolves_to() -> None:
    guard = Guard(httpx.URL("https://mirror.example.org/daily"))
    guard.origin = Reach.PUBLIC  # what the first connection would have found
    guard.step(httpx.URL("https://mirror.example.org/daily"), httpx.URL("https://localhost:8443/admin"))

    with pytest.raises(RedirectRefused) as refused:
        guard.trace("connection.connect_tcp.started", {"host": "localhost", "port": 8443})

    assert str(refused.value) == (
        "redirect from mirror.example.org to localhost:8443 refused: 127.0.0.1 is a loopback address "
        "(this machine), deeper inside than the source, which is on a public address"
    )


def test_guard_closes_a_connection_that_reached_an_internal_address_before_sending() -> None:
    """DNS rebinding: the name resolved to a public address when judged, and the
    connection reached 127.0.0.1 all the same. The started check is what the name gave
    then; here only the connection's own peer is judged (no DNS server of our own can
    rebind a name for the test): the socket is closed, not a byte written."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    guard = Guard(httpx.URL("http://mirror.example.org/daily"))
    guard.origin = Reach.PUBLIC
    guard.step(httpx.URL("http://mirror.example.org/daily"), httpx.URL(f"http://127.0.0.1:{port}/admin"))
    stream = httpcore.SyncBackend().connect_tcp("127.0.0.1", port, timeout=5)
    accepted, _ = listener.accept()
    try:
        with pytest.raises(RedirectRefused, match=r"127\.0\.0\.1 is a loopback address"):
            guard.trace("connection.connect_tcp.complete", {"return_value": stream})
        accepted.settimeout(5)
        assert accepted.recv(100) == b""  # closed by us, nothing sent
    finally:
        accepted.close()
        listener.close()


def test_guard_learns_where_the_source_lives_from_its_own_connection() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    guard = Guard(httpx.URL(f"http://localhost:{port}/daily"))
    stream = httpcore.SyncBackend().connect_tcp("127.0.0.1", port, timeout=5)
    try:
        guard.trace("connection.connect_tcp.started", {"host": "localhost", "port": port})
        guard.trace("connection.connect_tcp.complete", {"return_value": stream})
        assert guard.origin is Reach.LOOPBACK
    finally:
        stream.close()
        listener.close()


# --------------------------------------------------------------------------- the classes


@pytest.mark.parametrize(
    ("address", "reach"),
    [
        # loopback, every spelling of it
        ("127.0.0.1", Reach.LOOPBACK),
        ("127.255.255.254", Reach.LOOPBACK),
        ("::1", Reach.LOOPBACK),
        ("::ffff:127.0.0.1", Reach.LOOPBACK),
        ("::ffff:7f00:1", Reach.LOOPBACK),
        ("64:ff9b::7f00:1", Reach.LOOPBACK),  # NAT64 of 127.0.0.1
        # link-local and the metadata services
        ("169.254.169.254", Reach.LINK_LOCAL),
        ("169.254.0.0", Reach.LINK_LOCAL),
        ("169.254.255.255", Reach.LINK_LOCAL),
        ("::ffff:169.254.169.254", Reach.LINK_LOCAL),
        ("::ffff:a9fe:a9fe", Reach.LINK_LOCAL),
        ("64:ff9b::a9fe:a9fe", Reach.LINK_LOCAL),
        ("fe80::1", Reach.LINK_LOCAL),
        ("fe80::1%eth0", Reach.LINK_LOCAL),
        ("febf:ffff::1", Reach.LINK_LOCAL),
        ("fd00:ec2::254", Reach.LINK_LOCAL),  # AWS's IPv6 metadata service
        ("100.100.100.200", Reach.LINK_LOCAL),  # Alibaba Cloud's metadata service
        # private: RFC 1918, CGNAT, ULA, site-local
        ("10.0.0.5", Reach.PRIVATE),
        ("10.255.255.255", Reach.PRIVATE),
        ("172.16.0.0", Reach.PRIVATE),
        ("172.31.255.255", Reach.PRIVATE),
        ("192.168.1.1", Reach.PRIVATE),
        ("100.64.0.0", Reach.PRIVATE),
        ("100.127.255.255", Reach.PRIVATE),
        ("::ffff:10.0.0.5", Reach.PRIVATE),
        ("fc00::1", Reach.PRIVATE),
        ("fd12:3456::1", Reach.PRIVATE),
        ("fec0::1", Reach.PRIVATE),
        # public, right beside them
        ("8.8.8.8", Reach.PUBLIC),
        ("172.15.255.255", Reach.PUBLIC),
        ("172.32.0.0", Reach.PUBLIC),
        ("100.63.255.255", Reach.PUBLIC),
        ("100.128.0.0", Reach.PUBLIC),
        ("169.253.255.255", Reach.PUBLIC),
        ("126.255.255.255", Reach.PUBLIC),
        ("128.0.0.0", Reach.PUBLIC),
        ("::ffff:8.8.8.8", Reach.PUBLIC),
        ("2606:4700:4700::1111", Reach.PUBLIC),
        ("2002:808:808::1", Reach.PUBLIC),  # 6to4 of a public address
        # refused whatever the source
        ("0.0.0.0", Reach.UNSPECIFIED),
        ("::", Reach.UNSPECIFIED),
        ("::ffff:0.0.0.0", Reach.UNSPECIFIED),
        ("224.0.0.1", Reach.MULTICAST),
        ("239.255.255.250", Reach.MULTICAST),
        ("ff02::1", Reach.MULTICAST),
        ("255.255.255.255", Reach.RESERVED),
        ("240.0.0.1", Reach.RESERVED),
        ("0.1.2.3", Reach.RESERVED),
        ("192.0.2.1", Reach.RESERVED),
        ("198.51.100.7", Reach.RESERVED),
        ("203.0.113.9", Reach.RESERVED),
        ("198.18.0.1", Reach.RESERVED),
        ("2001:db8::1", Reach.RESERVED),
        ("::7f00:1", Reach.RESERVED),  # IPv4-compatible (deprecated) 127.0.0.1
        ("2002:7f00:1::1", Reach.RESERVED),  # 6to4 wrapping 127.0.0.1
        ("2002:a9fe:a9fe::1", Reach.RESERVED),  # 6to4 wrapping the metadata address
        ("fbff::1", Reach.RESERVED),
        ("not an address", Reach.RESERVED),
        ("2852039166", Reach.RESERVED),  # a name to resolve, never read as an address here
    ],
)
def test_classify_address(address: str, reach: Reach) -> None:
    assert classify(address) is reach


def test_classify_takes_address_objects_as_strings() -> None:
    assert classify(ipaddress.ip_address("::ffff:169.254.169.254")) is Reach.LINK_LOCAL
    assert classify(ipaddress.ip_address("10.1.2.3")) is classify("10.1.2.3") is Reach.PRIVATE


_FOLLOWED = {
    Reach.PUBLIC: {Reach.PUBLIC},
    Reach.PRIVATE: {Reach.PUBLIC, Reach.PRIVATE},
    Reach.LINK_LOCAL: {Reach.PUBLIC, Reach.PRIVATE, Reach.LINK_LOCAL},
    Reach.LOOPBACK: {Reach.PUBLIC, Reach.PRIVATE, Reach.LOOPBACK},
    # an origin in a refused-always class counts as public
    Reach.UNSPECIFIED: {Reach.PUBLIC},
    Reach.MULTICAST: {Reach.PUBLIC},
    Reach.RESERVED: {Reach.PUBLIC},
}


@pytest.mark.parametrize("origin", list(Reach), ids=lambda r: r.name)
@pytest.mark.parametrize("target", list(Reach), ids=lambda r: r.name)
def test_refusal_origin_by_target(origin: Reach, target: Reach) -> None:
    why = refusal(origin, target)
    if target in _FOLLOWED[origin]:
        assert why is None
    else:
        assert why is not None and why.startswith(target.value)


def test_refusal_names_why() -> None:
    assert refusal(Reach.LOOPBACK, Reach.LINK_LOCAL) == (
        "a link-local address (where cloud metadata services answer), followed only from a link-local source; "
        "the source is on a loopback address"
    )
    assert refusal(Reach.PRIVATE, Reach.LOOPBACK) == (
        "a loopback address (this machine), deeper inside than the source, which is on a private address"
    )
    assert refusal(Reach.LOOPBACK, Reach.UNSPECIFIED) == "the unspecified address (this machine), never followed"


@pytest.mark.parametrize(
    ("current", "target", "refused"),
    [
        ("http://a.example/x", "https://b.example/y", None),
        ("https://a.example/x", "https://b.example/y", None),
        ("http://a.example/x", "http://b.example/y", None),
        ("https://a.example/x", "http://a.example/y", "it leaves https for plain http"),
        ("https://a.example/x", "HTTP://a.example:80/y", "it leaves https for plain http"),
        ("http://a.example/x", "file:///etc/passwd", "to file:// refused: only http and https"),
        ("http://a.example/x", "gopher://a.example:70/_x", "to gopher://a.example:70 refused"),
        ("http://a.example/x", "dict://a.example:11211/stat", "to dict://a.example:11211 refused"),
    ],
)
def test_check_step_by_scheme(current: str, target: str, refused: str | None) -> None:
    if refused is None:
        check_step(httpx.URL(current), httpx.URL(target))
        return
    with pytest.raises(RedirectRefused, match=refused):
        check_step(httpx.URL(current), httpx.URL(target))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://example.org/x", "example.org"),
        ("http://example.org:8080/x", "example.org:8080"),
        ("http://[::ffff:169.254.169.254]/x", "[::ffff:169.254.169.254]"),
        ("http://bücher.example/x", "xn--bcher-kva.example"),
        ("http://2852039166/x", "2852039166"),
    ],
)
def test_where_names_a_host_in_ascii(url: str, shown: str) -> None:
    assert where(httpx.URL(url)) == shown
