"""bioRxiv/medRxiv's revisions of older preprints (SPEC 2.5): the details API answers every
version posted in the interval asked, so a day's answer holds the v2 or v3 of a preprint
first posted months ago. Such a record has its ``version`` and is ``revised``: labelled
``Revised (v3)`` in the email, the archive pages, the archive's Atom feed and ``match``,
and left out by ``revisions: false``. The v1 and v2 of one DOI in one answer (both posted
that day) are one new paper.

The answers are shaped as the real API's (tests/recorded/biorxiv-details-page.json, a
recorded day of ``api.biorxiv.org/details/biorxiv/{from}/{to}/{cursor}``); the papers are
invented."""

from __future__ import annotations

import copy
import json
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import feedparser
import pytest

from newsletter.digest import Paper, parse_digest, revision_label, unique_papers
from tests.conftest import run_cli
from tests.smtpd import smtp_server, write_config

RECORDED = json.loads((Path(__file__).parent / "recorded" / "biorxiv-details-page.json").read_text("utf-8"))
DAY = "2026-12-04"
NAME = f"biorxiv-{DAY}.json"
OLD_DOI = "10.1101/2026.06.30.601234"  # first posted in June; its v3 posted today
OLD_TITLE = "Contrastive coding of place in the entorhinal cortex"
OLD_TAIL = OLD_TITLE.removeprefix("Contrastive ")  # the email and pages highlight the keyword
LABEL = "Revised (v3)"  # the answer never says when its v1 was posted: no first day
TWICE = "10.1101/2026.11.15.612345"  # its v1 and v2 both posted today (the recorded answer)


def revised_item() -> dict[str, Any]:
    """An item as the API gives a preprint's third version: the recorded item's keys."""
    item = copy.deepcopy(RECORDED["collection"][2])
    item.update(
        doi=OLD_DOI,
        title=OLD_TITLE,
        authors="Haugen, S.; Obi, C. N.",
        author_corresponding="Siri Haugen",
        author_corresponding_institution="Kavli Institute for Systems Neuroscience",
        date=DAY,
        version="3",
        type="new results",
        category="neuroscience",
        jatsxml=f"https://www.biorxiv.org/content/early/2026/12/04/{OLD_DOI[8:]}.source.xml",
        abstract="Grid cells code place. We show with contrastive decoding that the code is shared across rooms.",
        published="NA",
    )
    return item


def answer(*items: dict[str, Any]) -> str:
    """The day's answer (one page) as the API writes it: messages and collection."""
    day = copy.deepcopy(RECORDED)
    for item in day["collection"]:
        item["date"] = DAY
    day["collection"] = [*day["collection"], *items]
    day["messages"][0].update(interval=f"{DAY}:{DAY}", count=len(day["collection"]), total=str(len(day["collection"])))
    return json.dumps(day, indent=1)


def papers_of(text: str, name: str = NAME) -> tuple[Paper, ...]:
    return parse_digest(text.encode(), source=name).papers


def test_biorxivfmt_v3_of_an_older_preprint_is_revised_v1_and_v2_the_same_day_new() -> None:
    papers = {p.id: p for p in papers_of(answer(revised_item()))}
    assert len(papers) == 4  # v1 and v2 of TWICE: one paper
    old = papers[OLD_DOI]
    assert (old.version, old.announce_type, old.revised, revision_label(old)) == (3, None, True, LABEL)
    assert old.url == f"https://www.biorxiv.org/content/{OLD_DOI}v3"
    twice = papers[TWICE]
    assert (twice.version, twice.announce_type, twice.revised, revision_label(twice)) == (2, "new", False, None)
    assert twice.url == f"https://www.biorxiv.org/content/{TWICE}v2"  # its latest version's page
    assert all(not p.revised and p.version == 1 for i, p in papers.items() if i not in (OLD_DOI, TWICE))
    # the API's order is no rule: the v2 before the v1 is the same new paper
    day = json.loads(answer())
    day["collection"][0], day["collection"][1] = day["collection"][1], day["collection"][0]
    (first, *_) = papers_of(json.dumps(day))
    assert (first.id, first.version, first.revised, first.url) == (TWICE, 2, False, twice.url)


