"""How a ``like:`` entry names a paper (issue 17), without the similarity machinery."""

from __future__ import annotations

import re
from dataclasses import dataclass

from newsletter.digest import Paper, arxiv_id, paper_id

__all__ = ["Likes", "ref_keys"]

_HF_URL = re.compile(r"https?://(?:www\.)?huggingface\.co/papers/([^/?#\s]+)/?(?:[?#].*)?$", re.IGNORECASE)
_ARXIV_URL = re.compile(
    r"https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/([^?#\s]+?)(?:\.pdf)?/?(?:[?#].*)?$", re.IGNORECASE
)


def ref_keys(ref: str) -> tuple[str, ...]:
    """The paper identities (as in :attr:`Paper.keys`) a ``like:`` entry may name:
    ``2509.01234`` (any version), a Hugging Face or arXiv URL of it, a paper id, or an
    exact title (compared normalised: case, punctuation and spacing aside)."""
    text = ref.strip()
    m = _HF_URL.match(text) or _ARXIV_URL.match(text)
    if m:
        ident = m.group(1)
        found = arxiv_id(ident)
        return (found,) if found else (ident, paper_id(ident))
    found = arxiv_id(text)
    if found:
        return (found,)
    return (text, paper_id(text))


@dataclass(frozen=True, slots=True)
class Likes:
    """A subscriber's similarity preferences: entries as written (YAML) or paper ids
    (ledger feedback), the papers of their library (issue 24) with their weights, the
    threshold (None: the mode's default) and how many most similar papers always match."""

    like: tuple[str, ...] = ()
    dislike: tuple[str, ...] = ()
    threshold: float | None = None
    top: int = 3
    library: tuple[Paper, ...] = ()
    library_weights: tuple[float, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.like or self.dislike or self.library)
