"""DKIM (SPEC 5, issue 14): every message signed with dkimpy, verified with dkimpy
against the public key served by a DNS function; a re-sent pending message keeps
its stored, signed bytes. Real aiosmtpd, real ledger."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path
from typing import Any

import dkim
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from newsletter.cli import cli
from newsletter.config import load_config
from newsletter.delivery.service import PassOptions, run_send
from newsletter.store import SqliteLedger
from tests.smtpd import EXAMPLE_SUBSCRIBERS, Faults, smtp_server, write_config


@pytest.fixture(scope="module")
def keypair() -> tuple[str, bytes]:
    """(the PEM private key, the DNS TXT record with its public key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def dns_for(txt: bytes) -> Any:
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return txt if name == b"digest._domainkey.example.org." else None

    return dnsfunc


def config(tmp_path: Path, port: int, seeds: dict[str, Path], **smtp: Any) -> Path:
    cfg = write_config(
        tmp_path,
        port,
        EXAMPLE_SUBSCRIBERS,
        smtp=smtp,
        dkim={"domain": "example.org", "selector": "digest", "key_env": "TEST_DKIM_KEY"},
        sender={
            "from": "Paper Digest <digest@example.org>",
            "unsubscribe": {"mailto": "unsubscribe@example.org", "url": "https://example.org/u/{{ token }}"},
        },
    )
    for name in ("000", "001"):
        shutil.copy2(seeds[name], cfg.parent / "digests")
    return cfg


def signed_headers(data: bytes) -> list[str]:
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    sig = re.search(r"^DKIM-Signature:(.*?)(?=^\S)", head + "\r\nX: y", re.M | re.S)
    assert sig, head
    h = re.search(r"\bh=([^;]+)", re.sub(r"\s+", "", sig.group(1)))
    assert h
    return [name.lower() for name in h.group(1).split(":")]


def test_dkim_every_message_signed_and_verifies_with_h_covering_one_click(
    tmp_path: Path, seeds: dict[str, Path], keypair: tuple[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    pem, txt = keypair
    monkeypatch.setenv("TEST_DKIM_KEY", pem)
    with smtp_server() as server:
        cfg = config(tmp_path, server.port, seeds)
        summary = run_send(load_config(cfg), PassOptions(backoff=0.01))
        assert summary.exit_code == 0 and summary.sent == len(server.received) == 3
        for msg in server.received:
            assert dkim.verify(msg.data, dnsfunc=dns_for(txt)), msg.rcpt_tos
            h = signed_headers(msg.data)
            for name in ("from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post"):
                assert name in h, (name, h)
            assert msg.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            # a changed header breaks it: the signature is real
            tampered = msg.data.replace(
                b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: x"
            )
            assert not dkim.verify(tampered, dnsfunc=dns_for(txt))


def test_dkim_resent_pending_message_keeps_its_stored_signed_bytes(
    tmp_path: Path, seeds: dict[str, Path], keypair: tuple[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    pem, txt = keypair
    monkeypatch.setenv("TEST_DKIM_KEY", pem)
    with smtp_server(Faults(tempfail=1.0)) as server:
        cfg = config(tmp_path, server.port, seeds, retries=0)
        first = run_send(load_config(cfg), PassOptions(backoff=0.01))
        assert first.sent == 0 and first.pending == 3
        with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
            stored = {p.email: p.message for p in ledger.pendings(ledger.pending_ids())}
        assert all(data.startswith(b"DKIM-Signature:") for data in stored.values())
        server.handler.faults.tempfail = 0.0
        second = run_send(load_config(cfg), PassOptions(backoff=0.01))
        assert second.sent == 3 and second.resent == 3
        for msg in server.received:
            assert msg.data == stored[msg.rcpt_tos[0]]  # the very bytes recorded, signature and all
            assert dkim.verify(msg.data, dnsfunc=dns_for(txt))


def test_dkim_key_missing_or_malformed_is_a_config_error(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config(tmp_path, 1, seeds)
    monkeypatch.delenv("TEST_DKIM_KEY", raising=False)
    result = CliRunner().invoke(cli, ["check", "-c", str(cfg)])
    assert result.exit_code == 2 and "TEST_DKIM_KEY" in result.output and "Traceback" not in result.output
    monkeypatch.setenv("TEST_DKIM_KEY", "not a key")
    result = CliRunner().invoke(cli, ["send", "-c", str(cfg)])
    assert result.exit_code == 2 and "PEM RSA private key" in result.output
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        assert ledger.delivery_counts() == {"sent": 0, "pending": 0, "failed": 0}


def test_dkim_openssl_signature_identical_to_dkimpy_pure_python(keypair: tuple[str, bytes]) -> None:
    import hashlib

    import dkim.crypto

    from newsletter.render.dkim import _pure_rsa_sign, rsa_sign

    pem, _ = keypair
    private = dkim.crypto.parse_pem_private_key(pem.encode())
    for algorithm in ("sha256", "sha1"):
        digest = hashlib.new(algorithm, b"the canonicalised headers")
        assert rsa_sign(digest, private) == bytes(_pure_rsa_sign(digest, private))


def test_dkim_signed_in_render_workers_of_a_large_pass(
    tmp_path: Path, seeds: dict[str, Path], keypair: tuple[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsletter.delivery.service import POOL_MIN

    pem, txt = keypair
    monkeypatch.setenv("TEST_DKIM_KEY", pem)
    subscribers = [{"email": f"r{i}@example.org", "keywords": ["reasoning"], "max_papers": 2} for i in range(POOL_MIN)]
    with smtp_server() as server:
        cfg = write_config(
            tmp_path,
            server.port,
            subscribers,
            dkim={"domain": "example.org", "selector": "digest", "key_env": "TEST_DKIM_KEY"},
        )
        shutil.copy2(seeds["001"], cfg.parent / "digests")
        summary = run_send(load_config(cfg), PassOptions(backoff=0.01))  # >= POOL_MIN: rendered in worker processes
        assert summary.exit_code == 0 and summary.sent == POOL_MIN == len(server.received)
        assert all(dkim.verify(m.data, dnsfunc=dns_for(txt)) for m in server.received)
