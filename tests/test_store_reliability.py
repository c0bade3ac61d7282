"""A damaged ledger is reported, never taken for a new one (SPEC 6, issue 11): every
state is one line naming the file and what to do, exit 2, nothing sent; a full disk
is ``ledger disk full``, exit 1, and a rerun after freeing space loses nothing.
Real ``newsletter`` processes, real SQLite files, a real aiosmtpd server and (for the
full and read-only disks) a real tmpfs."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from newsletter.base.errors import LedgerError
from newsletter.config import load_config
from newsletter.store import SCHEMA_VERSION, SqliteLedger
from tests.smtpd import smtp_server, write_config

ROOT = Path(__file__).resolve().parent.parent
READERS = [{"email": f"reader{i:03d}@example.org", "keywords": ["model*"], "max_papers": 3} for i in range(3)]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def one_error_line(run: subprocess.CompletedProcess[str]) -> str:
    """The run printed exactly one ``error:`` line and no traceback; returns it."""
    assert "Traceback" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, run.stderr
    return lines[0]


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


def _garbage(path: Path) -> None:
    path.write_bytes(b"these are not the bytes of a ledger\n" * 200)


def _truncated(path: Path) -> None:
    with SqliteLedger.open(path) as ledger:
        ledger.register_subscribers(f"u{i}@example.org" for i in range(5000))
        ledger.checkpoint()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _newer_schema(path: Path) -> None:
    SqliteLedger.open(path).close()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")


def _other_database(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (_garbage, "not a paper-digest ledger (not a SQLite database)"),
        (_truncated, "the ledger is damaged (database disk image is malformed; truncated?)"),
        (_zero_bytes, "the ledger file is empty (0 bytes)"),
        (_newer_schema, f"ledger schema {SCHEMA_VERSION + 1} is newer than this program ({SCHEMA_VERSION})"),
        (_other_database, "not a paper-digest ledger (a SQLite database of something else)"),
    ],
    ids=["garbage", "truncated", "zero-bytes", "newer-schema", "other-database"],
)
def test_ledger_damaged_state_one_line_exit_2_nothing_sent(
    tmp_path: Path, seeds: dict[str, Path], damage: object, says: str
) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, READERS)
        shutil.copy2(seeds["001"], tmp_path / "digests")
        ledger = tmp_path / "ledger.sqlite3"
        damage(ledger)  # type: ignore[operator]
        before = ledger.read_bytes()
        for command in ("send", "status", "run"):
            run = cli(command, "-c", str(cfg), timeout=60)
            assert run.returncode == 2, (command, run.stderr)
            line = one_error_line(run)
            assert line.startswith(f"error: {ledger}: ") and says in line, (command, line)
        assert server.received == []
        assert ledger.read_bytes() == before  # never re-initialised, never "repaired"


def test_ledger_path_is_a_directory_one_line_exit_2(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """`state:` naming a directory is said as such (it read "disk I/O error; check the
    disk", sending the operator after a healthy disk)."""
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, READERS)
        shutil.copy2(seeds["001"], tmp_path / "digests")
        ledger = tmp_path / "ledger.sqlite3"
        ledger.mkdir()
        for command in ("send", "status"):
            run = cli(command, "-c", str(cfg), timeout=60)
            assert run.returncode == 2, (command, run.stderr)
            line = one_error_line(run)
            assert line == f"error: {ledger}: the ledger is a directory, not a file; point state: at a file", line
        assert server.received == [] and list(ledger.iterdir()) == []


def test_ledger_link_that_leads_nowhere_is_never_made_a_new_ledger(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """`state:` a link to a ledger on a disk not mounted: a new ledger there would know of
    nothing sent and, once the disk is back, the old one of nothing sent meanwhile."""
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, READERS)
        shutil.copy2(seeds["001"], tmp_path / "digests")
        target = tmp_path / "mnt" / "ledger.sqlite3"
        (tmp_path / "mnt").mkdir()  # the mount point is there, its disk is not
        ledger = tmp_path / "ledger.sqlite3"
        ledger.symlink_to(target)
        for command in ("send", "status"):
            run = cli(command, "-c", str(cfg), timeout=60)
            assert run.returncode == 2, (command, run.stderr)
            line = one_error_line(run)
            assert line.startswith(f"error: {ledger}: the ledger is a link to {target}, which does not exist"), line
        assert server.received == [] and not target.exists()


