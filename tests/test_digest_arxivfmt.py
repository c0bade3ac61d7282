"""The non-HF readers (``arxiv``, ``feed``, ``biorxiv``, ``openreview``) on files as real
tools and services leave them (SPEC 2.3, 2.5)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from newsletter.base.errors import DigestParseError
from newsletter.digest import parse_digest

SAMPLES = Path(__file__).resolve().parent / "samples"

JOURNAL = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">
<channel><title>Journal of Made-up Results</title><link>https://journal.example.org</link>
<item><title>First result</title><link>https://journal.example.org/a1</link>
<description>The first abstract.</description><prism:doi>10.1234/jmr.0001</prism:doi></item>
<item><title>Second result</title><link>https://journal.example.org/a2</link>
<description>The second abstract, a longer one that a cut download leaves half of.</description>
<prism:doi>10.1234/jmr.0002</prism:doi></item>
</channel></rss>
"""


@pytest.mark.parametrize("name", ["arxiv.rss", "arxiv.atom", "journal"])
def test_arxivfmt_cut_file_never_loses_papers_in_silence(name: str) -> None:
    """A feed cut short anywhere (curl interrupted, a save cut off) gives only papers read
    whole, each with its own text, and names what it could not read: never fewer papers
    without a word, never an abstract cut in half."""
    data = JOURNAL.encode() if name == "journal" else (SAMPLES / name).read_bytes()
    source = "feed-jmr-2026-11-20.xml" if name == "journal" else name
    whole = parse_digest(data, source=source)
    assert len(whole.papers) == 2 and not whole.missing
    first_item = min(i for i in (data.find(b"<item>"), data.find(b"<entry>")) if i >= 0)
    end = data.rstrip().rfind(b"</")
    ends = [m.start() for m in re.finditer(rb"</(?:item|entry)>", data)]
    near_ends = {at + d for at in ends for d in range(-2, 10)}  # every cut around an entry's end
    for cut in sorted({*range(first_item + 1, end, 5), *near_ends}):
        digest = parse_digest(data[:cut], source=source)
        for paper in digest.papers:
            assert paper in whole.papers, (cut, paper.id)
        if len(digest.papers) < len(whole.papers):
            assert digest.missing, f"cut at byte {cut}: {len(digest.papers)} papers, nothing said"
            line = len(data[:cut].splitlines())
            assert f"after line {line}" in digest.missing[-1]


OLD_RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://arxiv.org/"><title>cs.CL updates on arXiv.org</title><link>http://arxiv.org/</link>
<description rdf:parseType="Literal">Computation and Language (cs.CL) updates</description></channel>
<item rdf:about="http://arxiv.org/abs/2301.00007">
<title>Folding Proteins with Sparse Attention. (arXiv:2301.00007v1 [cs.CL])</title>
<link>http://arxiv.org/abs/2301.00007</link>
<description rdf:parseType="Literal">&lt;p&gt;We fold proteins with sparse
attention, and p&amp;lt;0.05 holds.&lt;/p&gt;</description>
<dc:creator> &lt;a href="http://arxiv.org/find/cs/1/au:+Li_D/0/1/0/all/0/1"&gt;Dana Li&lt;/a&gt;, &lt;a
href="http://arxiv.org/find/cs/1/au:+Osei_B/0/1/0/all/0/1"&gt;Ben Osei&lt;/a&gt;</dc:creator>
</item>
<item rdf:about="http://arxiv.org/abs/2301.00008">
<title>Long Context Retrieval. (arXiv:2301.00008v3 [cs.LG] UPDATED)</title>
<link>http://arxiv.org/abs/2301.00008</link>
<description rdf:parseType="Literal">&lt;p&gt;A benchmark.&lt;/p&gt;</description>
<dc:creator>Eve Moreau</dc:creator>
</item>
</rdf:RDF>
"""


def test_arxivfmt_old_rss_listing_text_without_markup() -> None:
    """arXiv's RSS 1.0 listing (served until 2024, still in saved files and mirrors): the
    title's ``(arXiv:ID [cat])`` suffix, the ``<p>`` of the abstract and the author links
    are markup of the listing, no text of the paper."""
    fold, retrieval = parse_digest(OLD_RSS.encode(), source="cs.CL.rdf").papers
    assert (fold.id, fold.title) == ("2301.00007", "Folding Proteins with Sparse Attention")
    assert fold.abstract == "We fold proteins with sparse attention, and p<0.05 holds."
    assert fold.author_names == ("Dana Li", "Ben Osei")
    assert fold.categories == ("cs.CL",)
    assert (retrieval.id, retrieval.title, retrieval.abstract) == (
        "2301.00008",
        "Long Context Retrieval",
        "A benchmark.",
    )
    assert retrieval.categories == ("cs.LG",)


# An RSS 2.0 feed a scraper writes from the Hugging Face papers page (rfeed): each item's
# link the paper's page, its description the page's abstract block run together.
HF_SCRAPED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Papers of the Day</title>\
<link>https://huggingface.co/</link><description>A scraped feed of the papers page.</description>\
<generator>rfeed v1.1.1</generator>\
<item><title>Tidal Agents</title><link>https://huggingface.co/papers/2611.00021</link>\
<description>Abstract Agents learn tides from gauges.  Generated by example/Summarizer-7B We train agents on \
tide gauges. They forecast well.</description><pubDate>Thu, 19 Nov 2026 02:30:55 GMT</pubDate>\
<guid isPermaLink="true">https://huggingface.co/papers/2611.00021</guid></item>\
<item><title>Quiet Models</title><link>https://huggingface.co/papers/2611.00022</link>\
<description>Abstract  We study quiet models without a summary.</description>\
<pubDate>Thu, 19 Nov 2026 01:00:00 GMT</pubDate>\
<guid isPermaLink="true">https://huggingface.co/papers/2611.00022</guid></item>\
</channel></rss>
"""


