"""The ``arxiv`` and ``feed`` readers on files as real tools leave them (SPEC 2.3, 2.5)."""

from __future__ import annotations

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
    for cut in range(first_item + 1, end):
        digest = parse_digest(data[:cut], source=source)
        for paper in digest.papers:
            assert paper in whole.papers, (cut, paper.id)
        if len(digest.papers) < len(whole.papers):
            assert digest.missing, f"cut at byte {cut}: {len(digest.papers)} papers, nothing said"
            line = len(data[:cut].splitlines())
            assert f"after line {line}" in digest.missing[-1]
