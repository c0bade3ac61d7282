"""What the rest of the program reads: :class:`Config` (paths resolved, subscribers merged
with ``defaults``), :class:`Subscriber` and :class:`LeftOut` (a subscriber left out,
SPEC 6c)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsletter.base.addresses import (
    Mailbox,
    address_key,
)
from newsletter.base.errors import ConfigError, printable
from newsletter.config.channels import AnyChannel
from newsletter.config.schema import (
    Archive,
    Bounces,
    Defaults,
    Digests,
    Dkim,
    LedgerSettings,
    Links,
    Schedule,
    Sender,
    Smtp,
)
from newsletter.config.sources import AnySource, Fetch


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A subscriber with the effective settings (own values over ``defaults``)."""

    email: str
    name: str | None
    keywords: tuple[str, ...]
    require: tuple[str, ...]
    exclude: tuple[str, ...]
    max_papers: int
    abstract_chars: int
    send_empty: bool
    stemming: bool
    schedule: str | None
    source: str  # the file it was defined in
    like: tuple[str, ...] = ()  # issue 17: liked papers (ids, URLs or titles, as written)
    dislike: tuple[str, ...] = ()
    like_threshold: float | None = None  # None: the similarity mode's default
    like_top: int = 3
    similarity: str = "auto"  # issue 24: auto | semantic | lexical
    library: Path | None = None  # issue 24: resolved against the config file's directory
    channels: tuple[AnyChannel, ...] = ()  # issue 27: chat channels (SPEC 2.5)
    send_email: bool = True  # false: channels only
    revisions: bool = True  # false: arXiv's revisions of older papers are left out

    @property
    def mailbox(self) -> Mailbox:
        return Mailbox(self.name or "", self.email)


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A subscriber left out of every pass (SPEC 6c): its entry or file does not validate.

    How it is named when its address cannot be read: always by ``file:line`` (the line
    of its first problem: the key at fault, or 1 for a file that is no YAML mapping),
    plus ``email``, the address as written when the entry holds one as text (shown on
    one line, control characters escaped; it may be the invalid address itself), else
    None. ``problems`` are the errors ``check`` lists for it."""

    file: str
    line: int | None
    email: str | None
    error: str  # every problem of the entry, "key: message; ..."
    problems: tuple[ConfigError, ...]

    @classmethod
    def of(cls, problems: list[ConfigError], entry: object = None) -> LeftOut:
        first = problems[0]
        raw = entry.get("email") if isinstance(entry, Mapping) else None
        email = _one_line(raw) if isinstance(raw, str) and raw.strip() else None
        error = "; ".join(f"{printable(p.key)}: {p.message}" if p.key else p.message for p in problems)
        return cls(first.path or "", first.line, email, error, tuple(problems))

    @property
    def where(self) -> str:
        file = printable(self.file)  # a file name may hold a line break: never a forged line
        return f"{file}:{self.line}" if self.line is not None else file

    def __str__(self) -> str:
        who = f" ({self.email})" if self.email else ""
        return f"{self.where}: subscriber{who} left out: {self.error}"

    def to_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "file": self.file,
            "line": self.line,
            "error": self.error,
        }


def _one_line(text: str, limit: int = 200) -> str:
    """Untrusted text for one log line: control characters escaped, at most ``limit``."""
    out = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text.strip())
    return out if len(out) <= limit else out[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Config:
    """The validated configuration; paths are absolute."""

    path: Path
    digests: Digests
    ledger_path: Path  # YAML key `state`: the SQLite ledger
    schedule: Schedule
    sender: Sender
    links: Links
    smtp: Smtp
    templates: Path | None
    defaults: Defaults
    subscribers: tuple[Subscriber, ...]
    sources: tuple[AnySource, ...] = ()
    fetch: Fetch = field(default_factory=Fetch)
    subscribers_dir: Path | None = None  # resolved; where `newsletter subscribers` writes
    archive: Archive = field(default_factory=Archive)  # directory resolved
    bounces: Bounces = field(default_factory=Bounces)
    dkim: Dkim | None = None
    lines: Mapping[str, int] = field(default_factory=dict)  # key path -> line, for later checks
    left_out: tuple[LeftOut, ...] = ()  # bad subscribers (load_config(strict=False)), SPEC 6c
    # issue 23: `state: postgresql://...` (ledger_path then only names it: see newsletter.store.choose)
    ledger_url: str | None = None
    ledger_password_env: str | None = None
    ledger: LedgerSettings = field(default_factory=LedgerSettings)

    _by_key: dict[str, Subscriber] | None = field(default=None, init=False, repr=False, compare=False)

    def subscriber(self, email: str) -> Subscriber:
        """The subscriber of an address (any spelling of it: :func:`address_key`); a
        dict built on first use, so looking up every subscriber is linear."""
        by_key = self._by_key
        if by_key is None:
            by_key = {}
            for sub in self.subscribers:
                by_key.setdefault(address_key(sub.email), sub)
            object.__setattr__(self, "_by_key", by_key)
        found = by_key.get(address_key(email))
        if found is None:
            raise ConfigError(f"no subscriber {email!r} in the configuration", path=str(self.path))
        return found


def select_subscribers(config: Config, emails: Sequence[str] = ()) -> tuple[Subscriber, ...]:
    """All subscribers, or the ones named (ConfigError for an unknown address)."""
    if not emails:
        return config.subscribers
    return tuple(config.subscriber(e) for e in emails)
