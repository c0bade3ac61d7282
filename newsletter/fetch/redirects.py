"""Where a fetch's redirects may lead (SPEC 2.5, 6c): never deeper inside the network than
the source itself lives.

A source's answer ``302 Location: http://169.254.169.254/latest/meta-data/`` (or
``http://127.0.0.1:5432/``, ``http://10.0.0.5/admin``) would make ``newsletter fetch``
ask an address of our own network, and write what came back as a digest that is mailed
to the subscribers. Each redirect is judged here before its request is sent.

**The classes** (:func:`classify`, by the address itself; an IPv4-mapped IPv6 address
``::ffff:a.b.c.d`` and a NAT64 one ``64:ff9b::a.b.c.d`` are their IPv4 address):

- loopback: ``127.0.0.0/8``, ``::1``;
- link-local: ``169.254.0.0/16``, ``fe80::/10`` (the cloud metadata services answer
  there), and the metadata services outside it: AWS's IPv6 ``fd00:ec2::254`` (in the
  ULA range) and Alibaba Cloud's ``100.100.100.200`` (in the CGNAT range);
- private: RFC 1918 (``10/8``, ``172.16/12``, ``192.168/16``), CGNAT ``100.64/10``, IPv6
  ULA ``fc00::/7`` and the old site-local ``fec0::/10``;
- public: every address that is globally routable;
- refused always: the unspecified address (``0.0.0.0``, ``::``: it reaches this very
  machine), multicast, and every other special-purpose range (reserved, documentation,
  benchmarking, broadcast, ``0/8``, IPv4-compatible ``::a.b.c.d``, 6to4 or Teredo
  addresses that wrap an address that is not public).

**The rule** (:func:`refusal`), from the class of the address the source's own
connection reached (its *origin*) to the class of the redirect's address:

============  ======  =======  ==========  ========
origin \\ to   public  private  link-local  loopback
============  ======  =======  ==========  ========
public        yes     no       no          no
private       yes     yes      no          no
link-local    yes     yes      yes         no
loopback      yes     yes      no          yes
============  ======  =======  ==========  ========

Public is outermost, then private (the site), then link-local (this link), then loopback
(this machine): a redirect may stay where it is or move outwards, never inwards. A
loopback source (an admin's local mirror, our tests) may redirect within loopback and out
to the site or the internet; a private one (a mirror on the LAN) may not lead to this
machine's own services (``127.0.0.1:5432``). Link-local is refused unless the source is
itself link-local: a public mirror on loopback or the LAN has no business with the
metadata service. An origin in a refused-always class (a source configured at a
documentation address) counts as public, the strictest. Schemes other than http and https
are never followed, and neither is a step from https down to plain http.

**When it is checked** (:class:`Guard`, the request's ``trace`` extension): a redirect's
URL is judged by its scheme before anything is sent; then, as its connection is about to
open (``connect_tcp.started``), its host is resolved here (a decimal ``2852039166``, an
octal ``0177.0.0.1`` resolve like any name) and every address it resolves to must pass:
a refused redirect never opens a TCP connection. The address the connection actually
reached (the socket's peer, ``connect_tcp.complete``) is checked again: a name that
resolved to a public address here and to an internal one a moment later (DNS rebinding)
has then made a TCP handshake, but the socket is closed before a byte of the request (or
of a TLS hello) is written. Through an HTTP(S) proxy (``HTTP(S)_PROXY``) the connection
is the proxy's; the redirect's host is then resolved here and judged, and the proxy does
its own resolving. Connections are never kept alive (:func:`~newsletter.fetch.client.make_client`),
so every hop opens the connection that is checked.
"""

from __future__ import annotations

import contextlib
import enum
import ipaddress
import socket
from collections.abc import Mapping
from typing import Any

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
FOLLOWED_SCHEMES = ("http", "https")


class Reach(enum.Enum):
    """The class of an address; the value is how a line names it."""

    PUBLIC = "a public address"
    PRIVATE = "a private address"
    LINK_LOCAL = "a link-local address (where cloud metadata services answer)"
    LOOPBACK = "a loopback address (this machine)"
    UNSPECIFIED = "the unspecified address (this machine)"
    MULTICAST = "a multicast address"
    RESERVED = "a reserved or special-purpose address"


_RANK = {Reach.PUBLIC: 0, Reach.PRIVATE: 1, Reach.LINK_LOCAL: 2, Reach.LOOPBACK: 3}
_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fec0::/10")
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200"))


class RedirectRefused(Exception):
    """A redirect that may not be followed; ``str`` is the one line (without the source)."""


def address_of(text: str) -> Address | None:
    """The address ``text`` spells in its usual form (a zone ``%eth0`` dropped), else None."""
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for on this machine's path (mapped, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _tunnelled(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a 6to4 or Teredo address wraps."""
    if address.sixtofour is not None:
        return address.sixtofour
    return address.teredo[1] if address.teredo is not None else None


def classify(address: Address | str) -> Reach:
    """The class of ``address`` (see the module doc); a string that is no address is RESERVED."""
    found = address_of(address) if isinstance(address, str) else address
    if found is None:
        return Reach.RESERVED
    if isinstance(found, ipaddress.IPv6Address):
        inner = _embedded(found)
        if inner is not None:
            return classify(inner)
    return _special(found) or _inner(found) or _outer(found)


def _special(found: Address) -> Reach | None:
    if found.is_unspecified:
        return Reach.UNSPECIFIED
    return Reach.MULTICAST if found.is_multicast else None


