"""The ``match --json`` records (SPEC 7) of a paper and of a subscriber's matches: what
``match --json`` prints and what the generic webhook channel posts (SPEC 2.5)."""

from __future__ import annotations

from typing import Any

from newsletter.digest import revision_label
from newsletter.matching.engine import Hit, Match


def is_like_hit(hit: Hit) -> bool:
    """A similarity hit (issue 17), without importing scikit-learn for keyword-only runs."""
    return hit.fields in (("like",), ("dislike",))


def hit_json(hit: Hit) -> dict[str, Any]:
    """One entry of ``matched``: ``{"keyword", "fields"}``, or for a similarity hit
    ``{"like": TITLE, "terms", "similarity"}`` (``"dislike"`` for a push-down)."""
    if is_like_hit(hit):
        return {
            hit.fields[0]: getattr(hit, "like", ""),
            "terms": list(getattr(hit, "terms", ())),
            "similarity": getattr(hit, "similarity", 0.0),
        }
    return {"keyword": hit.keyword, "fields": list(hit.fields)}


def paper_json(m: Match) -> dict[str, object]:
    """``{"id", "title", "score", "matched"}``; an arXiv revision of an older paper (SPEC
    2.3) adds ``"revised": true``, ``"revision"`` (the label the email shows), ``"version"``
    and ``"first_announced"`` (ISO day or null)."""
    paper = m.paper
    record: dict[str, object] = {
        "id": paper.id,
        "title": paper.title,
        "score": m.score,
        "matched": [hit_json(h) for h in m.hits],
    }
    if paper.revised:
        record.update(
            revised=True,
            revision=revision_label(paper),
            version=paper.version,
            first_announced=paper.first_announced.isoformat() if paper.first_announced else None,
        )
    return record


def subscriber_json(email: str, matches: list[Match]) -> dict[str, object]:
    return {"email": email, "papers": [paper_json(m) for m in matches]}
