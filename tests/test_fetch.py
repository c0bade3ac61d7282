"""`newsletter fetch`: a real process against recorded answers served on 127.0.0.1.

The answers are small recordings of the real shapes (tests/recorded/): the Hugging
Face daily papers API and arXiv's RSS listing of cs.CL+cs.LG. Nothing here reaches
the internet.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newsletter import __version__
from tests.conftest import newsletter

RECORDED = Path(__file__).parent / "recorded"
HF_BODY = (RECORDED / "hf-daily-papers-2026-11-17.json").read_bytes()
RSS_BODY = (RECORDED / "arxiv-rss-cs.CL+cs.LG.xml").read_bytes()
RSS_WEEKEND = (RECORDED / "arxiv-rss-weekend.xml").read_bytes()
HF_FILE = "huggingface-2026-11-17.json"
ARXIV_FILE = "arxiv-cs.CL+cs.LG-2026-11-17.xml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "newsletter", *args], capture_output=True, text=True, timeout=90)


def write_config(
    directory: Path, server: HTTPServer, *, hf_path: str = "/api/daily_papers", fetch: dict[str, Any] | None = None
) -> Path:
    return sources_config(
        directory, server.url_for(hf_path), server.url_for("/rss/{categories}"), {"retries": 0, **(fetch or {})}
    )


def sources_config(directory: Path, hf_url: str, rss_url: str, fetch: dict[str, Any]) -> Path:
    """A config.yaml in ``directory``: one subscriber, the Hugging Face source at
    ``hf_url`` and the arXiv one at ``rss_url``, ``fetch`` settings (timeout 10 s)."""
    (directory / "digests").mkdir(exist_ok=True)
    data = {
        "digests": {"directory": "digests"},
        "state": "ledger.sqlite3",
        "subscribers": [{"email": "alice@example.org", "keywords": ["contrastive learning"]}],
        "sources": [
            {"type": "huggingface", "url": hf_url},
            {"type": "arxiv", "categories": ["cs.CL", "cs.LG"], "url": rss_url},
        ],
        "fetch": {"timeout": 10, **fetch},
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in (directory / "digests").iterdir())


def serve(server: HTTPServer, hf: Callable[[Request], Response], rss: Callable[[Request], Response]) -> None:
    server.expect_request("/api/daily_papers").respond_with_handler(hf)
    server.expect_request("/rss/cs.CL+cs.LG").respond_with_handler(rss)


def conditional(body: bytes, content_type: str, **validators: str) -> Callable[[Request], Response]:
    """Answers 304 when the request carries the validators it handed out, else 200."""

    def handler(request: Request) -> Response:
        etag = validators.get("etag")
        modified = validators.get("last_modified")
        if (etag and request.headers.get("If-None-Match") == etag) or (
            modified and request.headers.get("If-Modified-Since") == modified
        ):
            return Response(status=304)
        headers = {}
        if etag:
            headers["ETag"] = etag
        if modified:
            headers["Last-Modified"] = modified
        return Response(body, status=200, content_type=content_type, headers=headers)

    return handler


def plain(body: bytes, content_type: str, status: int = 200) -> Callable[[Request], Response]:
    return lambda request: Response(body, status=status, content_type=content_type)


def requests_to(server: HTTPServer, path: str) -> list[Request]:
    return [req for req, _ in server.log if req.path == path]


def test_fetch_date_asks_the_right_urls_and_writes_one_file_per_source(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    serve(httpserver_ipv4, plain(HF_BODY, "application/json"), plain(RSS_BODY, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4)

    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert result.returncode == 0, result.stderr
    (hf,) = requests_to(httpserver_ipv4, "/api/daily_papers")
    assert hf.args.to_dict() == {"date": "2026-11-17", "limit": "100"}  # the API's largest page
    (rss,) = requests_to(httpserver_ipv4, "/rss/cs.CL+cs.LG")
    assert rss.query_string == b""
    for req in (hf, rss):
        assert req.headers["User-Agent"] == f"paper-digest/{__version__} (newsletter fetch)"
    assert files(tmp_path) == [ARXIV_FILE, HF_FILE]  # nothing else: no temporary file left behind
    assert (tmp_path / "digests" / HF_FILE).read_bytes() == HF_BODY
    assert (tmp_path / "digests" / ARXIV_FILE).read_bytes() == RSS_BODY
    assert f"huggingface: wrote {tmp_path / 'digests' / HF_FILE} (2 papers" in result.stdout
    assert "arxiv-cs.CL+cs.LG: wrote" in result.stdout


def test_fetch_second_run_sends_validators_gets_304_and_writes_nothing(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    modified = "Tue, 17 Nov 2026 05:30:00 GMT"
    serve(
        httpserver_ipv4,
        conditional(HF_BODY, "application/json", etag='W/"hf-1117"'),
        conditional(RSS_BODY, "application/rss+xml", last_modified=modified),
    )
    cfg = write_config(tmp_path, httpserver_ipv4)
    assert run("fetch", "-c", str(cfg), "--date", "2026-11-17").returncode == 0
    stamps = {name: (tmp_path / "digests" / name).stat().st_mtime_ns for name in files(tmp_path)}

    again = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert again.returncode == 0, again.stderr
    hf = requests_to(httpserver_ipv4, "/api/daily_papers")
    rss = requests_to(httpserver_ipv4, "/rss/cs.CL+cs.LG")
    assert len(hf) == len(rss) == 2
    assert "If-None-Match" not in hf[0].headers
    assert hf[1].headers["If-None-Match"] == 'W/"hf-1117"'
    assert rss[1].headers["If-Modified-Since"] == modified
    assert {name: (tmp_path / "digests" / name).stat().st_mtime_ns for name in files(tmp_path)} == stamps
    assert again.stdout.count("unchanged since the last fetch, nothing written") == 2


def test_fetch_304_to_a_request_without_validators_is_a_failed_fetch(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    # a cache or server answering 304 to a first, unconditional request: nothing was
    # ever fetched, so "unchanged" would silently lose the day's papers
    serve(httpserver_ipv4, plain(b"", "application/json", status=304), plain(RSS_BODY, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4)

    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: huggingface: ") and "304 Not Modified to a request that was not conditional" in line
    assert "unchanged" not in result.stdout
    assert files(tmp_path) == [ARXIV_FILE]


def test_fetch_same_bytes_without_validators_writes_nothing(tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    serve(httpserver_ipv4, plain(HF_BODY, "application/json"), plain(RSS_BODY, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4)
    assert run("fetch", "-c", str(cfg), "--date", "2026-11-17").returncode == 0
    target = tmp_path / "digests" / HF_FILE
    before = target.stat().st_mtime_ns

    again = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert again.returncode == 0
    assert target.stat().st_mtime_ns == before
    assert "huggingface: unchanged" in again.stdout
    assert files(tmp_path) == [ARXIV_FILE, HF_FILE]


def test_fetch_changed_answer_replaces_the_days_file(tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    later = json.dumps(json.loads(HF_BODY)[:1]).encode()
    answers = iter([HF_BODY, later])
    serve(
        httpserver_ipv4,
        lambda request: Response(next(answers), content_type="application/json"),
        plain(RSS_BODY, "application/rss+xml"),
    )
    cfg = write_config(tmp_path, httpserver_ipv4)
    assert run("fetch", "-c", str(cfg), "--date", "2026-11-17").returncode == 0

    again = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert again.returncode == 0
    assert (tmp_path / "digests" / HF_FILE).read_bytes() == later
    assert "huggingface: wrote" in again.stdout and "(1 papers" in again.stdout


def test_fetch_429_with_retry_after_then_200_is_fetched_after_one_retry(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    arrivals: list[float] = []

    def hf(request: Request) -> Response:
        arrivals.append(time.monotonic())
        if len(arrivals) == 1:
            return Response("slow down", status=429, headers={"Retry-After": "1"})
        return Response(HF_BODY, content_type="application/json")

    serve(httpserver_ipv4, hf, plain(RSS_BODY, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4, fetch={"retries": 3})

    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert result.returncode == 0, result.stderr
    assert len(arrivals) == 2  # one retry
    assert arrivals[1] - arrivals[0] >= 0.95  # not sooner than the server asked
    assert (tmp_path / "digests" / HF_FILE).read_bytes() == HF_BODY
    assert "huggingface: wrote" in result.stdout


def test_fetch_retry_after_as_http_date_is_honoured(tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    from email.utils import formatdate

    arrivals: list[float] = []

    def hf(request: Request) -> Response:
        arrivals.append(time.monotonic())
        if len(arrivals) == 1:
            return Response("busy", status=503, headers={"Retry-After": formatdate(time.time() + 3, usegmt=True)})
        return Response(HF_BODY, content_type="application/json")

    serve(httpserver_ipv4, hf, plain(RSS_BODY, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4, fetch={"retries": 2})

    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert result.returncode == 0, result.stderr
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 1.9  # the date has whole seconds: at least 2 s of the 3


def test_fetch_retry_after_beyond_the_cap_fails_now(tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    serve(
        httpserver_ipv4,
        lambda request: Response("later", status=429, headers={"Retry-After": "3600"}),
        plain(RSS_BODY, "application/rss+xml"),
    )
    cfg = write_config(tmp_path, httpserver_ipv4, fetch={"retries": 3})

    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")  # (run's own timeout: 90 s, not an hour)

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    (line,) = result.stderr.splitlines()
    assert "HTTP 429 Too Many Requests, asked to retry after 3600 s" in line
    assert len(requests_to(httpserver_ipv4, "/api/daily_papers")) == 1  # it did not wait to ask again


def test_fetch_source_answering_500_exits_1_with_one_line_and_the_other_is_written(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    serve(httpserver_ipv4, plain(b"oops", "text/plain", status=500), plain(RSS_BODY, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4, fetch={"retries": 1})

    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert result.returncode == 1
    naming = [line for line in result.stderr.splitlines() if "huggingface" in line]
    assert naming == [
        f"error: huggingface: {httpserver_ipv4.url_for('/api/daily_papers')}?date=2026-11-17&limit=100: "
        "HTTP 500 Internal Server Error (after 2 attempts)"
    ]
    assert "Traceback" not in result.stderr
    assert len(requests_to(httpserver_ipv4, "/api/daily_papers")) == 2
    assert files(tmp_path) == [ARXIV_FILE]

    status = newsletter("status", "-c", str(cfg), "--json")
    assert status.exit_code == 0, status.stderr
    sources = {s["source"]: s for s in json.loads(status.stdout)["sources"]}
    assert sources["huggingface"]["outcome"] == "failed"
    assert sources["huggingface"]["http_status"] == 500
    assert sources["huggingface"]["last_success"] is None
    assert sources["arxiv-cs.CL+cs.LG"]["outcome"] == "written"
    assert sources["arxiv-cs.CL+cs.LG"]["detail"] == str(tmp_path / "digests" / ARXIV_FILE)
    human = newsletter("status", "-c", str(cfg))
    assert "huggingface: failed at " in human.stdout
    assert "HTTP 500 Internal Server Error" in human.stdout
    assert "arxiv-cs.CL+cs.LG: written at " in human.stdout


def test_fetch_empty_answers_write_no_file_and_exit_0(tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    serve(httpserver_ipv4, plain(b"[]", "application/json"), plain(RSS_WEEKEND, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4)

    result = run("fetch", "-c", str(cfg), "--date", "2026-11-22")

    assert result.returncode == 0, result.stderr
    assert files(tmp_path) == []
    assert result.stdout.count("no papers in the answer") == 2
    assert result.stderr == ""


def test_fetch_follows_a_redirect(tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request("/old/daily_papers").respond_with_handler(
        lambda request: Response(status=301, headers={"Location": f"/api/daily_papers?{request.query_string.decode()}"})
    )
    serve(httpserver_ipv4, plain(HF_BODY, "application/json"), plain(RSS_BODY, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4, hf_path="/old/daily_papers")

    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert result.returncode == 0, result.stderr
    (moved,) = requests_to(httpserver_ipv4, "/api/daily_papers")
    assert moved.args["date"] == "2026-11-17"
    assert (tmp_path / "digests" / HF_FILE).read_bytes() == HF_BODY


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_fetch_refuses_an_oversized_answer(tmp_path: Path, httpserver_ipv4: HTTPServer, chunked: bool) -> None:
    huge = b"[" + b",".join([b'{"title": "x", "abstract": "y"}'] * 400) + b"]"  # ~12 KB

    def hf(request: Request) -> Response:
        if chunked:
            return Response((huge[i : i + 1000] for i in range(0, len(huge), 1000)), content_type="application/json")
        return Response(huge, content_type="application/json")

    serve(httpserver_ipv4, hf, plain(RSS_BODY, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4, fetch={"max_bytes": 4096})

    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: huggingface: ")
    assert "more than fetch.max_bytes (4,096" in line
    assert files(tmp_path) == [ARXIV_FILE]


def test_fetch_refuses_an_answer_of_the_wrong_shape(tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    serve(
        httpserver_ipv4,
        plain(b"<!doctype html><title>Maintenance</title>", "text/html"),
        plain(b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>', "application/xml"),
    )
    cfg = write_config(tmp_path, httpserver_ipv4)

    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert "huggingface" in lines[0] and "the answer is not JSON (it starts with '<!doctype html>" in lines[0]
    assert "arxiv-cs.CL+cs.LG" in lines[1] and "refused" in lines[1]
    assert files(tmp_path) == []


def test_fetch_unreachable_source_is_one_line(tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    serve(httpserver_ipv4, plain(HF_BODY, "application/json"), plain(RSS_BODY, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4)
    data = yaml.safe_load(cfg.read_text())
    data["sources"][0]["url"] = "http://127.0.0.1:9/api/daily_papers"  # the discard port: refused
    cfg.write_text(yaml.safe_dump(data))

    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    url = "http://127.0.0.1:9/api/daily_papers?date=2026-11-17&limit=100"
    assert line.startswith(f"error: huggingface: {url}: connection failed")
    assert files(tmp_path) == [ARXIV_FILE]


def test_fetch_without_sources_or_with_a_bad_date_is_exit_2(tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    cfg = write_config(tmp_path, httpserver_ipv4)
    bad = run("fetch", "-c", str(cfg), "--date", "17/11/2026")
    assert bad.returncode == 2
    assert "'17/11/2026' is not a date (YYYY-MM-DD)" in bad.stderr
    data = yaml.safe_load(cfg.read_text())
    del data["sources"]
    cfg.write_text(yaml.safe_dump(data))
    none = run("fetch", "-c", str(cfg))
    assert none.returncode == 2
    assert (
        none.stderr.strip() == f"error: {cfg}: no sources configured: add a `sources:` list (see config.example.yaml)"
    )
    assert httpserver_ipv4.log == []


def test_fetch_default_day_is_today_in_the_schedule_time_zone(tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    serve(httpserver_ipv4, plain(b"[]", "application/json"), plain(RSS_WEEKEND, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4)
    data = yaml.safe_load(cfg.read_text())
    data["schedule"] = {"timezone": "Pacific/Kiritimati"}  # UTC+14: often another day than UTC
    cfg.write_text(yaml.safe_dump(data))

    result = run("fetch", "-c", str(cfg))

    assert result.returncode == 0, result.stderr
    (hf,) = requests_to(httpserver_ipv4, "/api/daily_papers")
    expected = {datetime.now(ZoneInfo("Pacific/Kiritimati")).date().isoformat()}
    assert hf.args["date"] in expected | {
        # the test may straddle midnight there
        datetime.fromtimestamp(time.time() - 60, ZoneInfo("Pacific/Kiritimati")).date().isoformat()
    }


# --------------------------------------------------------------------------- SPEC 6c: a junk answer, leftovers


@pytest.mark.parametrize(
    "junk",
    [
        b'[1, 2, 3, null, "x"]',
        b'[{"foo": 1}, {"paper": {"id": "2611.00001"}}]',  # objects without a title
        b'[{"title": "", "abstract": "empty title"}]',
    ],
    ids=["scalars", "no-title", "empty-title"],
)
def test_fetch_answer_without_paper_records_fails_and_keeps_the_days_file(
    tmp_path: Path, httpserver_ipv4: HTTPServer, junk: bytes
) -> None:
    answers = {"hf": HF_BODY}
    serve(
        httpserver_ipv4,
        lambda request: Response(answers["hf"], content_type="application/json"),
        plain(RSS_BODY, "application/rss+xml"),
    )
    cfg = write_config(tmp_path, httpserver_ipv4)
    assert run("fetch", "-c", str(cfg), "--date", "2026-11-17").returncode == 0
    good = (tmp_path / "digests" / HF_FILE).read_bytes()
    assert good == HF_BODY

    answers["hf"] = junk
    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: huggingface: ")
    why = "no paper records we can read"
    assert f"the answer holds {why}" in line
    assert (tmp_path / "digests" / HF_FILE).read_bytes() == good  # the day's earlier file is kept
    assert not [p for p in (tmp_path / "digests").iterdir() if p.name.endswith(".part")]
    status = json.loads(newsletter("status", "-c", str(cfg), "--json").stdout)
    hf = next(s for s in status["sources"] if s["source"] == "huggingface")
    assert hf["outcome"] == "failed" and why.split(" (")[0] in hf["detail"]


def test_fetch_answer_with_one_bad_record_writes_the_good_ones_and_names_it(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    # one bad item never stops the others (SPEC 6c): the good record is written and
    # delivered, the bad one named by the fetch and again by the pick-up (partial)
    body = b'[{"title": "A good one", "abstract": "Kept.", "id": "2611.00001"},\n 7]'
    serve(httpserver_ipv4, plain(body, "application/json"), plain(RSS_BODY, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4)

    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("warning: huggingface: wrote ") and "(1 papers," in line
    assert "1 entry not read: entry 1 (line 2)" in line
    assert (tmp_path / "digests" / HF_FILE).read_bytes() == body
    parsed = run("parse", str(tmp_path / "digests" / HF_FILE))
    assert parsed.returncode == 1 and "partial" in parsed.stderr and "entry 1 (line 2)" in parsed.stderr
    assert "A good one" in parsed.stdout


def test_fetch_removes_part_files_of_a_killed_fetch_not_one_being_written(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    import fcntl

    serve(httpserver_ipv4, plain(HF_BODY, "application/json"), plain(RSS_BODY, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4)
    digests = tmp_path / "digests"
    # what a fetch killed between writing and renaming leaves (the lock died with it) ...
    killed = digests / f".{HF_FILE}.k1ll3d.part"
    killed.write_bytes(HF_BODY[:100])
    # ... and a fetch still writing (the daemon's, while one runs by hand): its writer holds the lock
    busy = digests / f".{ARXIV_FILE}.busy01.part"
    busy.write_bytes(RSS_BODY[:100])
    with busy.open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")
        assert result.returncode == 0, result.stderr
        assert "removed 1 temporary file left by an interrupted fetch" in result.stdout
        assert not killed.exists() and busy.exists()
    assert files(tmp_path) == [busy.name, ARXIV_FILE, HF_FILE]  # the busy one is its writer's to rename


def test_fetch_killed_while_writing_leaves_a_part_file_the_next_fetch_removes(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    """A real fetch killed (SIGKILL) with its temporary file written but not renamed: a
    fetch process stopped at the rename, then killed."""
    import signal

    serve(httpserver_ipv4, plain(HF_BODY, "application/json"), plain(RSS_BODY, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4)
    stopped = tmp_path / "stop-at-rename.py"
    stopped.write_text(
        "import os, signal, sys\n"
        "real = os.replace\n"
        "def replace(src, dst):\n"
        "    if str(src).endswith('.part'):\n"
        "        os.kill(os.getpid(), signal.SIGSTOP)  # frozen between writing and renaming\n"
        "    return real(src, dst)\n"
        "os.replace = replace\n"
        "from newsletter.cli import main\n"
        "sys.argv = ['newsletter', 'fetch', '-c', sys.argv[1], '--date', '2026-11-17']\n"
        "main()\n"
    )
    proc = subprocess.Popen([sys.executable, str(stopped), str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        from tests.conftest import wait_for

        wait_for(lambda: list((tmp_path / "digests").glob(".*.part")), 60, "the temporary file")
        wait_for(lambda: _state(proc.pid) == "T", 60, "the fetch to stop at its rename")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.communicate()
    (left,) = (tmp_path / "digests").glob(".*.part")
    assert left.read_bytes() == HF_BODY  # written whole, never renamed

    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")

    assert result.returncode == 0, result.stderr
    assert "removed 1 temporary file left by an interrupted fetch" in result.stdout
    assert files(tmp_path) == [ARXIV_FILE, HF_FILE]


def _state(pid: int) -> str:
    """The process state letter from /proc (``T``: stopped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return ""


def hf_items(count: int, start: int = 0) -> list[dict[str, Any]]:
    """``count`` daily-papers items of the recorded shape, ids from ``start``."""
    template = json.loads(HF_BODY)[0]
    items = []
    for n in range(start, start + count):
        item = json.loads(json.dumps(template))
        item["paper"]["id"] = item["paper"]["id"][:5] + f"{n:05d}"
        item["paper"]["title"] = item["title"] = f"A study of sparse rewards, number {n}"
        items.append(item)
    return items


def hf_pages(pages: list[list[dict[str, Any]]], *, fail: int | None = None) -> Callable[[Request], Response]:
    """The daily papers API, paged: ``p`` (from 0, absent = 0) picks the page; page
    ``fail`` answers 500."""

    def handler(request: Request) -> Response:
        assert request.args.get("limit") == "100"
        page = int(request.args.get("p", "0"))
        if page == fail:
            return Response("down", status=500)
        body = pages[page] if page < len(pages) else []
        if request.headers.get("If-None-Match") == f'"page-{page}"':
            return Response(status=304)
        headers = {"ETag": f'"page-{page}"'}
        return Response(json.dumps(body), status=200, content_type="application/json", headers=headers)

    return handler


def test_fetch_huggingface_week_of_230_papers_is_read_to_its_last_page(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    # the API gives at most 100 items a page (50 unless asked): a week's 230 papers come
    # in three pages; one GET would have kept the first 100 and said nothing of the rest
    from newsletter.digest import parse_digest

    pages = [hf_items(100), hf_items(100, 100), hf_items(30, 200)]
    serve(httpserver_ipv4, hf_pages(pages), plain(RSS_WEEKEND, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4)
    data = yaml.safe_load(cfg.read_text())
    data["sources"][0]["period"] = "weekly"
    cfg.write_text(yaml.safe_dump(data))
    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")
    assert result.returncode == 0, result.stderr
    asked = [r.args.get("p") for r in requests_to(httpserver_ipv4, "/api/daily_papers")]
    assert asked == [None, "1", "2"]
    written = tmp_path / "digests" / "huggingface-week-2026-W47.json"
    papers = parse_digest(written.read_bytes(), source=str(written)).papers
    assert len(papers) == 230 and len({p.id for p in papers}) == 230
    assert "(230 papers" in result.stdout
    # the first page's ETag says nothing of the others: the next fetch asks them all again
    again = run("fetch", "-c", str(cfg), "--date", "2026-11-17")
    assert again.returncode == 0, again.stderr
    later = requests_to(httpserver_ipv4, "/api/daily_papers")[3:]
    assert [r.args.get("p") for r in later] == [None, "1", "2"]
    assert "If-None-Match" not in later[0].headers


def test_fetch_huggingface_pages_that_repeat_or_fail(tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    # an API that ignored `p` would repeat its first page: read once, the paging ends;
    # a later page that fails fails the source, named, and nothing is written
    first = hf_items(100)
    serve(httpserver_ipv4, hf_pages([first, first, first]), plain(RSS_WEEKEND, "application/rss+xml"))
    cfg = write_config(tmp_path, httpserver_ipv4)
    result = run("fetch", "-c", str(cfg), "--date", "2026-11-17")
    assert result.returncode == 0, result.stderr
    assert len(requests_to(httpserver_ipv4, "/api/daily_papers")) == 2
    assert len(json.loads((tmp_path / "digests" / HF_FILE).read_bytes())) == 100

    httpserver_ipv4.clear()
    serve(httpserver_ipv4, hf_pages([hf_items(100, 500), hf_items(100, 600)], fail=1), plain(RSS_WEEKEND, "text/xml"))
    result = run("fetch", "-c", str(cfg), "--date", "2026-11-18")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "huggingface" in line]
    assert "page 2 (" in line and "p=1" in line and "500" in line
    assert files(tmp_path) == [HF_FILE]  # the 18th: nothing written
