"""`sources` and `fetch` in the configuration (SPEC 2.5/3), and the pure parts of
fetching: which URL is asked, how a file is named, how Retry-After is read."""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from newsletter.base.errors import ConfigError
from newsletter.config import ArxivSource, HuggingFaceSource, load_config
from newsletter.fetch.client import backoff_delay, retry_after
from newsletter.fetch.sources import BadAnswer, Inspection, file_name, inspect, request_url

RECORDED = Path(__file__).parent / "recorded"
BASE = """\
digests: {directory: digests}
subscribers:
  - email: alice@example.org
    keywords: [contrastive learning]
"""


def write(tmp_path: Path, extra: str) -> Path:
    (tmp_path / "digests").mkdir(exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(BASE + textwrap.dedent(extra), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.exit_code == 2
    return str(err.value).splitlines()


def test_fetch_config_defaults_from_two_lines(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """\
            sources:
              - type: huggingface
              - {type: arxiv, categories: [cs.CL, cs.LG]}
            """,
        )
    )
    hf, arxiv = config.sources
    assert isinstance(hf, HuggingFaceSource) and isinstance(arxiv, ArxivSource)
    assert request_url(hf, date(2026, 11, 17)) == "https://huggingface.co/api/daily_papers?date=2026-11-17&limit=100"
    assert request_url(arxiv, date(2026, 11, 17)) == "https://rss.arxiv.org/rss/cs.CL+cs.LG"
    assert (config.fetch.cron, config.fetch.timeout, config.fetch.retries) == ("30 6 * * *", 30.0, 3)
    assert config.fetch.max_bytes == 16 * 1024 * 1024
    assert config.digests.patterns == (
        "*.txt",
        "*.md",
        "*.json",
        "*.jsonl",
        "*.html",
        "*.xml",
        "huggingface-*.json",
        "arxiv-*.xml",
        "biorxiv-*.json",
        "medrxiv-*.json",
        "feed-*.xml",
        "openreview-*.json",
    )


def test_fetch_config_errors_name_key_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        sources:
          - type: huggingface
            url: ftp://example.org/papers
          - type: arxiv
            categories: [cs.CL, "cs CL"]
          - type: arxiv
          - type: rss
          - type: huggingface
            period: yearly
            token: abc
        fetch: {cron: "every morning", timeout: 0, retries: 99, colour: red}
        """,
    )
    assert problems(path) == [
        f"{path}:7: sources[0].url: 'ftp://example.org/papers' is not an http(s) URL",
        f"{path}:9: sources[1].categories: 'cs CL' is not an arXiv category (such as cs.CL or math.PR)",
        f"{path}:10: sources[2].categories: required key is missing",
        f"{path}:11: sources[3]: unknown source type 'rss' "
        "(expected 'huggingface', 'arxiv', 'biorxiv', 'medrxiv', 'feed', 'openreview')",
        f"{path}:13: sources[4].period: Input should be 'daily', 'weekly' or 'monthly'",
        f"{path}:14: sources[4].token: unknown key",
        f"{path}:15: fetch.cron: invalid cron expression 'every morning': it has 2 fields; expected 5 "
        '(minute hour day month weekday, e.g. "0 7 * * *") or 6 (with a leading second)',
        f"{path}:15: fetch.timeout: 0 is out of range: from 0.1 to 600 (seconds)",
        f"{path}:15: fetch.retries: 99 is out of range: from 0 to 10 (retries)",
        f"{path}:15: fetch.colour: unknown key",
    ]


def test_fetch_config_two_sources_writing_the_same_files_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        sources:
          - type: arxiv
            categories: [cs.CL]
          - type: arxiv
            categories: [cs.CL]
            url: https://mirror.example.org/rss/{categories}
        """,
    )
    assert problems(path) == [f"{path}:5: sources: two sources write the same files (arxiv-cs.CL-*); keep one"]


