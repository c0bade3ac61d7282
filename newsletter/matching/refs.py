"""How a ``like:`` entry names a paper (issue 17), without the similarity machinery."""

from __future__ import annotations

import re
from dataclasses import dataclass

from newsletter.digest import Paper, arxiv_id, paper_id

__all__ = ["Likes", "ref_keys"]

_HF_URL = re.compile(r"https?://(?:www\.)?huggingface\.co/papers/([^/?#\s]+)/?(?:[?#].*)?$", re.IGNORECASE)
_ARXIV_URL = re.compile(
    r"(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/([^?#\s]+?)(?:\.pdf)?/?(?:[?#].*)?$", re.IGNORECASE
)
# arXiv:2509.01234v2 (how papers cite it) and arXiv's DOI 10.48550/arXiv.2509.01234, bare or as a URL
_ARXIV_NAMED = re.compile(
    r"(?:arxiv:\s*|(?:doi:\s*|https?://(?:dx\.)?doi\.org/)?10\.48550/arxiv\.)(\S+)$", re.IGNORECASE
)


def ref_keys(ref: str) -> tuple[str, ...]:
    """The paper identities (as in :attr:`Paper.keys`) a ``like:`` entry may name:
    ``2509.01234`` (any version, ``arXiv:`` in front or not), a Hugging Face or arXiv URL
    of it (with or without ``https://``), arXiv's DOI of it, a paper id, or an
    exact title (compared normalised: case, punctuation and spacing aside)."""
    text = ref.strip()
    m = _HF_URL.match(text) or _ARXIV_URL.match(text)
    if m:
        ident = m.group(1)
        found = arxiv_id(ident)
        return (found,) if found else (ident, paper_id(ident))
    named = _ARXIV_NAMED.match(text)
    found = arxiv_id(named.group(1) if named else text)
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
