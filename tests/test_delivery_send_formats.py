"""One paper, one identity, in delivery (SPEC 2.4, 6): a digest directory holding the
daily-papers API's JSON, a saved Hugging Face page, an arXiv RSS listing, an Atom
answer and text dumps of overlapping papers, delivered over several runs to a real
aiosmtpd server with a real SQLite ledger."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.config import load_config
from newsletter.store import SqliteLedger
from tests.conftest import text_of
from tests.smtpd import Received, smtp_server, write_config

SAMPLES = Path(__file__).resolve().parent / "samples"

PLAIN = "new\n\nDaily Papers\n\nNov 2\n\n{title}\n\n{abstract}\n\n  • 1 author\n·\nNov 1\n"
SUBSCRIBERS: list[dict[str, Any]] = [
    {"email": "ana@example.org", "keywords": ["satellite", "attention heads", "curriculum", "reasoning"]},
    {"email": "ben@example.org", "keywords": ['author:"Dana Li"', "org:tidal"]},
]


def send(cfg: Path) -> Any:
    result = CliRunner().invoke(cli, ["send", "-c", str(cfg), "-v"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def drop(cfg: Path, *names: str, **texts: str) -> None:
    digests = cfg.parent / "digests"
    for name in names:
        target = {"arxiv.rss": "arxiv-cs.CL+cs.LG-2026-11-02.xml", "arxiv.atom": "arxiv-query.xml"}.get(name, name)
        shutil.copy2(SAMPLES / name, digests / target)
    for name, text in texts.items():
        (digests / name.replace("_", ".")).write_text(text, encoding="utf-8")


def got(received: Sequence[Received]) -> dict[str, list[str]]:
    """Per recipient, the text of every email."""
    out: dict[str, list[str]] = {}
    for msg in received:
        out.setdefault(msg.rcpt_tos[0], []).append(text_of(msg.message))
    return out


def test_send_each_paper_once_across_formats_and_runs(tmp_path: Path) -> None:
    tide = "Contrastive Tide: Self-Supervised Learning of Ocean Currents from Satellite Sequences"
    heads = "Retrieval Heads in Long Context Models"
    curriculum = "Curriculum Schedules for Small Language Models"
    budgets = "Token Budgets for <b>Reasoning</b> & Planning"
    with smtp_server() as server:
        cfg = write_config(
            tmp_path, server.port, SUBSCRIBERS, digests={"directory": "digests", "pattern": "*", "settle_seconds": 0}
        )
        config = load_config(cfg)

        # run 1: the API file and the saved page hold the same two papers; a text dump
        # brings a third one under a title-derived id
        drop(
            cfg,
            "api.json",
            "page.html",
            hf_2026_11_02_txt=PLAIN.format(title=curriculum, abstract="Small models learn from a curriculum."),
        )
        send(cfg)
        first = got(server.received)
        assert sorted(first) == ["ana@example.org", "ben@example.org"]
        (ana,) = first["ana@example.org"]
        assert "3 new papers" in ana
        assert ana.count(tide) == 1 and ana.count(heads) == 1 and ana.count(curriculum) == 1
        (ben,) = first["ben@example.org"]
        assert "2 new papers" in ben and ben.count(tide) == 1 and ben.count(heads) == 1
        assert 'Matched: author:"Dana Li"' in ben and "Matched: org:tidal" in ben

        # run 2: arXiv's RSS (the heads paper again, v2, and a new one) and an Atom answer
        # (the tide paper, v3, and the curriculum paper, now under its arXiv id)
        drop(cfg, "arxiv.rss", "arxiv.atom")
        before = len(server.received)
        send(cfg)
        second = got(server.received[before:])
        assert sorted(second) == ["ana@example.org"]
        (ana,) = second["ana@example.org"]
        assert "1 new paper matched" in ana and budgets in ana
        assert tide not in ana and heads not in ana and curriculum not in ana

        # run 3: text dumps of papers already sent (one by its arXiv id, one by a title
        # spelled differently): nothing to send
        drop(
            cfg,
            "hf-markdown.md",
            hf_late_txt=PLAIN.format(title="Retrieval Heads in Long-Context Models", abstract="Attention heads."),
        )
        before = len(server.received)
        result = send(cfg)
        assert server.received[before:] == [] and "sent 0" in result.output

        # run 4: nothing new at all
        send(cfg)
        assert len(server.received) == before

        with SqliteLedger.open(config.ledger_path) as ledger:
            sent = ledger.sent_papers("ana@example.org")
            assert {"2610.01234", "2611.00002", "2611.00003"} <= sent
            assert "curriculum-schedules-for-small-language-models" in sent
            assert len([r for r in ledger.digests() if r.status == "ok"]) == 7
