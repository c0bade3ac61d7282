"""arXiv's revisions of older papers (SPEC 2.3: ``arxiv:announce_type`` replace /
replace-cross; the Atom API's v2+ entries): every item still read, the record says how it
was announced, the email, archive pages, chat messages and ``match`` label a revision
instead of passing it off as new, and ``revisions: false`` leaves them out.

The inputs are written here in the real formats (rss.arxiv.org's RSS 2.0 listing, the
export.arxiv.org Atom API), modelled on tests/samples/arxiv.rss and arxiv.atom."""

from __future__ import annotations

import json
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from newsletter.digest import Paper, parse_digest, revision_label, unique_papers
from tests.conftest import run_cli
from tests.smtpd import smtp_server, write_config
from tests.test_delivery_channels import Service, services  # noqa: F401  (the fixture)

SP = " "  # arXiv writes a space before the description's line break


def rss_item(axid: str, version: int, kind: str, title: str, abstract: str, cats: str = "cs.CL") -> str:
    categories = "".join(f"\n      <category>{c}</category>" for c in cats.split())
    return f"""    <item>
      <title>{title}</title>
      <link>https://arxiv.org/abs/{axid}</link>
      <description>arXiv:{axid}v{version} Announce Type: {kind}{SP}
Abstract: {abstract}</description>
      <guid isPermaLink="false">oai:arXiv.org:{axid}v{version}</guid>{categories}
      <pubDate>Fri, 04 Dec 2026 00:00:00 -0500</pubDate>
      <arxiv:announce_type>{kind}</arxiv:announce_type>
      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
      <dc:creator>Ana Ruiz, Bo Li</dc:creator>
    </item>
"""


def rss(*items: str, day: str = "Fri, 04 Dec 2026") -> str:
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">
  <channel>
    <title>cs.CL updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/cs.CL</link>
    <description>cs.CL updates on the arXiv.org e-print archive.</description>
    <atom:link href="https://rss.arxiv.org/rss/cs.CL" rel="self" type="application/rss+xml"/>
    <docs>http://www.rssboard.org/rss-specification</docs>
    <language>en-us</language>
    <lastBuildDate>{day} 05:00:00 +0000</lastBuildDate>
    <pubDate>{day} 00:00:00 -0500</pubDate>
{"".join(items)}  </channel>
</rss>
"""


# one day's cs.CL listing: each of the four announce types
LISTING = rss(
    rss_item(
        "2612.01001", 1, "new", "Contrastive Decoding for Faithful Summaries", "We decode with a contrastive objective."
    ),
    rss_item(
        "2612.00777", 1, "cross", "Contrastive Speech Units", "Contrastive learning of speech units.", "cs.SD cs.CL"
    ),
    rss_item(
        "2503.01234",
        3,
        "replace",
        "Contrastive Sentence Embeddings Revisited",
        "We revisit contrastive sentence embeddings.",
    ),
    rss_item(
        "2409.05555",
        2,
        "replace-cross",
        "Contrastive Retrieval for Code",
        "A contrastive retriever for source code.",
        "cs.SE cs.CL",
    ),
)

ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3Dcat%3Acs.CL%26id_list%3D%26start%3D0%26max_results%3D2"
   rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=cat:cs.CL&amp;id_list=&amp;start=0&amp;max_results=2</title>
  <id>http://arxiv.org/api/Xq2bJdrh1dDmMV3R6dSPm5KsqvQ</id>
  <updated>2026-12-04T00:00:00-05:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">2</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">2</opensearch:itemsPerPage>
  <entry>
    <id>http://arxiv.org/abs/2503.01234v3</id>
    <updated>2026-12-03T17:20:11Z</updated>
    <published>2025-03-02T18:01:44Z</published>
    <title>Contrastive Sentence Embeddings
  Revisited</title>
    <summary>  We revisit contrastive sentence embeddings with harder negatives and
report the results of a larger study.
</summary>
    <author>
      <name>Ana Ruiz</name>
    </author>
    <author>
      <name>Bo Li</name>
    </author>
    <arxiv:comment xmlns:arxiv="http://arxiv.org/schemas/atom">v3: camera-ready</arxiv:comment>
    <link href="http://arxiv.org/abs/2503.01234v3" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/2503.01234v3" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2612.01002v1</id>
    <updated>2026-12-03T10:00:00Z</updated>
    <published>2026-12-03T10:00:00Z</published>
    <title>Contrastive Pretraining for Tiny Parsers</title>
    <summary>  Tiny parsers learn from a contrastive pretraining objective.
</summary>
    <author><name>Gil Amar</name></author>
    <link href="http://arxiv.org/abs/2612.01002v1" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/2612.01002v1" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
</feed>
"""

