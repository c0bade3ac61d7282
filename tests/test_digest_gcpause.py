"""The garbage collector's pause while a digest is parsed (``newsletter/digest/gcpause.py``):
the same papers as the plain way, no collection during the parse, and the collector as it
was once the parse is over, whether it read papers or failed."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import textdumps
from newsletter.base.errors import DigestParseError
from newsletter.digest import Digest, parse_digest, parse_digest_plain

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([*(ROOT / "seeds").glob("*.txt"), *(ROOT / "tests" / "samples").glob("*.*")])


@pytest.fixture
def collections() -> Iterator[list[str]]:
    """The collector's passes while the test runs ("start" once a pass)."""
    seen: list[str] = []

    def record(phase: str, info: dict[str, int]) -> None:
        seen.append(phase)

    gc.callbacks.append(record)
    try:
        yield seen
    finally:
        gc.callbacks.remove(record)


def _read(data: bytes, parse: Callable[..., Digest], source: str = "d.md") -> Digest | str:
    """The digest, or the message the parse stops with."""
    try:
        return parse(data, source=source)
    except DigestParseError as exc:
        return exc.message


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_gcpause_files_read_as_the_plain_way(path: Path) -> None:
    data = path.read_bytes()
    assert _read(data, parse_digest, path.name) == _read(data, parse_digest_plain, path.name)


@pytest.mark.parametrize(("style", "make"), textdumps.STYLES)
def test_gcpause_text_dumps_read_as_the_plain_way(style: str, make: Callable[[int], str]) -> None:
    data = make(50).encode()
    digest = parse_digest(data, source="d.md")
    assert len(digest.papers) == 50
    assert digest == parse_digest_plain(data, source="d.md")


_PIECES = st.sampled_from(
    [
        "### [Title](https://huggingface.co/papers/2611.00001)\n",
        "[12](https://huggingface.co/login?next=%2Fpapers%2F2611.00001)\n",
        "We study tables.\n",
        "\n",
        "[1]Title\n",
        "References\n\n   1. https://huggingface.co/papers/2611.00002\n",
        "{",
        "[",
        "<",
        "é",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_gcpause_any_text_reads_as_the_plain_way(text: str) -> None:
    data = text.encode()
    try:
        plain: Digest | str = parse_digest_plain(data, source="d.md")
    except DigestParseError as exc:
        plain = exc.message
    except Exception:  # the plain way lets a parser's own error out; parse_digest names it
        with pytest.raises(DigestParseError):
            parse_digest(data, source="d.md")
        return
    assert _read(data, parse_digest) == plain


def test_gcpause_no_collection_while_a_large_dump_is_parsed(collections: list[str]) -> None:
    data = textdumps.crawler(2000).encode()
    gc.collect()
    collections.clear()
    parse_digest_plain(data, source="d.md")
    plain = collections.count("start")
    assert plain > 10, "the plain way: the collector walks the parse's objects again and again"
    gc.collect()
    collections.clear()
    digest = parse_digest(data, source="d.md")
    assert len(digest.papers) == 2000
    assert collections.count("start") <= 1  # at most the pass that comes once it is on again


@pytest.mark.parametrize("enabled", [True, False])
def test_gcpause_collector_as_it_was_after_a_parse_and_a_failed_one(enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()
    try:
        parse_digest(textdumps.markdown(3).encode(), source="d.md")
        assert gc.isenabled() is enabled
        with pytest.raises(DigestParseError):
            parse_digest(b"just a note, no papers\n", source="note.txt")
        assert gc.isenabled() is enabled
        with pytest.raises(DigestParseError):
            parse_digest(b"\xff\xfe\x00broken", source="bad.txt")
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