def _inner(found: Address) -> Reach | None:
    if found.is_loopback:
        return Reach.LOOPBACK
    if found.is_link_local or found in _METADATA:
        return Reach.LINK_LOCAL
    if any(found in network for network in _PRIVATE if network.version == found.version):
        return Reach.PRIVATE
    return None


def _outer(found: Address) -> Reach:
    if found.is_reserved or not found.is_global:
        return Reach.RESERVED
    if isinstance(found, ipaddress.IPv6Address):
        wrapped = _tunnelled(found)
        if wrapped is not None and classify(wrapped) is not Reach.PUBLIC:
            return Reach.RESERVED
    return Reach.PUBLIC


def refusal(origin: Reach, target: Reach) -> str | None:
    """Why a source whose connection reached ``origin`` may not be redirected to an address
    of class ``target``; None when it may (the table of the module doc)."""
    if target not in _RANK:
        return f"{target.value}, never followed"
    from_rank = _RANK.get(origin, 0)  # an origin in a refused-always class counts as public
    if target is Reach.LINK_LOCAL and origin is not Reach.LINK_LOCAL:
        return f"{target.value}, followed only from a link-local source; the source is on {_short(origin)}"
    if _RANK[target] > from_rank:
        return f"{target.value}, deeper inside than the source, which is on {_short(origin)}"
    return None


def _short(reach: Reach) -> str:
    return reach.value.split(" (", 1)[0]


def where(url: httpx.URL) -> str:
    """The host (and port when the URL gives one) a line names: ASCII (IDNA), never a
    control character (the URL came from a server's header)."""
    host = url.raw_host.decode("ascii", "replace")
    if ":" in host:
        host = f"[{host}]"
    port = f":{url.port}" if url.port is not None else ""
    shown = f"{host}{port}"
    return "".join(c if c.isprintable() and not c.isspace() else f"\\x{ord(c):02x}" for c in shown)


def check_step(current: httpx.URL, target: httpx.URL) -> None:
    """Refuse a redirect from ``current`` to ``target`` by its URL alone: a scheme other
    than http(s), or https down to plain http."""
    if target.scheme not in FOLLOWED_SCHEMES:
        scheme = "".join(c for c in target.scheme[:20] if c.isalnum() or c in "+-.")
        raise RedirectRefused(
            f"redirect from {where(current)} to {scheme}://{where(target)} refused: only http and https are followed"
        )
    if current.scheme == "https" and target.scheme == "http":
        raise RedirectRefused(
            f"redirect from {where(current)} to {where(target)} refused: it leaves https for plain http"
        )


class Guard:
    """The checks of one request and its redirects; pass :meth:`trace` as (part of) the
    request's ``trace`` extension, and call :meth:`step` before sending each redirect.
    Raises :class:`RedirectRefused` from inside httpx (before the connection opens, or
    right after, the socket closed): nothing of the request is sent."""

    def __init__(self, url: httpx.URL) -> None:
        self.origin: Reach | None = None  # learnt from the first connection
        self._from: httpx.URL | None = None
        self._to = url
        self._proxied = False

    def step(self, current: httpx.URL, target: httpx.URL) -> None:
        """The next connection is the redirect from ``current`` to ``target``."""
        check_step(current, target)
        self._from, self._to = current, target

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event.endswith("connect_tcp.started"):
            self._before(str(info.get("host", "")), info.get("port"))
        elif event.endswith("connect_tcp.complete"):
            self._after(info.get("return_value"))

    def _before(self, host: str, port: object) -> None:
        """The connection is about to open: the redirect's host resolved and judged."""
        target = self._to.raw_host.decode("ascii", "replace")
        self._proxied = (host, port) != (target, self._to.port or _default_port(self._to))
        if self._from is None:
            if self._proxied:  # a proxy's address says nothing of where the source lives
                found = [classify(a) for a in _resolve(target, self._to.port or _default_port(self._to))]
                self.origin = min(found, key=lambda r: _RANK.get(r, 0), default=Reach.PUBLIC)  # the strictest
            return
        for address in _resolve(target, self._to.port or _default_port(self._to)):
            self._judge(address)

    def _after(self, stream: Any) -> None:
        """The connection is open, nothing sent yet: the address it reached is judged."""
        if self._proxied:
            return
        peer = _peer(stream)
        if self._from is None:
            self.origin = classify(peer) if peer is not None else Reach.PUBLIC
            return
        try:
            if peer is None:
                raise self._refused("the address it reached cannot be told")
            self._judge(peer)
        except RedirectRefused:
            with contextlib.suppress(Exception):
                stream.close()
            raise

    def _judge(self, address: Address) -> None:
        why = refusal(self.origin or Reach.PUBLIC, classify(address))
        if why is not None:
            raise self._refused(f"{address} is {why}")

    def _refused(self, why: str) -> RedirectRefused:
        assert self._from is not None
        return RedirectRefused(f"redirect from {where(self._from)} to {where(self._to)} refused: {why}")


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def _resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to, as the connection will resolve it (an empty
    list when it does not resolve: the connection then fails on its own)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    found = [address_of(str(info[4][0])) for info in infos]
    return [a for a in found if a is not None]


def _peer(stream: Any) -> Address | None:
    """The address a connection reached (its socket's peer)."""
    try:
        peer = stream.get_extra_info("server_addr") if stream is not None else None
    except OSError:
        return None
    if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
        return address_of(peer[0])
    return None