# the keys of the SPEC 2.4 record before this change: none may go
RECORD_KEYS = {
    "id", "arxiv_id", "title", "abstract", "summary", "authors", "author_names", "organization", "published",
    "upvotes", "comments", "url", "pdf_url", "code_url", "code_stars", "project_url", "thumbnail", "categories",
    "links", "source", "doi", "published_doi", "journal",
}  # fmt: skip

LABEL_RSS = "Revised (v2; first submitted Sep 2024)"  # replace-cross, RSS only: the id's month
LABEL_ATOM = "Revised (v3; first announced 2 Mar 2025)"  # the Atom API's published of its v3


def papers_of(text: str, name: str) -> tuple[Paper, ...]:
    return parse_digest(text.encode(), source=name).papers


def test_arxivfmt_rss_every_announce_type_read_and_told_apart() -> None:
    papers = papers_of(LISTING, "arxiv-cs.CL-2026-12-04.xml")
    assert [p.id for p in papers] == ["2612.01001", "2612.00777", "2503.01234", "2409.05555"]  # every item
    assert [p.announce_type for p in papers] == ["new", "cross", "replace", "replace-cross"]
    assert [p.version for p in papers] == [1, 1, 3, 2]
    assert [p.revised for p in papers] == [False, False, True, True]
    assert [revision_label(p) for p in papers] == [None, None, "Revised (v3; first submitted Mar 2025)", LABEL_RSS]
    assert all(p.first_announced is None for p in papers)  # a listing's date is today's announcement


def test_arxivfmt_atom_v3_is_revised_with_its_first_day_v1_is_new() -> None:
    revised, new = papers_of(ATOM, "query.atom")
    assert (revised.id, revised.version, revised.announce_type, revised.revised) == ("2503.01234", 3, None, True)
    assert revised.first_announced == date(2025, 3, 2) == revised.published
    assert revision_label(revised) == LABEL_ATOM
    assert (new.version, new.revised, new.first_announced, revision_label(new)) == (1, False, None, None)


def test_arxivfmt_old_listing_updated_suffix_is_a_replacement() -> None:
    """arXiv's RSS 1.0 listing (until 2024) said it in the title: ``(arXiv:ID [cat] UPDATED)``."""
    old = """<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://arxiv.org/"><title>cs.CL updates on arXiv.org</title><link>http://arxiv.org/</link>
<description rdf:parseType="Literal">Computation and Language (cs.CL) updates</description></channel>
<item rdf:about="http://arxiv.org/abs/2301.00007">
<title>Folding Proteins with Sparse Attention. (arXiv:2301.00007v2 [cs.CL] UPDATED)</title>
<link>http://arxiv.org/abs/2301.00007</link>
<description rdf:parseType="Literal">&lt;p&gt;We fold proteins.&lt;/p&gt;</description>
<dc:creator>Dana Li</dc:creator></item>
<item rdf:about="http://arxiv.org/abs/2301.00008">
<title>Sparse Parsing. (arXiv:2301.00008v1 [cs.CL])</title>
<link>http://arxiv.org/abs/2301.00008</link>
<description rdf:parseType="Literal">&lt;p&gt;We parse.&lt;/p&gt;</description>
<dc:creator>Eve Moreau</dc:creator></item>
</rdf:RDF>
"""
    updated, new = papers_of(old, "old.rss")
    assert (updated.title, updated.announce_type, updated.version, updated.revised) == (
        "Folding Proteins with Sparse Attention",
        "replace",
        2,
        True,
    )
    assert (new.announce_type, new.version, new.revised) == (None, 1, False)