# rss.arxiv.org's items as its serializer writes them (arXiv/arxiv-feed): the journal of a
# published paper in ``arxiv:journal_reference``, each author's affiliations after the name
# in parentheses inside the one ``dc:creator``. Invented papers.
LISTING_RSS = """<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:atom="http://www.w3.org/2005/Atom" version="2.0">
  <channel>
    <title>math.OC updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/math.OC</link>
    <description>math.OC updates on the arXiv.org e-print archive.</description>
    <item>
      <title>Concave Energies of Droplet Masses</title>
      <link>https://arxiv.org/abs/2611.04417</link>
      <description>arXiv:2611.04417v2 Announce Type: replace-cross\x20
Abstract: We study droplet masses under concave energies.</description>
      <guid isPermaLink="false">oai:arXiv.org:2611.04417v2</guid>
      <category>math.AP</category>
      <category>math.OC</category>
      <pubDate>Tue, 17 Nov 2026 00:00:00 -0500</pubDate>
      <arxiv:announce_type>replace-cross</arxiv:announce_type>
      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
      <arxiv:DOI>10.5555/jmo.2026.118</arxiv:DOI>
      <arxiv:journal_reference>Journal of Made-up Optimisation, Tome 4 (2026), pp. 11-52</arxiv:journal_reference>
      <dc:creator>Ana Ruiz (Univ. of Nowhere, Lab A), Bo Li (Inst. Y), Cy Dee, Ed Fox (Sample U)</dc:creator>
    </item>
  </channel>
</rss>
"""

LISTING_ATOM = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
  <id>http://rss.arxiv.org/atom/math.OC</id>
  <title>math.OC updates on arXiv.org</title>
  <updated>2026-11-17T05:00:00+00:00</updated>
  <link href="http://rss.arxiv.org/atom/math.OC" rel="self" type="application/atom+xml"/>
  <entry>
    <id>oai:arXiv.org:2611.04417v2</id>
    <title>Concave Energies of Droplet Masses</title>
    <updated>2026-11-17T05:00:00+00:00</updated>
    <link href="https://arxiv.org/abs/2611.04417" rel="alternate" type="text/html"/>
    <summary>arXiv:2611.04417v2 Announce Type: replace-cross\x20
Abstract: We study droplet masses under concave energies.</summary>
    <category term="math.AP"/>
    <published>2026-11-17T00:00:00-05:00</published>
    <arxiv:announce_type>replace-cross</arxiv:announce_type>
    <arxiv:journal_reference>Journal of Made-up Optimisation, Tome 4 (2026), pp. 11-52</arxiv:journal_reference>
    <arxiv:DOI>10.5555/jmo.2026.118</arxiv:DOI>
    <dc:creator>Ana Ruiz (Univ. of Nowhere, Lab A), Bo Li (Inst. Y), Cy Dee, Ed Fox (Sample U)</dc:creator>
  </entry>