def test_biorxivfmt_v1_in_one_days_file_v3_in_the_next_is_new() -> None:
    """A weekly subscriber's pass holds Monday's answer (the v1) and Thursday's (its v3):
    the preprint is new to them; Thursday's alone has it revised. medRxiv's answers too."""
    v1 = revised_item() | {"version": "1", "date": "2026-11-30"}
    monday, thursday = papers_of(json.dumps([v1]), "a.json"), papers_of(json.dumps([revised_item()]), "b.json")
    for first, second in ((monday, thursday), (thursday, monday)):
        (paper,) = unique_papers([*first, *second])
        assert (paper.version, paper.revised, revision_label(paper)) == (3, False, None)
    med = revised_item() | {"server": "medRxiv", "version": "2"}
    (paper,) = papers_of(json.dumps([med]), "medrxiv-2026-12-04.json")
    assert paper.url == f"https://www.medrxiv.org/content/{OLD_DOI}v2" and revision_label(paper) == "Revised (v2)"


def test_cli_parse_json_biorxiv_records_have_version_and_revised(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_text(answer(revised_item()), encoding="utf-8")
    result = run_cli("parse", "--json", str(path))
    assert result.returncode == 0, result.stderr
    records = {r["id"]: r for r in json.loads(result.stdout)}
    assert [(r["version"], r["announce_type"], r["revised"], r["first_announced"]) for r in records.values()] == [
        (2, "new", False, None),
        (1, "new", False, None),
        (1, "new", False, None),
        (3, None, True, None),
    ]
    # the ledger's form reads back the same (archive pages keep the label)
    assert revision_label(Paper.from_json(records[OLD_DOI])) == LABEL


SUBSCRIBERS: list[dict[str, Any]] = [
    {"email": "alice@example.org", "name": "Alice", "keywords": ["contrastive"], "revisions": True},
    {"email": "bob@example.org", "name": "Bob", "keywords": ["contrastive"]},  # defaults: revisions false
]


def setup(tmp_path: Path, port: int, **top: Any) -> Path:
    return write_config(tmp_path, port, SUBSCRIBERS, defaults={"revisions": False}, **top)


def test_cli_match_json_labels_a_biorxiv_revision_and_revisions_false_leaves_it_out(tmp_path: Path) -> None:
    cfg = setup(tmp_path, 2525)
    (tmp_path / "digests" / NAME).write_text(answer(revised_item()), encoding="utf-8")
    result = run_cli("match", "-c", str(cfg), "--json")
    assert result.returncode == 0, result.stderr
    got = {s["email"]: {p["id"]: p for p in s["papers"]} for s in json.loads(result.stdout)["subscribers"]}
    alice, bob = got["alice@example.org"], got["bob@example.org"]
    assert len(alice) == 4 and OLD_DOI in alice and TWICE in alice
    assert {k: alice[OLD_DOI][k] for k in ("revised", "revision", "version", "first_announced")} == {
        "revised": True,
        "revision": LABEL,
        "version": 3,
        "first_announced": None,
    }
    assert "revised" not in alice[TWICE]  # v1 and v2 the same day: a new paper, as any
    assert set(bob) == set(alice) - {OLD_DOI}
    table = run_cli("match", "-c", str(cfg), "--subscriber", "alice@example.org")
    assert table.stdout.count(LABEL) == 1, table.stdout


def parts(data: bytes) -> tuple[str, str]:
    msg = message_from_bytes(data, policy=policy.default)
    html = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_content()
    text = next(p for p in msg.walk() if p.get_content_type() == "text/plain").get_content()
    return html, text


@pytest.mark.parametrize("url", ["https://d.example.org/a", None])
def test_send_biorxiv_revision_labelled_in_email_archive_and_feed_left_out_for_revisions_false(
    tmp_path: Path, url: str | None
) -> None:
    with smtp_server() as server:
        cfg = setup(tmp_path, server.port, archive={"directory": "archive", "url": url})
        assert run_cli("send", "-c", str(cfg)).returncode == 0  # the subscribers start here
        (tmp_path / "digests" / NAME).write_text(answer(revised_item()), encoding="utf-8")
        result = run_cli("send", "-c", str(cfg))
        assert result.returncode == 0, result.stderr
        received = server.by_recipient()
    [alice], [bob] = received["alice@example.org"], received["bob@example.org"]
    html, text = parts(alice.data)
    assert "4 new papers matched your keywords (1 of them a revised version of an older paper)." in text
    block = text[text.index(OLD_TAIL) :]
    assert block.index(f"[{LABEL}]") < block.index(f"https://www.biorxiv.org/content/{OLD_DOI}v3")
    assert text.count("[Revised") == 1 and html.count('class="pd-rev"') == 1 and LABEL in html
    html, text = parts(bob.data)
    assert "3 new papers matched your keywords." in text and OLD_TAIL not in text and "Revised" not in html
    assert f"https://www.biorxiv.org/content/{TWICE}v2" in text  # posted twice today: still new
    # the archive: alice's page labels it, her feed's summary too; bob's says nothing of it
    feeds = {}
    for feed_path in (tmp_path / "archive").glob("*/feed.xml"):
        folder = feed_path.parent
        pages = [p.read_text("utf-8") for p in folder.glob("*.html") if p.name != "index.html"]
        [summary] = [e.summary for e in feedparser.parse(feed_path.read_bytes()).entries]
        feeds[OLD_TAIL in pages[0]] = summary
        assert (LABEL in pages[0]) is (OLD_TAIL in pages[0])
    assert f"{OLD_TITLE} [{LABEL}]" in feeds[True] and feeds[True].count("[Revised") == 1
    assert "Revised" not in feeds[False] and "Contrastive learning maps hippocampal replay" in feeds[False]


def test_archive_pages_say_noindex(tmp_path: Path) -> None:
    """The archive's links are secrets: a leaked link (a forwarded email) is not indexed."""
    with smtp_server() as server:
        cfg = setup(tmp_path, server.port, archive={"directory": "archive", "url": "https://d.example.org/a"})
        assert run_cli("send", "-c", str(cfg)).returncode == 0
        (tmp_path / "digests" / NAME).write_text(answer(), encoding="utf-8")
        assert run_cli("send", "-c", str(cfg)).returncode == 0
    pages = list((tmp_path / "archive").glob("*/*.html"))
    assert len(pages) == 4 and {p.name for p in pages} >= {"index.html"}  # 2 issues, 2 indexes
    for page in pages:
        head = page.read_text("utf-8").split("</head>")[0]
        assert '<meta name="robots" content="noindex, nofollow">' in head, page.name
        assert '<meta name="referrer" content="no-referrer">' in head


def test_archive_feed_label_follows_its_title_escaped_and_older_manifests_are_caught_up(tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script> Contrastive & "quoted" coding'
    with smtp_server() as server:
        cfg = setup(tmp_path, server.port, archive={"directory": "archive", "url": None})
        assert run_cli("send", "-c", str(cfg)).returncode == 0
        (tmp_path / "digests" / NAME).write_text(json.dumps([revised_item() | {"title": hostile}]), encoding="utf-8")
        assert run_cli("send", "-c", str(cfg)).returncode == 0
        [feed_path] = list((tmp_path / "archive").glob("*/feed.xml"))  # alice's: bob got nothing
        raw = feed_path.read_text("utf-8")
        assert "<script" not in raw and "&lt;script&gt;" in raw
        [entry] = feedparser.parse(feed_path.read_bytes()).entries
        assert entry.summary == f"{hostile} [{LABEL}]"
        index = (feed_path.parent / "index.html").read_text("utf-8")  # the index's first titles too
        assert f"coding [{LABEL}]" in index and "<script>" not in index
        # a folder an older version wrote (its manifest has no labels): caught up by the next pass
        manifest = feed_path.parent / ".archive.json"
        rows = json.loads(manifest.read_text("utf-8"))
        manifest.write_text(json.dumps([{k: v for k, v in r.items() if k != "labels"} | {"stamp": "0"} for r in rows]))
        feed_path.write_text(raw.replace(f" [{LABEL}]", ""), encoding="utf-8")
        fresh = revised_item() | {"doi": "10.1101/2026.12.03.700001", "version": "1", "title": "Contrastive maps"}
        (tmp_path / "digests" / "biorxiv-later.json").write_text(json.dumps([fresh]), encoding="utf-8")
        assert run_cli("send", "-c", str(cfg)).returncode == 0  # the next issue: the archive pass
    newest, older = feedparser.parse(feed_path.read_bytes()).entries
    assert (newest.summary, older.summary) == ("Contrastive maps", f"{hostile} [{LABEL}]")


def test_check_says_what_becomes_of_biorxiv_revisions(tmp_path: Path) -> None:
    sources = [{"type": "biorxiv", "categories": ["neuroscience"]}, {"type": "medrxiv"}]
    cfg = write_config(tmp_path, 2525, SUBSCRIBERS, defaults={"revisions": False}, sources=sources)
    result = run_cli("check", "-c", str(cfg))
    assert result.returncode == 0, result.stderr
    said = "  revisions:   bioRxiv's and medRxiv's new versions of older papers left out (revisions: false)"
    assert f"{said}; 1 subscriber(s) sent" in result.stdout
