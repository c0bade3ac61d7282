"""The ``json`` reader on files as tools write them (SPEC 2.2)."""

from __future__ import annotations

import json
from pathlib import Path

from newsletter.digest import parse_digest


def api_item(axid: str, title: str) -> dict[str, object]:
    return {
        "paper": {"id": axid, "title": title, "summary": f"About {title}.", "authors": [], "upvotes": 4},
        "title": title,
        "numComments": 1,
        "submittedBy": {"_id": "u", "fullname": "AK"},
    }


ITEMS = [api_item("2611.00011", "Alpha"), api_item("2611.00012", "Beta"), api_item("2611.00013", "Gamma")]


def test_jsonfmt_json_lines_one_item_a_line() -> None:
    """``jq -c '.[]'`` of the API answer (JSON Lines): every line is one paper."""
    text = "\n".join(json.dumps(item) for item in ITEMS) + "\n"
    digest = parse_digest(text.encode(), source="papers.jsonl")
    assert [(p.id, p.title, p.abstract) for p in digest.papers] == [
        ("2611.00011", "Alpha", "About Alpha."),
        ("2611.00012", "Beta", "About Beta."),
        ("2611.00013", "Gamma", "About Gamma."),
    ]


def test_jsonfmt_json_lines_cut_short_names_the_line() -> None:
    """The last line cut short: the lines before it are read, the cut one named (SPEC 6c)."""
    text = "\n".join(json.dumps(item) for item in ITEMS)
    digest = parse_digest(text[:-20].encode(), source="papers.jsonl")
    assert [p.id for p in digest.papers] == ["2611.00011", "2611.00012"]
    (bad,) = digest.missing
    assert bad.startswith("entry 2 (line 3): invalid JSON")


def test_jsonfmt_several_answers_in_one_file() -> None:
    """``cat day1.json day2.json > week.json``: the answers' arrays, one after the other."""
    text = json.dumps(ITEMS[:2], indent=2) + "\n" + json.dumps(ITEMS[2:], indent=2) + "\n"
    digest = parse_digest(text.encode(), source="week.json")
    assert [p.id for p in digest.papers] == ["2611.00011", "2611.00012", "2611.00013"]


def test_jsonfmt_json_lines_file_is_a_digest_by_default(tmp_path: Path) -> None:
    """The default ``digests.pattern`` takes every format we read: a ``.jsonl`` file
    dropped in the digests folder is picked up like a ``.json`` one."""
    from newsletter.config import load_config
    from newsletter.digest.scan import digest_files, load_digests
    from tests.smtpd import write_config

    config = load_config(write_config(tmp_path, 2525, [{"email": "a@example.org", "keywords": ["alpha"]}]))
    dropped = tmp_path / "digests" / "papers.jsonl"
    dropped.write_text("\n".join(json.dumps(item) for item in ITEMS) + "\n", encoding="utf-8")
    assert digest_files(config) == [dropped]
    assert [p.id for p in load_digests(digest_files(config)).papers] == ["2611.00011", "2611.00012", "2611.00013"]
