"""Addresses: one spelling of "the same address", and strict parsing of addresses,
display names and mailboxes (``Name <addr>``).

:func:`address_key` is how the suppression list (and the bounce counts), the
unsubscribe tokens, the Message-ID salt, :meth:`Config.subscriber`, the duplicate
check of the configuration and the look-ups of the CLI compare addresses:
surrounding white space removed, lower case. (Domains are case-insensitive; local parts are in practice,
and a subscriber who writes ``Ana@Example.org`` in one place and ``ana@example.org``
in another is one person.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, TypeVar

import email_validator
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

_CONTROL = re.compile(r"[\r\n\x00]")
_SPECIALS = re.compile(r'[()<>@,;:\\"\[\]]')
_NAME_ADDR = re.compile(r"^\s*(?P<name>[^<>]*?)\s*<(?P<addr>[^<>]*)>\s*$")


def address_key(email: str) -> str:
    """The key of an address: stripped, lower case."""
    return email.strip().lower()


def by_key(emails: Iterable[str]) -> dict[str, list[str]]:
    """Addresses grouped by their key (what the ledger stores), each spelling once: a
    look-up by key answers every spelling it was asked with."""
    out: dict[str, list[str]] = {}
    for email in emails:
        spellings = out.setdefault(address_key(email), [])
        if email not in spellings:
            spellings.append(email)
    return out


# Self-hosted lists live in private and test domains (SPEC 3): `.local` and `.test` are
# "special-use" for email-validator, which documents this module list as the knob to
# change (the other special-use names, `.invalid`, `.localhost`, `.onion`, `.arpa`, stay
# refused; `.internal` and `.lan` are not on its list).
email_validator.SPECIAL_USE_DOMAIN_NAMES = [
    d for d in email_validator.SPECIAL_USE_DOMAIN_NAMES if d not in ("local", "test")
]


def check_address(value: str) -> str:
    """A strictly parsed bare address (``alice@example.org``), normalised; ValueError otherwise.

    A local part (before the @) in other than ASCII (``jörg@example.org``) is refused: it
    can only travel with SMTPUTF8 (RFC 6531), which this program does not speak, so such a
    subscriber could never be delivered to. A domain in any script is fine (it goes out
    as its A-labels, :func:`wire_address`)."""
    if _CONTROL.search(value):
        raise ValueError("must not contain line breaks or NUL")
    text = value.strip()
    quick = _plain_address(text)
    if quick is not None:
        return quick
    try:
        return validate_email(text, check_deliverability=False, allow_smtputf8=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address ({exc})") from None


# The common address (plain ASCII letters, digits, ``_+-`` and dots before the @, an
# ASCII domain) is checked here and its domain once per run: email-validator costs
# ~90 us an address, most of it on the domain, which 100,000 subscribers share among a
# few. Anything else, and every error, goes through email-validator itself.
# tests/test_config.py holds this path to email-validator's answers on random addresses.
_PLAIN = re.compile(r"([A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_CASE_INSENSITIVE = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)  # RFC 2142 names: email-validator lowercases them


def _plain_address(text: str) -> str | None:
    """``text`` normalised as email-validator would, for a plain address; None: ask it."""
    m = _PLAIN.fullmatch(text)
    if m is None or len(text) > 200 or len(m[1]) > 64 or m[1].lower() in _CASE_INSENSITIVE or "xn--" in m[2].lower():
        return None
    domain = _plain_domain(m[2])
    return None if domain is None else f"{m[1]}@{domain}"


@lru_cache(maxsize=4096)
def _plain_domain(domain: str) -> str | None:
    """email-validator's normalised form of an ASCII domain, or None when it refuses it."""
    try:
        return validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None


def wire_address(address: str) -> str:
    """``address`` as SMTP and mail headers carry it without SMTPUTF8: an
    internationalised domain in its ASCII form (IDNA A-labels, email-validator's
    ``ascii_domain``: ``ana@bücher.de`` -> ``ana@xn--bcher-kva.de``). The configuration
    keeps the Unicode form (keys, tokens and the ledger do not change); a non-ASCII
    local part is kept as it is (only SMTPUTF8 can carry it)."""
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    return f"{local}@{_ascii_domain(domain)}" if at and not domain.isascii() else address


@lru_cache(maxsize=1024)
def _ascii_domain(domain: str) -> str:
    try:
        return validate_email(f"a@{domain}", check_deliverability=False).ascii_domain
    except EmailNotValidError:
        return domain


def check_name(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain line breaks or NUL")
    return value.strip()


# --- reliability (issue 11): display names that always fit a header line
MAX_NAME = 150  # characters of a display name (To/From): one encoded word within 998 octets
_NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAME_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")  # right-to-left letters need none of them


def check_display_name(value: str) -> str:
    """A display name (``name``, the name in ``from``): no line break, NUL or other
    control character, no explicit bidirectional formatting (a name written in Arabic or
    Hebrew needs none; an override would reverse the rest of the Subject), runs of spaces
    made one, at most :data:`MAX_NAME` characters, so that its header line stays within
    998 octets however it is encoded (longer names are refused, never cut)."""
    value = check_name(value)
    if _NAME_CONTROL.search(value):
        raise ValueError("must not contain control characters (tabs included)")
    if _NAME_BIDI.search(value):  # in the Subject and "Hi NAME,": it would reverse what follows
        raise ValueError("must not contain bidirectional overrides, embeddings or isolates (U+202A-202E, U+2066-2069)")
    value = re.sub(r" {2,}", " ", value)  # runs of spaces: one (mail parsers collapse them anyway)
    if len(value) > MAX_NAME:
        raise ValueError(
            f"a name of {len(value):,} characters is too long for an email header (at most {MAX_NAME}); shorten it"
        )
    return value


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A display name and an address, as in ``Paper Digest <digest@example.org>``."""

    name: str
    address: str

    def __str__(self) -> str:
        # the text of the config, not an RFC 2047 header: encoding belongs to the message
        # writer (formataddr would encode a non-ASCII name, which then reads as a literal
        # "=?utf-8?...?=" name when parsed back)
        if not self.name:
            return self.address
        return f'"{self.name}" <{self.address}>' if _SPECIALS.search(self.name) else f"{self.name} <{self.address}>"


def parse_mailbox(value: str) -> Mailbox:
    """Parse ``Name <addr>`` or a bare address strictly; ValueError otherwise."""
    if _CONTROL.search(value):
        raise ValueError("must not contain line breaks or NUL")
    m = _NAME_ADDR.match(value)
    if m:
        name = m.group("name").strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1]
            if '"' in name or "\\" in name:
                raise ValueError(f"malformed display name in {value!r}")
        elif _SPECIALS.search(name):
            raise ValueError(f"malformed display name in {value!r} (quote a name with special characters)")
        return Mailbox(name, check_address(m.group("addr")))
    if "<" in value or ">" in value:
        raise ValueError(f"malformed address {value!r} (expected 'Name <address>' or an address)")
    return Mailbox("", check_address(value))


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