def test_merge_new_in_one_listing_replaced_in_the_next_is_new() -> None:
    """A weekly subscriber's pass holds Monday's listing (new, v1) and Tuesday's (the
    author replaced it: v2): the paper is new to them, not a revision."""
    monday = rss(rss_item("2612.02000", 1, "new", "Contrastive Tagging", "Tagging."), day="Mon, 07 Dec 2026")
    tuesday = rss(rss_item("2612.02000", 2, "replace", "Contrastive Tagging", "Tagging, v2."), day="Tue, 08 Dec 2026")
    for first, second in ((monday, tuesday), (tuesday, monday)):
        (paper,) = unique_papers([*papers_of(first, "a.xml"), *papers_of(second, "b.xml")])
        assert (paper.announce_type, paper.version, paper.revised) == ("new", 2, False)
    # the listing's replacement and the Atom API's v3 of it: revised, with the API's first day
    merged = {p.id: p for p in unique_papers([*papers_of(LISTING, "l.xml"), *papers_of(ATOM, "q.atom")])}
    assert revision_label(merged["2503.01234"]) == LABEL_ATOM
    # a record that knows nothing of versions (the Hugging Face API) changes nothing
    hf = Paper("Contrastive Retrieval for Code", "A contrastive retriever.", "2409.05555", "hf.json", upvotes=40)
    (both,) = unique_papers([hf, merged["2409.05555"]])
    assert both.revised and both.upvotes == 40 and revision_label(both) == LABEL_RSS


def test_cli_parse_json_every_item_keys_kept_and_announcement_added(tmp_path: Path) -> None:
    listing = tmp_path / "arxiv-cs.CL-2026-12-04.xml"
    listing.write_text(LISTING, encoding="utf-8")
    result = run_cli("parse", "--json", str(listing))
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert len(records) == 4
    for record in records:
        assert set(record) >= RECORD_KEYS, RECORD_KEYS - set(record)
    assert [(r["announce_type"], r["version"], r["revised"]) for r in records] == [
        ("new", 1, False),
        ("cross", 1, False),
        ("replace", 3, True),
        ("replace-cross", 2, True),
    ]
    # the ledger's form reads back the same (archive pages, carried papers keep the label)
    again = [Paper.from_json(r) for r in records]
    assert [revision_label(p) for p in again] == [None, None, "Revised (v3; first submitted Mar 2025)", LABEL_RSS]
    atom = Paper.from_json(papers_of(ATOM, "q.atom")[0].to_json())
    assert revision_label(atom) == LABEL_ATOM


SUBSCRIBERS: list[dict[str, Any]] = [
    {"email": "alice@example.org", "name": "Alice", "keywords": ["contrastive"], "revisions": True},
    {"email": "bob@example.org", "name": "Bob", "keywords": ["contrastive"]},  # defaults: revisions false
]


def setup(tmp_path: Path, port: int, subscribers: list[dict[str, Any]] = SUBSCRIBERS, **top: Any) -> Path:
    top.setdefault("defaults", {"revisions": False})
    cfg = write_config(tmp_path, port, subscribers, **top)
    return cfg


def add_digests(cfg: Path) -> None:
    (cfg.parent / "digests" / "arxiv-cs.CL-2026-12-04.xml").write_text(LISTING, encoding="utf-8")
    (cfg.parent / "digests" / "arxiv-query-2026-12-04.xml").write_text(ATOM, encoding="utf-8")


def test_cli_match_json_labels_revisions_and_revisions_false_leaves_them_out(tmp_path: Path) -> None:
    cfg = setup(tmp_path, 2525)
    add_digests(cfg)
    result = run_cli("match", "-c", str(cfg), "--json")
    assert result.returncode == 0, result.stderr
    got = {s["email"]: s["papers"] for s in json.loads(result.stdout)["subscribers"]}
    alice = {p["id"]: p for p in got["alice@example.org"]}
    assert set(alice) == {"2612.01001", "2612.00777", "2612.01002", "2503.01234", "2409.05555"}
    assert alice["2503.01234"] | {"matched": None, "score": None} == {
        "id": "2503.01234",
        "title": "Contrastive Sentence Embeddings Revisited",
        "score": None,
        "matched": None,
        "revised": True,
        "revision": LABEL_ATOM,
        "version": 3,
        "first_announced": "2025-03-02",
    }
    assert alice["2409.05555"]["revision"] == LABEL_RSS
    assert "revised" not in alice["2612.01001"]  # a new paper's record is as before
    assert {p["id"] for p in got["bob@example.org"]} == {"2612.01001", "2612.00777", "2612.01002"}
    table = run_cli("match", "-c", str(cfg), "--subscriber", "alice@example.org")
    assert LABEL_ATOM in table.stdout and LABEL_RSS in table.stdout


