"""Network namespaces for the many-hosts tests (SPEC 6d): each "host" is a network
namespace with one veth link per network, the other end of each link on a bridge in
this (the root) namespace, where the servers listen (PostgreSQL on the database
bridge's address, the SMTP server on the relay bridge's). Cutting a link (its root
end set down: the host's packets are silently lost, like a pulled cable or a
partition) takes one host off one network while it still reaches the others.

Needs root (or CAP_NET_ADMIN) and ``ip`` (Debian's ``iproute2``); missing, it fails
loudly. Every name carries a random tag, so that two test runs never collide, and
:meth:`Network.close` removes everything made, also when the test failed (use it as
a context manager). The namespaces have no default route: nothing they send can
leave this machine.

(``tc qdisc ... netem loss 100%`` would drop packets with the link up, but this
machine's kernel has no netem; a link down drops them just as silently.)
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

IP = shutil.which("ip") or "/usr/sbin/ip"


class NetnsError(RuntimeError):
    pass


def ip(*args: str) -> str:
    """Run ``ip ARGS``; its output, or :class:`NetnsError` with its message."""
    if not os.path.exists(IP):
        raise NetnsError("ip not found: run scripts/system-deps (Debian package iproute2)")
    done = subprocess.run([IP, *args], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


@dataclass
class Bridge:
    name: str
    network: ipaddress.IPv4Network
    address: str  # the root namespace's address on it (where servers listen)
    hosts: int = 1  # addresses handed out so far (.1 is the bridge's)

    def next_address(self) -> str:
        self.hosts += 1
        return str(self.network.network_address + self.hosts)


@dataclass
class Link:
    """A veth pair: ``outer`` on the bridge (root namespace), ``inner`` in the host."""

    outer: str
    inner: str
    host: str
    bridge: Bridge
    address: str  # the host's address on this network


@dataclass
class Host:
    """A network namespace standing for one machine."""

    name: str
    links: dict[str, Link] = field(default_factory=dict)  # by bridge name

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return [IP, "netns", "exec", self.name, *argv]


class Network:
    """Bridges, hosts and links; :meth:`close` (or ``with``) removes them all."""

    def __init__(self) -> None:
        if os.geteuid() != 0:
            raise NetnsError("network namespaces need root (or CAP_NET_ADMIN)")
        self.tag = secrets.token_hex(2)
        self.bridges: dict[str, Bridge] = {}
        self.hosts: dict[str, Host] = {}
        self._links = 0
        self._procs: list[subprocess.Popen[Any]] = []

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bridge(self, name: str, subnet: str) -> Bridge:
        """A bridge ``name`` for ``subnet`` (e.g. ``10.231.7.0/24``); this namespace gets
        the subnet's first address on it."""
        network = ipaddress.IPv4Network(subnet)
        dev = f"pd{self.tag}{name[:3]}"
        ip("link", "add", dev, "type", "bridge")
        self.bridges[name] = bridge = Bridge(dev, network, str(network.network_address + 1))
        ip("addr", "add", f"{bridge.address}/{network.prefixlen}", "dev", dev)
        ip("link", "set", dev, "up")
        return bridge

    def host(self, name: str, *, networks: Sequence[str]) -> Host:
        """A namespace ``name`` with a link to each bridge named in ``networks``."""
        ns = f"pd-{self.tag}-{name}"
        ip("netns", "add", ns)
        self.hosts[name] = host = Host(ns)
        ip("-n", ns, "link", "set", "lo", "up")
        for net in networks:
            host.links[net] = self._link(host, self.bridges[net])
        return host

    def _link(self, host: Host, bridge: Bridge) -> Link:
        self._links += 1
        outer, inner = f"pd{self.tag}o{self._links}", f"pd{self.tag}i{self._links}"
        ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", host.name)
        ip("link", "set", outer, "master", bridge.name)
        ip("link", "set", outer, "up")
        address = bridge.next_address()
        ip("-n", host.name, "addr", "add", f"{address}/{bridge.network.prefixlen}", "dev", inner)
        ip("-n", host.name, "link", "set", inner, "up")
        return Link(outer, inner, host.name, bridge, address)

    def cut(self, host: str, network: str) -> None:
        """Take ``host`` off ``network``: its packets there are lost from now on."""
        ip("link", "set", self.hosts[host].links[network].outer, "down")

    def heal(self, host: str, network: str) -> None:
        ip("link", "set", self.hosts[host].links[network].outer, "up")

    def popen(self, host: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside ``host``; killed by :meth:`close` if still running."""
        proc = subprocess.Popen(self.hosts[host].command(argv), **kwargs)
        self._procs.append(proc)
        return proc

    def close(self) -> None:
        """Kill what runs inside, delete the namespaces (their link ends go with them)
        and the bridges; every step is tried whatever failed before."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        problems = []
        for host in self.hosts.values():
            for link in host.links.values():
                problems += _quietly("link", "del", link.outer)
            problems += _quietly("netns", "del", host.name)
        for bridge in self.bridges.values():
            problems += _quietly("link", "del", bridge.name)
        self.hosts.clear()
        self.bridges.clear()
        leftovers = [line for line in ip("-o", "link").splitlines() if f"pd{self.tag}" in line]
        if leftovers:
            raise NetnsError(f"not removed: {leftovers} ({problems})")


def _quietly(*args: str) -> list[str]:
    try:
        ip(*args)
    except NetnsError as exc:
        return [str(exc)]
    return []


def free_subnet(second: int) -> str:
    """A /24 in ``10.<second>.x.0`` that no interface of this machine uses."""
    used = ip("-4", "-o", "addr")
    for _ in range(50):
        third = secrets.randbelow(250) + 2
        if f" 10.{second}.{third}." not in used:
            return f"10.{second}.{third}.0/24"
    raise NetnsError(f"no free 10.{second}.x.0/24")
