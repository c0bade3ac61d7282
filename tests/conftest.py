"""Shared fixtures and helpers: paths to the sample digests and helpers to build
variants, the CLI in process (:func:`newsletter`), the daemon as a real process
(:func:`daemon`), :func:`wait_for`, the text part of an email (:func:`text_of`)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from newsletter.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def seeds() -> dict[str, Path]:
    """The four sample digests by their number prefix: seeds['002'] -> Path."""
    return {p.name[:3]: p for p in sorted(SEEDS.glob("*.txt"))}


SETTLED_AGE = 3600.0  # seconds: older than any settle_seconds a test configures


def settled_copy(src: Path, directory: Path, name: str | None = None) -> Path:
    """Copy a digest into ``directory`` with an mtime an hour before the source's.

    A fresh clone's files are seconds old, so a copy that kept the checkout mtime would
    still be "being written" under ``settle_seconds``; the test must not depend on how
    old the clone is. An hour back keeps the year that yearless dates resolve against.
    """
    dest = directory / (name or src.name)
    shutil.copyfile(src, dest)
    stamp = min(src.stat().st_mtime, time.time()) - SETTLED_AGE
    os.utime(dest, (stamp, stamp))
    return dest


def settled_text(path: Path, text: str) -> Path:
    """``text`` written to ``path`` with an mtime an hour back (a digest past any
    ``settle_seconds``, as :func:`settled_copy`)."""
    path.write_text(text, encoding="utf-8")
    stamp = time.time() - SETTLED_AGE
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """Every test leaves the logging of this process as it found it: the CLI run in
    process (click's runner) configures the root logger, tests attach handlers and set
    levels on ``newsletter``; a level left behind let a later test's `send` print INFO
    lines on its stderr (once in 1,425 tests, depending on which tests shared a worker)."""
    root, ours = logging.getLogger(), logging.getLogger("newsletter")
    levels, handlers = (root.level, ours.level), list(ours.handlers)
    yield
    ours.handlers[:] = handlers  # (the root's handlers are pytest's to manage)
    ours.setLevel(levels[1])
    root.setLevel(levels[0])  # setLevel also clears every logger's cached level


def newsletter(*args: str) -> Any:
    """The CLI in this process (click's runner); exceptions are not swallowed."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def text_of(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return " ".join(payload.decode("utf-8").replace("*", "").split())
    raise AssertionError("no text part")


# --------------------------------------------------------------------------- the daemon

EVERY_2S = "*/2 * * * * *"
NEVER_SOON = "0 0 1 1 *"  # once a year: a "weekly" subscriber whose day is not today


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class DaemonProcess:
    def __init__(self, config: Path, *args: str) -> None:
        self.log = config.parent / f"daemon-{time.monotonic_ns()}.log"
        self._log = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "run", "-c", str(config), *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def passes(self, reason: str = "") -> int:
        """How many passes the daemon has finished (its "pass REASON: subscribers=..." lines)."""
        found = re.findall(r"\bpass (.+?): subscribers=\d", self.text())
        return sum(1 for key in found if not reason or key == reason)

    def wait_passes(self, count: int, timeout: float = 30, reason: str = "") -> None:
        """Wait until ``count`` passes have finished: the positive event a test waits for
        before it asserts that nothing more was sent (never a bare sleep)."""
        wait_for(lambda: self.passes(reason) >= count, timeout, f"{count} finished passes {reason}".strip())

    def wait_started(self) -> None:
        wait_for(lambda: "daemon started" in self.text() or self.proc.poll() is not None, 30, "start")
        assert self.proc.poll() is None, self.text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._log.close()
        return code


@contextmanager
def daemon(config: Path, *args: str) -> Iterator[DaemonProcess]:
    proc = DaemonProcess(config, *args)
    try:
        proc.wait_started()
        yield proc
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait()


def chrome_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, width: int = 420, height: int = 800, extra: Sequence[str] = ()
) -> Any:
    """A Selenium driver on Debian's headless chromium and chromedriver (never a download).

    The flags keep chromium off the network (this machine has none but loopback) and give
    it a fresh profile; ``SE_OFFLINE`` stops Selenium Manager from fetching anything.
    ``extra``: more chromium flags (e.g. ``--force-dark-mode``).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert shutil.which("chromedriver"), "install Debian's chromium-driver (make system-deps does)"
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={width},{height}",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *extra,
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


# --------------------------------------------------------------------------- the CLI as a process


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m newsletter ARGS`` as cron runs it: stdin, stdout and stderr not a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def in_terminal(*args: str, columns: int, cwd: Path | None = None) -> str:
    """``python -m newsletter ARGS`` on a pseudo-terminal ``columns`` wide (stdout and
    stderr both); what it wrote, with the terminal's CRLF turned back into LF."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", *args],
        cwd=cwd,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "COLUMNS": str(columns)},
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.wait(timeout=120)
    return b"".join(chunks).decode("utf-8", errors="replace").replace("\r\n", "\n")


# --------------------------------------------------------------------------- PostgreSQL (issue 23)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """One throwaway PostgreSQL for the session (tests/pgserver.py), with a template
    database holding the migrated ledger; stopped and removed at the end."""
    from tests.pgserver import PgServer

    server = PgServer().start()
    try:
        server.make_template()
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: Any) -> Iterator[str]:
    """A fresh database of its own for one test (a copy of the migrated template), as
    the URL ``state:`` takes; dropped afterwards."""
    from tests.pgserver import TEMPLATE

    name = pg_server.create_database(template=TEMPLATE)
    yield pg_server.url(name)
    pg_server.drop_database(name)
