"""How a ``like:`` entry names a paper (SPEC 4 "More like these", red-team audit): the
spellings people paste, through the real CLI against a real digest with arXiv ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.matching.refs import ref_keys
from tests.conftest import settled_text
from tests.smtpd import write_config

PAPERS = [
    ("2511.00001", "FoldFast: Protein Structure Prediction from Single Sequences", "protein structure folding"),
    ("2511.00002", "Contact Maps Help Protein Folding Models Generalise", "protein folding contact maps"),
    ("2511.00003", "Diffusion over Protein Backbones for Structure Design", "protein backbone structure"),
    ("2511.00004", "Streaming Speech Recognition with Chunked Attention", "speech recognition streaming"),
]
SPELLINGS = [
    "arXiv:2511.00001v2",  # how papers cite it
    "arxiv: 2511.00001",
    "arxiv.org/abs/2511.00001",  # pasted without the scheme
    "https://arxiv.org/html/2511.00001v1",  # arXiv's HTML view
    "https://doi.org/10.48550/arXiv.2511.00001",  # arXiv's DOI
    "10.48550/ARXIV.2511.00001",
    "https://arxiv.org/abs/2511.00001v3?context=cs.LG#x",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_like_entry_in_every_arxiv_spelling_names_the_paper(tmp_path: Path, spelling: str) -> None:
    """``arXiv:2511.00001`` (and the other spellings) named no paper: `check` warned that
    the like was unknown and the liked paper itself was sent back to the subscriber."""
    (tmp_path / "digests").mkdir()
    digest = [{"id": i, "title": t, "abstract": f"We study {a} in depth with {a} methods."} for i, t, a in PAPERS]
    settled_text(tmp_path / "digests" / "day.json", json.dumps(digest))
    sub = {"email": "ana@example.org", "like": [spelling], "like_top": 2, "similarity": "lexical"}
    cfg = write_config(tmp_path, 2525, [sub])
    check = CliRunner().invoke(cli, ["check", "-c", str(cfg)])
    assert check.exit_code == 0, check.output
    assert "names no paper" not in check.stderr, check.stderr
    match = CliRunner().invoke(cli, ["match", "-c", str(cfg), "--json"])
    assert match.exit_code == 0, match.output
    titles = [p["title"] for p in json.loads(match.stdout)["subscribers"][0]["papers"]]
    assert PAPERS[0][1] not in titles  # the liked paper is never sent back
    assert titles and set(titles) <= {t for _, t, _ in PAPERS[1:3]}  # its topic is


def test_ref_keys_arxiv_prefix_never_eats_a_title() -> None:
    assert ref_keys("arXiv:Something Else") == ("arXiv:Something Else", "arxiv-something-else")
    assert ref_keys("arXiv:Something") == ("arXiv:Something", "arxiv-something")
    assert ref_keys("doi:10.48550/arXiv.hep-th/9901001v2") == ("hep-th/9901001",)
