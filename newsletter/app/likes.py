"""Likes and dislikes by hand and for display (issue 17): what ``newsletter feedback``,
``subscribers list``, ``status`` and ``check`` say about "more like these".

The ledger's feedback table holds what subscribers asked for from the email (or what
``newsletter feedback like|dislike`` recorded); the YAML ``like:``/``dislike:`` are the
profile's own. Matching joins both (:func:`newsletter.matching.matcher.likes_of`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from newsletter.base.errors import ConfigError
from newsletter.config import Config, Subscriber
from newsletter.digest import Paper, unique_papers
from newsletter.matching.refs import ref_keys
from newsletter.store import FeedbackRow
from newsletter.store.choose import open_ledger, open_ledger_readonly

ACTIONS = ("like", "dislike")


def read_feedback(config: Config) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Lowercased address -> (liked titles, disliked titles) recorded in the ledger
    (read only; empty without a ledger)."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    for row in ledger_feedback(config):
        likes, dislikes = out.setdefault(row.email, ([], []))
        (likes if row.action == "like" else dislikes).append(row.title)
    return {email: (tuple(a), tuple(b)) for email, (a, b) in out.items()}


def ledger_feedback(config: Config, email: str | None = None) -> list[FeedbackRow]:
    """The ledger's feedback rows (of ``email``), read only."""
    if not config.ledger_path.exists():
        return []
    ledger = open_ledger_readonly(config)
    if ledger is None:
        return []
    with ledger:
        return ledger.feedback_rows(email)


def find_paper(ref: str, papers: Iterable[Paper]) -> Paper | None:
    """The paper ``ref`` (arXiv id, Hugging Face/arXiv URL, id or exact title) names."""
    keys = set(ref_keys(ref))
    for paper in papers:
        if keys.intersection(paper.keys):
            return paper
    return None


def known_papers(config: Config) -> tuple[Paper, ...]:
    """Every paper the ledger holds and the digests at hand have (each once)."""
    from newsletter.digest.scan import digest_files, load_digests

    held: list[Paper] = []
    if config.ledger_path.exists():
        ledger = open_ledger_readonly(config)
        if ledger is not None:
            with ledger:
                held = ledger.papers_after(0)
    loaded = load_digests(digest_files(config), fmt=config.digests.format)
    return unique_papers([*held, *loaded.papers])


def like_warnings(subscribers: Sequence[Subscriber], papers: Sequence[Paper]) -> list[str]:
    """A warning per ``like``/``dislike`` entry that names no paper seen yet (it may
    arrive later: not an error)."""
    out = []
    for sub in subscribers:
        for kind in ACTIONS:
            for ref in getattr(sub, kind):
                if find_paper(ref, papers) is None:
                    out.append(
                        f"{sub.source}: {sub.email}: {kind} {ref!r} names no paper in the ledger or the digests "
                        "yet (it counts once it arrives)"
                    )
    return out


def _subscriber(config: Config, email: str) -> Subscriber:
    return config.subscriber(email)  # ConfigError (exit 2) for an unknown address


def set_feedback(config: Config, email: str, ref: str, action: str) -> tuple[Paper, bool]:
    """Record ``action`` of the paper ``ref`` for subscriber ``email`` (by hand)."""
    sub = _subscriber(config, email)
    paper = find_paper(ref, known_papers(config))
    if paper is None:
        raise ConfigError(f"no paper {ref!r} in the ledger or the digests (give an arXiv id, a URL or the exact title)")
    with open_ledger(config) as ledger:
        changed = ledger.record_feedback(sub.email, paper.id, action, title=paper.title, source="cli")
    return paper, changed


def forget(config: Config, email: str, ref: str) -> FeedbackRow | None:
    """Drop the recorded like/dislike of ``ref`` for ``email``; the row dropped, or None."""
    sub = _subscriber(config, email)
    keys = set(ref_keys(ref))
    with open_ledger(config) as ledger:
        for row in ledger.feedback_rows(sub.email):
            if row.paper_id in keys or keys.intersection(ref_keys(row.title)):
                ledger.forget_feedback(sub.email, row.paper_id)
                return row
    return None


def similarity_report(config: Config) -> tuple[list[str], list[str]]:
    """What ``check`` says of similarity (issue 24): lines (the mode; per library file its
    entries and how many lack an abstract) and warnings (one per broken entry, naming the
    file and line). Both empty when nobody likes anything."""
    from newsletter.matching.library import read_library
    from newsletter.matching.librarycache import cache_dir_of
    from newsletter.matching.semantic import available

    users = [s for s in config.subscribers if s.like or s.dislike or s.library is not None]
    if not users:
        return [], []
    semantic = available() and any(s.similarity != "lexical" for s in users)
    if semantic:
        lines = ["similarity:  semantic (all-MiniLM-L6-v2, int8 ONNX)"]
    elif any(s.similarity == "semantic" for s in users):
        lines = ["similarity:  lexical (tf-idf): semantic needs pip install 'paper-digest[semantic]'"]
    else:
        lines = ["similarity:  lexical (tf-idf)"]
    warnings: list[str] = []
    for path in dict.fromkeys(s.library for s in users if s.library is not None):
        if path is None:
            continue
        library = read_library(path, cache_dir_of(config))
        lines.append(
            f"library:     {path}: {len(library.papers)} entries, {library.without_abstract} without abstract "
            f"(matched on their title), {len(library.warnings)} broken"
        )
        warnings.extend(library.warnings)
    return lines, warnings
