"""One spelling of "the same address".

:func:`address_key` is how every ledger table, the suppression list, the unsubscribe
tokens and the look-ups of the CLI compare addresses: surrounding white space
removed, lower case. (Domains are case-insensitive; local parts are in practice,
and a subscriber who writes ``Ana@Example.org`` in one place and ``ana@example.org``
in another is one person.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar


def address_key(email: str) -> str:
    """The key of an address: stripped, lower case."""
    return email.strip().lower()


class _HasEmail(Protocol):
    @property
    def email(self) -> str: ...


S = TypeVar("S", bound=_HasEmail)


@dataclass(frozen=True, slots=True)
class Suppressions:
    """The actively suppressed addresses (unsubscribed, paused, bounced), by key."""

    keys: frozenset[str] = frozenset()

    def active(self, email: str) -> bool:
        """True when ``email`` gets nothing."""
        return address_key(email) in self.keys

    def filter(self, subscribers: Iterable[S]) -> list[S]:
        """The subscribers who are not suppressed, in order."""
        return [s for s in subscribers if address_key(s.email) not in self.keys]

    def __len__(self) -> int:
        return len(self.keys)