def parts(data: bytes) -> tuple[str, str]:
    msg = message_from_bytes(data, policy=policy.default)
    html = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_content()
    text = next(p for p in msg.walk() if p.get_content_type() == "text/plain").get_content()
    return html, text


def test_send_labels_revisions_in_email_and_archive_and_leaves_them_out_for_revisions_false(tmp_path: Path) -> None:
    with smtp_server() as server:
        cfg = setup(tmp_path, server.port, archive={"directory": "archive", "url": "https://d.example.org/a"})
        assert run_cli("send", "-c", str(cfg)).returncode == 0  # the subscribers start here
        add_digests(cfg)
        result = run_cli("send", "-c", str(cfg))
        assert result.returncode == 0, result.stderr
        received = server.by_recipient()
    [alice], [bob] = received["alice@example.org"], received["bob@example.org"]
    html, text = parts(alice.data)
    assert "5 new papers matched your keywords (2 of them revised versions of older papers)." in text
    assert f"[{LABEL_ATOM}]" in text and f"[{LABEL_RSS}]" in text
    block = text[text.index("Sentence Embeddings Revisited") :]
    assert block.index(LABEL_ATOM) < block.index("https://arxiv.org/abs/2503.01234")  # under its own title
    assert html.count('class="pd-rev"') == 2 and LABEL_ATOM in html and LABEL_RSS in html
    assert "5 new papers matched your keywords (2 of them revised versions of older papers)." in html
    page = next((tmp_path / "archive").rglob("*.html"), None)
    pages = [p.read_text("utf-8") for p in (tmp_path / "archive").rglob("*.html") if p.name != "index.html"]
    assert page is not None and any(LABEL_ATOM in p and LABEL_RSS in p for p in pages)
    html, text = parts(bob.data)
    assert "3 new papers matched your keywords." in text and "Revised" not in text and "Revised" not in html
    assert "Revisited" not in text and "Contrastive Retrieval for Code" not in text


