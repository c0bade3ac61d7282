"""Every example of every command's ``--help``, run as written: in a directory made by
``newsletter init DIR --example`` (what a new user has in their first hour), with
``newsletter`` on the PATH and a real SMTP server where the configuration's relay is.
Each command's examples run in order in a fresh copy, so that they hold on their own.
The few that cannot run here are named with the reason."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.cli import cli
from tests.conftest import newsletter
from tests.smtpd import smtp_server

SAMPLES = Path(__file__).resolve().parent / "samples"

# an example line that holds one of these cannot run in a test, and why
CANNOT_RUN = {
    "newsletter fetch": "fetches from the internet",
    "--fetch": "fetches from the internet",
    "--serve": "serves until stopped",
    "newsletter sink": "serves until stopped",
    "newsletter run": "the daemon: runs until stopped",
    "newsletter serve": "serves until stopped",
    "newsletter ledger copy": "needs a PostgreSQL server",
}
# documented exit codes other than 0 of an example as written
EXIT = {"newsletter bounces -c config.yaml": 2}  # no bounce mailbox configured: exit 2, one line saying so
# files an example names that `init --example` does not write: samples of the same format
FETCHED = {
    "digests/huggingface-2026-11-17.json": "api.json",
    "digests/saved-page.html": "page.html",
    "digests/arxiv-cs.CL+cs.LG-2026-11-17.xml": "arxiv.rss",
}


def command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand, in the order `--help` lists them."""
    ctx = cli.make_context("newsletter", ["--help"], resilient_parsing=True)
    paths: list[tuple[str, ...]] = [()]
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None
        paths.append((name,))
        if hasattr(command, "list_commands"):
            paths.extend((name, sub) for sub in command.list_commands(ctx))
    return paths


def examples(path: tuple[str, ...]) -> list[str]:
    """The example lines of one command's --help (continuation lines joined)."""
    text = newsletter(*path, "--help").output
    block = re.search(r"\n  (?:Example|Getting started):\n((?:    .*\n)+)", text)
    assert block, f"newsletter {' '.join(path)} --help has no example"
    lines: list[str] = []
    for raw in block.group(1).splitlines():
        line = raw.strip()
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1].rstrip() + " " + line
        else:
            lines.append(line)
    return [ln for ln in lines if not ln.startswith("#")]


def test_cli_examples_every_command_has_one() -> None:
    paths = command_paths()
    assert len(paths) > 20
    for path in paths:
        assert examples(path), path


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("examples")
    shim = root / "bin" / "newsletter"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m newsletter "$@"\n')
    shim.chmod(0o755)
    return root


def run_line(line: str, cwd: Path, root: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One example line in bash; and the directory it leaves the shell in (a `cd` in one
    line holds for the next ones, as in a terminal)."""
    env = {**os.environ, "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    where = root / "pwd"
    script = f"{line}\nrc=$?; pwd > {shlex.quote(str(where))}; exit $rc"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, Path(where.read_text().strip())


def test_cli_examples_of_every_help_run_as_written(prepared: Path) -> None:
    template = prepared / "template"
    made = newsletter("init", str(template), "--example")
    assert made.exit_code == 0, made.output
    for name, sample in FETCHED.items():
        shutil.copy(SAMPLES / sample, template / name)
    has_jq = shutil.which("jq") is not None
    ran, skipped = 0, []
    with smtp_server() as server:
        config = template / "config.yaml"
        config.write_text(config.read_text().replace("port: 1025", f"port: {server.port}"))
        for path in command_paths():
            lines = examples(path)
            workdir = prepared / ("-".join(path) or "top")
            if path in [(), ("init",)]:  # they start from an empty directory
                workdir.mkdir()
            else:
                shutil.copytree(template, workdir)
            for line in lines:
                why = next((why for key, why in CANNOT_RUN.items() if key in line), None)
                if why is None and "| jq" in line and not has_jq:
                    why = "jq is not installed"
                if why is not None:
                    skipped.append((line, why))
                    continue
                done, workdir = run_line(line, workdir, prepared)
                expected = EXIT.get(line.split("#")[0].strip(), 0)
                assert done.returncode == expected, f"{line}\n{done.stdout}\n{done.stderr}"
                assert "Traceback" not in done.stderr, f"{line}\n{done.stderr}"
                ran += 1
    assert ran >= 40, ran
    assert len(skipped) <= 10, skipped
    assert server.received  # the send examples reached the relay
