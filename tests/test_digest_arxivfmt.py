"""The ``arxiv`` and ``feed`` readers on files as real tools leave them (SPEC 2.3, 2.5)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