def test_channels_slack_discord_webhook_label_revisions(
    tmp_path: Path,
    httpserver_ipv4: HTTPServer,
    services: dict[str, Service],  # noqa: F811
) -> None:
    channels = [
        {"type": "slack", "url_env": "LAB_SLACK"},
        {"type": "discord", "url_env": "LAB_DISCORD"},
        {"type": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
    ]
    sub = {"email": "alice@example.org", "keywords": ["revisited"], "channels": channels}
    with smtp_server() as server:
        cfg = setup(tmp_path, server.port, [sub], defaults={})
        assert run_cli("send", "-c", str(cfg)).returncode == 0
        add_digests(cfg)
        result = run_cli("send", "-c", str(cfg))
        assert result.returncode == 0, result.stderr
    (slack,) = [json.loads(b) for b in services["slack"].bodies]
    assert f"_{LABEL_ATOM}_" in slack["blocks"][1]["text"]["text"]
    assert slack["blocks"][0]["text"]["text"].startswith("*1 new paper for you")
    (discord,) = [json.loads(b) for b in services["discord"].bodies]
    assert discord["embeds"][0]["description"].startswith("**Revised \\(v3; first announced 2 Mar 2025\\)**")
    (hook,) = [json.loads(b) for b in services["webhook"].bodies]
    assert hook["papers"][0]["revision"] == LABEL_ATOM and hook["papers"][0]["first_announced"] == "2025-03-02"


@pytest.mark.parametrize(
    ("defaults", "own", "line"),
    [
        ({}, [], "sent, labelled revised; 0 subscriber(s) left out"),
        ({"revisions": False}, [{"revisions": True}], "left out (revisions: false); 1 subscriber(s) sent"),
    ],
)
def test_check_says_what_becomes_of_revisions(
    tmp_path: Path, defaults: dict[str, Any], own: list[dict[str, Any]], line: str
) -> None:
    subs = [{"email": f"s{i}@example.org", "keywords": ["x"], **o} for i, o in enumerate([*own, {}])]
    cfg = write_config(tmp_path, 2525, subs, defaults=defaults, sources=[{"type": "arxiv", "categories": ["cs.CL"]}])
    result = run_cli("check", "-c", str(cfg))
    assert result.returncode == 0, result.stderr
    assert f"  revisions:   arXiv's new versions of older papers {line}" in result.stdout


def test_config_revisions_not_a_boolean_names_key_and_line(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, 2525, [{"email": "a@example.org", "keywords": ["x"], "revisions": "sometimes"}])
    result = run_cli("check", "-c", str(cfg))
    assert result.returncode == 2
    assert "revisions" in result.stderr and "config.yaml:" in result.stderr and "Traceback" not in result.stderr


def test_send_dry_run_and_status_say_revisions_were_left_out(tmp_path: Path) -> None:
    """A subscriber who gets nothing because only revisions matched is told why."""
    sub = {"email": "bob@example.org", "keywords": ["revisited"]}  # only the v3 paper matches
    with smtp_server() as server:
        cfg = setup(tmp_path, server.port, [sub])
        assert run_cli("send", "-c", str(cfg)).returncode == 0
        add_digests(cfg)
        dry = run_cli("send", "-c", str(cfg), "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "1 revision of older papers left out: revisions: false" in dry.stdout + dry.stderr
        assert run_cli("send", "-c", str(cfg)).returncode == 0
        assert not server.received
        status = run_cli("status", "-c", str(cfg))
    assert "1 revision of older papers left out: revisions: false" in status.stdout, status.stdout


@pytest.mark.asyncio
async def test_web_preview_labels_and_leaves_out_revisions(tmp_path: Path, aiohttp_client: Any) -> None:
    """``preview --serve`` (keyword-only profiles, no ledger yet: its quick path)."""
    from newsletter.web.preview import PreviewServer

    subs = [
        {"email": "alice@example.org", "keywords": ["revisited"], "revisions": True},
        {"email": "bob@example.org", "keywords": ["revisited"]},
    ]
    cfg = setup(tmp_path, 2525, subs)
    add_digests(cfg)
    with PreviewServer(cfg, port=0, digests=sorted((cfg.parent / "digests").iterdir())) as server:
        client = await aiohttp_client(server.app)
        index = await (await client.get("/")).text()
        assert "1 new paper for you" in index
        alice = await client.get("/s/alice@example.org")
        assert alice.status == 200
        raw = await (await client.get("/raw/alice@example.org.html")).text()
        assert LABEL_ATOM in raw and "1 new paper matched your keywords (a revised version of an older paper)." in raw
        assert (await client.get("/s/bob@example.org")).status == 404  # nothing new matched: no email


@pytest.mark.parametrize("revisions", [True, False])
def test_cli_match_likes_leave_out_revisions_too(tmp_path: Path, revisions: bool) -> None:
    """A profile of liked papers (no keywords) goes the similarity way: revisions: false
    holds there as well."""
    sub = {"email": "a@example.org", "like": ["2612.01001"], "similarity": "lexical", "revisions": revisions}
    cfg = setup(tmp_path, 2525, [sub])
    add_digests(cfg)
    result = run_cli("match", "-c", str(cfg), "--json")
    assert result.returncode == 0, result.stderr
    (only,) = json.loads(result.stdout)["subscribers"]
    got = {p["id"]: p.get("revised", False) for p in only["papers"]}
    assert "2612.01001" not in got  # a liked paper is never sent
    if revisions:  # like_top 3 of the 4 others, a revision among them
        assert len(got) >= 3 and any(got.values())
    else:
        assert set(got) == {"2612.00777", "2612.01002"}


def test_matrix_message_labels_a_revision_escaped() -> None:
    from newsletter.render.chat import ChatIssue, matrix_messages
    from newsletter.render.content import PaperView

    view = PaperView(
        id="2503.01234",
        title="Contrastive Sentence Embeddings Revisited",
        title_segments=(),
        title_marked="",
        link="https://arxiv.org/abs/2503.01234",
        meta=("Ana Ruiz, Bo Li",),
        hits=(),
        abstract="We revisit.",
        abstract_segments=(),
        abstract_marked="",
        cut=False,
        links=(),
        score=1,
        upvotes=None,
        revision=LABEL_ATOM,
    )
    (message,) = matrix_messages(ChatIssue("a@example.org", "heading", [view], []))
    assert f"Revisited <https://arxiv.org/abs/2503.01234>\n{LABEL_ATOM}\nAna Ruiz" in message["body"]
    assert f"<br><i>{LABEL_ATOM}</i><br>" in message["formatted_body"]
