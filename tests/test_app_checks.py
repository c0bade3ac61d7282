"""``check``'s one core call (app/checks.py): what loading does not validate is a
ConfigError (exit 2), then the warnings a user should read."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.app.checks import check_config
from newsletter.base.errors import ConfigError
from newsletter.config import load_config
from tests.smtpd import EXAMPLE_SUBSCRIBERS, write_config


def test_checks_a_username_without_its_password_variable_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHECK_SMTP_PASSWORD", raising=False)
    cfg = write_config(
        tmp_path, 587, EXAMPLE_SUBSCRIBERS[:1], smtp={"username": "u", "password_env": "CHECK_SMTP_PASSWORD"}
    )
    with pytest.raises(ConfigError) as raised:
        check_config(load_config(cfg))
    assert raised.value.exit_code == 2
    assert any("CHECK_SMTP_PASSWORD" in str(p) for p in raised.value.problems)


def test_checks_warnings_name_what_is_missing(tmp_path: Path) -> None:
    report = check_config(load_config(write_config(tmp_path, 587, EXAMPLE_SUBSCRIBERS[:1])))
    assert report.similarity == []  # nobody likes anything
    assert any(w.startswith("no sender.unsubscribe:") for w in report.warnings)
    assert any(w.startswith("no bounces.maildir or bounces.imap") for w in report.warnings)
    empty = tmp_path / "empty"
    empty.mkdir()
    report = check_config(load_config(write_config(empty, 465, [], smtp={"security": "starttls"})))
    assert any(w.startswith("no subscribers yet") for w in report.warnings)
    assert any(w.startswith("smtp: port 465 is for implicit TLS") for w in report.warnings)


def test_checks_a_bounce_maildir_that_is_not_there_is_a_warning(tmp_path: Path) -> None:
    # the mail server may create it later: `check` says so, `bounces` would fail on it
    cfg = write_config(tmp_path, 587, EXAMPLE_SUBSCRIBERS[:1], bounces={"maildir": "bounce-box"})
    (line,) = [w for w in check_config(load_config(cfg)).warnings if "bounces.maildir" in w]
    box = tmp_path / "bounce-box"
    assert line == f"bounces.maildir {box} is not a Maildir (no new/ folder): no bounce is read until it is"
    for sub in ("new", "cur", "tmp"):
        (tmp_path / "bounce-box" / sub).mkdir(parents=True)
    assert not [w for w in check_config(load_config(cfg)).warnings if "bounces.maildir" in w]


def test_checks_a_template_that_fails_on_the_digests_is_exit_2(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """A template override that compiles but fails when rendered with the current digests
    (an undefined name, a division by zero) is a configuration error of `check`, exit 2,
    naming the template and line (it came out as a RenderError, exit 1)."""
    import shutil

    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "digest.txt.j2").write_text("Hello\n{{ 1 / 0 }}\n", encoding="utf-8")
    cfg = write_config(tmp_path, 587, EXAMPLE_SUBSCRIBERS[:1], templates="tpl")
    shutil.copy2(seeds["001"], tmp_path / "digests")
    with pytest.raises(ConfigError) as raised:
        check_config(load_config(cfg))
    assert raised.value.exit_code == 2
    assert str(raised.value) == f"{tmp_path / 'tpl' / 'digest.txt.j2'}:2: ZeroDivisionError: division by zero"


def test_checks_a_template_that_is_not_utf8_is_exit_2(tmp_path: Path) -> None:
    """A template override saved in another encoding is one line naming it (it was a
    UnicodeDecodeError traceback)."""
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "digest.txt.j2").write_bytes(b"Gr\xfc\xdfe {{ name }}\n")
    cfg = write_config(tmp_path, 587, EXAMPLE_SUBSCRIBERS[:1], templates="tpl")
    with pytest.raises(ConfigError) as raised:
        check_config(load_config(cfg))
    assert raised.value.exit_code == 2
    assert str(raised.value) == (
        f"{tmp_path / 'tpl' / 'digest.txt.j2'}: cannot read the template: not UTF-8 (byte 0xfc at offset 2)"
    )


def test_checks_every_problem_listed_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SPEC 7: `check` exits 2 "with every error listed": a missing SMTP password, a DKIM
    key that is no key and a broken template come out together, not one per run."""
    monkeypatch.delenv("CHECK_SMTP_PASSWORD", raising=False)
    monkeypatch.setenv("CHECK_DKIM_KEY", "not a PEM key")
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "digest.txt.j2").write_text("Hello\n{% for p in papers %}\n", encoding="utf-8")
    cfg = write_config(
        tmp_path,
        587,
        EXAMPLE_SUBSCRIBERS[:1],
        smtp={"username": "u", "password_env": "CHECK_SMTP_PASSWORD"},
        dkim={"domain": "example.org", "selector": "s", "key_env": "CHECK_DKIM_KEY"},
        templates="tpl",
    )
    with pytest.raises(ConfigError) as raised:
        check_config(load_config(cfg))
    assert raised.value.exit_code == 2
    lines = str(raised.value).splitlines()
    assert len(lines) == 3, lines
    assert sum("CHECK_SMTP_PASSWORD" in line for line in lines) == 1
    assert sum("does not hold a PEM RSA private key" in line for line in lines) == 1
    assert sum(f"{tmp_path / 'tpl' / 'digest.txt.j2'}:" in line for line in lines) == 1


