"""SMTP that is kind to real servers (SPEC 3, 6; issue 14), against a real aiosmtpd
with faults injected at the server: one failed AUTH per run, pool-wide backoff on
rate-limit replies, fast hinted failures for port/security mix-ups and an
unreachable server, the password-variable rule, private test domains."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.config import load_config
from newsletter.delivery.service import PassOptions, run_send
from newsletter.store import SqliteLedger
from tests.smtpd import (
    EXAMPLE_SUBSCRIBERS,
    Authenticator,
    Faults,
    free_port,
    self_signed,
    server_tls,
    smtp_server,
    write_config,
)

PASSWORD = "right-password"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def setup(tmp_path: Path, port: int, seeds: dict[str, Path], subscribers: Any = None, **smtp: Any) -> Path:
    cfg = write_config(tmp_path, port, subscribers or EXAMPLE_SUBSCRIBERS, smtp=smtp)
    for name in ("000", "001"):
        shutil.copy2(seeds[name], cfg.parent / "digests")
    return cfg


def counts(cfg: Path) -> dict[str, int]:
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        return ledger.delivery_counts()


def errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_refused_login_costs_one_auth_per_run_and_leaves_everything_pending(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = Authenticator("digest", PASSWORD)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    with smtp_server(authenticator=auth, auth_required=True, auth_require_tls=False) as server:
        cfg = setup(tmp_path, server.port, seeds, username="digest", password_env="TEST_SMTP_PASSWORD", connections=4)
        result = invoke("send", "-c", str(cfg))
        assert result.exit_code == 1
        assert auth.attempts == 1  # not one per session (4) and mechanism (2)
        (line,) = errors(result.output)
        assert "AUTH as digest refused" in line and "535" in line
        assert server.received == []
        assert counts(cfg) == {"sent": 0, "pending": 3, "failed": 0}
        invoke("send", "-c", str(cfg))
        assert auth.attempts == 2  # the next run tries once more, once
        monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
        assert invoke("send", "-c", str(cfg)).exit_code == 0
        assert counts(cfg) == {"sent": 3, "pending": 0, "failed": 0} and len(server.received) == 3


def test_smtp_rate_limit_reply_pauses_the_whole_pool(tmp_path: Path, seeds: dict[str, Path]) -> None:
    subscribers = [
        {"email": f"reader{i}@example.org", "keywords": ["self-supervised", "diffusion", "reasoning"]}
        for i in range(24)
    ]
    with smtp_server(Faults(rate_limit=(3,), slow=0.03)) as server:
        cfg = setup(tmp_path, server.port, seeds, subscribers, connections=4)
        summary = run_send(load_config(cfg), PassOptions(backoff=0.5))
        assert summary.exit_code == 0 and summary.sent == 24 == len(server.received)
        (refused,) = server.handler.rate_limited_at
        # no session started a new transaction while the pool paused (>= 0.5 s after the reply)
        during = [t for t in server.handler.mail_times if refused + 0.15 < t < refused + 0.45]
        assert during == [], f"{len(during)} transactions started during the pause"
        assert any(t >= refused + 0.45 for t in server.handler.mail_times)


def test_smtp_starttls_pointed_at_implicit_tls_port_fails_fast_with_hint(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    (tmp_path / "pki").mkdir()
    ctx = server_tls(*self_signed(tmp_path / "pki"))
    with smtp_server(ssl_context=ctx) as server:
        cfg = setup(tmp_path, server.port, seeds, security="starttls", timeout=2)
        result = invoke("send", "-c", str(cfg))
        assert result.exit_code == 1
        (line,) = errors(result.output)
        assert "expects implicit TLS" in line and "security: tls" in line
        assert counts(cfg)["pending"] >= 1 and counts(cfg)["sent"] == 0


def _servers(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """aiosmtpd in each way a relay can speak: plain without TLS, plain offering STARTTLS,
    implicit TLS (the certificate trusted through smtp.ca_file)."""
    (tmp_path / "pki").mkdir(exist_ok=True)
    cert, key = self_signed(tmp_path / "pki")
    return {
        "plain": {},
        "starttls": {"tls_context": server_tls(cert, key)},
        "implicit": {"ssl_context": server_tls(cert, key)},
    }


# (what the server speaks, what the config asks for, what the one line must tell the user to set)
MIXUPS = [
    ("plain", "tls", "set security: none"),  # following "starttls" would give "STARTTLS not supported"
    ("starttls", "tls", "offers STARTTLS: set security: starttls"),  # 587 with tls
    ("implicit", "none", "expects implicit TLS; set security: tls"),
    ("implicit", "starttls", "expects implicit TLS; set security: tls"),  # 465 with starttls
    ("plain", "starttls", "does not offer STARTTLS"),
]


@pytest.mark.parametrize(("speaks", "asked", "hint"), MIXUPS)
def test_smtp_port_security_mixup_hint_is_right_for_the_server(
    tmp_path: Path, seeds: dict[str, Path], speaks: str, asked: str, hint: str
) -> None:
    with smtp_server(**_servers(tmp_path)[speaks]) as server:
        cfg = setup(tmp_path, server.port, seeds, security=asked, timeout=2, ca_file=str(tmp_path / "pki" / "cert.pem"))
        result = invoke("send", "-c", str(cfg))
        assert result.exit_code == 1
        (line,) = errors(result.output)
        assert hint in line, line
        if speaks == "plain":  # no TLS there at all: the fix is none, never starttls
            assert "security: none" in line and "set security: starttls" not in line
        assert server.received == []
        connect = invoke("check", "-c", str(cfg), "--connect")  # the same line from check, nothing sent
        assert connect.exit_code == 1
        (said,) = errors(connect.output)
        assert said.startswith("error: smtp: ") and hint in said
        assert server.received == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize(("speaks", "asked"), [("plain", "none"), ("starttls", "starttls"), ("implicit", "tls")])
def test_check_connect_tries_tls_and_auth_sends_nothing(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch, speaks: str, asked: str
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    auth = Authenticator("digest", PASSWORD)
    kwargs = {**_servers(tmp_path)[speaks], "authenticator": auth, "auth_required": True, "auth_require_tls": False}
    with smtp_server(**kwargs) as server:
        cfg = setup(
            tmp_path,
            server.port,
            seeds,
            security=asked,
            username="digest",
            password_env="TEST_SMTP_PASSWORD",
            ca_file=str(tmp_path / "pki" / "cert.pem"),
        )
        result = invoke("check", "-c", str(cfg), "--connect")
        assert result.exit_code == 0, result.output
        (line,) = [ln for ln in result.output.splitlines() if "smtp relay:" in ln]
        assert f"127.0.0.1:{server.port}: connected" in line and "AUTH as digest accepted" in line
        assert "no mail sent" in line
        assert ("TLS" in line and "certificate verified" in line) if asked != "none" else "no TLS" in line
        assert auth.logins == ["digest"] and server.received == []
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
        refused = invoke("check", "-c", str(cfg), "--connect")
        assert refused.exit_code == 1
        (said,) = errors(refused.output)
        assert "AUTH as digest refused" in said and "535" in said
        assert auth.attempts == 2  # one AUTH per try, one mechanism


@pytest.mark.parametrize(("port", "security", "wanted"), [(465, "starttls", "tls"), (587, "tls", "starttls")])
def test_check_warns_port_that_does_not_go_with_its_security(
    tmp_path: Path, port: int, security: str, wanted: str
) -> None:
    cfg = write_config(tmp_path, port, EXAMPLE_SUBSCRIBERS[:1], smtp={"security": security})
    result = invoke("check", "-c", str(cfg))
    assert result.exit_code == 0, result.output
    (line,) = [ln for ln in result.output.splitlines() if ln.startswith("warning: smtp: port")]
    assert f"port {port}" in line and f"set security: {wanted}" in line
    fine = write_config(tmp_path, port, EXAMPLE_SUBSCRIBERS[:1], smtp={"security": wanted})
    assert "warning: smtp: port" not in invoke("check", "-c", str(fine)).output


def test_smtp_unreachable_server_one_check_one_line_fast(tmp_path: Path, seeds: dict[str, Path]) -> None:
    port = free_port()  # nothing listens there
    cfg = setup(tmp_path, port, seeds, retries=5)
    result = invoke("send", "-c", str(cfg))
    assert result.exit_code == 1
    (line,) = errors(result.output)
    assert f"cannot connect to 127.0.0.1:{port}: connection refused" in line
    assert counts(cfg)["pending"] >= 1  # recorded: the next run sends it with the same Message-ID


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_username_without_password_variable_is_config_error(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = Authenticator("digest", PASSWORD)
    monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    with smtp_server(authenticator=auth, auth_required=True, auth_require_tls=False) as server:
        cfg = setup(tmp_path, server.port, seeds, username="digest", password_env="TEST_SMTP_PASSWORD")
        for command in ("check", "send"):
            result = invoke(command, "-c", str(cfg))
            assert result.exit_code == 2, (command, result.output)
            (line,) = errors(result.output)
            assert "TEST_SMTP_PASSWORD" in line and f"{cfg}:" in line and "Traceback" not in result.output
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "")
        assert invoke("send", "-c", str(cfg)).exit_code == 2
        assert auth.attempts == 0 and server.received == []


def test_smtp_private_test_domains_accepted_and_delivered(tmp_path: Path, seeds: dict[str, Path]) -> None:
    domains = ["lab.local", "corp.internal", "example.test", "home.lan"]
    subscribers = [{"email": f"reader@{d}", "keywords": ["self-supervised", "reasoning"]} for d in domains]
    with smtp_server() as server:
        cfg = setup(tmp_path, server.port, seeds, subscribers)
        assert invoke("check", "-c", str(cfg)).exit_code == 0
        assert run_send(load_config(cfg), PassOptions(backoff=0.01)).exit_code == 0
        assert sorted(server.by_recipient()) == sorted(f"reader@{d}" for d in domains)
    bad = write_config(tmp_path, 1, [{"email": "x@host.invalid", "keywords": ["a"]}])
    result = invoke("check", "-c", str(bad))
    assert result.exit_code == 2 and "subscribers[0].email" in result.output


def test_smtp_list_unsubscribe_without_configuration_is_mailto_sender_and_check_warns(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    with smtp_server() as server:
        cfg = setup(tmp_path, server.port, seeds)
        check = CliRunner().invoke(cli, ["check", "-c", str(cfg)])
        assert check.exit_code == 0 and "warning: no sender.unsubscribe" in check.stderr
        assert run_send(load_config(cfg), PassOptions(backoff=0.01)).exit_code == 0
        for msg in server.received:
            header = str(msg.message["List-Unsubscribe"])
            assert header.startswith("<mailto:digest@example.org?subject=unsubscribe%20")
            assert "List-Unsubscribe-Post" not in msg.message  # one-click needs an https URL
