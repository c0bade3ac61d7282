"""TLS and AUTH against aiosmtpd with a self-signed certificate made in the test:
refused without trusting it, delivered with smtp.ca_file; STARTTLS never optional;
the AUTH password comes from the environment."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from newsletter.config import load_config
from newsletter.delivery.service import PassOptions, run_send
from newsletter.store import SqliteLedger
from tests.smtpd import EXAMPLE_SUBSCRIBERS, Authenticator, self_signed, server_tls, smtp_server, write_config

PASSWORD = "s3cret-from-env"


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "pki").mkdir()
    return self_signed(tmp_path / "pki")


def setup(tmp_path: Path, port: int, seeds: dict[str, Path], **smtp: Any) -> Path:
    cfg = write_config(
        tmp_path,
        port,
        EXAMPLE_SUBSCRIBERS,
        smtp={"retries": 1, "connections": 2, "password_env": "TEST_SMTP_PASSWORD", **smtp},
    )
    shutil.copy2(seeds["000"], cfg.parent / "digests")
    return cfg


def counts(cfg: Path) -> dict[str, int]:
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        return ledger.delivery_counts()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_untrusted_certificate_refused_then_trusted_with_ca_file(
    tmp_path: Path, seeds: dict[str, Path], cert: tuple[Path, Path], mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    auth = Authenticator("digest", PASSWORD)
    ctx = server_tls(*cert)
    # aiosmtpd does not see implicit TLS as TLS, so it would not offer AUTH with auth_require_tls
    kwargs: dict[str, Any] = (
        {"tls_context": ctx, "require_starttls": True, "auth_require_tls": True}
        if mode == "starttls"
        else {"ssl_context": ctx, "auth_require_tls": False}
    )
    with smtp_server(authenticator=auth, auth_required=True, **kwargs) as server:
        cfg = setup(tmp_path, server.port, seeds, security=mode, username="digest")
        summary = run_send(load_config(cfg), PassOptions(backoff=0.01))
        assert summary.sent == 0 and summary.exit_code == 1
        assert summary.stopped and "certificate verify failed" in summary.stopped.lower()
        assert server.received == [] and auth.logins == []
        assert counts(cfg)["pending"] >= 1  # recorded, waits for the next run

        cfg = setup(tmp_path, server.port, seeds, security=mode, username="digest", ca_file=str(cert[0]))
        summary = run_send(load_config(cfg), PassOptions(backoff=0.01))
        assert summary.exit_code == 0, summary
        assert summary.sent == len(server.received) >= 1
        assert all(len(msgs) == 1 for msgs in server.by_recipient().values())
        assert counts(cfg) == {"sent": len(server.received), "pending": 0, "failed": 0}
        assert auth.logins and set(auth.logins) == {"digest"}


def test_starttls_not_offered_is_refused_and_never_auths_in_clear(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    auth = Authenticator("digest", PASSWORD)
    # a server (or a man in the middle) that strips STARTTLS but would take AUTH in clear
    with smtp_server(authenticator=auth, auth_require_tls=False) as server:
        cfg = setup(tmp_path, server.port, seeds, security="starttls", username="digest")
        summary = run_send(load_config(cfg), PassOptions(backoff=0.01))
        assert summary.stopped and "STARTTLS" in summary.stopped
        assert summary.sent == 0 and summary.exit_code == 1
        assert auth.logins == [] and server.received == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_with_password_from_environment(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = Authenticator("digest", PASSWORD)
    with smtp_server(authenticator=auth, auth_required=True, auth_require_tls=False) as server:
        cfg = setup(tmp_path, server.port, seeds, security="none", username="digest")
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
        summary = run_send(load_config(cfg), PassOptions(backoff=0.01))
        assert summary.stopped and "535" in summary.stopped and server.received == []
        monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
        summary = run_send(load_config(cfg), PassOptions(backoff=0.01))
        assert summary.exit_code == 0 and len(server.received) >= 1
        assert auth.logins and set(auth.logins) == {"digest"}
