"""The parsed library kept on disk between runs (SPEC 4 "A library as likes"): a cron
``send``/``match``/``check`` is a new process each time; an unchanged library is read from
its cache file, a changed one parsed again. Real files in tmp dirs, the CLI as a process
(as cron runs it), so no memory of an earlier run helps."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from newsletter.matching import library as library_module
from newsletter.matching.library import MAX_WARNINGS, read_library
from newsletter.matching.librarycache import cache_dir_of, cache_file
from tests.conftest import run_cli
from tests.smtpd import write_config

ENTRY = "@article{{k{i}, title={{Protein Folding Landscapes {i:04d}}}, year={{20{y:02d}}}, abstract={{Energy.}}}}\n"


def _library(tmp_path: Path, good: int = 30, broken: int = 0) -> Path:
    path = tmp_path / "zotero.bib"
    text = "".join(ENTRY.format(i=i, y=i % 20) for i in range(good))
    text += "@article{b, author={Nobody}}\n" * broken
    path.write_text(text, encoding="utf-8")
    return path


def _config(tmp_path: Path) -> Path:
    subscriber = {"email": "ana@example.org", "library": "zotero.bib", "keywords": ["x"], "similarity": "lexical"}
    return write_config(tmp_path, 2525, [subscriber])


def _cache(cfg: Path, lib: Path) -> Path:
    from newsletter.config import load_config

    return cache_file(cache_dir_of(load_config(cfg)), lib)


def _check(cfg: Path) -> tuple[str, list[str]]:
    """``check`` in a new process: its library line and its warnings."""
    done = run_cli("check", "-c", str(cfg))
    assert done.returncode == 0, done.stdout + done.stderr
    [line] = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("library:")]
    return line, [line for line in done.stderr.splitlines() if "warning" in line]


def _plant_marker(cache: Path) -> None:
    """An entry and a warning only the cache holds: seen in ``check`` iff the cache was read."""
    record = json.loads(cache.read_text(encoding="utf-8"))
    record["payload"]["papers"].append(["Marker From The Cache", "", "marker", None, 2024])
    record["payload"]["warnings"].append("marker warning from the cache")
    cache.write_text(json.dumps(record), encoding="utf-8")


def test_librarycache_second_run_reads_the_cache_and_a_touched_library_is_parsed_again(tmp_path: Path) -> None:
    lib = _library(tmp_path)
    cfg = _config(tmp_path)
    cold = _check(cfg)
    assert cold[0].endswith(": 30 entries, 0 without abstract (matched on their title), 0 broken")
    cache = _cache(cfg, lib)
    assert cache.parent == tmp_path / "ledger.sqlite3.cache"  # beside the SQLite ledger
    assert cache.is_file()
    _plant_marker(cache)
    line, warnings = _check(cfg)
    assert line.endswith(": 31 entries, 1 without abstract (matched on their title), 1 broken")  # read, not parsed
    assert any("marker warning from the cache" in w for w in warnings)
    st = lib.stat()
    os.utime(lib, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched: same bytes, new mtime
    assert _check(cfg) == cold
    assert "Marker" not in cache.read_text(encoding="utf-8")  # written anew


def test_librarycache_library_edited_to_the_same_size_is_parsed_again(tmp_path: Path) -> None:
    lib = _library(tmp_path)
    cfg = _config(tmp_path)
    _check(cfg)
    st = lib.stat()
    text = lib.read_text(encoding="utf-8").replace("title=", "titlx=", 1)  # one entry loses its title
    lib.write_text(text, encoding="utf-8")
    os.utime(lib, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert lib.stat().st_size == st.st_size
    line, warnings = _check(cfg)
    assert line.endswith(": 29 entries, 0 without abstract (matched on their title), 1 broken")
    assert [w for w in warnings if str(lib) in w] == [f"warning: {lib}:1: broken entry skipped: no title"]


def test_librarycache_warnings_are_the_same_cold_and_warm(tmp_path: Path) -> None:
    lib = _library(tmp_path, broken=MAX_WARNINGS + 5)
    cfg = _config(tmp_path)
    cold = _check(cfg)
    assert len([w for w in cold[1] if str(lib) in w]) == MAX_WARNINGS + 1  # 20 named, the rest counted
    assert _cache(cfg, lib).is_file()
    assert _check(cfg) == cold
    match = run_cli("match", "-c", str(cfg))  # the pass's reading: the same lines from the cache
    assert match.returncode == 0, match.stderr
    assert len([line for line in match.stderr.splitlines() if str(lib) in line]) == MAX_WARNINGS + 1


def test_librarycache_corrupt_or_foreign_cache_is_ignored_and_written_anew(tmp_path: Path) -> None:
    lib = _library(tmp_path)
    cfg = _config(tmp_path)
    cold = _check(cfg)
    cache = _cache(cfg, lib)
    good = cache.read_bytes()
    other = json.loads(good)
    other["path"] = str(tmp_path / "other.bib")
    odd_rows = json.loads(good)
    odd_rows["payload"]["papers"][0] = ["title only"]
    for bad in (
        good[: len(good) // 2],  # truncated
        b"\xff\xfe not json",
        b"[1, 2, 3]",
        json.dumps(other).encode(),  # another library's record
        json.dumps({**json.loads(good), "version": -1}).encode(),  # an older parser's
        json.dumps(odd_rows).encode(),
    ):
        cache.write_bytes(bad)
        assert _check(cfg) == cold, bad[:40]
        assert json.loads(cache.read_bytes())["payload"] == json.loads(good)["payload"]
    cache.unlink()
    cache.symlink_to(lib)  # never followed
    assert _check(cfg) == cold


def test_librarycache_unwritable_directory_is_one_warning_and_the_run_goes_on(tmp_path: Path) -> None:
    _library(tmp_path, broken=1)
    (tmp_path / "second.bib").write_text(ENTRY.format(i=1, y=1), encoding="utf-8")
    subscribers = [
        {"email": "ana@example.org", "library": "zotero.bib", "keywords": ["x"], "similarity": "lexical"},
        {"email": "bo@example.org", "library": "second.bib", "keywords": ["x"], "similarity": "lexical"},
    ]
    cfg = write_config(tmp_path, 2525, subscribers)
    (tmp_path / "ledger.sqlite3.cache").write_text("a file where the directory would be", encoding="utf-8")
    for _ in range(2):
        done = run_cli("match", "-c", str(cfg))
        assert done.returncode == 0, done.stderr
        notes = [line for line in done.stderr.splitlines() if "library cache" in line]
        assert len(notes) == 1, done.stderr  # two libraries, one line
        assert "ledger.sqlite3.cache cannot be written" in notes[0]
        assert sum("broken entry skipped: no title" in line for line in done.stderr.splitlines()) == 1


def test_librarycache_postgresql_ledger_keeps_it_in_the_xdg_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsletter.config import load_config

    _library(tmp_path)
    cfg = write_config(tmp_path, 2525, [{"email": "ana@example.org", "library": "zotero.bib", "keywords": ["x"]}])
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace("state: ledger.sqlite3", "state: postgresql://digest@db1:5432/digest"),
        encoding="utf-8",
    )
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir_of(load_config(cfg)) == tmp_path / "xdg" / "paper-digest"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # to be ignored (the XDG spec): ~/.cache
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir_of(load_config(cfg)) == tmp_path / "home" / ".cache" / "paper-digest"


def test_librarycache_read_library_from_the_cache_equals_the_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every field the matching uses comes back the same: titles, abstracts, ids, arXiv ids,
    years, weights (a library of more than 20 entries: recent ones weigh more)."""
    path = tmp_path / "refs.bib"
    path.write_text(
        "".join(ENTRY.format(i=i, y=i % 20) for i in range(25))
        + "@article{x, title={{\\\"U}ber Caf\\'e}, eprint={2509.01234}, archiveprefix={arXiv}}\n",
        encoding="utf-8",
    )
    cache = tmp_path / "cache"
    parsed = read_library(path, cache)
    monkeypatch.setattr(library_module, "_CACHE", {})  # as a new process
    monkeypatch.setattr(library_module, "parse_library", None)  # the parser is not invoked
    assert read_library(path, cache) == parsed
    assert parsed.papers[-1].arxiv_id == "2509.01234"
    assert parsed.papers[-1].title == "Über Café"


