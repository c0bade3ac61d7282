"""Control characters in digests (SPEC 6c): NUL, ESC, BEL and everything else XML 1.0
forbids are dropped when a digest is parsed, whatever its format, by one cleaning step;
so the email (text and HTML), the archive pages and the Atom feed never carry them, and
the feed stays XML. Real files, real aiosmtpd, the archive as `send` writes it."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from email import message_from_bytes
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.digest import clean_text, parse_digest
from newsletter.digest.model import Paper, clean_paper
from tests.conftest import SEEDS, newsletter
from tests.smtpd import smtp_server, write_config

SAMPLES = Path(__file__).parent / "samples"
# what XML 1.0 forbids, plus DEL and the C1 controls (which are never text either)
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
HOSTILE = "Contrastive\x00 Learning \x1b[31mIn Red\x1b[0m\x07 with a\x0cform feed"


def texts(paper: Paper) -> list[str]:
    out: list[str] = []
    for value in paper.to_json().values():
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            out.extend(v for v in value if isinstance(v, str))
    return out


def hostile_digests() -> dict[str, bytes]:
    """One digest per format, each with control characters in a title and an abstract,
    written the way the format can carry them (raw bytes in text, escapes in JSON,
    character references in HTML and XML)."""
    api = [
        {
            "paper": {
                "id": "2611.00001",
                "title": HOSTILE,
                "summary": "A summary\u0007 that rings",
                "authors": [{"name": "Ana\u001b]0;pwned\u0007 Quiroga"}],
            },
            "title": HOSTILE,
            "summary": "An abstract about contrastive learning\u0000 and a lone \ud800 surrogate.",
        }
    ]
    seed = (SEEDS / "001_c30e4185ff9befb4.txt").read_text(encoding="utf-8")
    first = parse_digest(seed.encode(), source="seed.txt").papers[0].title
    text = seed.replace(first, first.replace("Self-Supervised", "Self-\x1b[1mSupervised\x07\x1b[0m"), 1)
    page = (SAMPLES / "page.html").read_text(encoding="utf-8")
    rss = (SAMPLES / "arxiv.rss").read_text(encoding="utf-8")
    return {
        "json": json.dumps(api).encode(),
        "hf-text": text.encode(),
        "hf-html": page.replace("Ana Quiroga", "Ana\\u001b[31mQuiroga\\u0007", 1).encode(),
        "arxiv": rss.replace("Retrieval Heads", "Retrieval&#x1b;[2J Heads&#x7;&#xFFFE;", 1).encode(),
    }


@pytest.mark.parametrize("fmt", ["json", "hf-text", "hf-html", "arxiv"])
def test_text_control_characters_dropped_at_parse_time_in_every_format(fmt: str) -> None:
    data = hostile_digests()[fmt]
    assert re.search(rb"\x1b|\\u001b|&#x1b;", data, re.IGNORECASE)  # the input does carry them
    digest = parse_digest(data, source=f"hostile.{fmt}", fmt=fmt)
    assert digest.papers
    for paper in digest.papers:
        for value in texts(paper):
            assert not FORBIDDEN.search(value), (fmt, value)
    shown = " ".join(t for p in digest.papers for t in texts(p))
    assert re.search(r"\[(31|1|2J)m?", shown), fmt  # the text around stays, only the control character goes


def test_text_cleaning_keeps_words_apart_and_ids_follow_titles() -> None:
    assert clean_text("a\x0cb\x0bc\x1fd") == "a b c d"  # separators become spaces
    assert clean_text("a\x00b\x1b[0mc\x07") == "ab[0mc"  # the rest goes
    assert clean_text("tab\tand\nnewline\r") == "tab\tand\nnewline\r"  # XML allows these
    assert clean_text("emoji 😀 and é stay") == "emoji 😀 and é stay"
    dirty = Paper(title="A\x00B", abstract="", id="a-b", source="x")  # id derived from the title
    assert clean_paper(dirty).id == "ab" and clean_paper(dirty).title == "AB"
    given_id = Paper(title="A\x00B", abstract="", id="2611.00001", source="x", arxiv_id="2611.00001")
    assert clean_paper(given_id).id == "2611.00001"
    tidy = Paper(title="Fine", abstract="Also fine.", id="fine", source="x")
    assert clean_paper(tidy) is tidy


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60))
def test_text_cleaning_leaves_no_forbidden_character(value: str) -> None:
    cleaned = clean_text(value)
    assert not FORBIDDEN.search(cleaned)
    assert len(cleaned) <= len(value)
    assert clean_text(cleaned) == cleaned


def test_text_control_characters_never_reach_the_email_archive_or_atom_feed(tmp_path: Path) -> None:
    with smtp_server() as server:
        cfg = write_config(
            tmp_path,
            server.port,
            [{"email": "alice@example.org", "name": "Alice", "keywords": ["contrastive learning", "retrieval"]}],
            archive={"directory": "archive", "url": "https://digest.example.org/archive"},
        )
        digests = hostile_digests()
        (tmp_path / "digests" / "api.json").write_bytes(digests["json"])
        (tmp_path / "digests" / "feed.xml").write_bytes(digests["arxiv"])

        result = newsletter("send", "-c", str(cfg), "-v")

        assert result.exit_code == 0, result.output
        assert "archive: 1 new page" in result.output
        (msg,) = server.received
    email = message_from_bytes(msg.data)
    parts = {p.get_content_type(): p.get_payload(decode=True) for p in email.walk() if not p.is_multipart()}
    for kind in ("text/plain", "text/html"):
        body = parts[kind].decode("utf-8")
        assert "In Red" in body and "Retrieval" in body, kind  # the papers are there...
        assert not FORBIDDEN.search(body), kind  # ...without a single control character
    subject_and_headers = msg.data.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", subject_and_headers)

    archive = tmp_path / "archive"
    (page,) = [p for p in archive.glob("*/*.html") if p.name != "index.html"]
    html = page.read_text(encoding="utf-8")
    assert "In Red" in html and not FORBIDDEN.search(html)
    (feed,) = archive.glob("*/feed.xml")
    root = ET.fromstring(feed.read_bytes())  # well-formed XML, or this raises
    atom = "{http://www.w3.org/2005/Atom}"
    entries = root.findall(f"{atom}entry")
    assert len(entries) == 1
    content = "".join(entries[0].itertext())
    assert "In Red" in content and not FORBIDDEN.search(content)
