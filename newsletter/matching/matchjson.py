"""The ``match --json`` records (SPEC 7) of a paper and of a subscriber's matches: what
``match --json`` prints and what the generic webhook channel posts (SPEC 2.5)."""

from __future__ import annotations

from typing import Any

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
    return {"id": m.paper.id, "title": m.paper.title, "score": m.score, "matched": [hit_json(h) for h in m.hits]}


def subscriber_json(email: str, matches: list[Match]) -> dict[str, object]:
    return {"email": email, "papers": [paper_json(m) for m in matches]}
