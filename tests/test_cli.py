"""The command line as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from newsletter import __version__


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_cli_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"newsletter {__version__}"


def test_cli_parse_json_keeps_file_and_digest_order(seeds: dict[str, Path]) -> None:
    result = run("parse", "--json", str(seeds["003"]), str(seeds["000"]))
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert len(records) == 49 + 7
    assert records[0]["title"].startswith("A Framework For Image Synthesis")
    assert records[49]["title"].startswith("Bootstrap Latent Representations")
    assert records[49]["source"] == str(seeds["000"])


def test_cli_parse_table_lists_titles(seeds: dict[str, Path]) -> None:
    result = run("parse", str(seeds["003"]))
    assert result.returncode == 0
    assert "PairUni: Pairwise Training" in result.stdout
    assert "ByteDance" in result.stdout
    assert "49 papers" in result.stdout


def test_cli_parse_bad_files_one_line_each_good_ones_still_printed(seeds: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    truncated = tmp_path / "cut.json"
    truncated.write_text('[{"title": "A", "abstract": "B"},\n{"title": ')
    result = run("parse", "--json", str(empty), str(seeds["000"]), str(binary), str(truncated))
    assert result.returncode == 1
    assert len(json.loads(result.stdout)) == 7
    errors = result.stderr.strip().splitlines()
    assert errors == [
        f"error: {empty}:1: empty file, not a digest",
        f"error: {binary}:3: binary data (NUL byte), not a digest",
        f"error: {truncated}:2: invalid JSON: Expecting value",
    ]
    assert "Traceback" not in result.stderr


def test_cli_parse_missing_file_is_one_line(tmp_path: Path) -> None:
    result = run("parse", str(tmp_path / "nope.txt"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.txt'}: No such file or directory"
