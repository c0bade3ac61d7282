"""Tuning a profile: keyword trials without a profile, and per-entry statistics.

Pure over papers and a profile (``match --keyword``, ``match --stats``).
A ``keywords`` or ``require`` row counts the papers the entry occurs in on its
own. An ``exclude`` row lists the papers it *removed*: those the profile would
have matched without that entry (its keywords and requires match), not every
paper it happens to occur in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from newsletter.base.errors import ConfigError
from newsletter.config import Config, Subscriber
from newsletter.digest import Paper
from newsletter.matching import PaperIndex, Profile, keyword_stats, match_papers, validate_keyword
from newsletter.matching.matcher import profile_of

TRIAL_EMAIL = "keyword-trial@localhost"


def trial_subscriber(
    config: Config, keywords: Sequence[str], *, require: Sequence[str] = (), exclude: Sequence[str] = ()
) -> Subscriber:
    """A throw-away profile for ``match --keyword``: every matching paper, best first."""
    for option, values in (("--keyword", keywords), ("--require", require), ("--exclude", exclude)):
        for value in values:
            reason = validate_keyword(value)
            if reason:
                raise ConfigError(f"{option} {value!r}: {reason}")
    d = config.defaults
    return Subscriber(
        email=TRIAL_EMAIL,
        name=None,
        keywords=tuple(keywords),
        require=tuple(require),
        exclude=tuple(exclude),
        max_papers=500,
        abstract_chars=d.abstract_chars,
        send_empty=False,
        stemming=d.stemming,
        schedule=None,
        source="--keyword",
    )


@dataclass(frozen=True, slots=True)
class EntryStat:
    """One labelled row of ``match --stats``."""

    kind: str  # "keyword", "require" or "exclude"
    entry: str
    hits: int  # keyword/require: papers it occurs in; exclude: papers it removed
    removed: tuple[Paper, ...] = ()  # exclude rows: the papers it removed
    flag: str | None = None


def entry_stats(papers: Sequence[Paper], sub: Subscriber) -> list[EntryStat]:
    """The rows of ``match --stats`` for one subscriber (profile order: keywords,
    require, exclude)."""
    index = PaperIndex(papers)
    profile = profile_of(sub)
    counts = keyword_stats(index, profile)
    half = len(papers) / 2
    rows: list[EntryStat] = []
    kinds = ["keyword"] * len(sub.keywords) + ["require"] * len(sub.require)
    for kind, (entry, n) in zip(kinds, counts, strict=False):
        flag = "no hits" if n == 0 else ("over half of all papers" if n > half else None)
        rows.append(EntryStat(kind, entry, n, flag=flag))
    if sub.exclude:
        everything = max(len(papers), 1)
        base = _ids(index, replace(profile, exclude=(), max_papers=everything))
        for entry in sub.exclude:
            kept = _ids(index, replace(profile, exclude=(entry,), max_papers=everything))
            removed = tuple(p for p in papers if p.id in base and p.id not in kept)
            rows.append(
                EntryStat("exclude", entry, len(removed), removed, flag="removed nothing" if not removed else None)
            )
    return rows


def _ids(index: PaperIndex, profile: Profile) -> set[str]:
    return {m.paper.id for m in match_papers(index, profile)}
