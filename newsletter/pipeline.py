"""The shared core steps that commands wire together: digests -> papers -> matches.

``match``, ``preview``, ``send`` and the daemon all go through these functions,
so that what ``match`` explains is exactly what ``preview`` shows and ``send``
delivers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from newsletter.config import Config, Subscriber
from newsletter.digest import Digest, Paper, read_digest, unique_papers
from newsletter.errors import DigestParseError
from newsletter.matching import Match, PaperIndex, match_papers


@dataclass(frozen=True, slots=True)
class Loaded:
    """Digests read from files; ``papers`` in file then digest order, each paper once
    (records of one paper in several files merged, SPEC 2.4)."""

    digests: tuple[Digest, ...]
    errors: tuple[DigestParseError, ...]
    papers: tuple[Paper, ...]


def digest_files(config: Config) -> list[Path]:
    """The digest files in the configured directory, in name order.

    ``digests.pattern`` (one glob or a list) and the names ``newsletter fetch`` writes;
    hidden files and temporary names (``*.tmp``, ``*.part``, ``*~``) are never digests.
    """
    directory = config.digests.directory
    found = {p for pattern in config.digests.patterns for p in directory.glob(pattern)}
    return sorted(
        p for p in found if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".tmp", ".part", "~"))
    )


def load_digests(paths: Sequence[str | Path], *, fmt: str = "auto") -> Loaded:
    """Parse every file; a bad file is recorded in ``errors`` and the rest go on."""
    digests: list[Digest] = []
    errors: list[DigestParseError] = []
    for path in paths:
        try:
            digests.append(read_digest(path, fmt=fmt))
        except DigestParseError as exc:
            errors.append(exc)
    papers = unique_papers(p for d in digests for p in d.papers)
    return Loaded(tuple(digests), tuple(errors), papers)


def plan(
    subscribers: Sequence[Subscriber],
    papers: Sequence[Paper],
    *,
    already_sent: Mapping[str, Collection[str]] | None = None,
) -> list[tuple[Subscriber, list[Match]]]:
    """Each subscriber with the papers they get, best first, at most ``max_papers``.

    ``already_sent`` maps an address to the paper ids it was sent before; those
    are never matched again.
    """
    return list(plan_each(subscribers, papers, already_sent=already_sent))


def plan_each(
    subscribers: Iterable[Subscriber],
    papers: Sequence[Paper],
    *,
    already_sent: Mapping[str, Collection[str]] | None = None,
) -> Iterator[tuple[Subscriber, list[Match]]]:
    """:func:`plan`, one subscriber at a time (``match --json`` streams 100,000 of them)."""
    index = PaperIndex(papers)
    sent = already_sent or {}
    for sub in subscribers:
        yield sub, match_papers(index, sub.profile, exclude_ids=sent.get(sub.email, frozenset()))


def select_subscribers(config: Config, emails: Sequence[str] = ()) -> tuple[Subscriber, ...]:
    """All subscribers, or the ones named (ConfigError for an unknown address)."""
    if not emails:
        return config.subscribers
    return tuple(config.subscriber(e) for e in emails)
