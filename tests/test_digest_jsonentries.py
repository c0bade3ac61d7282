"""One bad entry of a JSON digest never fails the file (SPEC 2.2, 6c): the good entries
are delivered, the digest is ``partial``, and the bad entry is named by its index, line
and id in one line by ``parse``, ``send`` and ``status``. A file that is not JSON, or
whose every entry is bad, stays an error naming the file; withdrawn papers are skipped
without a word."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from newsletter.base.errors import DigestParseError
from newsletter.digest import parse_digest
from tests.conftest import newsletter, settled_text, text_of
from tests.smtpd import smtp_server, write_config


def api_item(axid: str, title: str, **paper: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"id": axid, "title": title, "summary": f"Satellite study of {title}.", "upvotes": 4}
    rec.update(paper)
    return {"paper": rec, "title": title, "numComments": 1}


GOOD_A = api_item("2611.00011", "Alpha Tides")
GOOD_B = api_item("2611.00013", "Gamma Storms")


def parse(text: str, source: str = "d.json") -> Any:
    return parse_digest(text.encode(), source=source)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("not an object", "expected an object, not str"),
        (42, "expected an object, not int"),
        (None, "expected an object, not NoneType"),
        ({"paper": {"id": "2611.00012", "summary": "no title"}}, "'title' must be a non-empty string"),
        (api_item("2611.00012", "Beta", upvotes="many"), "'upvotes' must be a whole number"),
        (api_item("2611.00012", "Beta", publishedAt="soon"), "'publishedAt' is not an ISO date"),
        (api_item("2611.00012", "Beta", authors=[1, 2]), "'authors' must hold names or objects"),
        (api_item("2611.00012", "Beta", id=["x"]), "'paper.id' must be a string"),
    ],
)
def test_jsonentries_api_array_one_bad_entry_is_named(bad: Any, why: str) -> None:
    text = json.dumps([GOOD_A, bad, GOOD_B], indent=2)
    digest = parse(text)
    assert [p.id for p in digest.papers] == ["2611.00011", "2611.00013"]
    assert digest.partial
    (named,) = digest.missing
    line = 2 + len(json.dumps(GOOD_A, indent=2).splitlines())  # "[" on line 1, then the first entry
    assert named.startswith(f"entry 1 (line {line}")
    assert named.endswith(why) or why in named
    if isinstance(bad, dict) and isinstance(bad["paper"].get("id"), str):
        assert "id 2611.00012" in named


def test_jsonentries_plain_records_wrong_types_each_named() -> None:
    records = [
        {"title": "Alpha Tides", "abstract": "A."},
        {"title": "Beta", "published": 20261101},
        {"title": ["a", "list"]},
        {"id": "beta-2", "abstract": "no title at all"},
        {"title": "Delta", "categories": "cs.CL"},
        {"title": "Gamma Storms", "abstract": "G."},
    ]
    digest = parse("[" + ",\n".join(json.dumps(r) for r in records) + "]")
    assert [p.title for p in digest.papers] == ["Alpha Tides", "Gamma Storms"]
    assert digest.missing == (
        "entry 1 (line 2): 'published' must be a date string",
        "entry 2 (line 3): 'title' must be a non-empty string",
        "entry 3 (line 4, id beta-2): 'title' must be a non-empty string",
        "entry 4 (line 5): 'categories' must be a list of strings",
    )


def test_jsonentries_json_lines_with_a_broken_line_and_a_stray_line() -> None:
    lines = [json.dumps(GOOD_A), '{"paper": {"id": "2611.00012", "title": "Bro', "oops", json.dumps(GOOD_B)]
    digest = parse("\n".join(lines) + "\n", "d.jsonl")
    assert [p.id for p in digest.papers] == ["2611.00011", "2611.00013"]
    (named,) = digest.missing  # the broken value runs to the next line that starts a value
    assert named.startswith("entry 1 (line 2): invalid JSON")


def test_jsonentries_concatenated_answers_name_the_line_in_the_file() -> None:
    first = json.dumps([GOOD_A, {"paper": {"id": "2611.00012"}}], indent=2)
    second = json.dumps([GOOD_B], indent=2)
    text = first + "\n" + second + "\n"
    digest = parse(text, "week.json")
    assert [p.id for p in digest.papers] == ["2611.00011", "2611.00013"]
    line = text.splitlines().index('      "id": "2611.00012"') - 1
    assert digest.missing == (f"entry 1 (line {line}, id 2611.00012): 'title' must be a non-empty string",)


def test_jsonentries_wrapper_object_names_the_index_without_a_line() -> None:
    text = json.dumps({"dailyPapers": [GOOD_A, [1, 2], GOOD_B]})
    digest = parse(text)
    assert [p.id for p in digest.papers] == ["2611.00011", "2611.00013"]
    assert digest.missing == ("entry 1: expected an object, not list",)


def test_jsonentries_withdrawn_paper_is_skipped_silently() -> None:
    withdrawn = api_item("2611.00012", "Beta", withdrawnAt="2026-11-02T00:00:00Z")
    digest = parse(json.dumps([GOOD_A, withdrawn, GOOD_B]))
    assert [p.id for p in digest.papers] == ["2611.00011", "2611.00013"]
    assert not digest.partial


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[1, 2, null]", r"d\.json:1: no entry could be read: entry 0 \(line 1\): expected an object.*2 more"),
        ('[{"abstract": "x"}]', r"d\.json:1: no entry could be read: entry 0 \(line 1\): 'title'"),
        ('{"papers": [{"title": 3}]}', r"d\.json: no entry could be read: entry 0: 'title'"),
        ('{"title": "A", "abstract": ', r"d\.json:1: invalid JSON"),
        ('[{"title": "A"} {"title": "B"}]', r"d\.json:1: invalid JSON: expected ',' or ']'"),
        ("[\n" + json.dumps(GOOD_A) + ",\n{broken\n]", r"d\.json:3: invalid JSON"),
        ("42", r"d\.json:1: expected a JSON array of papers"),
        ("[]", r"d\.json:1: the JSON array holds no papers"),
        ("oops\nnot json", r"d\.json:1: invalid JSON"),
    ],
)
def test_jsonentries_not_json_or_every_entry_bad_is_an_error(text: str, match: str) -> None:
    with pytest.raises(DigestParseError, match=match):
        parse_digest(text.encode(), source="d.json", fmt="json")


def test_jsonentries_withdrawn_and_bad_only_is_an_error() -> None:
    withdrawn = api_item("2611.00012", "Beta", withdrawnAt="2026-11-02T00:00:00Z")
    with pytest.raises(DigestParseError, match="no entry could be read"):
        parse(json.dumps([withdrawn, {"title": 7}]))


def test_jsonentries_hostile_entry_cannot_break_the_line() -> None:
    """An id with line ends and escapes: the named entry stays on one line."""
    hostile = {"id": "x\nerror: forged\x1b[31m", "title": None}
    digest = parse(json.dumps([GOOD_A, hostile]))
    (named,) = digest.missing
    assert "\n" not in named and "\x1b" not in named
    assert named.startswith("entry 1 (line 1, id x error: forged\\x1b[31m)")


def test_jsonentries_saved_page_data_with_a_bad_item_is_partial() -> None:
    """The data of a saved listing page (hf-html) is read the same way."""
    from html import escape

    props = {"dailyPapers": [GOOD_A, {"paper": {"id": "2611.00012", "title": 5}}, GOOD_B], "dateString": "2026-11-03"}
    page = f'<html><body><div data-target="DailyPapers" data-props="{escape(json.dumps(props))}"></div></body></html>'
    digest = parse(page, "page.html")
    assert digest.format == "hf-html"
    assert [p.id for p in digest.papers] == ["2611.00011", "2611.00013"]
    assert digest.missing == ("entry 1 (id 2611.00012): 'title' must be a non-empty string",)


# --------------------------------------------------------------------------- the commands

BAD = "entry 1 (line 3, id 2611.00012): 'title' must be a non-empty string"


def _digest_text() -> str:
    return "\n".join(json.dumps(x) for x in [GOOD_A, {"paper": {"id": "2611.00012"}}, GOOD_B]) + "\n"


def test_cli_parse_json_partial_names_the_entry_and_exits_1(tmp_path: Path) -> None:
    path = settled_text(tmp_path / "day.jsonl", _digest_text().replace("\n", "\n\n", 1))
    result = newsletter("parse", str(path))
    assert result.exit_code == 1
    assert "Alpha Tides" in result.stdout and "Gamma Storms" in result.stdout
    assert f"{path}: 2 papers (json, partial: 1 entry not read)" in result.stdout
    assert result.stderr.splitlines() == [f"error: {path}: partial: 1 entry not read ({BAD})"]


def test_send_json_partial_delivers_the_rest_and_status_names_the_entry(tmp_path: Path) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, [{"email": "ana@example.org", "keywords": ["satellite"]}])
        path = settled_text(tmp_path / "digests" / "day.jsonl", _digest_text().replace("\n", "\n\n", 1))
        sent = newsletter("send", "-c", str(cfg))
        assert sent.exit_code == 0, sent.output
        warned = [line for line in sent.stderr.splitlines() if "partial" in line]
        assert warned == [f"warning: digest {path}: partial: 1 entry not read ({BAD})"]
        (msg,) = server.received
        body = text_of(msg.message)
        assert "Alpha Tides" in body and "Gamma Storms" in body

    status = newsletter("status", "-c", str(cfg))
    assert f"  partial {path}  2 papers; 1 entry not read: {BAD}" in status.stdout.splitlines()
    data = json.loads(newsletter("status", "-c", str(cfg), "--json").stdout)
    (digest,) = data["digests"]
    assert (digest["status"], digest["papers"], digest["missing"]) == ("partial", 2, [BAD])


def test_jsonentries_an_open_value_never_swallows_the_lines_after_it() -> None:
    """``{"x": `` or ``{`` alone on a line of JSON Lines: that line is the bad entry; the
    next line, a whole value, is read (JSON allows a value to run on over line ends)."""
    for broken in ('{"paper": ', "{", '{"paper": {"id": "2611.00012", "title": '):
        text = "\n".join([json.dumps(GOOD_A), broken, json.dumps(GOOD_B)]) + "\n"
        digest = parse(text, "d.jsonl")
        assert [p.id for p in digest.papers] == ["2611.00011", "2611.00013"], broken
        (named,) = digest.missing
        assert named.startswith("entry 1 (line 2): invalid JSON"), named


def test_jsonentries_pretty_printed_documents_one_broken() -> None:
    """``jq . a.json b.json c.json``: documents over several lines each, the middle one
    broken; the others are read, the broken one named by the line it starts on."""
    text = "\n".join(
        [json.dumps(GOOD_A, indent=2), '{\n  "paper": {\n    "id": \n  }\n}', json.dumps(GOOD_B, indent=2)]
    )
    digest = parse(text + "\n", "week.json")
    assert [p.id for p in digest.papers] == ["2611.00011", "2611.00013"]
    line = len(json.dumps(GOOD_A, indent=2).splitlines()) + 1
    (named,) = digest.missing
    assert named.startswith(f"entry 1 (line {line}): invalid JSON")
