"""The shared core steps that commands wire together: digests -> papers -> matches.

``match``, ``preview``, ``send`` and the daemon all go through these functions,
so that what ``match`` explains is exactly what ``preview`` shows and ``send``
delivers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from newsletter.config import Config, Subscriber
from newsletter.delivery.pickup import digest_files, scan_digests
from newsletter.digest import Digest, Paper, unique_papers
from newsletter.errors import DigestParseError
from newsletter.matching import Match, PaperIndex, Profile, match_papers

__all__ = ["Loaded", "digest_files", "load_digests", "plan", "profile_of", "select_subscribers"]


@dataclass(frozen=True, slots=True)
class Loaded:
    """Digests read from files; ``papers`` in file then digest order, each paper once
    (records of one paper in several files merged, SPEC 2.4)."""

    digests: tuple[Digest, ...]
    errors: tuple[DigestParseError, ...]
    papers: tuple[Paper, ...]


def load_digests(paths: Sequence[str | Path], *, fmt: str = "auto") -> Loaded:
    """Parse every file (:func:`~newsletter.delivery.pickup.scan_digests`, the one reader);
    a bad file is recorded in ``errors`` and the rest go on."""
    digests: list[Digest] = []
    errors: list[DigestParseError] = []
    for found in scan_digests((Path(p) for p in paths), fmt=fmt):
        if found.digest is not None:
            digests.append(found.digest)
        elif found.error is not None:
            errors.append(found.error)
    papers = unique_papers(p for d in digests for p in d.papers)
    return Loaded(tuple(digests), tuple(errors), papers)


def profile_of(subscriber: Subscriber) -> Profile:
    """The matching profile of a subscriber."""
    return Profile(
        email=subscriber.email,
        keywords=subscriber.keywords,
        require=subscriber.require,
        exclude=subscriber.exclude,
        max_papers=subscriber.max_papers,
        stemming=subscriber.stemming,
    )


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
    index = PaperIndex(papers)
    sent = already_sent or {}
    return [
        (sub, match_papers(index, profile_of(sub), exclude_ids=sent.get(sub.email, frozenset()))) for sub in subscribers
    ]


def select_subscribers(config: Config, emails: Sequence[str] = ()) -> tuple[Subscriber, ...]:
    """All subscribers, or the ones named (ConfigError for an unknown address)."""
    if not emails:
        return config.subscribers
    return tuple(config.subscriber(e) for e in emails)
