"""Wording shared by every output (emails, pages, command lines): counts with the
right singular or plural."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 paper``, ``2 papers``, ``0 papers`` (``many``: an irregular plural). Also the
    Jinja filter ``plural`` of the email, archive and web templates:
    ``{{ count | plural("paper") }}``."""
    return f"{n} {word if n == 1 else many or word + 's'}"
