"""The digest parsers on the seeds, on robustness variants and on bad files."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from newsletter.base.errors import DigestParseError
from newsletter.digest import Paper, extract_links, paper_id, parse_digest
from newsletter.digest.scan import read_digest

REF = date(2026, 11, 23)  # stands for the files' modification date


def parse_seed(path: Path, **kw: object) -> tuple[Paper, ...]:
    return parse_digest(path.read_bytes(), source=path.name, reference=REF, **kw).papers  # type: ignore[arg-type]


def by_title(papers: tuple[Paper, ...], start: str) -> Paper:
    found = [p for p in papers if p.title.startswith(start)]
    assert len(found) == 1, f"{start!r}: {len(found)} papers"
    return found[0]


@pytest.mark.parametrize(("key", "count"), [("000", 7), ("001", 62), ("002", 78), ("003", 49)])
def test_parse_seed_counts(seeds: dict[str, Path], key: str, count: int) -> None:
    assert len(parse_seed(seeds[key])) == count


def test_parse_seeds_distinct_ids_across_files(seeds: dict[str, Path]) -> None:
    ids = [p.id for key in sorted(seeds) for p in parse_seed(seeds[key])]
    assert len(ids) == 196
    assert len(set(ids)) == 187


def test_parse_seed_000_first_and_last_entry(seeds: dict[str, Path]) -> None:
    papers = parse_seed(seeds["000"])
    first = papers[0]
    assert first.title == "Bootstrap Latent Representations for Multi-modal Recommendation"
    assert first.abstract.startswith("This paper studies the multi-modal recommendation problem,")
    assert first.abstract.endswith("Our code is available at https://github.com/enoche/BM3.")
    assert first.links == ("https://github.com/enoche/BM3",)
    assert first.id == "bootstrap-latent-representations-for-multi-modal-recommendation"
    assert (first.authors, first.organization, first.published, first.upvotes) == (None, None, None, None)
    assert papers[-1].title == "Generalized Trajectory Scoring for End-to-end Multimodal Planning"
    assert papers[-1].links == ("https://github.com/NVlabs/GTRS",)
    assert papers[4].links == ("https://github.com/clovaai/CutMix-PyTorch",)


def test_parse_digest_date_from_mtime(seeds: dict[str, Path]) -> None:
    digest = parse_digest(seeds["003"].read_bytes(), source="003", reference=REF)
    assert digest.date == date(2025, 12, 8)  # "Dec 8", most recent not after 2026-11-23
    digest = parse_digest(seeds["002"].read_bytes(), source="002", reference=REF)
    assert digest.date == date(2026, 10, 28)


def test_read_digest_uses_file_mtime(seeds: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "digest.txt"
    copy.write_bytes(seeds["002"].read_bytes())
    stamp = datetime(2027, 1, 5, 12, 0).timestamp()
    os.utime(copy, (stamp, stamp))
    digest = read_digest(copy)
    assert digest.date == date(2026, 10, 28)
    stamp = datetime(2026, 10, 1, 12, 0).timestamp()
    os.utime(copy, (stamp, stamp))
    digest = read_digest(copy)
    assert digest.date == date(2025, 10, 28)
    # yearless entry dates follow the digest date: "Sep 15" -> 2025-09-15
    assert digest.papers[0].published == date(2025, 9, 15)


def test_parse_seed_002_meta_blocks(seeds: dict[str, Path]) -> None:
    papers = parse_seed(seeds["002"])
    ram = papers[0]
    assert ram.title == ("RAM++: Robust Representation Learning via Adaptive Mask for All-in-One Image Restoration")
    assert (ram.authors, ram.published, ram.upvotes) == (7, date(2026, 9, 15), None)
    assert ram.links == ("https://github.com/DragonisCV/RAM",)
    calf = by_title(papers, "CALF: Aligning LLMs")
    assert (calf.authors, calf.published) == (8, date(2024, 3, 12))
    simmatch = by_title(papers, "SimMatchV2")
    assert simmatch.links == ("https://github.com/mingkai-zheng/SimMatchV2",)
    assert (simmatch.authors, simmatch.published) == (7, date(2023, 8, 13))
    # "Sep 10 2": a yearless date followed by the comment count (never votes)
    commented = by_title(papers, "Modality Alignment with Multi-scale Bilateral Attention")
    assert (commented.published, commented.comments, commented.upvotes) == (date(2026, 9, 10), 2, None)
    # an entry without meta block keeps its abstract and has no meta
    svfr = by_title(papers, "SVFR: A Unified Framework")
    assert svfr.abstract.startswith("Face Restoration (FR) is a crucial area")
    assert (svfr.authors, svfr.published, svfr.upvotes) == (None, None, None)


def test_parse_seed_003_organisation_and_comments(seeds: dict[str, Path]) -> None:
    papers = parse_seed(seeds["003"])
    pairuni = by_title(papers, "PairUni: Pairwise Training")
    assert pairuni.organization == "ByteDance"
    assert pairuni.authors is None
    assert (pairuni.published, pairuni.comments, pairuni.upvotes) == (date(2025, 10, 29), 1, None)
    simplefold = by_title(papers, "SimpleFold: Folding Proteins")
    assert (simplefold.authors, simplefold.published, simplefold.comments) == (5, date(2025, 9, 22), 5)
    # "Oct 3, 2024 4": a date with a year followed by the comment count
    gpm = by_title(papers, "General Preference Modeling with Preference Repres")
    assert (gpm.published, gpm.comments) == (date(2024, 10, 3), 4)
    assert all(p.upvotes is None for p in papers)  # the seeds show no upvote element
    first = papers[0]
    assert first.title == "A Framework For Image Synthesis Using Supervised Contrastive Learning"
    assert (first.authors, first.published) == (5, date(2024, 12, 5))
    graph = by_title(papers, "Graph Inductive Biases in Transformers without Message Passing")
    assert graph.published is None and graph.abstract.endswith("message-passing can deliver.")


def test_parse_crlf_bom_and_trailing_spaces_give_same_papers(seeds: dict[str, Path]) -> None:
    text = seeds["002"].read_text(encoding="utf-8")
    variant = "\ufeff" + "\r\n".join(line + "  \t" for line in text.split("\n"))
    plain = parse_digest(text.encode(), source="x", reference=REF).papers
    odd = parse_digest(variant.encode(), source="x", reference=REF).papers
    assert odd == plain


def test_parse_without_page_header(seeds: dict[str, Path]) -> None:
    text = seeds["002"].read_text(encoding="utf-8")
    body = text.split("Oct 28\n", 1)[1]
    digest = parse_digest(body.encode(), source="x", reference=REF)
    assert digest.date is None
    assert len(digest.papers) == 78
    assert digest.papers[0].title.startswith("RAM++")
    # yearless dates then resolve against the file date
    assert digest.papers[0].published == date(2026, 9, 15)


def test_parse_entry_without_abstract(seeds: dict[str, Path]) -> None:
    text = seeds["002"].read_text(encoding="utf-8")
    lines = text.split("\n")
    abstract_line = next(i for i, line in enumerate(lines) if line.startswith("Sign language repr"))
    del lines[abstract_line : abstract_line + 2]  # the abstract and the blank after it
    papers = parse_digest("\n".join(lines).encode(), source="x", reference=REF).papers
    assert len(papers) == 78
    signrep = by_title(papers, "SignRep")
    assert signrep.abstract == ""
    assert (signrep.authors, signrep.published) == (3, date(2026, 3, 11))


def test_parse_abstract_of_several_paragraphs(seeds: dict[str, Path]) -> None:
    text = seeds["000"].read_text(encoding="utf-8")
    text = text.replace("Moreover, existing multi-modal", "\n\nMoreover, existing multi-modal", 1)
    text = text.replace(
        " Our code is available at https://github.com/enoche/BM3.",
        "\n\nOur code is available at https://github.com/enoche/BM3.",
        1,
    )
    papers = parse_digest(text.encode(), source="x", reference=REF).papers
    assert len(papers) == 7
    assert papers[0].abstract.count("\n\n") == 2
    assert papers[0].abstract.endswith("\n\nOur code is available at https://github.com/enoche/BM3.")
    assert papers[0].links == ("https://github.com/enoche/BM3",)
    assert papers[1].title.startswith("Identification of Low Surface Brightness")


@pytest.mark.parametrize(
    ("data", "message", "line"),
    [
        (b"", "empty file", 1),
        (b"   \n\n  \n", "empty file", 1),
        (b"new\n\nDaily Papers\n\n\x00\x01\x02binary", "binary data", 5),
        (b"\xff\xfe\x00garbage", "binary data", 1),
        (b"Sep 4\n\nnew\n\nsome\xe9text", "not UTF-8", 5),
        (b"new\n\nSubscribe\n\nDaily Papers\n\nSep 4\n", "no paper entries", 7),
        (b"just one line of text\n", "one paragraph of text: not a digest", 1),
        (b"Hello team,\n\nthe notes of today.\n\nThanks\n", "3 paragraphs of text", 1),
        (
            b"new\n\nSep 4\n\n  \xe2\x80\xa2 3 authors\n\xc2\xb7\nSep 3\n",
            "meta block (authors, date) without a title",
            5,
        ),
        (b'[{"title": "A", "abstract": "x"},\n {"title": ', "invalid JSON", 2),
        (b"[]", "holds no papers", 1),
    ],
)
def test_parse_bad_input_raises_with_file_and_line(data: bytes, message: str, line: int) -> None:
    with pytest.raises(DigestParseError) as err:
        parse_digest(data, source="bad.txt", reference=REF)
    assert message in str(err.value)
    assert err.value.path == "bad.txt"
    assert err.value.line == line
    assert str(err.value).startswith(f"bad.txt:{line}: ")


def test_parse_json_plain_array() -> None:
    records = [
        {
            "title": "Masked  Autoencoders",
            "abstract": "We mask. Code: https://github.com/x/mae.",
            "authors": 4,
            "published": "2024-03-01",
            "upvotes": 12,
            "url": "https://example.org/mae",
        },
        {"title": "Untitled Second", "abstract": "Text", "id": "given-id"},
    ]
    papers = parse_digest(json.dumps(records).encode(), source="d.json", reference=REF).papers
    assert papers[0].title == "Masked Autoencoders"
    assert papers[0].id == "masked-autoencoders"
    assert (papers[0].authors, papers[0].published, papers[0].upvotes) == (4, date(2024, 3, 1), 12)
    assert papers[0].url == "https://example.org/mae"
    assert papers[0].links == ("https://github.com/x/mae",)
    assert papers[1].id == "given-id"
    assert papers[1].url is None and papers[1].authors is None


def test_parse_json_hugging_face_api_shape() -> None:
    records = [
        {
            "paper": {
                "id": "2509.01234",
                "title": "Self-Supervised Things",
                "summary": "An abstract.",
                "authors": [{"name": "A"}, {"name": "B"}],
                "publishedAt": "2025-09-03T13:00:00.000Z",
                "upvotes": 7,
            },
            "numComments": 2,
        },
    ]
    (paper,) = parse_digest(json.dumps(records).encode(), source="api.json", reference=REF).papers
    assert paper.id == "2509.01234"
    assert paper.url == "https://huggingface.co/papers/2509.01234"
    assert (paper.authors, paper.published, paper.upvotes, paper.comments) == (2, date(2025, 9, 3), 7, 2)
    assert paper.author_names == ("A", "B")
    assert paper.arxiv_id == "2509.01234"
    assert paper.abstract == "An abstract."


def test_parse_json_forced_format_on_text_fails_cleanly(seeds: dict[str, Path]) -> None:
    with pytest.raises(DigestParseError, match="invalid JSON"):
        parse_digest(seeds["000"].read_bytes(), source="000", fmt="json", reference=REF)


def test_parse_json_missing_title_names_entry() -> None:
    """One entry without a title: the other is read, the bad one named (SPEC 6c)."""
    digest = parse_digest(b'[{"title": "ok", "abstract": ""}, {"abstract": "x"}]', source="d.json")
    assert [p.title for p in digest.papers] == ["ok"]
    assert digest.missing == ("entry 1 (line 1): 'title' must be a non-empty string",)


def test_paper_id_normalises_title() -> None:
    assert paper_id("Self-Supervised  Learning: A Survey!") == "self-supervised-learning-a-survey"
    assert paper_id("ＳＥＬＦ–SUPERVISED learning") == "self-supervised-learning"


def test_extract_links_trims_punctuation_and_dedupes() -> None:
    text = "See (https://a.org/x_(y)) and https://b.org/p. Also https://a.org/x_(y), https://c.org/q{https://c.org/q}."
    assert extract_links(text) == ("https://a.org/x_(y)", "https://b.org/p", "https://c.org/q")


def test_paper_to_json_shape(seeds: dict[str, Path]) -> None:
    paper = by_title(parse_seed(seeds["003"]), "PairUni")
    record = paper.to_json()
    assert set(record) == {
        "id",
        "arxiv_id",
        "title",
        "abstract",
        "summary",
        "authors",
        "author_names",
        "organization",
        "published",
        "upvotes",
        "comments",
        "url",
        "pdf_url",
        "code_url",
        "code_stars",
        "project_url",
        "thumbnail",
        "categories",
        "links",
        "source",
        "doi",
        "published_doi",
        "journal",
    }
    assert record["published"] == "2025-10-29"
    assert record["organization"] == "ByteDance"
    assert (record["comments"], record["upvotes"]) == (1, None)
    assert Paper.from_json(record) == paper


def test_digest_named_like_one_but_no_regular_file_is_said_not_skipped(tmp_path: Path) -> None:
    """A `*.txt` in the digests directory that is a dangling symbolic link (a share not
    mounted), a link loop, a directory or a FIFO is never read (a FIFO would block the
    pass) but named once as a file that is not a digest, never skipped in silence."""
    from newsletter.config import load_config
    from newsletter.digest.scan import digest_files, stray_files
    from tests.smtpd import EXAMPLE_SUBSCRIBERS, write_config

    config = load_config(write_config(tmp_path, 1025, EXAMPLE_SUBSCRIBERS[:1]))
    digests = tmp_path / "digests"
    (digests / "ok.txt").write_text("a digest\n", encoding="utf-8")
    (digests / "share.txt").symlink_to("/nonexistent/mount/2026-11-17.txt")
    (digests / "loop.md").symlink_to("loop.md")
    (digests / "old.json").mkdir()
    os.mkfifo(digests / "pipe.txt")
    (digests / ".#ok.txt").symlink_to("user@host.1234")  # an editor's lock: hidden, never named
    assert digest_files(config) == [digests / "ok.txt"]
    nowhere = "a symbolic link that leads nowhere"
    assert [s.line() for s in stray_files(config)] == [
        f"{digests / 'loop.md'}: not a digest ({nowhere}), ignored",
        f"{digests / 'old.json'}: not a digest (a directory), ignored",
        f"{digests / 'pipe.txt'}: not a digest (not a regular file), ignored",
        f"{digests / 'share.txt'}: not a digest ({nowhere}), ignored",
    ]


def test_parse_xml_feed_in_its_declared_encoding() -> None:
    """A feed may declare another encoding than UTF-8 (``<?xml ... encoding="ISO-8859-1"?>``,
    as some journals' do): it is read in that encoding, not refused as "not UTF-8"."""
    feed = (
        "<?xml version='1.0' encoding='ISO-8859-1'?>\n<rss version='2.0'><channel><title>Revue</title>"
        "<item><title>Caf\xe9 m\xe9thodes</title><link>https://arxiv.org/abs/2611.00042</link>"
        "<description>R\xe9sum\xe9 \xe0 lire.</description></item></channel></rss>\n"
    ).encode("latin-1")
    (paper,) = parse_digest(feed, source="revue.xml").papers
    assert (paper.id, paper.title, paper.abstract) == ("2611.00042", "Café méthodes", "Résumé à lire.")


def test_parse_undeclared_latin1_bytes_name_their_line() -> None:
    data = "<?xml version='1.0' encoding='UTF-8'?>\n<rss version='2.0'>\n<channel><title>Caf\xe9".encode("latin-1")
    with pytest.raises(DigestParseError, match=r":3: not UTF-8 text"):
        parse_digest(data, source="bad.xml")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_parse_utf16_text_with_its_bom(encoding: str) -> None:
    """A file saved as UTF-16 with a BOM (Windows PowerShell's ``>``, Notepad's "Unicode")
    is text, not "binary data"."""
    records = [{"title": "Grüße aus Köln", "abstract": "Ein Abstract.", "id": "2611.00077"}]
    data = json.dumps(records, ensure_ascii=False).encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    (paper,) = parse_digest(data, source="win.json").papers
    assert (paper.id, paper.title, paper.abstract) == ("2611.00077", "Grüße aus Köln", "Ein Abstract.")


@pytest.fixture
def host_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """The host's own time zone (TZ), as the test sets it; the test's own at the end."""

    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "UTC", "Pacific/Apia", "UTC+5"])
def test_read_digest_year_of_a_page_dated_ahead_of_the_host(
    seeds: dict[str, Path], tmp_path: Path, host_zone: Callable[[str], None], zone: str
) -> None:
    """Seed 002 is dated "Oct 28", saved at 03:00 UTC on 28 Oct 2026: 20:00 on the 27th on
    a host in Los Angeles (or on one whose TZ is the POSIX "UTC+5", 22:00 on the 27th).
    It is 28 Oct 2026 on every host; by the host's date it was 28 Oct 2025 there, a year
    off (its papers dated a year back and the digest taken for a year-old one)."""
    host_zone(zone)
    copy = tmp_path / "digest.txt"
    copy.write_bytes(seeds["002"].read_bytes())
    stamp = datetime(2026, 10, 28, 3, 0, tzinfo=UTC).timestamp()
    os.utime(copy, (stamp, stamp))
    assert read_digest(copy).date == date(2026, 10, 28)
