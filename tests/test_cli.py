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


def test_cli_help_lists_commands_in_getting_started_order() -> None:
    result = run("--help")
    assert result.returncode == 0
    listed = [ln.split()[0] for ln in result.stdout.split("Commands:", 1)[1].splitlines() if ln.startswith("  ")]
    assert listed[:2] == ["init", "check"], result.stdout  # a getting-started order, not the alphabet
    steps = ["init", "check", "subscribers", "match", "preview", "send", "status", "run"]
    assert [name for name in listed if name in steps] == steps
    assert len(listed) == len(set(listed)) >= 16


def test_cli_loads_only_the_command_that_runs(tmp_path: Path) -> None:
    """--version imports no command and none of the core; check none of the sending,
    fetching, web or similarity layers (what a quick start pays for at every call)."""
    probe = (
        "import sys; from newsletter.cli import main; sys.argv = ['newsletter'] + sys.argv[1:]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)"
    )

    def modules(*args: str) -> set[str]:
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=tmp_path)
        return set(done.stderr.strip().splitlines()[-1].split())

    version = modules("--version")
    assert not {m for m in version if m.startswith("newsletter.") and m != "newsletter.cli"}, sorted(version)
    assert not {"pydantic", "yaml", "jinja2"} & version
    assert run("init", str(tmp_path / "p")).returncode == 0
    checked = modules("check", "-c", str(tmp_path / "p" / "config.yaml"))
    assert "newsletter.cli.check_cmd" in checked
    heavy = {"aiosmtplib", "aiosmtpd", "aiohttp", "httpx", "dkim", "sklearn", "numpy", "apscheduler.schedulers"}
    assert not heavy & checked, sorted(heavy & checked)
    assert not {m for m in checked if m.startswith(("newsletter.cli.", "newsletter.web", "newsletter.fetch"))} - {
        "newsletter.cli.check_cmd",
        "newsletter.cli.options",
    }


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


SAMPLES = Path(__file__).resolve().parent / "samples"


def test_cli_parse_table_for_every_format() -> None:
    names = ["hf-markdown.md", "api.json", "page.html", "arxiv.rss", "arxiv.atom"]
    result = run("parse", *(str(SAMPLES / n) for n in names))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TITLE", "ARXIV", "BY", "DATE", "UP", "CMT", "HAS"]
    row = next(line for line in lines if line.startswith("Sparse Mixtures for Speech"))
    assert row.split()[4:] == ["2610.05678", "2", "authors", "2026-10-03", "0", "-", "s"]
    api_rows = [line for line in lines if line.startswith("Retrieval Heads") and "Dana Li +2" in line]
    assert [r.split()[-3:] for r in api_rows] == [["9", "0", "p"], ["9", "0", "p"], ["-", "-", "p"]]
    for name, count, fmt in [
        ("hf-markdown.md", 2, "hf-text, digest of 2026-10-05"),
        ("api.json", 2, "json"),
        ("page.html", 2, "hf-html, digest of 2026-11-02"),
        ("arxiv.rss", 2, "arxiv"),
        ("arxiv.atom", 2, "arxiv"),
    ]:
        assert f"{SAMPLES / name}: {count} papers ({fmt})" in lines


def test_cli_parse_json_prints_spec_records_and_unread_formats_fail() -> None:
    result = run("parse", "--json", str(SAMPLES / "arxiv.rss"), str(SAMPLES / "not-arxiv.rss"))
    assert result.returncode == 1
    records = json.loads(result.stdout)
    assert [r["id"] for r in records] == ["2611.00002", "2611.00003"]
    assert records[0]["author_names"] == ["Dana Li", "Yann LeCunningham", "Eve Moreau"]
    assert records[0]["categories"] == ["cs.CL", "cs.LG"]
    assert (records[0]["upvotes"], records[0]["comments"], records[0]["arxiv_id"]) == (None, None, "2611.00002")
    assert (
        result.stderr.strip()
        == f"error: {SAMPLES / 'not-arxiv.rss'}: an RSS feed that is not arXiv's (no arXiv ids in it, nor DOIs: "
        "name it feed-NAME-DATE.xml or use --format feed to read it all the same)"
    )
