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


def _cache(tmp_path: Path, lib: Path) -> Path:
    from newsletter.config import load_config

    return cache_file(cache_dir_of(load_config(_config(tmp_path))), lib)


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
    cache = _cache(tmp_path, lib)
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
    assert _cache(tmp_path, lib).is_file()
    assert _check(cfg) == cold
    match = run_cli("match", "-c", str(cfg))  # the pass's reading: the same lines from the cache
    assert match.returncode == 0, match.stderr
    assert len([line for line in match.stderr.splitlines() if str(lib) in line]) == MAX_WARNINGS + 1


def test_librarycache_corrupt_or_foreign_cache_is_ignored_and_written_anew(tmp_path: Path) -> None:
    lib = _library(tmp_path)
    cfg = _config(tmp_path)
    cold = _check(cfg)
    cache = _cache(tmp_path, lib)
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


def test_librarycache_postgresql_ledger_keeps_it_in_the_xdg_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from newsletter.config import load_config

    _library(tmp_path)
    cfg = write_config(
        tmp_path, 2525, [{"email": "ana@example.org", "library": "zotero.bib", "keywords": ["x"]}]
    )
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace("state: ledger.sqlite3", "state: postgresql://digest@db1:5432/digest"),
        encoding="utf-8",
    )
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir_of(load_config(cfg)) == tmp_path / "xdg" / "paper-digest"


def test_librarycache_read_library_from_the_cache_equals_the_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