def test_ledger_missing_file_is_created_migrated_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "new" / "ledger.sqlite3"
    with SqliteLedger.open(path) as ledger:
        assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # no temporary left; the ledger's secret made with it (newsletter.store.keyfile)
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.sqlite3", "ledger.sqlite3.secret"]
    SqliteLedger.open(path).close()  # and it opens again as a ledger


def test_ledger_locked_by_another_program_one_line_exit_2(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, READERS)
        shutil.copy2(seeds["001"], tmp_path / "digests")
        ledger = tmp_path / "ledger.sqlite3"
        SqliteLedger.open(ledger).close()
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(f"""
                    import sqlite3, sys, time
                    conn = sqlite3.connect({str(ledger)!r}, isolation_level=None)
                    conn.execute("BEGIN EXCLUSIVE")
                    print("locked", flush=True)
                    time.sleep(60)
                """),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            run = cli("send", "-c", str(cfg))  # ends while the holder still holds the lock (60 s)
            assert holder.poll() is None
        finally:
            holder.kill()
            holder.wait()
        assert run.returncode == 2
        assert "the ledger is locked by another program" in one_error_line(run)
        assert server.received == []
        assert cli("send", "-c", str(cfg)).returncode == 0  # the lock gone: it works
        assert len(server.received) == 3


def test_ledger_lock_message_never_names_a_stale_pid(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """The lock file still says ``pid 999999`` (a dead predecessor's text) while another
    process holds the lock without having written its own: no stale pid is named."""
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, READERS)
        lock = tmp_path / "ledger.sqlite3.lock"
        lock.write_text("pid 999999: send\n")
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import fcntl, os, time\nfd = os.open({str(lock)!r}, os.O_RDWR)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)\n",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            run = cli("send", "-c", str(cfg))
        finally:
            holder.kill()
            holder.wait()
    assert run.returncode == 2
    line = one_error_line(run)
    assert "another newsletter process is using this ledger (process unknown)" in line
    assert "999999" not in line


