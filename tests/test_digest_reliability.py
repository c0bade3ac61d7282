"""Poison digests (SPEC 6, issue 11): whatever a digest file holds, it is recorded
``failed`` once with one line naming it, and never stops the other digests, the
deliveries or later passes; no traceback anywhere. Real ``newsletter`` processes,
a real aiosmtpd server, a real SQLite ledger."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.base.errors import DigestParseError
from newsletter.digest import parse_digest
from newsletter.digest.guard import MAX_DIGEST_BYTES
from newsletter.digest.scan import read_digest
from tests.conftest import newsletter, settled_copy
from tests.indaemon import in_daemon
from tests.memsender import MemoryTransport
from tests.smtpd import smtp_server, write_config

ROOT = Path(__file__).resolve().parent.parent
ALICE = {"email": "alice@example.org", "name": "Alice", "keywords": ["model*", "learning"]}


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def old(path: Path) -> None:
    """Settled: modified long ago."""
    os.utime(path, (time.time() - 600, time.time() - 600))


def status(cfg: Path) -> dict[str, object]:
    """``status --json`` in this process (the sends under test are real processes)."""
    run = newsletter("status", "-c", str(cfg), "--json")
    assert run.exit_code == 0, run.stderr
    data: dict[str, object] = json.loads(run.stdout)
    return data


def test_poison_digest_deep_json_failed_once_good_ones_delivered(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, [ALICE])
        digests = tmp_path / "digests"
        (digests / "deep.txt").write_text("[" * 100_000 + "\n")
        old(digests / "deep.txt")
        shutil.copy2(seeds["000"], digests)
        first = cli("send", "-c", str(cfg))
        assert first.returncode == 1  # a digest failed; the good one went out
        assert "Traceback" not in first.stderr and "RecursionError" not in first.stderr
        errors = [line for line in first.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "deep.txt" in errors[0] and "nested too deeply" in errors[0], first.stderr
        assert [m.rcpt_tos for m in server.received] == [["alice@example.org"]]
        digests_status = {Path(str(d["path"])).name: d for d in status(cfg)["digests"]}  # type: ignore[attr-defined]
        assert digests_status["deep.txt"]["status"] == "failed"
        assert "nested too deeply" in digests_status["deep.txt"]["error"]

        # the next pass, with one more good digest: delivers again; the poison is not read again
        shutil.copy2(seeds["001"], digests)
        second = cli("send", "-c", str(cfg))
        assert second.returncode == 0, second.stderr
        assert "deep.txt" not in second.stderr and "Traceback" not in second.stderr
        assert len(server.received) == 2
        names = [Path(str(d["path"])).name for d in status(cfg)["digests"]]  # type: ignore[attr-defined]
        assert sorted(names) == sorted(["deep.txt", seeds["000"].name, seeds["001"].name])  # deep.txt once


def test_poison_digest_larger_than_the_limit_failed_without_being_read(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, [ALICE])
        huge = tmp_path / "digests" / "huge.txt"
        with huge.open("wb") as f:  # sparse: 1 MiB over the limit, no disk used
            f.truncate(MAX_DIGEST_BYTES + (1 << 20))
        old(huge)
        shutil.copy2(seeds["000"], tmp_path / "digests")
        run = cli("send", "-c", str(cfg))
        assert run.returncode == 1 and "Traceback" not in run.stderr
        assert "huge.txt: too large for a digest (65.0 MiB; the limit is 64 MiB)" in run.stderr
        assert len(server.received) == 1
        again = cli("send", "-c", str(cfg))  # recorded once: not reported again
        assert again.returncode == 0 and "huge.txt" not in again.stderr
    with pytest.raises(DigestParseError, match="too large"):
        read_digest(huge)


@pytest.mark.asyncio
async def test_poison_digest_daemon_logs_one_line_and_keeps_delivering(tmp_path: Path, seeds: dict[str, Path]) -> None:
    cfg = write_config(tmp_path, 1, [ALICE], schedule={"cron": "0 8 * * *", "timezone": "UTC"})
    digests = tmp_path / "digests"
    (digests / "deep.txt").write_text('{"a":' * 100_000)
    old(digests / "deep.txt")
    transport = MemoryTransport()
    async with in_daemon(cfg, transport=transport) as rig:
        await rig.poll()
        assert "digest failed" in rig.text()
        settled_copy(seeds["000"], digests)
        for _ in range(3):  # fires and the polls between: the poison digest is not logged again
            await rig.poll()
            await rig.fire("global")
    log = rig.text()
    assert "Traceback" not in log and "RecursionError" not in log
    assert [line for line in log.splitlines() if "deep.txt" in line] == [
        line for line in log.splitlines() if "digest failed" in line and "nested too deeply" in line
    ]
    assert log.count("deep.txt") == 1
    assert [m.recipient for m in transport.outbox] == ["alice@example.org"]


class _Boom(Exception):
    pass


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RecursionError("maximum recursion depth exceeded"), "nested too deeply to parse"),
        (MemoryError(), "too large to parse (out of memory)"),
        (UnicodeError("bad\nline"), "cannot parse: UnicodeError: bad line"),
        (ValueError("x"), "cannot parse: ValueError: x"),
        (_Boom(), "cannot parse: _Boom"),
    ],
)
def test_parse_digest_any_parser_exception_becomes_one_digest_parse_error(
    monkeypatch: pytest.MonkeyPatch, exc: BaseException, expected: str
) -> None:
    from newsletter.digest import jsonfmt

    def explode(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(jsonfmt, "parse", explode)
    with pytest.raises(DigestParseError) as info:
        parse_digest(b'[{"title": "t", "abstract": "a"}]', source="d/x.json")
    assert str(info.value) == f"d/x.json: {expected}"


def test_parse_digest_keyboard_interrupt_is_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    from newsletter.digest import jsonfmt

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(jsonfmt, "parse", interrupted)
    with pytest.raises(KeyboardInterrupt):
        parse_digest(b"[]", source="x.json")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.text(alphabet='[]{}":,0123456789.-eE \n\tabc\\/u', max_size=3000).map(str.encode),
        st.integers(min_value=1, max_value=50_000).map(lambda n: b"[" * n + b"{" * n),
    )
)
def test_parse_digest_fuzz_only_ever_raises_digest_parse_error(data: bytes) -> None:
    try:
        parse_digest(data, source="fuzz.txt")
    except DigestParseError as exc:
        assert str(exc).startswith("fuzz.txt") and "\n" not in str(exc)


def test_digest_endless_stream_is_one_line_never_hashed_whole() -> None:
    """`parse /dev/zero` (a device, a pipe that never ends): past the size limit it is one
    line, exit 1; it was hashed to its end, that is forever."""
    from click.testing import CliRunner

    from newsletter.cli import cli

    result = CliRunner().invoke(cli, ["parse", "/dev/zero"])
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        "error: /dev/zero: not a regular file and more than 64 MiB long: not a digest"
    ]