</feed>
"""


@pytest.mark.parametrize("text", [LISTING_RSS, LISTING_ATOM], ids=["rss", "atom"])
def test_arxivfmt_listing_keeps_journal_reference_and_authors_without_affiliations(text: str) -> None:
    """A listed paper already published names its journal (``arxiv:journal_reference``, as
    the Atom API's ``arxiv:journal_ref`` does), and authors written with their affiliations
    are four authors, not seven halves of names and institutes."""
    (paper,) = parse_digest(text.encode(), source="arxiv-math.OC-2026-11-17.xml").papers
    assert (paper.id, paper.doi) == ("2611.04417", "10.5555/jmo.2026.118")
    assert paper.journal == "Journal of Made-up Optimisation, Tome 4 (2026), pp. 11-52"
    assert paper.author_names == ("Ana Ruiz", "Bo Li", "Cy Dee", "Ed Fox")
    assert paper.authors == 4


# Journals' RSS 1.0 feeds as Nature and Cell write them (invented papers): Nature's item has
# no description, its content:encoded opens with a citation line, an author may be listed
# twice; Cell's item has no link (its rdf:about is the page) and only a prism date.
NATURE_RDF = """<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/"
 xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">
  <channel rdf:about="https://www.nature.com/natexample.rss">
    <title>Nature Examples</title>
    <prism:publicationName>Nature Examples</prism:publicationName>
  </channel>
  <item rdf:about="https://www.nature.com/articles/s49999-026-00042-1">
    <title><![CDATA[Sparse catalysts for imaginary reactions]]></title>
    <link>https://www.nature.com/articles/s49999-026-00042-1</link>
    <content:encoded><![CDATA[<p>Nature Examples, Published online: 17 November 2026; <a
     href="https://www.nature.com/articles/s49999-026-00042-1">doi:10.1038/s49999-026-00042-1</a></p>Sparse
     catalysts speed up imaginary reactions in water.]]></content:encoded>
    <dc:creator>Mia Stone</dc:creator>
    <dc:creator>Leo Park</dc:creator>
    <dc:creator>Mia Stone</dc:creator>
    <dc:identifier>doi:10.1038/s49999-026-00042-1</dc:identifier>
    <dc:source>Nature Examples, Published online: 2026-11-17; | doi:10.1038/s49999-026-00042-1</dc:source>
    <dc:date>2026-11-17</dc:date>
    <prism:publicationName>Nature Examples</prism:publicationName>
    <prism:doi>10.1038/s49999-026-00042-1</prism:doi>
  </item>
</rdf:RDF>
"""

CELL_RDF = """<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:prism="http://prismstandard.org/namespaces/1.2/basic/">
  <channel rdf:about="https://www.cell.com/example"><title>Trends in Examples</title></channel>
  <item rdf:about="https://www.cell.com/trends/examples/fulltext/S9999-0000(26)00001-2?rss=yes">
    <title>Invented structure as training signal</title>
    <description>Invented structure plays a central role.</description>
    <dc:creator>Una Vale</dc:creator>
    <dc:identifier>10.1016/j.tex.2026.11.001</dc:identifier>
    <prism:publicationDate>2026-11-16</prism:publicationDate>
  </item>
</rdf:RDF>
"""

# PubMed's search feed: the journal in dc:source, the feed named after the search. OUP's
# descriptions open with a heading element "Abstract".
PUBMED_RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
  <channel>
    <title>pubmed: imaginary reactions</title>
    <link>https://pubmed.ncbi.nlm.nih.gov/</link>
    <item>
      <title>Imaginary reactions in cold water</title>
      <link>https://pubmed.ncbi.nlm.nih.gov/99000001/</link>
      <description>Imaginary reactions slow down in cold water.</description>
      <dc:creator>Ida Moss</dc:creator>
      <dc:date>2026-11-15</dc:date>
      <dc:source>Journal of examples</dc:source>
      <dc:identifier>pmid:99000001</dc:identifier>
      <dc:identifier>doi:10.5555/jex.2026.7</dc:identifier>
    </item>
  </channel>
</rss>
"""


OUP_RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Journal of Examples Current Issue</title>
<item>
  <title>Abstract Meaning Representation of invented sentences</title>
  <link>https://academic.oup.com/jex/article/21/8/588/9999999?rss=1</link>
  <description>&lt;span class="paragraphSection"&gt;&lt;div class="boxTitle"&gt;Abstract&lt;/div&gt;Abstract Meaning
  Representation graphs of invented sentences.&lt;/span&gt;</description>
  <dc:identifier>doi:10.5555/jex/jpaf999</dc:identifier>
</item>
</channel></rss>
"""


def test_feedfmt_scraped_hugging_face_feed_gives_arxiv_ids_and_summaries() -> None:
    """The papers' links name their arXiv ids (one identity with the same paper from any
    other source); the AI summary and its model line are not abstract. It used to be refused
    as a feed without arXiv ids, and read with ``--format feed`` gave no ids."""
    digest = parse_digest(HF_SCRAPED.encode(), source="hf_papers.xml")
    assert digest.format == "feed"
    assert [(p.id, p.arxiv_id, p.summary, p.abstract) for p in digest.papers] == [
        (
            "2611.00021",
            "2611.00021",
            "Agents learn tides from gauges.",
            "We train agents on tide gauges. They forecast well.",
        ),
        ("2611.00022", "2611.00022", None, "We study quiet models without a summary."),
    ]


def test_feedfmt_journal_feeds_read_as_the_journals_write_them() -> None:
    """Nature's abstract is the paper's text, not its citation line, and names each author
    once; Cell's item has a page and a date; PubMed's names its journal, not the search."""
    (nature,) = parse_digest(NATURE_RDF.encode(), source="feed-nature-2026-11-17.xml").papers
    assert nature.abstract == "Sparse catalysts speed up imaginary reactions in water."
    assert nature.author_names == ("Mia Stone", "Leo Park")
    assert (nature.doi, nature.journal) == ("10.1038/s49999-026-00042-1", "Nature Examples")
    (cell,) = parse_digest(CELL_RDF.encode(), source="feed-cell-2026-11-17.xml").papers
    assert cell.url == "https://www.cell.com/trends/examples/fulltext/S9999-0000(26)00001-2?rss=yes"
    assert cell.published == date(2026, 11, 16)
    (pubmed,) = parse_digest(PUBMED_RSS.encode(), source="feed-pubmed-2026-11-17.xml").papers
    assert pubmed.journal == "Journal of examples"
    assert pubmed.abstract == "Imaginary reactions slow down in cold water."
    (oup,) = parse_digest(OUP_RSS.encode(), source="feed-oup-2026-11-17.xml").papers
    assert oup.abstract == "Abstract Meaning Representation graphs of invented sentences."
    assert (pubmed.doi, pubmed.published) == ("10.5555/jex.2026.7", date(2026, 11, 15))


# bioRxiv's details API flattens the site's HTML into ``abstract`` and leaves its markers
# in: list items (O_LI, C_LIO_LI, C_LI), a graphical abstract (O_FIG ... M_FIG ... C_FIG),
# entities. The shape of a real answer, invented paper.
BIORXIV_ITEMS = {
    "messages": [{"status": "ok", "interval": "2026-11-17:2026-11-17", "cursor": 0, "count": 1, "total": "1"}],
    "collection": [
        {
            "title": "Invented lattices &amp; imaginary cells",
            "authors": "Nolan, A.; Quist, B. C.",
            "author_corresponding": "Ada Nolan",
            "author_corresponding_institution": "University of Examples",
            "doi": "10.64898/2026.11.15.700001",
            "date": "2026-11-17",
            "version": "1",
            "type": "new results",
            "license": "cc_by",
            "category": "bioinformatics",
            "jatsxml": "https://www.biorxiv.org/content/early/2026/11/17/2026.11.15.700001.source.xml",
            "abstract": "Imaginary cells grow on invented lattices (growth 0.2 [-&gt;] 0.9).\n\n"
            "HighlightsO_LILattices speed growth.\nC_LIO_LICells stay imaginary.\nC_LI\n\n"
            "Graphical Abstract\n\nO_FIG O_LINKSMALLFIG WIDTH=200 HEIGHT=80 "
            'SRC="FIGDIR/small/700001v1_ufig1.gif" ALT="Figure 1">\nView larger version (20K):\n'
            "org.highwire.dtl.DTLVardef@1a2b3corg.highwire.dtl.DTLVardef@4d5e6f_HPS_FORMAT_FIGEXP  M_FIG C_FIG",
            "funder": "NA",
            "published": "NA",
            "server": "bioRxiv",
        }
    ],
}


def test_biorxivfmt_abstract_without_the_sites_markers() -> None:
    """The abstract of a bioRxiv item is its text: highlights as items, no figure markup,
    no ``O_LI``/``C_LI``, entities as characters (the title's too)."""
    (paper,) = parse_digest(json.dumps(BIORXIV_ITEMS).encode(), source="biorxiv-2026-11-17.json").papers
    assert paper.title == "Invented lattices & imaginary cells"
    assert paper.abstract == (
        "Imaginary cells grow on invented lattices (growth 0.2 → 0.9).\n\n"
        "Highlights\n\n• Lattices speed growth.\n\n• Cells stay imaginary."
    )
    assert (paper.doi, paper.organization) == ("10.64898/2026.11.15.700001", "University of Examples")


# HighWire's RSS 1.0 items (BMJ, SAGE, JNeurosci): "info:doi/" beside a "hwp:master-id"
# identifier, the abstract under a <st>Abstract</st> heading, "Last, I." authors; bioRxiv's
# own feed (connect.biorxiv.org) writes its authors the same way. Invented papers, and no
# file name or --format: the DOIs alone make them journal feeds.
HIGHWIRE_RDF = """<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="http://exlead.example.com"><title>Examples Leader current issue</title>
    <items><rdf:Seq><rdf:li rdf:resource="http://exlead.example.com/cgi/content/short/3/1/7?rss=1" /></rdf:Seq></items>
  </channel>
  <item rdf:about="http://exlead.example.com/cgi/content/short/3/1/7?rss=1">
    <title>Invented careers in example management</title>
    <link>http://exlead.example.com/cgi/content/short/3/1/7?rss=1</link>
    <description><![CDATA[<sec><st>Abstract</st><p>Careers in example management are invented.</p></sec>]]>
    </description>
    <dc:creator><![CDATA[Quill, E., Hornby Vale, S. T.]]></dc:creator>
    <dc:date>2026-11-12T00:45:24-07:00</dc:date>
    <dc:identifier>info:doi/10.5555/exlead-2026-000123</dc:identifier>
    <dc:identifier>hwp:master-id:exlead;exlead-2026-000123</dc:identifier>
  </item>
</rdf:RDF>
"""

BIORXIV_RDF = """<?xml version="1.0" encoding="UTF-8" ?>
<rdf:RDF xmlns="http://purl.org/rss/1.0/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://biorxiv.org">
<title>bioRxiv Subject Collection: Biophysics</title>
<items><rdf:Seq><rdf:li rdf:resource="https://www.biorxiv.org/content/10.64898/2026.11.15.700002v1?rss=1"/></rdf:Seq></items>
</channel>
<item rdf:about="https://www.biorxiv.org/content/10.64898/2026.11.15.700002v1?rss=1">
<title><![CDATA[ Invented polymerases pause on imaginary templates ]]></title>
<link>https://www.biorxiv.org/content/10.64898/2026.11.15.700002v1?rss=1</link>
<description><![CDATA[ Invented polymerases pause. ]]></description>
<dc:creator><![CDATA[ Osterby, L., Wynn, B., Dahl, D. ]]></dc:creator>
<dc:date>2026-11-16</dc:date>
<dc:identifier>doi:10.64898/2026.11.15.700002</dc:identifier>
</item>
</rdf:RDF>
"""


def test_feedfmt_highwire_and_biorxiv_feeds_keep_dois_and_authors() -> None:
    """HighWire's DOI is found beside its master id (the paper is one identity with its
    preprint and its other listings), its "Abstract" heading is no text, and "Last, I."
    pairs are authors, not a surname and an initial each."""
    (article,) = parse_digest(HIGHWIRE_RDF.encode(), source="exlead.rss").papers
    assert (article.id, article.doi) == ("10.5555/exlead-2026-000123",) * 2
    assert article.abstract == "Careers in example management are invented."
    assert article.author_names == ("E. Quill", "S. T. Hornby Vale")
    (preprint,) = parse_digest(BIORXIV_RDF.encode(), source="biorxiv_xml.rss").papers
    assert preprint.author_names == ("L. Osterby", "B. Wynn", "D. Dahl")
    assert preprint.doi == "10.64898/2026.11.15.700002"


API_ERROR = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom"
 xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/</id>
  <title>arXiv Search Results</title>
  <updated>2026-11-17T10:00:00Z</updated>
  <opensearch:itemsPerPage>1</opensearch:itemsPerPage>
  <opensearch:totalResults>1</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
  <entry>
    <id>https://arxiv.org/api/errors#incorrect_id_format_for_2611.x</id>
    <title>Error</title>
    <updated>2026-11-17T10:00:00Z</updated>
    <link href="https://arxiv.org/api/errors#incorrect_id_format_for_2611.x" rel="alternate" type="text/html"/>
    <summary>incorrect id format for 2611.x</summary>
    <author><name>arXiv api core</name></author>
  </entry>
</feed>
"""


def test_arxivfmt_api_error_answer_says_what_it_is() -> None:
    """A saved answer of the arXiv API to a bad query (its one entry is the error) is named
    as such, with arXiv's message, not as "a feed that is not arXiv's"."""
    with pytest.raises(DigestParseError, match=r"an arXiv API error, not a digest: incorrect id format for 2611\.x"):
        parse_digest(API_ERROR.encode(), source="query.atom")


XHTML_ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Example Lab Blog</title>
  <id>https://lab.example.org/</id>
  <updated>2026-11-17T00:00:00Z</updated>
  <entry>
    <title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Sparse <em>attention</em> &amp; folds</div></title>
    <id>https://lab.example.org/posts/sparse</id>
    <link href="https://lab.example.org/posts/sparse"/>
    <updated>2026-11-17T00:00:00Z</updated>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>We fold proteins with <b>sparse</b>
      attention (arXiv:2611.00001).</p></div></content>
  </entry>
</feed>
"""


def test_feedfmt_xhtml_title_is_text() -> None:
    """An Atom title of ``type="xhtml"`` (or HTML) is shown as its text, not its markup."""
    (post,) = parse_digest(XHTML_ATOM.encode(), source="feed-lab-2026-11-17.xml").papers
    assert post.title == "Sparse attention & folds"
    assert (post.abstract, post.arxiv_id) == (
        "We fold proteins with sparse attention (arXiv:2611.00001).",
        "2611.00001",
    )


# An OpenReview API v2 note as ICML 2026 writes it (invented paper): the summary under
# "TL;DR" (ICLR writes "TLDR"), the PDF as an attachment.
ICML_NOTE = {
    "id": "Qx3Lm9Tz2a",
    "forum": "Qx3Lm9Tz2a",
    "number": 31337,
    "pdate": 1777593600000,
    "content": {
        "title": {"value": "Invented Symmetries of Imaginary Networks"},
        "authors": {"value": ["Rui Ito"]},
        "authorids": {"value": ["~Rui_Ito1"]},
        "abstract": {"value": "Imaginary networks have invented symmetries."},
        "TL;DR": {"value": "Symmetries, invented."},
        "Primary Area": {"value": "Theory->Deep Learning"},
        "keywords": {"value": ["symmetry"]},
        "pdf": {"value": "/attachment?id=Qx3Lm9Tz2a&name=pdf"},
        "venue": {"value": "ICML 2026 spotlight"},
        "venueid": {"value": "ICML.cc/2026/Conference"},
    },
}


def test_openreviewfmt_tl_dr_and_attachment_pdf() -> None:
    """A venue that names its summary "TL;DR" and serves the PDF as an attachment gives the
    paper its summary and its PDF link, as ICLR's "TLDR" and "/pdf/..." do."""
    data = json.dumps([ICML_NOTE]).encode()
    (paper,) = parse_digest(data, source="openreview-ICML.cc_2026_Conference-2026-11-17.json").papers
    assert paper.summary == "Symmetries, invented."
    assert paper.pdf_url == "https://openreview.net/attachment?id=Qx3Lm9Tz2a&name=pdf"
    assert (paper.url, paper.journal) == ("https://openreview.net/forum?id=Qx3Lm9Tz2a", "ICML 2026 spotlight")


# rss.arxiv.org's answer to a category it does not know (arXiv/arxiv-feed's serialize_error):
# a channel without items whose title says so. Not a weekend's empty listing.
FEED_ERROR = """<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:atom="http://www.w3.org/2005/Atom" version="2.0">
  <channel>
    <title>Feed error for query: http://rss.arxiv.org/rss/cs.XY</title>
    <link>http://rss.arxiv.org/rss/cs.XY</link>
    <description>Invalid archive specification: cs.XY</description>
    <atom:link href="http://rss.arxiv.org/rss/cs.XY" rel="self" type="application/rss+xml"/>
    <language>en-us</language>
    <managingEditor>rss-help.arxiv.org</managingEditor>
  </channel>
</rss>
"""


def test_arxivfmt_feed_error_is_no_weekend() -> None:
    """arXiv's error feed (a misspelt category) is an error naming arXiv's message, never a
    listing of no papers that would pass for a quiet day."""
    with pytest.raises(DigestParseError, match=r"arXiv's feed error, not a digest: Invalid archive specification"):
        parse_digest(FEED_ERROR.encode(), source="arxiv-cs.XY-2026-11-17.xml")
