"""The network namespace helper (tests/netns.py) proven on real traffic: a "host" in a
namespace reaches a PostgreSQL ledger and an SMTP server through two bridges, then,
cut from the database only, loses the ledger (within the ledger's call timeout, as a
lost connection) while it still delivers mail, and gets the ledger back once healed.
Everything made is gone afterwards."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from newsletter.store.postgres import PostgresLedger
from tests.conftest import ROOT, wait_for
from tests.netns import Network, free_subnet, ip
from tests.pgserver import PgServer
from tests.smtpd import SmtpServer


@pytest.fixture
def network() -> Iterator[Network]:
    with Network() as net:
        net.bridge("db", free_subnet(231))
        net.bridge("mail", free_subnet(232))
        net.host("s1", networks=["db", "mail"])
        yield net


class Probe:
    """tests/netprobe.py running inside a namespace: one command, one answer."""

    def __init__(self, net: Network, host: str, url: str, smtp: SmtpServer) -> None:
        argv = [sys.executable, "-m", "tests.netprobe", url, smtp.host, str(smtp.port)]
        self.proc = net.popen(
            host, argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.asked = 0

    def ask(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.asked += 1  # the probe numbers its lines from 1: "pg" on line n registers probe{n}
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer, f"the probe died: {self.proc.stderr.read() if self.proc.stderr else ''}"
        return answer


@pytest.mark.slow
def test_netns_host_cut_from_the_database_still_sends_mail(network: Network) -> None:
    db, mail = network.bridges["db"], network.bridges["mail"]
    with PgServer(listen=["127.0.0.1", db.address]) as pg:
        name = pg.create_database()
        url = pg.url(name, host=db.address)
        smtp = SmtpServer(host=mail.address).start()
        try:
            probe = Probe(network, "s1", url, smtp)
            assert probe.ask("pg") == "pg ok"
            assert probe.ask("smtp") == "smtp ok"
            assert client_addresses(pg, name) == {network.hosts["s1"].links["db"].address}  # it came through the bridge

            network.cut("s1", "db")
            lost = probe.ask("pg")  # within the ledger's call timeout (seconds), not the kernel's 15 minutes
            assert lost.startswith("pg lost: ") and "lost the connection to the ledger database" in lost
            assert probe.ask("smtp") == "smtp ok"  # the relay is still reachable

            network.heal("s1", "db")
            # the ledger connects again: at once on a quiet machine; a loaded one may
            # refuse the very first attempt while the link comes back (then it is "lost")
            wait_for(lambda: probe.ask("pg") == "pg ok", 60, "the ledger back after the heal")
            back = probe.asked
        finally:
            smtp.stop()
        assert [m.message["Subject"] for m in smtp.received] == ["probe 2", "probe 4"]
        with PostgresLedger.open(pg.url(name)) as ledger:
            assert set(ledger.horizons([f"probe{n}@example.org" for n in range(1, back + 1)])) == {
                "probe1@example.org",
                f"probe{back}@example.org",
            }


def client_addresses(pg: PgServer, database: str) -> set[str]:
    with pg.admin() as conn:
        rows = conn.execute(
            "SELECT host(client_addr) FROM pg_stat_activity WHERE datname = %s AND application_name = 'paper-digest'",
            (database,),
        ).fetchall()
    return {r[0] for r in rows}


@pytest.mark.slow
def test_netns_everything_removed_even_after_a_failure() -> None:
    made: dict[str, Any] = {}
    with pytest.raises(RuntimeError, match="the test failed here"), Network() as net:
        net.bridge("db", free_subnet(231))
        net.host("s1", networks=["db"])
        made.update(tag=net.tag, ns=net.hosts["s1"].name)
        raise RuntimeError("the test failed here")
    assert made["ns"] not in ip("netns", "list")
    assert f"pd{made['tag']}" not in ip("-o", "link")


@pytest.mark.slow
def test_netns_cut_host_cannot_reach_the_database(network: Network) -> None:
    db = network.bridges["db"]
    with PgServer(listen=[db.address]) as pg:
        url = pg.url("postgres", host=db.address)
        network.cut("s1", "db")
        reach = [*network.hosts["s1"].command([sys.executable, "-c", _CONNECT, url])]
        done = subprocess.run(reach, capture_output=True, text=True, timeout=60, check=False)
        assert done.stdout.strip() == "unreachable", done.stderr
        network.heal("s1", "db")
        done = subprocess.run(reach, capture_output=True, text=True, timeout=60, check=False)
        assert done.stdout.strip() == "reached", done.stderr
    with pytest.raises(psycopg.OperationalError):  # and the server is gone with its directory
        psycopg.connect(url, connect_timeout=2)


_CONNECT = """
import sys, psycopg
try:
    psycopg.connect(sys.argv[1], connect_timeout=3).close()
    print("reached")
except psycopg.OperationalError:
    print("unreachable")
"""