def test_checks_the_ledger_as_send_would_meet_it(tmp_path: Path) -> None:
    """`check` opens a SQLite ledger read-only: not there yet is fine, a damaged one is the
    one line (exit 2) the morning's `send` would give, before cron runs it."""
    import subprocess
    import sys

    from newsletter.store import SCHEMA_VERSION, SqliteLedger

    cfg = write_config(tmp_path, 587, EXAMPLE_SUBSCRIBERS[:1])
    ledger = tmp_path / "ledger.sqlite3"

    def check() -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "newsletter", "check", "-c", str(cfg)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    done = check()
    assert done.returncode == 0, done.stderr
    assert f"ledger:      {ledger} (not made yet: the first send makes it)" in done.stdout
    assert not ledger.exists()  # check makes nothing
    SqliteLedger.open(ledger).close()
    assert f"({f'schema {SCHEMA_VERSION}'})" in check().stdout
    ledger.write_bytes(b"SQLite format 3\0" + b"\x17" * 200)  # a torn copy
    done = check()
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {ledger}: ") and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("zone", "warning"),
    [
        ("Etc/GMT+5", "schedule.timezone: Etc/GMT+5 is UTC-05:00, 5 hours behind UTC (the Etc names invert the sign)"),
        (
            "Etc/GMT-10",
            "schedule.timezone: Etc/GMT-10 is UTC+10:00, 10 hours ahead of UTC (the Etc names invert the sign)",
        ),
        ("localtime", "schedule.timezone: localtime is whatever zone the host is set to, not a place: name the zone"),
    ],
)
def test_checks_a_time_zone_that_is_likely_not_what_was_meant(tmp_path: Path, zone: str, warning: str) -> None:
    """Valid names that fire at other times than the user thinks: `Etc/GMT+5` is five hours
    *behind* UTC; `localtime` follows the host (two hosts on one ledger disagree)."""
    cfg = write_config(tmp_path, 587, EXAMPLE_SUBSCRIBERS[:1], schedule={"cron": "0 7 * * *", "timezone": zone})
    assert any(w.startswith(warning) for w in check_config(load_config(cfg)).warnings)
    plain = tmp_path / "plain"
    plain.mkdir()
    cfg = write_config(plain, 587, EXAMPLE_SUBSCRIBERS[:1], schedule={"cron": "0 7 * * *", "timezone": "Etc/GMT"})
    assert not any("schedule.timezone" in w for w in check_config(load_config(cfg)).warnings)
