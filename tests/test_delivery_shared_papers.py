"""One paper, one send, whatever source brings it (SPEC 2.4, 2.5 "Identity grows").

A digest directory fed by `fetch` from a local HTTP server holding arXiv's RSS
listing, a bioRxiv details answer and journal feeds (Nature Neuroscience's RSS 1.0, the
ACL Anthology's Atom) that share papers by arXiv id and by DOI (a preprint's bioRxiv
``published`` DOI is the journal article's): each subscriber gets each paper once, by email
(a real aiosmtpd) and on a Slack channel (an incoming webhook on the same local server),
over several runs in which new versions and re-listings come in.
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

HOOKS = {"alice@example.org": "/services/T0/B0/alice", "bob@example.org": "/services/T0/B0/bob"}
ALICE = {
    "email": "alice@example.org",
    "name": "Alice",
    "keywords": ["contrastive learning", "contrastive sentence"],
    "channels": [{"type": "slack", "url_env": "ALICE_SLACK"}],
}
BOB = {"email": "bob@example.org", "name": "Bob", "keywords": ["reward models", "hippocampal replay"]}
BOB["channels"] = [{"type": "slack", "url_env": "BOB_SLACK"}]
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
    for path in HOOKS.values():
        server.expect_request(path, method="POST").respond_with_data("ok")


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


def slack_posts(server: HTTPServer) -> dict[str, str]:
    """What each subscriber's Slack channel shows (its text, Slack's escaping undone)."""
    out: dict[str, str] = {}
    for request, _ in server.log:
        who = next((email for email, path in HOOKS.items() if request.path == path), None)
        if who is not None:
            text = "\n".join(b["text"]["text"] for b in json.loads(request.get_data())["blocks"])
            out[who] = out.get(who, "") + text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return out


def send(cfg: Path, day: str, http: HTTPServer) -> Any:
    """The morning of ``day``: ``fetch --date`` (sources ask for the day), then ``send``."""
    fetched = run_cli("fetch", "-c", str(cfg), "--date", day)
    assert fetched.returncode == 0, fetched.stderr
    hooks = {
        "ALICE_SLACK": http.url_for(HOOKS["alice@example.org"]),
        "BOB_SLACK": http.url_for(HOOKS["bob@example.org"]),
    }
    result = run_cli("send", "-c", str(cfg), env=hooks)
    assert result.returncode == 0, result.stderr
    return result


def test_papers_shared_by_arxiv_id_and_doi_across_sources_reach_each_subscriber_once(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    replay_v1, replay_v2, protein, _ = BIORXIV["collection"]
    serve(httpserver_ipv4, biorxiv=one_page([replay_v1, protein]), nature=NATURE, day="2026-11-17")
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, [ALICE, BOB], sources=sources(httpserver_ipv4), fetch={"retries": 0})

        send(cfg, "2026-11-17", httpserver_ipv4)

        mails = {m.rcpt_tos[0]: text_part(m) for m in server.received}
        assert sorted(mails) == ["alice@example.org", "bob@example.org"]
        alice, bob = mails["alice@example.org"], mails["bob@example.org"]
        assert times(alice, REPLAY) == 1  # bioRxiv preprint + Nature article (its `published` DOI): once
        assert times(alice, SENTENCES) == 1  # arXiv listing + Nature article (the same arXiv id): once
        assert times(bob, REPLAY) == 1
        assert times(bob, TRACES) == 1  # arXiv listing + ACL Anthology (arXiv id, DOI): once
        assert "Nature Neuroscience" in alice  # the preprint shows where it was published
        posts = slack_posts(httpserver_ipv4)  # the Slack channel: the same papers, once each
        assert times(posts["alice@example.org"], REPLAY) == times(posts["alice@example.org"], SENTENCES) == 1
        assert times(posts["bob@example.org"], REPLAY) == times(posts["bob@example.org"], TRACES) == 1

        # day 2: the preprint's v2 on bioRxiv, the journal feed re-listing its articles
        # plus a new one; day 3: the same once more: nothing is ever sent twice
        new = NATURE.replace(
            b"Author Correction: Dopamine ramps in the striatum", b"Contrastive learning of grid codes"
        )
        for day in ("2026-11-18", "2026-11-19"):
            before = len(server.received)
            serve(httpserver_ipv4, biorxiv=one_page([replay_v2, protein]), nature=new, day=day)
            send(cfg, day, httpserver_ipv4)
            got = {m.rcpt_tos[0]: text_part(m) for m in server.received[before:]}
            posts = slack_posts(httpserver_ipv4)
            if day == "2026-11-18":
                assert list(got) == ["alice@example.org"] and list(posts) == ["alice@example.org"]
                for shown in (got["alice@example.org"], posts["alice@example.org"]):
                    assert times(shown, ("Contrastive learning of grid codes",)) == 1
                    assert times(shown, REPLAY + SENTENCES) == 0
            else:
                assert got == {} and posts == {}
