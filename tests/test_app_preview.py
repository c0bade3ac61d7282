"""``newsletter preview``: files, the live web page (in headless Chromium), SpamAssassin."""

from __future__ import annotations

import email
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.web.preview import PreviewServer
from tests.webthread import serving

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "seeds").glob("*.txt"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
EMAILS = ["alice@example.org", "bob@example.org", "chen@example.org"]


def write_config(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
    data["digests"]["directory"] = str(ROOT / "seeds")
    data["state"] = str(tmp_path / "state.sqlite3")
    data.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def preview(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["preview", *args], catch_exceptions=False)
    return result.exit_code, result.output


# --------------------------------------------------------------------------- files


def test_preview_writes_files_and_changes_nothing(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    code, output = preview("-c", str(cfg), "--digest", *map(str, SEEDS), "--out", str(out))
    assert code == 0, output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"{e}{s}" for e in EMAILS for s in (".html", ".txt", ".eml")] + ["index.html"])
    for addr in EMAILS:
        msg = email.message_from_bytes((out / f"{addr}.eml").read_bytes(), policy=policy.default)
        assert msg["To"].addresses[0].addr_spec == addr
        assert f"{addr}: " in output
        html = (out / f"{addr}.html").read_text(encoding="utf-8")
        assert html.startswith("<!doctype html>")
        assert (out / f"{addr}.txt").read_text(encoding="utf-8").startswith("Hi ")
    index = (out / "index.html").read_text(encoding="utf-8")
    for addr in EMAILS:
        assert f'href="{addr}.html"' in index and f'href="{addr}.eml"' in index
    assert "new papers for you" in index
    assert not (tmp_path / "state.sqlite3").exists()  # no ledger touched
    assert f"Open {out.resolve() / 'index.html'}" in output


def test_preview_one_subscriber_default_digests(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    code, output = preview("-c", str(cfg), "--subscriber", "bob@example.org", "--out", str(out))
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir()) == [
        "bob@example.org.eml",
        "bob@example.org.html",
        "bob@example.org.txt",
        "index.html",
    ]


def test_preview_needs_out_or_serve(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    result = CliRunner().invoke(cli, ["preview", "-c", str(cfg)])
    assert result.exit_code == 2
    assert "--out" in result.output


def test_preview_out_that_cannot_be_written_is_one_line_exit_2(tmp_path: Path) -> None:
    """An --out below a file, or holding a directory where a preview file goes, is one
    line naming the path and why (it was an OSError traceback), exit 2 (bad usage)."""
    cfg = write_config(tmp_path)
    below_a_file = tmp_path / "config.yaml" / "previews"
    result = CliRunner().invoke(cli, ["preview", "-c", str(cfg), "--subscriber", EMAILS[0], "--out", str(below_a_file)])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"error: {below_a_file}: cannot write the preview there (Not a directory)"]
    out = tmp_path / "out"
    (out / "index.html").mkdir(parents=True)
    result = CliRunner().invoke(cli, ["preview", "-c", str(cfg), "--subscriber", EMAILS[0], "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert (
        result.stderr.splitlines()[-1]
        == f"error: {out / 'index.html'}: cannot write the preview there (Is a directory)"
    )


def test_preview_unknown_subscriber_is_exit_2(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    result = CliRunner().invoke(
        cli, ["preview", "-c", str(cfg), "--subscriber", "x@example.org", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "no subscriber" in result.output


VIEW = re.compile(r'<a href="([^"]*)"[^>]*>View this email in your browser</a>')
ARCHIVE = {"directory": "archive", "url": "https://digest.example.org/archive"}


def test_preview_view_in_browser_link_opens_the_preview_itself(tmp_path: Path) -> None:
    """The archive page of a delivery is named after its Message-ID, which only ``send``
    gives it: the preview linked a page that would never exist. It links its own file."""
    cfg = write_config(tmp_path, archive=ARCHIVE)
    out = tmp_path / "out"
    code, output = preview("-c", str(cfg), "--digest", *map(str, SEEDS), "--out", str(out))
    assert code == 0, output
    for addr in EMAILS:
        html = (out / f"{addr}.html").read_text(encoding="utf-8")
        (href,) = VIEW.findall(html)  # the footer keeps its link, as sent
        target = out / href
        assert target.is_file() and target.read_text(encoding="utf-8") == html
        assert f"View in browser:\n{href}\n" in (out / f"{addr}.txt").read_text(encoding="utf-8")
        assert "digest.example.org/archive" not in html
    assert not (tmp_path / "archive").exists()  # a preview writes no archive page


def test_server_view_in_browser_link_opens_the_served_email(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, archive=ARCHIVE)
    srv = PreviewServer(cfg, port=0, digests=SEEDS[1:3])
    with serving(srv):
        status, html = get(srv.url + "raw/bob@example.org.html")
        assert status == 200
        (href,) = VIEW.findall(html)
        assert href.startswith("/")
        status, again = get(srv.url + href.lstrip("/"))
        assert status == 200 and VIEW.findall(again) == [href]


# --------------------------------------------------------------------------- the server, in-process


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[PreviewServer, Path]]:
    tdir = tmp_path / "templates"
    tdir.mkdir()
    cfg = write_config(tmp_path, templates=str(tdir))
    srv = PreviewServer(cfg, port=0, digests=SEEDS[1:3])
    with serving(srv):
        yield srv, tdir


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def test_server_pages(server: tuple[PreviewServer, Path]) -> None:
    srv, _ = server
    assert srv.server_address[0] == "127.0.0.1"
    status, index = get(srv.url)
    assert status == 200
    for addr in EMAILS:
        assert f'href="/s/{addr}"' in index
    assert re.search(r'<td class="num">\d+</td>\s*<td>\d+ new papers for you</td>', index)
    status, page = get(srv.url + "s/alice@example.org")
    assert status == 200
    assert 'id="email"' in page and "srcdoc=" in page
    assert "<th>List-Unsubscribe</th>" in page and "<th>Message-ID</th>" in page
    assert 'id="why"' in page and "in title + abstract" in page
    assert 'id="text"' in page and "Hi Alice Martin," in page
    status, raw = get(srv.url + "raw/alice@example.org.eml")
    assert status == 200 and "multipart/alternative" in raw
    status, _ = get(srv.url + "s/nobody@example.org")
    assert status == 404


def test_server_rereads_templates_on_every_load(server: tuple[PreviewServer, Path]) -> None:
    srv, tdir = server
    _, before = get(srv.url + "s/bob@example.org")
    assert "Hi Bob Okafor," in before
    (tdir / "digest.txt.j2").write_text("Edited template for {{ name }}\n", encoding="utf-8")
    _, after = get(srv.url + "s/bob@example.org")
    assert "Edited template for Bob Okafor" in after
    (tdir / "digest.txt.j2").write_text("{% for %}\n", encoding="utf-8")
    status, broken = get(srv.url)
    assert status == 500
    assert "digest.txt.j2:1:" in broken and "syntax" in broken
    (tdir / "digest.txt.j2").unlink()
    status, _ = get(srv.url)
    assert status == 200


# --------------------------------------------------------------------------- real subprocess + Chromium


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[str]:
    cfg = write_config(tmp_path)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "newsletter",
            "preview",
            "-c",
            str(cfg),
            "--digest",
            *map(str, SEEDS),
            "--serve",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read() if proc.stdout else ""
                    pytest.fail(f"preview --serve did not come up: {out}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def chromium(tmp_path: Path, *args: str) -> str:
    profile = tmp_path / "chromium-profile"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_browser_index_and_subscriber_page(served: str, tmp_path: Path) -> None:
    dom = chromium(tmp_path, "--dump-dom", served)
    assert "<h1>Email preview</h1>" in dom
    rows = re.findall(r'<tr class="subscriber">(.*?)</tr>', dom, re.S)
    assert len(rows) == 3
    for row, addr in zip(rows, EMAILS, strict=True):
        assert f'href="/s/{addr}">{addr}</a>' in row
        assert f'href="/raw/{addr}.eml" aria-label=".eml to {addr}">.eml</a>' in row
        count = re.search(r'<td class="num">(\d+)</td>', row)
        assert count and int(count.group(1)) > 0
        assert f"{count.group(1)} new papers for you" in row

    page = served + "s/chen@example.org"
    dom = chromium(tmp_path, "--dump-dom", "--virtual-time-budget=5000", page)
    assert '<h1 id="subject">' in dom and "new papers for you</h1>" in dom
    assert '<iframe id="email"' in dom
    frame = re.search(r'<iframe id="email"[^>]*style="height: (\d+)px', dom)
    assert frame and int(frame.group(1)) > 1000  # sized to the email by the page script
    assert re.search(r'<table id="why">.*title:agent\*.*in title', dom, re.S)
    assert "<th>List-Unsubscribe-Post</th>" in dom
    assert "Hi Chen Wei," in dom

    shots = {}
    for width in (375, 800):
        for name, url in (
            ("index", served),
            ("chen", f"{page}?width={min(width - 40, 800)}"),
            ("email", served + "raw/chen@example.org.html"),
        ):
            shot = tmp_path / f"{name}-{width}.png"
            chromium(tmp_path, f"--screenshot={shot}", f"--window-size={width},900", "--virtual-time-budget=5000", url)
            assert shot.stat().st_size > 5000
            shots[(name, width)] = shot
    print("screenshots:", *sorted(str(p) for p in shots.values()))


# --------------------------------------------------------------------------- SpamAssassin


@pytest.mark.slow
def test_spamassassin_scores_every_example_email_below_1(tmp_path: Path) -> None:
    assert shutil.which("spamassassin"), "install Debian's spamassassin (.ci/run does)"
    cfg = ROOT / "config.example.yaml"
    out = tmp_path / "out"
    code, output = preview("-c", str(cfg), "--digest", *map(str, SEEDS), "--out", str(out))
    assert code == 0, output
    emls = sorted(out.glob("*.eml"))
    assert len(emls) == 3
    for eml in emls:
        result = subprocess.run(
            ["spamassassin", "-L", "-t"],
            input=eml.read_bytes(),
            capture_output=True,
            timeout=300,
            check=False,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        report = result.stdout.decode("utf-8", "replace")
        m = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", report, re.M)
        assert m, report[:2000]
        score = float(m.group(1))
        print(f"{eml.name}: SpamAssassin score {score}")
        assert score < 1.0, report[report.find("Content analysis details") :]
