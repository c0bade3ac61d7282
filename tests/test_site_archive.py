"""The archive: every sent issue as a web page and an Atom feed per subscriber
(RFC 4287's required elements, parsed with feedparser), the "view in browser" link."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import feedparser
import pytest

from newsletter.config import load_config
from newsletter.render.links.archive import issue_path, view_url
from newsletter.render.links.tokens import secret_for
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


def html_part(raw: bytes) -> str:
    from email import message_from_bytes, policy

    body = message_from_bytes(raw, policy=policy.default).get_body(preferencelist=("html",))
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
    assert index.count('<li><a style="color:#1d4ed8;" href="') == 2 and "feed.xml" in index


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


HOSTILE_LINKS = ["javascript:alert(document.cookie)", "JaVaScRiPt:alert(1)", "data:text/html,<script>x</script>"]


def hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


def test_archive_and_email_link_only_http_urls(tmp_path: Path) -> None:
    """A digest's ``links`` are untrusted: no other scheme reaches an href of the email or
    of the archive page, also from a ledger record written before the parser dropped them."""
    from newsletter.site.archive import archive_after_pass

    with smtp_server() as server:
        cfg = archived_setup(tmp_path, server.port)
        newsletter("send", "-c", str(cfg))
        digest = [
            {
                "title": "Self-supervised learning with hostile links",
                "abstract": "No URL in this abstract.",
                "links": [*HOSTILE_LINKS, "https://ok.example/code"],
                "id": "hostile-1",
            }
        ]
        (tmp_path / "digests" / "hostile.json").write_text(json.dumps(digest), encoding="utf-8")
        parsed = newsletter("parse", str(tmp_path / "digests" / "hostile.json"), "--json")
        assert json.loads(parsed.output)[0]["links"] == ["https://ok.example/code"]  # dropped when parsed
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        emails = [html for html in (html_part(m.data) for m in server.received) if "hostile links" in html]
    assert emails
    [page] = (tmp_path / "archive").glob("*/*[0-9a-f].html")
    for html in (page.read_text(encoding="utf-8"), *emails):
        assert "https://ok.example/code" in html
        assert not [
            h for h in hrefs(html) if not h.lower().startswith(("https:", "http:", "mailto:", "feed.xml", "index.html"))
        ]
    # a record an older version stored with its links as given: the page is rendered from the ledger
    ledger = sqlite3.connect(load_config(cfg).ledger_path)
    with ledger:
        ledger.execute(
            "UPDATE digest_papers SET record = json_set(record, '$.links', json(?)) WHERE paper_id = 'hostile-1'",
            (json.dumps([*HOSTILE_LINKS, "https://ok.example/code"]),),
        )
    ledger.close()
    page.unlink()
    (page.parent / ".archive.json").unlink()
    assert archive_after_pass(load_config(cfg)).pages
    html = page.read_text(encoding="utf-8")
    assert "https://ok.example/code" in html
    assert not [h for h in hrefs(html) if not h.lower().startswith(("https:", "http:", "feed.xml", "index.html"))]


def test_archive_written_once_and_caught_up(tmp_path: Path, seeds: dict[str, Path]) -> None:
    from newsletter.site.archive import archive_after_pass

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
        assert page.headers["X-Robots-Tag"] == "noindex, nofollow"  # a leaked link is not indexed
        listing = await client.get("/archive/")
        assert listing.status in (403, 404)  # no directory listings: folder names are secrets
        escape = await client.get("/archive/..%2fconfig.yaml")
        assert escape.status in (403, 404)
        # a reader who trims the link to its folder gets the folder's index, not a 403
        folder = link.removeprefix("https://digest.example.org").rsplit("/", 1)[0]
        index = await client.get(folder + "/")
        assert index.status == 200 and "the issues of" in (await index.text()).lower()
        assert index.headers["X-Robots-Tag"] == "noindex, nofollow"
        bare = await client.get(folder, allow_redirects=False)
        assert bare.status == 308 and bare.headers["Location"] == folder + "/"
        assert bare.headers["X-Robots-Tag"] == "noindex, nofollow"
        feed = await client.get(folder + "/feed.xml")
        assert feed.status == 200 and feed.headers["Content-Type"].startswith("application/atom+xml")
        assert feed.headers["X-Robots-Tag"] == "noindex, nofollow"
        for other in ("/.archive.json", "/../config.yaml", "/%2e%2e/ledger.sqlite3", "/index.html.bak"):
            refused = await client.get(folder + other)
            assert refused.status == 404, other  # only the pages the archive writes
            assert "unsubscribe" not in (await refused.text()).lower()


# --------------------------------------------------------------------------- many issues (issue 20)


def _issue_papers(n: int) -> list[Any]:
    from newsletter.digest import Paper

    return [
        Paper(
            title=f"Self-supervised issue {n} paper {k}",
            abstract=f"Self-supervised learning, study {n}.{k}.",
            id=f"2611.{n:03d}{k}",
            source="d.json",
            arxiv_id=f"2611.{n:03d}{k}",
            url=f"https://huggingface.co/papers/2611.{n:03d}{k}",
            summary=f"TL;DR of issue {n} paper {k}.",
            code_url=f"https://github.com/lab/i{n}p{k}",
            code_stars=1200,
        )
        for k in (1, 2)
    ]


def _sent_issues(config: Any, issues: range) -> None:
    """A real ledger with one digest and one accepted delivery to alice per issue."""
    from newsletter.store import NewDelivery, SqliteLedger
    from tests.ledgerhelp import add_pending, mark_sent

    with SqliteLedger.open(config.ledger_path) as ledger:
        for n in issues:
            papers = _issue_papers(n)
            digest = ledger.record_digest(path=f"d{n}.json", sha256=f"{n:064x}", papers=papers)
            [key] = add_pending(
                ledger,
                [
                    NewDelivery(
                        "alice@example.org", f"<issue-{n}@example.org>", tuple(p.id for p in papers), "d@x", b"m"
                    )
                ],
                horizon=digest,
            )
            mark_sent(ledger, [(key, 1)])


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every file: a rewrite (atomic rename) gives a new inode."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_archive_pages_past_the_newest_50_issues_get_their_papers(tmp_path: Path) -> None:
    from newsletter.render.links.archive import issue_name
    from newsletter.site.archive import archive_sent
    from newsletter.store import SqliteLedger

    config = load_config(archived_setup(tmp_path, 2525))
    _sent_issues(config, range(1, 56))  # 55 issues: 5 older than the feed's 50
    folder = tmp_path / "archive" / issue_path("alice@example.org", "<issue-1@example.org>", secret_for(config)[0])
    folder = folder.parent
    folder.mkdir(parents=True)
    empty = folder / f"{issue_name('<issue-1@example.org>')}.html"
    empty.write_text("<p>0 new papers</p>", encoding="utf-8")  # what the old version wrote past the newest 50
    with SqliteLedger.open(config.ledger_path) as ledger:
        done = archive_sent(config, ledger)
    assert len(done.pages) == 55 and len(done.feeds) == 1
    for n in range(1, 56):
        html = (folder / f"{issue_name(f'<issue-{n}@example.org>')}.html").read_text(encoding="utf-8")
        for k in (1, 2):  # each page shows its papers as the email does: link, TL;DR, code and stars
            assert f">Self-supervised</mark> issue {n} paper {k}</a>" in html
            assert f'href="https://huggingface.co/papers/2611.{n:03d}{k}"' in html
            assert f"TL;DR</strong> TL;DR of issue {n} paper {k}." in html
            assert f'href="https://github.com/lab/i{n}p{k}"' in html and "Code ★ 1.2k" in html
        assert "2 papers matched" in html and "0 new papers" not in html
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert index.count("<li>") == 55 and "55 issues" in index
    feed = feedparser.parse((folder / "feed.xml").read_bytes())
    assert not feed.bozo and len(feed.entries) == 50


def test_archive_second_pass_writes_nothing_and_a_new_issue_only_its_page(tmp_path: Path) -> None:
    from newsletter.render.links.archive import issue_name
    from newsletter.site.archive import archive_sent
    from newsletter.store import SqliteLedger

    config = load_config(archived_setup(tmp_path, 2525))
    _sent_issues(config, range(1, 56))
    with SqliteLedger.open(config.ledger_path) as ledger:
        archive_sent(config, ledger)
        [folder] = (tmp_path / "archive").iterdir()
        before = _files(folder)
        again = archive_sent(config, ledger)
        assert again.pages == () and again.feeds == ()
        assert _files(folder) == before  # not one file rendered or rewritten
    _sent_issues(config, range(56, 57))
    with SqliteLedger.open(config.ledger_path) as ledger:
        new = archive_sent(config, ledger)
    after = _files(folder)
    page = f"{issue_name('<issue-56@example.org>')}.html"
    assert [p.name for p in new.pages] == [page]
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {page, "index.html", "feed.xml", ".archive.json"}


def test_archive_feed_without_url_is_relative_with_xml_base(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from newsletter.site.archive import archive_sent
    from newsletter.store import SqliteLedger

    cfg = write_config(tmp_path, 2525, EXAMPLE_SUBSCRIBERS[:1], archive={"directory": "archive"})
    config = load_config(cfg)
    _sent_issues(config, range(1, 3))
    with SqliteLedger.open(config.ledger_path) as ledger:
        [feed_path] = archive_sent(config, ledger).feeds
    root = ET.fromstring(feed_path.read_bytes())
    assert root.get("{http://www.w3.org/XML/1998/namespace}base") == "./"
    feed = feedparser.parse(feed_path.read_bytes())
    assert not feed.bozo
    assert all(not e.links[0].href.startswith("http") for e in feed.entries)
    # with archive.url every link is absolute, and there is no xml:base
    cfg = archived_setup(tmp_path, 2525)
    config = load_config(cfg)
    (feed_path.parent / ".archive.json").unlink()
    with SqliteLedger.open(config.ledger_path) as ledger:
        [feed_path] = archive_sent(config, ledger).feeds
    root = ET.fromstring(feed_path.read_bytes())
    assert root.get("{http://www.w3.org/XML/1998/namespace}base") is None
    hrefs = [link.get("href") for link in root.iter("{http://www.w3.org/2005/Atom}link")]
    assert hrefs and all(h.startswith(f"{URL}/{feed_path.parent.name}/") for h in hrefs)


def test_archive_index_names_the_digest_and_the_dates_never_the_address(tmp_path: Path) -> None:
    from newsletter.site.archive import archive_sent
    from newsletter.store import SqliteLedger

    config = load_config(archived_setup(tmp_path, 2525))
    _sent_issues(config, range(1, 4))
    with SqliteLedger.open(config.ledger_path) as ledger:
        [feed_path] = archive_sent(config, ledger).feeds
    index = (feed_path.parent / "index.html").read_text(encoding="utf-8")
    assert "<title>Paper Digest for Alice Martin</title>" in index
    assert "The issues of Paper Digest sent to Alice Martin" in index and "3 issues" in index
    assert "Keywords: self-supervised, contrastive learning, augment*." in index
    assert "alice@example.org" not in index and "alice" not in feed_path.parent.name
    assert "2 papers: Self-supervised issue 3 paper 1; Self-supervised issue 3 paper 2" in index


def test_archive_title_links_where_the_email_does(tmp_path: Path) -> None:
    """One paper from two digests (the Hugging Face API, then an arXiv-only record): the
    email links its Hugging Face page, and so does the archive page."""
    import re

    from newsletter.site.archive import archive_after_pass

    hf = json.loads((Path(__file__).parent / "samples" / "hf-api-digest.json").read_text(encoding="utf-8"))[:1]
    arxiv = (
        '<?xml version="1.0" encoding="UTF-8"?><rss xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">'
        "<channel><title>cs.CV updates on arXiv.org</title><link>http://rss.arxiv.org/rss/cs.CV</link>"
        "<description>x</description><item><title>Smooth Bezier Flows in linear time</title>"
        "<link>https://arxiv.org/abs/2611.10001</link><description>arXiv:2611.10001v2 Announce Type: replace "
        'Abstract: A short curve abstract.</description><guid isPermaLink="false">oai:arXiv.org:2611.10001v2</guid>'
        "<dc:creator>Léa Fontaine</dc:creator></item></channel></rss>"
    )
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, [{"email": "a@example.org", "keywords": ["curve"]}])
        newsletter("send", "-c", str(cfg))
        (tmp_path / "digests" / "1-hf.json").write_text(json.dumps(hf), encoding="utf-8")
        (tmp_path / "digests" / "2-arxiv.xml").write_text(arxiv, encoding="utf-8")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        [msg] = server.by_recipient()["a@example.org"]
    from email import message_from_bytes, policy

    html = message_from_bytes(msg.data, policy=policy.default).get_body(("html",)).get_content()  # type: ignore[union-attr]
    email_link = re.search(r'class="pd-link" href="([^"]+)"', html)
    assert email_link and email_link.group(1) == "https://huggingface.co/papers/2611.10001"
    cfg = write_config(tmp_path, 2525, [{"email": "a@example.org", "keywords": ["curve"]}], archive={"directory": "a"})
    [page] = archive_after_pass(load_config(cfg)).pages
    page_link = re.search(r'class="pd-link" href="([^"]+)"', page.read_text(encoding="utf-8"))
    assert page_link and page_link.group(1) == email_link.group(1)


def test_archive_dates_an_issue_in_the_schedule_time_zone(tmp_path: Path) -> None:
    """An issue sent at 18:00 in Los Angeles on Friday 4 December (02:00 UTC on the 5th):
    its page and the index say Friday, 4 December, as the email did, not the UTC date.
    Pages written before in another zone (here UTC: Saturday) are dated again."""
    from datetime import UTC, datetime

    from newsletter.site.archive import archive_sent
    from newsletter.store import SqliteLedger

    def archived(zone: str) -> tuple[str, str]:
        config = load_config(archived_setup(tmp_path, 2525, schedule={"cron": "0 18 * * *", "timezone": zone}))
        with SqliteLedger.open(config.ledger_path) as ledger:
            [feed_path] = archive_sent(config, ledger).feeds
        [page] = [p for p in feed_path.parent.glob("*.html") if p.name != "index.html"]
        return (feed_path.parent / "index.html").read_text(encoding="utf-8"), page.read_text(encoding="utf-8")

    _sent_issues(load_config(archived_setup(tmp_path, 2525)), range(1, 2))
    evening = datetime(2026, 12, 5, 2, 0, tzinfo=UTC).timestamp()
    with sqlite3.connect(load_config(archived_setup(tmp_path, 2525)).ledger_path) as db:
        db.execute("UPDATE deliveries SET sent_at = ?, updated_at = ?", (evening, evening))
    db.close()
    index, page = archived("UTC")
    assert "Saturday, 5 Dec 2026" in index and "Saturday, 5 Dec 2026" in page
    index, page = archived("America/Los_Angeles")
    assert "Friday, 4 Dec 2026" in index and "Saturday" not in index
    assert "Friday, 4 Dec 2026" in page
