"""Bounces (SPEC 6, issue 14): a 5xx at RCPT is a hard bounce that suppresses the
address; delivery status notifications read from a real Maildir; `status` and
`resubscribe`. Real aiosmtpd, real SQLite, real files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.cli import commands as _commands  # noqa: F401  (registers the commands)
from newsletter.config import load_config
from newsletter.delivery.ledger import Ledger
from tests.smtpd import EXAMPLE_SUBSCRIBERS, Faults, smtp_server, write_config


def newsletter(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def add_seeds(config: Path, seeds: dict[str, Path], *names: str) -> None:
    for name in names:
        shutil.copy2(seeds[name], config.parent / "digests")


def test_bounce_550_at_rcpt_suppresses_address_until_resubscribe(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server(Faults(reject=frozenset({"bob@example.org"}))) as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS)
        add_seeds(cfg, seeds, "000", "001")
        first = newsletter("send", "-c", str(cfg))
        assert first.exit_code == 1 and "failed: bob@example.org: 550" in first.output
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        (bounced,) = status["bounced"]
        assert bounced["email"] == "bob@example.org" and bounced["hard"] == 1
        assert "1 hard bounce" in bounced["reason"] and "5.1.1" in bounced["reason"]
        human = newsletter("status", "-c", str(cfg)).output
        assert "bounced bob@example.org: 1 hard bounce" in human

        # a new digest: bob would match again, but the next pass does not mail him
        add_seeds(cfg, seeds, "002")
        before = len(server.received)
        second = newsletter("send", "-c", str(cfg))
        assert "1 unsubscribed skipped" in second.output
        assert all(m.rcpt_tos != ["bob@example.org"] for m in server.received[before:])
        with Ledger.open(load_config(cfg).state) as ledger:
            assert [d["status"] for d in ledger.deliveries("bob@example.org")] == ["failed"]

        # resubscribe lifts it: bob is mailed again for digests picked up from now on
        assert newsletter("resubscribe", "-c", str(cfg), "bob@example.org").exit_code == 0
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        assert status["bounced"] == []
        server.handler.faults.reject = frozenset()
        add_seeds(cfg, seeds, "003")
        third = newsletter("send", "-c", str(cfg))
        assert third.exit_code == 0, third.output
        assert any(m.rcpt_tos == ["bob@example.org"] for m in server.received)


def test_bounce_policy_refusal_5_7_is_not_a_bounce(tmp_path: Path, seeds: dict[str, Path]) -> None:
    # a relay refusing on policy (5.7.1: relay denied, spam) says nothing about the address
    refusal = {"alice@example.org": "554 5.7.1 <alice@example.org>: Relay access denied"}
    with smtp_server(Faults(rcpt_replies=refusal)) as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS)
        add_seeds(cfg, seeds, "000", "001")
        assert newsletter("send", "-c", str(cfg)).exit_code == 1
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
        assert status["failed"][0]["email"] == "alice@example.org"
        assert status["bounced"] == [] and status["suppressed"] == 0
