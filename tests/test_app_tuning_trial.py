"""`match --keyword` (a keyword trial without a profile) and labelled `match --stats`."""

from __future__ import annotations

import json
from pathlib import Path

from newsletter.config import load_config
from newsletter.digest.scan import read_digest
from newsletter.matching import PaperIndex, Profile, match_papers
from tests.conftest import newsletter
from tests.smtpd import write_config


def test_match_keyword_trial_lists_every_matching_paper(tmp_path: Path, seeds: dict[str, Path]) -> None:
    cfg = write_config(tmp_path, 2525, [])
    result = newsletter("match", "-c", str(cfg), "--keyword", "contrastive learning", "--json", str(seeds["001"]))
    assert result.exit_code == 0, result.output
    [trial] = json.loads(result.output)["subscribers"]
    papers = read_digest(seeds["001"]).papers
    expected = match_papers(PaperIndex(papers), Profile(email="x", keywords=("contrastive learning",), max_papers=500))
    assert [p["id"] for p in trial["papers"]] == [m.paper.id for m in expected]
    assert expected and all(p["matched"][0]["keyword"] == "contrastive learning" for p in trial["papers"])


def test_match_keyword_trial_exclude_removes_papers(tmp_path: Path, seeds: dict[str, Path]) -> None:
    cfg = write_config(tmp_path, 2525, [])
    every = newsletter("match", "-c", str(cfg), "--keyword", "self-supervised", str(seeds["002"]))
    fewer = newsletter(
        "match", "-c", str(cfg), "--keyword", "self-supervised", "--exclude", "medical", str(seeds["002"])
    )
    assert every.exit_code == 0 and fewer.exit_code == 0, (every.output, fewer.output)
    assert "keyword 'self-supervised': 8 papers" in every.output
    assert "keyword 'self-supervised'; exclude 'medical': 7 papers" in fewer.output
    ids = [
        {p["id"] for p in json.loads(newsletter("match", "-c", str(cfg), *args, "--json", str(seeds["002"])).output)[
            "subscribers"][0]["papers"]}
        for args in (["--keyword", "self-supervised"], ["--keyword", "self-supervised", "--exclude", "medical"])
    ]  # fmt: skip
    assert ids[1] < ids[0] and len(ids[0] - ids[1]) == 1


def test_match_keyword_trial_bad_keyword_is_one_line(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, 2525, [])
    result = newsletter("match", "-c", str(cfg), "--keyword", "title:")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --keyword 'title:': no word after 'title:' (a keyword needs letters or digits)"
    ]
    lone = newsletter("match", "-c", str(cfg), "--exclude", "medical")
    assert lone.exit_code == 2 and "--keyword" in lone.output


def test_match_stats_rows_labelled_exclude_shows_removed_papers(tmp_path: Path, seeds: dict[str, Path]) -> None:
    sub = {"email": "a@example.org", "keywords": ["self-supervised", "augment*"], "require": ["learning"],
           "exclude": ["medical", "quantum chromodynamics"]}  # fmt: skip
    cfg = write_config(tmp_path, 2525, [sub])
    result = newsletter("match", "-c", str(cfg), "--stats", "--json", str(seeds["002"]))
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)["subscribers"]
    kinds = [(k["kind"], k["keyword"]) for k in row["keywords"]]
    assert kinds == [("keyword", "self-supervised"), ("keyword", "augment*"), ("require", "learning"),
                     ("exclude", "medical"), ("exclude", "quantum chromodynamics")]  # fmt: skip
    medical = row["keywords"][3]
    # what `medical` removed = what the profile matches without it, less what it matches with it
    papers = read_digest(seeds["002"]).papers
    subscriber = load_config(cfg).subscribers[0]
    index = PaperIndex(papers)
    base = Profile("a", subscriber.keywords, subscriber.require, (), 500)
    kept = Profile("a", subscriber.keywords, subscriber.require, ("medical",), 500)
    removed = {m.paper.id for m in match_papers(index, base)} - {m.paper.id for m in match_papers(index, kept)}
    assert {p["id"] for p in medical["removed"]} == removed and medical["hits"] == len(removed) > 0
    all_medical = sum(1 for p in papers if "medical" in (p.title + " " + p.abstract).lower())
    assert medical["hits"] < all_medical  # removed papers, not hits across all papers
    assert row["keywords"][4]["hits"] == 0 and row["keywords"][4]["flag"] == "removed nothing"
    text = newsletter("match", "-c", str(cfg), "--stats", str(seeds["002"])).output
    assert "  exclude " in text and "removed  medical" in text and "  require " in text and "  keyword " in text
