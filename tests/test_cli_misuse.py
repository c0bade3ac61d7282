"""The command line misused, as a new user and a cron job misuse it: real processes, real
files. Every way out is one line on stderr (``error: ...``) and the exit code of SPEC 7;
never a traceback."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import in_terminal, run_cli, wait_for
from tests.smtpd import EXAMPLE_SUBSCRIBERS, write_config


def one_error(stderr: str) -> str:
    (line,) = stderr.splitlines()
    assert line.startswith("error: "), stderr
    return line


def test_cli_usage_errors_are_one_line_naming_the_help(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, 1025, EXAMPLE_SUBSCRIBERS[:1])
    cases = [
        (["sned"], "No such command 'sned'; see 'newsletter --help'"),
        (["send", "-c", str(cfg), "--dry-rn"], "Did you mean '--dry-run'?; see 'newsletter send --help'"),
        (["send", "-c", str(cfg), "--dry-run", "--fetch"], "does not go with --dry-run; see 'newsletter send --help'"),
        (["subscribers", "-c", str(cfg), "add"], "Missing argument 'EMAIL'; see 'newsletter subscribers add --help'"),
        (["fetch", "-c", str(cfg), "--date", "2026-02-30"], "'2026-02-30' is not a date (YYYY-MM-DD)"),
        (["check", "-c", str(tmp_path)], f"'{tmp_path}' is a directory"),  # -c DIR instead of DIR/config.yaml
    ]
    for args, said in cases:
        done = run_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert said in one_error(done.stderr), args
        assert done.stdout == ""


def test_cli_no_arguments_shows_the_help(tmp_path: Path) -> None:
    done = run_cli(cwd=tmp_path)
    assert done.returncode == 2
    assert "Getting started:" in done.stderr and "Commands:" in done.stderr


def test_config_empty_file_is_an_error_not_all_defaults(tmp_path: Path) -> None:
    """A config.yaml cut to 0 bytes (a full disk while an editor saved it) or holding only
    comments: `send` from cron must not serve nobody in silence with exit 0."""
    (tmp_path / "digests").mkdir()
    for text in ["", "# paper-digest\n\n", "~\n"]:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(text)
        for command in ("check", "send", "status"):
            done = run_cli(command, "-c", str(cfg))
            assert done.returncode == 2, (text, command, done.stdout)
            assert one_error(done.stderr) == (
                f"error: {cfg}:1: the configuration is empty (no keys): write a starter one with `newsletter init`, "
                "or restore it"
            )


def test_cli_output_to_a_full_disk_is_one_line(tmp_path: Path, seeds: dict[str, Path]) -> None:
    cfg = write_config(tmp_path, 1025, EXAMPLE_SUBSCRIBERS)
    for args in (["match", "-c", str(cfg), str(seeds["001"])], ["parse", "--json", str(seeds["001"])]):
        with open("/dev/full", "w") as full:
            done = subprocess.run(
                [sys.executable, "-m", "newsletter", *args], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
            )
        assert done.returncode == 1, args
        assert done.stderr == "error: cannot write the output: No space left on device\n", done.stderr
    export = subprocess.run(
        [sys.executable, "-m", "newsletter", "subscribers", "-c", str(cfg), "export"],
        stdout=open("/dev/full", "w"),  # noqa: SIM115
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    assert (export.returncode, export.stderr) == (1, "error: cannot write the output: No space left on device\n")


TITLES = ["Contrastive Lérning — “quoted” 日本語 Ω", "Emoji 😀 paper on contrastive things"]


def test_cli_latin1_output_escapes_what_it_cannot_encode(tmp_path: Path) -> None:
    """A Latin-1 locale (here PYTHONIOENCODING=latin-1) and titles it cannot hold: no
    UnicodeEncodeError; the JSON stays valid JSON and means the same titles."""
    digest = tmp_path / "uni.txt"
    digest.write_text(
        "Daily Papers\n\nSep 4\n\n"
        + "".join(f"{title}\n\nWe study contrastive learning, naïvely — {i}.\n\n" for i, title in enumerate(TITLES)),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONIOENCODING": "latin-1"}
    for args in (["parse", str(digest)], ["parse", "--json", str(digest)]):
        done = subprocess.run([sys.executable, "-m", "newsletter", *args], capture_output=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr.decode("latin-1")
        assert done.stderr == b""
    records = json.loads(done.stdout.decode("latin-1"))
    assert [r["title"] for r in records] == TITLES
    assert records[0]["abstract"].endswith("naïvely — 0.")


def test_cli_ctrl_c_while_a_command_waits_is_one_line_130(tmp_path: Path) -> None:
    """`subscribers import` reading a named pipe nobody writes to yet; the user presses
    Ctrl-C: one line, exit 130 (128 + SIGINT), as a shell expects; nothing written."""
    cfg = write_config(tmp_path, 1025, EXAMPLE_SUBSCRIBERS[:1], subscribers_dir="subscribers")
    (tmp_path / "subscribers").mkdir()
    fifo = tmp_path / "team.csv"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "subscribers", "-c", str(cfg), "import", str(fifo)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    writer = wait_for(lambda: _writer_of(fifo), 60, "the command reading the pipe")  # now it waits in read()
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(writer)
    assert (proc.returncode, out, err) == (130, "", "interrupted\n")
    assert list((tmp_path / "subscribers").iterdir()) == []


def _writer_of(fifo: Path) -> int | None:
    """The pipe opened for writing once a reader has it open (None before)."""
    try:
        return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        assert exc.errno == errno.ENXIO
        return None


def test_cli_no_color_means_no_escape_codes_on_a_terminal(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(tmp_path, 1025, EXAMPLE_SUBSCRIBERS[:1])
    args = ("match", "-c", str(cfg), str(seeds["001"]))
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" in in_terminal(*args, columns=100)  # bold subscriber lines on a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    shown = in_terminal(*args, columns=100)
    assert "alice@example.org: " in shown and "\x1b[" not in shown


def test_cli_conflicting_options_one_line_exit_2(tmp_path: Path) -> None:
    """Options that do not go together are refused, never silently dropped."""
    cfg = write_config(tmp_path, 1025, EXAMPLE_SUBSCRIBERS[:1])
    cases = [
        (["preview", "-c", str(cfg), "--out", str(tmp_path / "p"), "--port", "9999"], "--port goes with --serve"),
        (["preview", "-c", str(cfg), "--out", str(tmp_path / "p"), "--serve"], "exactly one of --out DIR and --serve"),
        (["send", "-c", str(cfg), "--to", "me@example.org", "--dry-run"], "--to is a test send"),
        (["send", "-c", str(cfg), "--subscriber", "alice@example.org"], "--subscriber goes with --to"),
        (["match", "-c", str(cfg), "--keyword", "x", "--subscriber", "alice@example.org"], "leave out --subscriber"),
    ]
    for args, said in cases:
        done = run_cli(*args)
        assert done.returncode == 2, (args, done.stdout)
        assert said in one_error(done.stderr), args
    assert not (tmp_path / "p").exists()


def test_cli_reader_that_goes_away_ends_it_quietly(tmp_path: Path) -> None:
    """`newsletter parse big.txt | head -1`: no traceback, no error line; exit 141, what
    any tool killed by SIGPIPE leaves (a pipeline with pipefail tells it from a failure)."""
    big = tmp_path / "big.txt"
    big.write_text(
        "Daily Papers\n\nSep 4\n\n"
        + "".join(f"Paper number {i} on contrastive learning\n\nAn abstract about item {i}.\n\n" for i in range(3000))
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "parse", str(big)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"TITLE")
    proc.stdout.close()  # more than a pipe's 64 KiB is still to come
    assert proc.wait(timeout=120) == 141
    assert proc.stderr.read() == b""
