"""`newsletter match`: who gets which papers and why, as a user runs it."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "config.example.yaml")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "newsletter", *args], capture_output=True, text=True, timeout=60)


def test_cli_match_json_shape_and_order(seeds: dict[str, Path]) -> None:
    result = run("match", "-c", EXAMPLE, "--json", str(seeds["000"]), str(seeds["001"]))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    emails = [s["email"] for s in data["subscribers"]]
    assert emails == ["alice@example.org", "bob@example.org", "chen@example.org"]
    alice = data["subscribers"][0]["papers"]
    assert 0 < len(alice) <= 10
    scores = [p["score"] for p in alice]
    assert scores == sorted(scores, reverse=True)
    for paper in alice:
        assert set(paper) == {"id", "title", "score", "matched"}
        for hit in paper["matched"]:
            assert hit["keyword"] in ("self-supervised", "contrastive learning", "augment*")
            assert set(hit["fields"]) <= {"title", "abstract"} and hit["fields"]
        expected = sum(3 * ("title" in h["fields"]) + ("abstract" in h["fields"]) for h in paper["matched"])
        assert paper["score"] == expected


def test_cli_match_recurring_papers_count_once(seeds: dict[str, Path]) -> None:
    once = json.loads(run("match", "-c", EXAMPLE, "--json", str(seeds["000"])).stdout)
    twice = json.loads(run("match", "-c", EXAMPLE, "--json", str(seeds["000"]), str(seeds["000"])).stdout)
    assert once == twice
    ids = [p["id"] for s in twice["subscribers"] for p in s["papers"]]
    for sub in twice["subscribers"]:
        sub_ids = [p["id"] for p in sub["papers"]]
        assert len(sub_ids) == len(set(sub_ids))
    assert ids


def test_cli_match_without_files_reads_digest_directory() -> None:
    result = run("match", "-c", EXAMPLE, "--subscriber", "bob@example.org")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("187 distinct papers")
    assert "bob@example.org:" in result.stdout
    assert "alice@example.org" not in result.stdout
    assert "matched: " in result.stdout


def test_cli_match_unknown_subscriber_exit_2() -> None:
    result = run("match", "-c", EXAMPLE, "--subscriber", "nobody@example.org")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("no subscriber 'nobody@example.org' in the configuration")


def test_cli_match_stats_flags_keywords(tmp_path: Path, seeds: dict[str, Path]) -> None:
    (tmp_path / "d").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        "digests: {directory: d}\n"
        "subscribers:\n"
        "  - email: t@example.org\n"
        "    keywords: [learning, quantum chromodynamics, self-supervised]\n"
    )
    result = run("match", "-c", str(config), "--stats", "--json", str(seeds["002"]))
    assert result.returncode == 0, result.stderr
    (sub,) = json.loads(result.stdout)["subscribers"]
    stats = {k["keyword"]: k for k in sub["keywords"]}
    assert sub["papers"] == 78
    assert stats["learning"]["flag"] == "over half of all papers"
    assert stats["learning"]["hits"] > 39
    assert stats["quantum chromodynamics"] == {
        "kind": "keyword",
        "keyword": "quantum chromodynamics",
        "hits": 0,
        "flag": "no hits",
    }
    assert stats["self-supervised"]["flag"] is None and stats["self-supervised"]["hits"] > 0


def test_cli_match_bad_digest_reported_others_matched(tmp_path: Path, seeds: dict[str, Path]) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x01")
    result = run("match", "-c", EXAMPLE, "--json", str(bad), str(seeds["000"]))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {bad}:1: binary data (NUL byte), not a digest"
    assert json.loads(result.stdout)["subscribers"][0]["papers"]


def test_cli_match_json_compact_when_piped_indented_on_a_terminal(seeds: dict[str, Path]) -> None:
    piped = run("match", "-c", EXAMPLE, "--json", str(seeds["000"]))
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.count("\n") == 1  # one line for a program: the C encoder, streamed
    document = json.loads(piped.stdout)
    # on a terminal (a real pseudo-terminal): the same document, indented for a person
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "match", "-c", EXAMPLE, "--json", str(seeds["000"])],
        stdout=child,
        stderr=subprocess.DEVNULL,
    )
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert proc.wait(timeout=60) == 0
    shown = b"".join(chunks).decode("utf-8").replace("\r\n", "\n")
    assert shown == json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def test_cli_match_title_opening_a_bidi_override_closes_it_on_its_line(tmp_path: Path) -> None:
    # a hostile title's U+202E would reverse everything after it on the terminal line (the
    # next line's "matched: ..." too, in some terminals): each printed field closes it
    (tmp_path / "digests").mkdir()
    digest = tmp_path / "d.json"
    title = "Graph learning \u202eevil"
    digest.write_text(json.dumps([{"title": title, "abstract": "graph things", "id": "2611.00009"}]))
    cfg = tmp_path / "config.yaml"
    cfg.write_text('sender: {from: "D <d@example.org>"}\nsubscribers:\n  - {email: a@example.org, keywords: [graph]}\n')
    result = run("match", "-c", str(cfg), str(digest))
    assert result.returncode == 0, result.stderr
    (line,) = [x for x in result.stdout.splitlines() if "Graph learning" in x]
    assert line.endswith("\u202eevil\u202c")  # PDF: the override closed before the line ends
    assert all(x.count("\u202e") == x.count("\u202c") for x in result.stdout.splitlines())