def test_fetch_config_pattern_list_and_empty_pattern(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.digests.pattern == ["*.txt", "*.md", "*.json", "*.jsonl", "*.html", "*.xml"]
    path = tmp_path / "config.yaml"
    path.write_text(BASE.replace("{directory: digests}", "{directory: digests, pattern: []}"), encoding="utf-8")
    assert problems(path) == [f"{path}:1: digests.pattern: needs at least one glob pattern, such as *.txt"]


def test_fetch_periods_ask_the_period_and_name_the_file_by_it() -> None:
    day = date(2026, 11, 17)
    weekly = HuggingFaceSource(type="huggingface", period="weekly")
    monthly = HuggingFaceSource(type="huggingface", period="monthly", url="https://hf.example/api/daily_papers?x=1")
    assert request_url(weekly, day) == "https://huggingface.co/api/daily_papers?week=2026-W47&limit=100"
    assert request_url(monthly, day) == "https://hf.example/api/daily_papers?x=1&month=2026-11&limit=100"
    assert file_name(weekly, day, Inspection(3)) == "huggingface-week-2026-W47.json"
    assert file_name(monthly, day, Inspection(3)) == "huggingface-month-2026-11.json"
    assert file_name(HuggingFaceSource(type="huggingface"), day, Inspection(3)) == "huggingface-2026-11-17.json"


def test_fetch_arxiv_file_is_named_by_the_listing_date() -> None:
    arxiv = ArxivSource(type="arxiv", categories=["cs.CL", "cs.LG"])
    seen = inspect(arxiv, (RECORDED / "arxiv-rss-cs.CL+cs.LG.xml").read_bytes())
    assert seen == Inspection(items=2, day=date(2026, 11, 17))
    # asked on the 18th before the next announcement: still the listing of the 17th, one file
    assert file_name(arxiv, date(2026, 11, 18), seen) == "arxiv-cs.CL+cs.LG-2026-11-17.xml"
    weekend = inspect(arxiv, (RECORDED / "arxiv-rss-weekend.xml").read_bytes())
    assert weekend.items == 0


def test_fetch_inspect_refuses_what_a_source_does_not_serve() -> None:
    hf = HuggingFaceSource(type="huggingface")
    arxiv = ArxivSource(type="arxiv", categories=["cs.CL"])
    assert inspect(hf, (RECORDED / "hf-daily-papers-2026-11-17.json").read_bytes()).items == 2
    with pytest.raises(BadAnswer, match="JSON but not an array of papers"):
        inspect(hf, b'{"error": "Invalid date"}')
    with pytest.raises(BadAnswer, match="not JSON"):
        inspect(hf, b"[" * 100_000)
    with pytest.raises(BadAnswer, match="neither RSS nor Atom"):
        inspect(arxiv, b"<html><body>hi</body></html>")
    bomb = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><rss>&lol2;</rss>'
    with pytest.raises(BadAnswer, match="refused"):
        inspect(arxiv, bomb)


def test_fetch_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)
    assert retry_after("1") == 1.0
    assert retry_after(" 120 ") == 120.0
    assert retry_after("Tue, 17 Nov 2026 06:30:45 GMT", now=now) == 45.0
    assert retry_after("Tue, 17 Nov 2026 06:00:00 GMT", now=now) == 0.0  # in the past: at once
    assert retry_after("soon") is None
    assert retry_after(None) is None


def test_fetch_backoff_doubles_within_jitter_and_is_capped() -> None:
    import random

    rng = random.Random(1)
    delays = [backoff_delay(n, 1.0, rng) for n in (1, 2, 3, 4, 10)]
    for delay, base in zip(delays, (1, 2, 4, 8, 60), strict=True):
        assert 0.8 * base <= delay <= 1.2 * base


def test_fetch_ledger_of_an_older_version_gains_the_fetch_table(tmp_path: Path) -> None:
    import sqlite3

    from newsletter.store import FetchState, SqliteLedger
    from newsletter.store.sqlite.migrate import migrations

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(migrations()[1] + migrations()[2])
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()
    old = SqliteLedger.open_readonly(path)  # `status` before any fetch: no table, no sources
    assert old is not None
    with old:
        assert old.fetch_states() == {}
    state = FetchState("huggingface", "https://h/x?date=2026-11-17", '"e1"', None, 1.0, "written", "f.json", 200, 1.0)
    with SqliteLedger.open(path) as ledger:
        ledger.record_fetch(state)
        ledger.record_fetch(FetchState("huggingface", state.url, '"e1"', None, 2.0, "unchanged", None, 304, 2.0))
    with SqliteLedger.open(path) as ledger:
        (only,) = ledger.fetch_states().values()
        assert (only.outcome, only.checked_at, only.http_status, only.etag) == ("unchanged", 2.0, 304, '"e1"')