# --------------------------------------------------------------------------- semantic: the entries' vectors

PROTEIN_BIB = "".join(
    f"@article{{p{i}, title={{{title}}}, year={{2024}}, abstract={{{abstract}}}}}\n"
    for i, (title, abstract) in enumerate(
        [
            ("Folding Proteins from Sequence Alone", "We predict protein structure from one sequence."),
            ("Contact Maps for Protein Structure", "Residue contacts guide folding models."),
            ("Backbone Diffusion for Protein Design", "A diffusion model generates protein backbones."),
            ("Speech Recognition under Noise", "Robust acoustic models for noisy audio."),
            ("Language Models of Protein Families", "Protein language models learn structure."),
        ]
    )
)


def _semantic_site(tmp_path: Path, port: int = 2525) -> tuple[Path, Path]:
    from tests.conftest import settled_copy

    lib = tmp_path / "zotero.bib"
    lib.write_text(PROTEIN_BIB, encoding="utf-8")
    cfg = write_config(tmp_path, port, [{"email": "ana@example.org", "library": "zotero.bib"}])
    settled_copy(Path(__file__).parent / "samples" / "likes.txt", tmp_path / "digests")
    return cfg, lib


def _embedding_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "embedding" in line and "zotero.bib" in line]


def test_librarycache_semantic_library_embedded_once_across_match_runs(tmp_path: Path) -> None:
    """``match`` never writes the ledger: the library's entries were embedded again at
    every run (a 100,000-entry library: hours each time). Now once, kept beside the parse."""
    cfg, lib = _semantic_site(tmp_path)
    first = run_cli("--debug", "match", "-c", str(cfg), "--json")
    assert first.returncode == 0, first.stderr
    assert len(_embedding_lines(first.stderr)) == 1 and "embedding 5 entries" in first.stderr
    vectors = _cache(cfg, lib).with_suffix(".vectors")
    assert vectors.is_file()
    second = run_cli("--debug", "match", "-c", str(cfg), "--json")
    assert second.returncode == 0, second.stderr
    assert _embedding_lines(second.stderr) == []  # read from the file, not embedded
    assert second.stdout == first.stdout  # the same matches, the same "like ..." reasons
    vectors.write_bytes(vectors.read_bytes()[:-100])  # truncated: embedded again, never an error
    third = run_cli("--debug", "match", "-c", str(cfg), "--json")
    assert third.returncode == 0, third.stderr
    assert len(_embedding_lines(third.stderr)) == 1
    assert third.stdout == first.stdout


def test_librarycache_send_after_match_stores_the_library_vectors_without_embedding(tmp_path: Path) -> None:
    """The entries ``match`` embedded are not embedded again by the first ``send``: its
    pick-up stores them in the ledger from the library's vector file."""
    import sqlite3

    from tests.smtpd import smtp_server

    with smtp_server() as smtp:
        cfg, _ = _semantic_site(tmp_path, smtp.port)
        assert run_cli("match", "-c", str(cfg)).returncode == 0
        sent = run_cli("--debug", "send", "-c", str(cfg))
        assert sent.returncode == 0, sent.stderr
        assert smtp.by_recipient()["ana@example.org"]
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as conn:
        papers = conn.execute("SELECT count(DISTINCT paper_id) FROM digest_papers").fetchone()[0]
        stored = conn.execute("SELECT count(*) FROM paper_vectors").fetchone()[0]
    assert stored == papers + 5  # the digest's papers and the library's entries
    assert f"embedded {papers} paper(s)" in sent.stderr  # the digest's only