def test_ledger_read_only_directory_one_line_exit_2(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with tmpfs(tmp_path / f"ro-{uuid.uuid4().hex[:6]}", "8m") as disk, smtp_server() as server:
        cfg = write_config(tmp_path, server.port, READERS, state=str(disk / "ledger.sqlite3"))
        shutil.copy2(seeds["000"], tmp_path / "digests")
        assert cli("send", "-c", str(cfg)).returncode == 0
        first = len(server.received)
        shutil.copy2(seeds["001"], tmp_path / "digests")
        remount(disk, "ro")
        run = cli("send", "-c", str(cfg))
        assert run.returncode == 2
        line = one_error_line(run)
        assert str(disk) in line and "writable" in line, line
        assert len(server.received) == first
        remount(disk, "rw")
        assert cli("send", "-c", str(cfg)).returncode == 0
        assert len(server.received) > first


def test_ledger_disk_full_one_line_exit_1_rerun_after_freeing_loses_nothing(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    n = 300
    readers = [{"email": f"user{i:03d}@example.org", "keywords": ["model*"], "max_papers": 5} for i in range(n)]
    with tmpfs(tmp_path / f"full-{uuid.uuid4().hex[:6]}", "16m") as disk, smtp_server() as server:
        cfg = write_config(tmp_path, server.port, readers, state=str(disk / "ledger.sqlite3"))
        shutil.copy2(seeds["001"], tmp_path / "digests")
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (15 * 1024 * 1024 + 256 * 1024))  # leaves ~768 KiB: full mid-pass
        run = cli("send", "-c", str(cfg))
        assert run.returncode == 1, run.stderr
        line = one_error_line(run)
        assert line.startswith(f"error: ledger disk full: {disk / 'ledger.sqlite3'}: "), line
        assert "cannot rollback" not in run.stderr
        sent_before = len(server.received)
        assert sent_before < n  # it stopped part-way
        filler.unlink()  # free the space
        rerun = cli("send", "-c", str(cfg))
        assert rerun.returncode == 0, rerun.stderr
        got = server.by_recipient()
        assert sorted(got) == [r["email"] for r in readers]  # nothing lost
        for msgs in got.values():  # a duplicate only for what was in flight: the very same message
            assert len({m.message_id for m in msgs}) == 1
        assert sum(len(m) for m in got.values()) - n <= 8
        with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
            assert ledger.delivery_counts() == {"sent": n, "pending": 0, "failed": 0}
            wal = disk / "ledger.sqlite3-wal"
            assert not wal.exists() or wal.stat().st_size <= 1 << 20  # checkpointed: fits a small disk


def test_ledger_error_is_a_newsletter_error_with_exit_code_2(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    path.write_bytes(b"x" * 4096)
    with pytest.raises(LedgerError) as info:
        SqliteLedger.open(path)
    assert info.value.exit_code == 2 and info.value.path == str(path)


def fill(disk: Path) -> Path:
    """Fill the file system of ``disk`` to the last byte."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:  # unbuffered: nothing is left to flush at close
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


@pytest.mark.asyncio
async def test_ledger_disk_full_at_the_scheduled_fire_the_daemon_tries_the_pass_again(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    # the 07:00 pass meets a full disk: it is not left for tomorrow's fire. Once there
    # is space again, the poller's next try (30 s, then 60 s, ...) delivers it, once.
    import logging

    from newsletter.app.schedule import GLOBAL
    from tests.conftest import settled_copy
    from tests.indaemon import in_daemon
    from tests.memsender import MemoryTransport

    transport = MemoryTransport()
    with tmpfs(tmp_path / f"dfull-{uuid.uuid4().hex[:6]}", "8m") as disk:
        cfg = write_config(
            tmp_path, 1, READERS, state=str(disk / "ledger.sqlite3"), schedule={"cron": "0 7 * * *", "timezone": "UTC"}
        )
        async with in_daemon(cfg, transport=transport, level=logging.INFO) as rig:
            settled_copy(seeds["002"], tmp_path / "digests")
            await rig.poll()
            assert "pick-up: " in rig.text()
            filler = fill(disk)
            await rig.fire(GLOBAL)
            assert "pass global failed: ledger disk full" in rig.text() and "(tried again in 30 s)" in rig.text()
            rig.advance(31)
            await rig.poll()  # still full: tried, failed, the wait doubles
            assert "pass global: trying again (attempt 2)" in rig.text() and "(tried again in 60 s)" in rig.text()
            filler.unlink()
            rig.advance(30)
            await rig.poll()  # not due yet
            assert transport.outbox == []
            rig.advance(31)
            await rig.poll()
            assert sorted(m.recipient for m in transport.outbox) == sorted(r["email"] for r in READERS)
            rig.advance(3600)
            await rig.poll()  # done: never again
        log = rig.text()
    assert len(transport.outbox) == len(READERS)
    assert "attempt 3" in log and "attempt 4" not in log and "Traceback" not in log


@pytest.mark.asyncio
async def test_ledger_disk_full_in_the_daemon_one_line_once_then_recovers(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    import logging

    from tests.conftest import NEVER_SOON, settled_copy
    from tests.indaemon import in_daemon
    from tests.memsender import MemoryTransport

    transport = MemoryTransport()
    with tmpfs(tmp_path / f"dfull-{uuid.uuid4().hex[:6]}", "8m") as disk:
        cfg = write_config(
            tmp_path,
            1,
            READERS,
            state=str(disk / "ledger.sqlite3"),
            schedule={"cron": NEVER_SOON, "timezone": "UTC", "on_arrival": True},
        )
        async with in_daemon(cfg, transport=transport, level=logging.DEBUG) as rig:
            filler = fill(disk)
            settled_copy(seeds["002"], tmp_path / "digests")
            await rig.poll()
            assert "ledger disk full" in rig.text()
            for _ in range(3):  # three more polls that fail the same way (their debug lines): not logged again
                await rig.poll()
            assert rig.text().count("digest pick-up still failing") == 3
            assert rig.text().count("ledger disk full") == 1
            filler.unlink()
            await rig.poll()
            assert len(transport.outbox) == len(READERS)  # delivered once there is space
        log = rig.text()
    assert "Traceback" not in log and "digest pick-up works again" in log
