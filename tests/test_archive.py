"""The archive: every sent issue as a web page and an Atom feed per subscriber
(RFC 4287's required elements, parsed with feedparser), the "view in browser" link."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import feedparser
import pytest

from newsletter.archive import issue_path, view_url
from newsletter.config import load_config
from newsletter.unsubscribe import secret_for
from tests.conftest import newsletter
from tests.smtpd import EXAMPLE_SUBSCRIBERS, smtp_server, write_config

URL = "https://digest.example.org/archive"
EVIL = '<script>alert("x")</script> Self-supervised & "quoted" learning'


def text_part(raw: bytes) -> str:
    from email import message_from_bytes, policy

    msg = message_from_bytes(raw, policy=policy.default)
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def archived_setup(tmp_path: Path, port: int, **extra: Any) -> Path:
    return write_config(tmp_path, port, EXAMPLE_SUBSCRIBERS[:2], archive={"directory": "archive", "url": URL}, **extra)


def test_archive_pages_and_atom_feed_per_subscriber(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = archived_setup(tmp_path, server.port)
        newsletter("send", "-c", str(cfg))
        for name in ("001", "002"):
            shutil.copy2(seeds[name], tmp_path / "digests")
            result = newsletter("send", "-c", str(cfg))
            assert result.exit_code == 0, result.output
        received = server.by_recipient()
    config = load_config(cfg)
    secret = secret_for(config)[0]
    alice = received["alice@example.org"]
    assert len(alice) == 2
    for msg in alice:
        page = tmp_path / "archive" / issue_path("alice@example.org", str(msg.message_id), secret)
        assert page.is_file()
        html = page.read_text(encoding="utf-8")
        assert str(msg.message["Subject"]) in html and "unsubscribe" not in html.lower()
        assert "alice@example.org" not in str(page)  # the address never shows in a URL
    feed_path = next(p for p in (tmp_path / "archive").glob("*/feed.xml") if "Alice" in p.read_text("utf-8"))
    feed = feedparser.parse(feed_path.read_bytes())
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    # RFC 4287 4.1.1: atom:feed has id, title, updated, and an author (here on the feed)
    assert feed.feed.id and feed.feed.title == "Paper Digest for Alice Martin" and feed.feed.updated_parsed
    assert feed.feed.author == "Paper Digest"
    assert any(
        link.rel == "self" and link.href == f"{URL}/{feed_path.parent.name}/feed.xml" for link in feed.feed.links
    )
    assert len(feed.entries) == 2
    for entry in feed.entries:  # 4.1.2: id, title, updated; a link (no content) and a summary
        assert entry.id and entry.title and entry.updated_parsed and entry.summary
        assert entry.link.startswith(f"{URL}/{feed_path.parent.name}/") and entry.link.endswith(".html")
    assert [e.updated_parsed for e in feed.entries] == sorted((e.updated_parsed for e in feed.entries), reverse=True)
    index = (feed_path.parent / "index.html").read_text(encoding="utf-8")
    assert index.count('<li><a href="') == 2 and "feed.xml" in index


def test_archive_view_in_browser_link_is_the_written_page(tmp_path: Path, seeds: dict[str, Path]) -> None:
    from email import message_from_bytes, policy

    with smtp_server() as server:
        cfg = archived_setup(tmp_path, server.port)
        newsletter("send", "-c", str(cfg))
        shutil.copy2(seeds["001"], tmp_path / "digests")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        [msg] = server.by_recipient()["alice@example.org"]
    config = load_config(cfg)
    link = view_url(config, "alice@example.org", str(msg.message_id), secret_for(config)[0])
    assert link is not None and f"View in browser:\r\n{link}" in text_part(msg.data)
    parsed = message_from_bytes(msg.data, policy=policy.default)
    html = next(p for p in parsed.walk() if p.get_content_type() == "text/html").get_content()
    assert f'href="{link}"' in html and "View this email in your browser" in html
    assert (tmp_path / "archive" / link.removeprefix(URL + "/")).is_file()


def test_archive_escapes_digest_text(tmp_path: Path) -> None:
    with smtp_server() as server:
        cfg = archived_setup(tmp_path, server.port)
        newsletter("send", "-c", str(cfg))
        digest = [{"title": EVIL, "abstract": "We study <b>self-supervised</b> learning & more.", "id": "evil-1"}]
        (tmp_path / "digests" / "evil.txt").write_text(json.dumps(digest), encoding="utf-8")
        result = newsletter("send", "-c", str(cfg), "-v")
        assert result.exit_code == 0, result.output
        assert "archive: 1 new page" in result.output
    [page] = (tmp_path / "archive").glob("*/*[0-9a-f].html")
    html = page.read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>self" not in html
    feed = feedparser.parse(next(page.parent.glob("feed.xml")).read_bytes())
    assert not feed.bozo and EVIL in feed.entries[0].summary.replace("&lt;", "<").replace("&gt;", ">").replace(
        "&amp;", "&"
    ).replace("&quot;", '"')


def test_archive_written_once_and_caught_up(tmp_path: Path, seeds: dict[str, Path]) -> None:
    from newsletter.archive import archive_after_pass

    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS[:2])  # no archive yet
        newsletter("send", "-c", str(cfg))
        shutil.copy2(seeds["001"], tmp_path / "digests")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
    assert not (tmp_path / "archive").exists()
    cfg = archived_setup(tmp_path, 2525)  # archive turned on later: earlier issues are caught up
    config = load_config(cfg)
    first = archive_after_pass(config)
    assert len(first.pages) == 2 and len(first.feeds) == 2
    again = archive_after_pass(config)
    assert again.pages == () and again.feeds == ()


def test_archive_url_without_directory_is_a_config_error(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, 2525, EXAMPLE_SUBSCRIBERS[:1], archive={"url": URL})
    result = newsletter("check", "-c", str(cfg))
    assert result.exit_code == 2
    assert "archive" in result.output and "archive.directory" in result.output
    cfg = write_config(tmp_path, 2525, EXAMPLE_SUBSCRIBERS[:1], archive={"directory": "a", "url": "ftp://x"})
    result = newsletter("check", "-c", str(cfg))
    assert result.exit_code == 2 and "archive.url" in result.output


@pytest.mark.asyncio
async def test_archive_served_by_the_endpoint(tmp_path: Path, seeds: dict[str, Path], aiohttp_client: Any) -> None:
    from newsletter.web.unsubscribe import UnsubscribeServer

    def deliver() -> tuple[Path, str]:
        with smtp_server() as server:
            cfg = archived_setup(tmp_path, server.port)
            newsletter("send", "-c", str(cfg))
            shutil.copy2(seeds["001"], tmp_path / "digests")
            assert newsletter("send", "-c", str(cfg)).exit_code == 0
            [msg] = server.by_recipient()["alice@example.org"]
            return cfg, str(msg.message_id)

    cfg, message_id = await asyncio.to_thread(deliver)  # `send` runs its own event loop
    config = load_config(cfg)
    link = view_url(config, "alice@example.org", message_id, secret_for(config)[0])
    assert link is not None
    with UnsubscribeServer(config, port=0) as endpoint:
        client = await aiohttp_client(endpoint.app)
        page = await client.get(link.removeprefix("https://digest.example.org"))
        assert page.status == 200 and "text/html" in page.headers["Content-Type"]
        assert "Self-supervised" in await page.text()
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        listing = await client.get("/archive/")
        assert listing.status in (403, 404)  # no directory listings: folder names are secrets
        escape = await client.get("/archive/..%2fconfig.yaml")
        assert escape.status in (403, 404)
