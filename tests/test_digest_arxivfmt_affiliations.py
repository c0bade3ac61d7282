"""``organization`` of an arXiv paper (SPEC 2.4) from the affiliations arXiv gives: one
name, the one most authors share (else the first author's), never the list. Listings as
rss.arxiv.org writes them (``Name (Affiliation)`` in one ``dc:creator``), answers of the
Atom API (``arxiv:affiliation`` under each ``author``). Invented papers."""

from __future__ import annotations

import json

from newsletter.digest import Paper, parse_digest
from newsletter.digest.model import unique_papers


def listing(creator: str) -> str:
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:atom="http://www.w3.org/2005/Atom" version="2.0">
  <channel>
    <title>cs.LG updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/cs.LG</link>
    <description>cs.LG updates on the arXiv.org e-print archive.</description>
    <item>
      <title>Invented Folds of Imaginary Proteins</title>
      <link>https://arxiv.org/abs/2611.04418</link>
      <description>arXiv:2611.04418v1 Announce Type: new\x20
Abstract: We fold imaginary proteins.</description>
      <guid isPermaLink="false">oai:arXiv.org:2611.04418v1</guid>
      <category>cs.LG</category>
      <pubDate>Tue, 17 Nov 2026 00:00:00 -0500</pubDate>
      <arxiv:announce_type>new</arxiv:announce_type>
      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
      <dc:creator>{creator}</dc:creator>
    </item>
  </channel>
</rss>
"""


def one(text: str) -> Paper:
    (paper,) = parse_digest(text.encode(), source="arxiv-cs.LG-2026-11-17.xml").papers
    return paper


def test_arxivfmt_organization_is_the_affiliation_most_authors_share() -> None:
    paper = one(listing("Ana Ruiz (Univ. of Nowhere), Bo Li (Example Lab), Cy Dee (Example Lab), Ed Fox (Example Lab)"))
    assert paper.organization == "Example Lab"
    assert paper.author_names == ("Ana Ruiz", "Bo Li", "Cy Dee", "Ed Fox")


def test_arxivfmt_organization_among_equals_is_the_first_authors() -> None:
    paper = one(listing("Ana Ruiz (Univ. of Nowhere, Lab A), Bo Li (Inst. Y), Cy Dee, Ed Fox (Sample U)"))
    assert paper.organization == "Univ. of Nowhere, Lab A"


def test_arxivfmt_organization_from_a_numbered_legend_is_its_first_entry() -> None:
    paper = one(listing("Ana Ruiz, Bo Li, Cy Dee ((1) Univ. of Nowhere, (2) Inst. Y, (3) Sample U)"))
    assert (paper.organization, paper.authors) == ("Univ. of Nowhere", 3)


def test_arxivfmt_no_affiliations_no_organization() -> None:
    assert one(listing("Ana Ruiz, Bo Li")).organization is None


def api_answer(authors: int) -> str:
    """An answer of export.arxiv.org/api/query: one entry, ``authors`` authors, each with
    an ``arxiv:affiliation`` of its own (the first two also at Example Lab)."""
    people = "\n".join(
        f"    <author><name>Author {n}</name><arxiv:affiliation>Institute {n}</arxiv:affiliation>"
        + ("<arxiv:affiliation>Example Lab</arxiv:affiliation>" if n < 2 else "")
        + "</author>"
        for n in range(authors)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <link href="http://arxiv.org/api/query?id_list=2611.04418" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: id_list=2611.04418</title>
  <id>http://arxiv.org/api/abc</id>
  <updated>2026-11-17T00:00:00-05:00</updated>
  <entry>
    <id>http://arxiv.org/abs/2611.04418v1</id>
    <updated>2026-11-16T18:00:00Z</updated>
    <published>2026-11-16T18:00:00Z</published>
    <title>Invented Folds of
  Imaginary Proteins</title>
    <summary>  We fold imaginary
proteins.
</summary>
{people}
    <link href="http://arxiv.org/abs/2611.04418v1" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/2611.04418v1" rel="related" type="application/pdf"/>
    <arxiv:primary_category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
</feed>
"""


def test_arxivfmt_api_answer_with_forty_affiliations_names_one() -> None:
    """Forty authors at forty institutes: the email shows one name (the first author's),
    not forty; an author's second affiliation does not vote."""
    paper = one(api_answer(40))
    assert (paper.organization, paper.authors) == ("Institute 0", 40)


def test_arxivfmt_affiliation_never_replaces_a_named_submitting_organization() -> None:
    """The same paper from the Hugging Face API (its submitting organisation named) and
    from an arXiv listing (its first author at a university, a longer name): one paper,
    whose organisation is the one the source named, whichever file came first, so that
    ``org:bytedance`` still finds it."""
    hf_item = {
        "paper": {
            "id": "2611.04418",
            "title": "Invented Folds of Imaginary Proteins",
            "summary": "We fold imaginary proteins.",
            "authors": [{"_id": "a", "name": "Ana Ruiz", "hidden": False}],
            "upvotes": 7,
        },
        "organization": {"_id": "o", "name": "ByteDance-Seed", "fullname": "ByteDance Seed"},
        "numComments": 0,
    }
    (hf,) = parse_digest(json.dumps([hf_item]).encode(), source="huggingface-2026-11-17.json").papers
    arxiv = one(listing("Ana Ruiz (Department of Computer Science, Tsinghua University), Bo Li"))
    assert arxiv.organization == "Department of Computer Science, Tsinghua University"
    from_ledger = Paper.from_json(json.loads(json.dumps(arxiv.to_json())))  # as `send` reads it back
    for papers in ([hf, arxiv], [arxiv, hf], [from_ledger, hf], [hf, from_ledger]):
        (paper,) = unique_papers(papers)
        assert (paper.organization, paper.upvotes, paper.authors) == ("ByteDance Seed", 7, 2)
