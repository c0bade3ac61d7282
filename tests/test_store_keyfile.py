"""The secret kept beside a SQLite ledger when no NEWSLETTER_UNSUBSCRIBE_SECRET is set
(:mod:`newsletter.store.keyfile`): real files, real processes, the real CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.render.links.tokens import accepted_secrets, fallback_reason, secret_for, unsubscribe_token
from newsletter.store import SqliteLedger
from newsletter.store.keyfile import LEGACY_DAYS, kept_secret, secret_path
from tests.smtpd import EXAMPLE_SUBSCRIBERS, write_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_UNSUBSCRIBE_SECRET", raising=False)


def config_at(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        2525,
        EXAMPLE_SUBSCRIBERS[:1],
        sender={"from": "Digest <digest@example.org>", "unsubscribe": {"url": "https://example.org/u/{{ token }}"}},
    )


def path_derived(cfg: Path) -> str:
    return hashlib.sha256(f"paper-digest unsubscribe:{load_config(cfg).path}".encode()).hexdigest()


def test_keyfile_new_ledger_keeps_a_private_secret_and_accepts_no_path_links(tmp_path: Path) -> None:
    cfg = config_at(tmp_path)
    config = load_config(cfg)
    SqliteLedger.open(config.ledger_path).close()
    kept = secret_path(config.ledger_path)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert "path-secret-until none" in kept.read_text()
    secret, insecure = secret_for(config)
    assert not insecure and fallback_reason(config) is None
    assert secret == kept.read_text().split()[-1] and secret != path_derived(cfg)
    SqliteLedger.open(config.ledger_path).close()
    assert secret_for(load_config(cfg)) == (secret, False)  # the same every run
    assert accepted_secrets(config) == (secret,)  # a new install: a path-derived token is a forgery


def test_keyfile_upgraded_ledger_accepts_path_links_for_a_while(tmp_path: Path) -> None:
    """A ledger from before kept secrets (its mail carries path-derived links): those stay
    valid for LEGACY_DAYS days after the secret was made, then never again."""
    cfg = config_at(tmp_path)
    config = load_config(cfg)
    SqliteLedger.open(config.ledger_path).close()
    secret_path(config.ledger_path).unlink()  # as it was before this version
    made = dt.date(2026, 12, 4)
    kept = kept_secret(config.ledger_path, today=made)
    assert kept is not None and kept.legacy_until == made + dt.timedelta(days=LEGACY_DAYS)
    old = path_derived(cfg)
    assert accepted_secrets(config, today=made + dt.timedelta(days=LEGACY_DAYS)) == (kept.value, old)
    assert accepted_secrets(config, today=made + dt.timedelta(days=LEGACY_DAYS + 1)) == (kept.value,)


def test_keyfile_processes_starting_together_share_one_secret(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    code = (
        "import sys; from pathlib import Path; from newsletter.store.keyfile import kept_secret; "
        "print(kept_secret(Path(sys.argv[1])).value)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(ledger)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        for _ in range(8)
    ]
    values = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert len(values) == 1 and len(values.pop()) == 64
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.sqlite3.secret"]  # no temporary file left


def test_keyfile_without_a_ledger_directory_falls_back_and_says_why(tmp_path: Path) -> None:
    cfg = config_at(tmp_path)
    cfg.write_text(cfg.read_text().replace("state: ledger.sqlite3", "state: nowhere/ledger.sqlite3"))
    config = load_config(cfg)
    assert secret_for(config) == (path_derived(cfg), True)
    reason = fallback_reason(config)
    assert reason is not None and "nowhere/ledger.sqlite3.secret cannot be written" in reason
    assert not (tmp_path / "nowhere").exists()  # nothing made


def test_keyfile_damaged_secret_is_one_line_exit_2(tmp_path: Path) -> None:
    cfg = config_at(tmp_path)
    config = load_config(cfg)
    SqliteLedger.open(config.ledger_path).close()
    kept = secret_path(config.ledger_path)
    kept.write_text("hunter2\n")
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", "preview", "-c", str(cfg), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {kept}: not a secret this program wrote")
    assert kept.read_text() == "hunter2\n"  # never replaced: links already sent would break


def test_keyfile_token_of_the_check_and_the_email_agree(tmp_path: Path) -> None:
    """What `send` signs with is what every later process verifies with."""
    cfg = config_at(tmp_path)
    config = load_config(cfg)
    SqliteLedger.open(config.ledger_path).close()
    token = unsubscribe_token("alice@example.org", secret_for(config)[0])
    code = (
        "import sys; from newsletter.config import load_config; "
        "from newsletter.render.links.tokens import TokenIndex, accepted_secrets; "
        "c = load_config(sys.argv[1]); print(TokenIndex(c, *accepted_secrets(c)).resolve(sys.argv[2]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(cfg), token], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.stdout.strip() == "alice@example.org", done.stderr


def test_keyfile_check_says_where_the_secret_lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config_at(tmp_path)
    config = load_config(cfg)
    SqliteLedger.open(config.ledger_path).close()
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", "check", "-c", str(cfg)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert f"  secret:      kept beside the ledger ({secret_path(config.ledger_path)}, made with the ledger)\n" in (
        done.stdout
    )
    assert "fallback secret" not in done.stderr
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", "s" * 40)
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", "check", "-c", str(cfg)], capture_output=True, text=True, cwd=ROOT
    )
    assert "  secret:      the variable NEWSLETTER_UNSUBSCRIBE_SECRET\n" in done.stdout
