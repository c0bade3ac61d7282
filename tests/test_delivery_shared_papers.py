"""One paper, one send, whatever source brings it (SPEC 2.4, 2.5 "Identity grows").

A digest directory fed by `fetch` from a local HTTP server holding arXiv's RSS
listing, a bioRxiv details answer and journal feeds (Nature Neuroscience's RSS 1.0, the
ACL Anthology's Atom) that share papers by arXiv id and by DOI (a preprint's bioRxiv
``published`` DOI is the journal article's): each subscriber gets each paper once, by email
(a real aiosmtpd), over several runs in which new versions and re-listings come in.
"""

from __future__ import annotations

import json
import re
from email import message_from_bytes
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer

from tests.conftest import run_cli
from tests.smtpd import Received, smtp_server, write_config

RECORDED = Path(__file__).parent / "recorded"
RSS = (RECORDED / "arxiv-rss-cs.CL+cs.LG.xml").read_bytes()
NATURE = (RECORDED / "feed-nature.xml").read_bytes()
ACL = (RECORDED / "feed-acl-atom.xml").read_bytes()
BIORXIV = json.loads((RECORDED / "biorxiv-details-page.json").read_text(encoding="utf-8"))

ALICE = {"email": "alice@example.org", "name": "Alice", "keywords": ["contrastive learning", "contrastive sentence"]}
BOB = {"email": "bob@example.org", "name": "Bob", "keywords": ["reward models", "hippocampal replay"]}
# the same paper under its several records: any of these titles is that paper
REPLAY = ("Contrastive learning maps hippocampal replay", "Hippocampal replay aligned with cortical sequences")
SENTENCES = ("Contrastive Sentence Embeddings under Augmentation Noise", "Noise-robust contrastive sentence embeddings")
TRACES = ("Reasoning Traces as Reward Models for Language Agents",)


def one_page(collection: list[dict[str, Any]]) -> bytes:
    messages = [{**BIORXIV["messages"][0], "cursor": 0, "count": len(collection), "total": str(len(collection))}]
    return json.dumps({"messages": messages, "collection": collection}).encode()


def serve(server: HTTPServer, *, biorxiv: bytes, nature: bytes, day: str) -> None:
    server.clear()
    server.expect_request("/rss/cs.CL+cs.LG").respond_with_data(RSS, content_type="application/rss+xml")
    server.expect_request(f"/details/biorxiv/{day}/{day}/0").respond_with_data(biorxiv, content_type="application/json")
    server.expect_request("/neuro.rss").respond_with_data(nature, content_type="application/rss+xml")
    server.expect_request("/emnlp.atom").respond_with_data(ACL, content_type="application/atom+xml")


def sources(server: HTTPServer) -> list[dict[str, Any]]:
    return [
        {"type": "arxiv", "categories": ["cs.CL", "cs.LG"], "url": server.url_for("/rss/{categories}")},
        {
            "type": "biorxiv",
            "categories": ["neuroscience"],
            "url": server.url_for("/details/{server}/{from}/{to}/{cursor}"),
        },
        {"type": "feed", "name": "nature-neuro", "url": server.url_for("/neuro.rss")},
        {"type": "feed", "name": "emnlp", "url": server.url_for("/emnlp.atom")},
    ]


def text_part(msg: Received) -> str:
    part = message_from_bytes(msg.data).get_payload(0)
    return part.get_payload(decode=True).decode()  # type: ignore[union-attr,no-any-return]


def times(text: str, titles: tuple[str, ...]) -> int:
    """How many papers of ``text`` carry one of ``titles`` (titles are case-folded: the
    text part may wrap; a title shows once per paper in the text part)."""
    flat = re.sub(r"\s+", " ", text.replace("*", "")).casefold()
    return sum(flat.count(t.casefold()) for t in titles)


def send(cfg: Path, day: str) -> Any:
    """The morning of ``day``: ``fetch --date`` (sources ask for the day), then ``send``."""
    fetched = run_cli("fetch", "-c", str(cfg), "--date", day)
    assert fetched.returncode == 0, fetched.stderr
    result = run_cli("send", "-c", str(cfg))
    assert result.returncode == 0, result.stderr
    return result


def test_papers_shared_by_arxiv_id_and_doi_across_sources_reach_each_subscriber_once(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    replay_v1, replay_v2, protein, _ = BIORXIV["collection"]
    serve(httpserver_ipv4, biorxiv=one_page([replay_v1, protein]), nature=NATURE, day="2026-11-17")
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, [ALICE, BOB], sources=sources(httpserver_ipv4), fetch={"retries": 0})

        send(cfg, "2026-11-17")

        mails = {m.rcpt_tos[0]: text_part(m) for m in server.received}
        assert sorted(mails) == ["alice@example.org", "bob@example.org"]
        alice, bob = mails["alice@example.org"], mails["bob@example.org"]
        assert times(alice, REPLAY) == 1  # bioRxiv preprint + Nature article (its `published` DOI): once
        assert times(alice, SENTENCES) == 1  # arXiv listing + Nature article (the same arXiv id): once
        assert times(bob, REPLAY) == 1
        assert times(bob, TRACES) == 1  # arXiv listing + ACL Anthology (arXiv id, DOI): once
        assert "Nature Neuroscience" in alice  # the preprint shows where it was published

        # day 2: the preprint's v2 on bioRxiv, the journal feed re-listing its articles
        # plus a new one; day 3: the same once more: nothing is ever sent twice
        new = NATURE.replace(
            b"Author Correction: Dopamine ramps in the striatum", b"Contrastive learning of grid codes"
        )
        for day in ("2026-11-18", "2026-11-19"):
            before = len(server.received)
            serve(httpserver_ipv4, biorxiv=one_page([replay_v2, protein]), nature=new, day=day)
            send(cfg, day)
            got = {m.rcpt_tos[0]: text_part(m) for m in server.received[before:]}
            if day == "2026-11-18":
                assert list(got) == ["alice@example.org"]
                assert times(got["alice@example.org"], ("Contrastive learning of grid codes",)) == 1
                assert times(got["alice@example.org"], REPLAY + SENTENCES) == 0
            else:
                assert got == {}
