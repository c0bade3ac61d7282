"""`newsletter send` as cron runs it (issue 26): a real process with no terminal, a real
aiosmtpd, real files. A good pass says nothing; what needs a human is said once."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.conftest import newsletter, run_cli, settled_copy
from tests.smtpd import EXAMPLE_SUBSCRIBERS, Faults, free_port, smtp_server, write_config

ISO_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (DEBUG|INFO|WARNING|ERROR) \S+: ")


def setup(tmp_path: Path, port: int, seeds: dict[str, Path], *names: str, **smtp: object) -> Path:
    cfg = write_config(tmp_path, port, EXAMPLE_SUBSCRIBERS, smtp=dict(smtp))
    for name in names:
        settled_copy(seeds[name], cfg.parent / "digests")
    return cfg


def test_send_good_pass_without_a_terminal_prints_nothing(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = setup(tmp_path, server.port, seeds, "000", "001")
        result = run_cli("send", "-c", str(cfg))
        assert result.returncode == 0
        assert result.stdout == "" and result.stderr == ""  # cron mails nobody
        assert len(server.received) == 3
        again = run_cli("send", "-c", str(cfg))  # nothing new: still nothing to say
        assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_send_verbose_one_summary_line_log_level_info_with_time_zone(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = setup(tmp_path, server.port, seeds, "001")
        verbose = run_cli("send", "-c", str(cfg), "-v")
        assert verbose.returncode == 0 and verbose.stderr == ""
        (line,) = verbose.stdout.splitlines()
        assert line.startswith("1 new digest; sent 3, failed 0, pending 0")
        settled_copy(seeds["002"], cfg.parent / "digests")
        info = run_cli("send", "-c", str(cfg), "--log-level", "info")
        assert info.returncode == 0 and info.stdout == ""
        lines = info.stderr.splitlines()
        assert lines and all(ISO_LINE.match(ln) for ln in lines), info.stderr
        assert sum("pick-up: " in ln for ln in lines) == 1  # the pick-up, once
        assert any("sending 3 deliveries" in ln for ln in lines)


def test_send_refused_recipient_said_once(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server(Faults(reject=frozenset({"bob@example.org"}))) as server:
        cfg = setup(tmp_path, server.port, seeds, "000", "001")
        result = run_cli("send", "-c", str(cfg))
        assert result.returncode == 1
        (line,) = result.stderr.splitlines()  # one line (the server's reply names the address too)
        assert line.startswith("failed: bob@example.org: 550 5.1.1")
        (summary,) = result.stdout.splitlines()  # something failed: the summary line says how much
        assert "sent 2, failed 1, pending 0" in summary
        assert len(server.received) == 2


def test_send_unreachable_server_said_once_no_log_line(tmp_path: Path, seeds: dict[str, Path]) -> None:
    port = free_port()
    cfg = setup(tmp_path, port, seeds, "000")
    result = run_cli("send", "-c", str(cfg))
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: delivery stopped: cannot connect to 127.0.0.1:{port}: connection refused")
    assert "stay pending" in line


def test_send_to_says_nothing_of_pending(tmp_path: Path, seeds: dict[str, Path]) -> None:
    port = free_port()
    cfg = setup(tmp_path, port, seeds, "000")
    result = run_cli("send", "-c", str(cfg), "--to", "me@example.net")
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: test send to me@example.net failed: cannot connect to 127.0.0.1:")
    assert "pending" not in result.stderr and "not sent" not in result.stderr


def test_send_names_files_that_are_not_digests_once(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = setup(tmp_path, server.port, seeds, "000", "001")
        digests = cfg.parent / "digests"
        (digests / "paper.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
        (digests / "download").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")  # no extension: its bytes
        (digests / "notes.rst").write_text("my reading notes\n")  # text: not named
        shutil.copy(digests / "paper.pdf", digests / ".hidden.pdf")  # hidden: never looked at
        dry = newsletter("send", "-c", str(cfg), "--dry-run")  # in this process: the cron runs below are real
        assert f"{digests / 'paper.pdf'}: not a digest (a PDF), ignored" in dry.stdout
        assert f"{digests / 'download'}: not a digest (an image), ignored" in dry.stdout
        assert "notes.rst" not in dry.stdout and ".hidden" not in dry.stdout
        first = run_cli("send", "-c", str(cfg))
        assert first.returncode == 0 and first.stdout == ""
        assert first.stderr.splitlines() == [
            f"warning: {digests / 'download'}: not a digest (an image), ignored",
            f"warning: {digests / 'paper.pdf'}: not a digest (a PDF), ignored",
        ]
        assert len(server.received) == 3
        second = run_cli("send", "-c", str(cfg))  # said once: the next cron run is quiet again
        assert (second.returncode, second.stdout, second.stderr) == (0, "", "")
        status = newsletter("status", "-c", str(cfg))  # status and --dry-run name them every time
        assert f"{digests / 'paper.pdf'}: not a digest (a PDF), ignored" in status.stdout
        assert "not a digest" in newsletter("send", "-c", str(cfg), "--dry-run").stdout


FORGED = "2026-12-04T07:00:00.000+00:00 INFO newsletter: sent 999"


def test_send_digest_file_names_with_line_breaks_never_forge_a_line(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """A file dropped in the digests folder whose name holds a line break (or an escape
    sequence) printed a line of its own choosing in `send`'s errors, its log and `status`;
    every name is now shown escaped (``\\n``), on its own line."""
    with smtp_server() as server:
        cfg = setup(tmp_path, server.port, seeds, "000")
        digests = cfg.parent / "digests"
        good = settled_copy(seeds["001"], digests, f"good\n{FORGED}.txt")
        bad = digests / f"bad\r\n{FORGED}\x1b[2J.json"
        bad.write_text('{"broken', encoding="utf-8")
        (digests / f"odd\n{FORGED}.pdf").write_bytes(b"%PDF-1.7\n")
        runs = [
            run_cli("send", "-c", str(cfg), "--log-level", "info"),
            run_cli("status", "-c", str(cfg)),
            run_cli("send", "-c", str(cfg), "--dry-run"),
        ]
    assert good.exists() and runs[0].returncode == 1, runs[0].stderr
    for run in runs:
        for line in (run.stdout + run.stderr).splitlines():
            assert not line.startswith(FORGED) and "\x1b" not in line, line
    assert "good\\n2026-12-04T07:00:00.000+00:00 INFO" in runs[0].stderr
    assert "bad\\r\\n2026" in runs[0].stderr and "bad\\r\\n2026" in runs[1].stdout


def test_send_multiline_refusal_is_said_on_one_line(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """A relay's refusal over several lines (Gmail's 550-5.1.1 ... replies) printed one
    line of stderr per reply line, the later ones looking like lines of their own."""
    reply = "550-5.1.1 The email account does not exist.\r\n550-error: forged line\r\n550 5.1.1 Please check."
    with smtp_server(Faults(rcpt_replies={"bob@example.org": reply})) as server:
        cfg = setup(tmp_path, server.port, seeds, "000", "001")
        result = run_cli("send", "-c", str(cfg))
        status = run_cli("status", "-c", str(cfg))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("failed: bob@example.org: 550 5.1.1 The email account does not exist.")
    assert "Please check." in line
    assert not any(ln.lstrip().startswith("error: forged") for ln in status.stdout.splitlines()), status.stdout


def test_send_ctrl_c_mid_pass_one_line_exit_130_nothing_lost_nothing_twice(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    """Ctrl-C while a message waits for the server's reply: that transaction finishes and
    is recorded (so nobody gets it twice), no new one starts, one line says what was done,
    exit 130; the next send serves the others."""
    import collections
    import os
    import signal
    import subprocess
    import sys
    import threading

    from tests.conftest import wait_for
    from tests.smtpd import Faults

    people = [{"email": f"reader{i}@example.org", "keywords": ["learning"]} for i in range(6)]
    gate = threading.Event()  # two messages go through, the third waits for its reply
    with smtp_server(Faults(gate=gate, gate_after=2)) as server:
        cfg = write_config(tmp_path, server.port, people, smtp={"connections": 1})
        settled_copy(seeds["001"], cfg.parent / "digests")
        log = tmp_path / "stderr.txt"
        with open(log, "w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "newsletter", "send", "-c", str(cfg), "--log-level", "info"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=os.environ,
            )
            wait_for(lambda: len(server.received) == 2 and server.handler.held == 1, 60, "a reply held")
            proc.send_signal(signal.SIGINT)
            wait_for(lambda: "SIGINT: stopping" in log.read_text() or proc.poll() is not None, 60, "the stop")
            gate.set()
            out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 130, log.read_text()
        said = [ln for ln in log.read_text().splitlines() if not ISO_LINE.match(ln)]
        assert said == [
            "interrupted: sent 3, failed 0, pending 3; everyone not reached yet is served by the next send"
        ], log.read_text()
        assert out == ""
        assert len(server.received) == 3  # the one in flight finished; no new transaction started
        again = run_cli("send", "-c", str(cfg))
        assert (again.returncode, again.stderr) == (0, "")
        got = collections.Counter(r for m in server.received for r in m.rcpt_tos)
        assert got == {p["email"]: 1 for p in people}
