"""Configuration: the YAML of SPEC 3, validated into typed, frozen models at load.

Validation uses pydantic (unknown keys rejected, types checked); every problem is
reported with its key path and the line of the YAML file it comes from, all at
once, as one :class:`~newsletter.base.errors.ConfigError` (exit code 2). Relative paths
resolve against the config file's directory. Secrets never live in the file:
``smtp.password_env`` and ``sender.unsubscribe.secret_env`` name environment
variables.

Subscribers come from ``subscribers`` and from ``subscribers_dir`` (one YAML file
per subscriber, ``*.yaml``/``*.yml`` in name order), inline ones first. Every key of
``defaults`` can be set on a subscriber; :class:`Subscriber` holds the merged,
effective settings.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from newsletter.base.addresses import MAX_NAME as MAX_NAME
from newsletter.base.addresses import Mailbox as Mailbox
from newsletter.base.addresses import address_key
from newsletter.base.addresses import check_address as check_address
from newsletter.base.addresses import check_display_name as check_display_name
from newsletter.base.addresses import check_name as check_name
from newsletter.base.addresses import parse_mailbox as parse_mailbox
from newsletter.base.cron import cron_trigger, timezone
from newsletter.base.errors import ConfigError, NewsletterError
from newsletter.base.keywords import validate_keyword
from newsletter.base.urls import is_database_url, redact_url, url_password

DEFAULT_CONFIG = "config.yaml"
_CONTROL = re.compile(r"[\r\n\x00]")

Loc = tuple[str | int, ...]

# --------------------------------------------------------------------------- helpers


def check_env_name(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


# --------------------------------------------------------------------------- models


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# digests.pattern's default, and the files `newsletter fetch` writes (SPEC 2.5): the latter are
# always digests, and complete on arrival (written under a temporary name, then renamed)
DIGEST_PATTERNS = ("*.txt", "*.md", "*.json", "*.html", "*.xml")  # every format we read
FETCHED_PATTERNS = ("huggingface-*.json", "arxiv-*.xml")


class Digests(Model):
    directory: Path = Path("digests")
    pattern: str | list[str] = list(DIGEST_PATTERNS)
    settle_seconds: float = Field(default=2.0, ge=0)
    format: Literal["auto", "hf-text", "json", "hf-html", "arxiv"] = "auto"

    @property
    def patterns(self) -> tuple[str, ...]:
        """The configured glob patterns, then those of the files ``fetch`` writes
        (picked up whatever ``pattern`` says), each once."""
        given = [self.pattern] if isinstance(self.pattern, str) else self.pattern
        return tuple(dict.fromkeys([*given, *FETCHED_PATTERNS]))

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | list[str]) -> str | list[str]:
        if not value or (isinstance(value, list) and not all(value)):
            raise ValueError("needs at least one glob pattern, such as *.txt")
        return value


class Schedule(Model):
    cron: str = "0 7 * * *"
    timezone: str = "UTC"
    on_arrival: bool = False

    # field validators (not one model validator): an error points at the `cron:` or
    # `timezone:` line itself, not at `schedule:`
    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        cron_trigger(value, timezone("UTC"))
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        timezone(value)
        return value


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); ValueError otherwise."""
    m = re.fullmatch(r"\s*(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})\s*", value)
    if not m or int(m.group("port")) > 65535:
        raise ValueError(f'{value!r} is not HOST:PORT (e.g. "127.0.0.1:8026")')
    return m.group("v6") or m.group("host"), int(m.group("port"))


class Unsubscribe(Model):
    mailto: str | None = None
    url: str | None = None
    secret_env: str | None = "NEWSLETTER_UNSUBSCRIBE_SECRET"
    listen: str | None = None  # HOST:PORT of the one-click endpoint (`serve`, and inside `run`)
    # web layer: reverse proxies (IPs or CIDR networks) whose X-Forwarded-For the access log believes
    trusted_proxies: tuple[str, ...] = ()

    _env = field_validator("secret_env")(check_env_name)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)") from None
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            parse_listen(value)
        return value

    @property
    def listen_address(self) -> tuple[str, int] | None:
        """(host, port) of ``listen``, or None when the endpoint is off."""
        return None if self.listen is None else parse_listen(self.listen)

    @field_validator("mailto")
    @classmethod
    def _mailto(cls, value: str | None) -> str | None:
        return None if value is None else check_address(value.removeprefix("mailto:"))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and (_CONTROL.search(value) or not re.match(r"https?://", value)):
            raise ValueError("must be an http(s) URL on one line")
        return value


class Feedback(Model):
    """Issue 17: where the "more/fewer like this" links of the email point: the base URL
    of the `serve` endpoint (e.g. https://example.org; the links add /feedback/...).
    Unset (the default): the email has no feedback links."""

    url: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and (_CONTROL.search(value) or not re.match(r"https?://[^\s{}]+$", value)):
            raise ValueError("must be an http(s) base URL on one line, e.g. https://example.org")
        return value


class Sender(Model):
    from_: str = Field(default="Paper Digest <digest@example.org>", alias="from")
    subject: str = "{{ count }} new paper{{ 's' if count != 1 }} for you"  # "1 new paper", "2 new papers"
    reply_to: str | None = None
    list_id: str | None = None
    unsubscribe: Unsubscribe = Unsubscribe()
    feedback: Feedback = Feedback()  # issue 17

    @field_validator("from_", "reply_to")
    @classmethod
    def _mailbox(cls, value: str | None) -> str | None:
        if value is None:
            return None
        mailbox = parse_mailbox(value)
        check_display_name(mailbox.name)
        return str(mailbox)

    @field_validator("list_id")
    @classmethod
    def _list_id(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value)

    @property
    def mailbox(self) -> Mailbox:
        return parse_mailbox(self.from_)


class Links(Model):
    paper: str | None = "https://huggingface.co/papers?q={{ title | urlencode }}"


class Smtp(Model):
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password_env: str | None = "NEWSLETTER_SMTP_PASSWORD"
    ca_file: Path | None = None
    verify: bool = True
    timeout: float = Field(default=30.0, gt=0)
    connections: int = Field(default=4, ge=1, le=64)
    max_per_second: float | None = Field(default=None, gt=0)
    retries: int = Field(default=5, ge=0, le=20)
    helo: str | None = None

    _env = field_validator("password_env")(check_env_name)

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"none": 25, "starttls": 587, "tls": 465}[self.security]

    def password(self) -> str | None:
        """The SMTP password, read from the environment variable named by ``password_env``."""
        return os.environ.get(self.password_env) if self.password_env else None


# --------------------------------------------------------------------------- mail operations (issue 14)


class Imap(Model):
    """The IMAP bounce mailbox (``bounces.imap``); the password from ``password_env``."""

    host: str
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str
    password_env: str = "NEWSLETTER_IMAP_PASSWORD"
    folder: str = "INBOX"
    processed: str | None = "Processed"  # processed reports move here; null: flagged \\Seen \\Deleted
    quarantine: str = "Quarantine"  # messages that cannot be read move here (SPEC 6c), never read again
    ca_file: Path | None = None
    verify: bool = True
    timeout: float = Field(default=30.0, gt=0)

    _env = field_validator("password_env")(check_env_name)

    @field_validator("host", "username", "folder", "processed", "quarantine")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value)

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"none": 143, "starttls": 143, "tls": 993}[self.security]

    def password(self) -> str | None:
        return os.environ.get(self.password_env) or None


class Bounces(Model):
    """Where bounce reports (and mailto unsubscribe requests) arrive, and when to stop
    mailing an address: after ``hard`` hard or ``soft`` consecutive soft bounces."""

    maildir: Path | None = None
    imap: Imap | None = None
    hard: int = Field(default=1, ge=1)
    soft: int = Field(default=5, ge=1)
    every_minutes: float = Field(default=5.0, gt=0)  # how often the daemon reads the mailbox
    verp: bool = False  # a per-message envelope sender LOCAL+bTAG@DOMAIN ties every bounce to its delivery

    @property
    def mailbox(self) -> bool:
        return self.maildir is not None or self.imap is not None


class Dkim(Model):
    """DKIM signing of every message (dkimpy): the private key from ``key_env`` (PEM in
    the variable) or ``key_file`` (a file outside the configuration)."""

    domain: str
    selector: str
    key_env: str | None = "NEWSLETTER_DKIM_KEY"
    key_file: Path | None = None

    _env = field_validator("key_env")(check_env_name)

    @field_validator("domain", "selector")
    @classmethod
    def _label(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?", value):
            raise ValueError(f"{value!r} is not a DNS name")
        return value

    def private_key(self) -> bytes | None:
        """The PEM key from ``key_file`` when set, else from ``key_env``; None when neither has one."""
        if self.key_file is not None:
            try:
                return self.key_file.read_bytes()
            except OSError as exc:
                raise ConfigError(f"cannot read the DKIM key: {exc.strerror or exc}", path=str(self.key_file)) from None
        value = os.environ.get(self.key_env) if self.key_env else None
        return value.encode() if value else None


def ledger_password_missing(config: Config) -> ConfigError | None:
    """``state_password_env`` names a variable that is unset or empty (issue 23)."""
    name = config.ledger_password_env
    if not name or os.environ.get(name):
        return None
    return ConfigError(
        f"the environment variable {name} (state_password_env) holding the ledger database's password is unset "
        "or empty",
        path=str(config.path),
        line=config.lines.get("state_password_env"),
        key="state_password_env",
    )


def missing_secrets(config: Config) -> list[ConfigError]:
    """Secrets named by the configuration but absent from the environment (SPEC 3: a
    ``username`` whose ``password_env`` is unset or empty is a configuration error,
    never an empty password sent to the server). ``check``, ``send`` and ``run`` call it."""
    out: list[ConfigError] = []
    where = str(config.path)
    smtp = config.smtp
    if smtp.username and not (smtp.password_env and os.environ.get(smtp.password_env)):
        name = smtp.password_env or "(none)"
        out.append(
            ConfigError(
                f"smtp.username is set but the environment variable {name} (smtp.password_env) is unset or empty",
                path=where,
                line=config.lines.get("smtp.username"),
                key="smtp.password_env",
            )
        )
    imap = config.bounces.imap
    if imap is not None and not imap.password():
        out.append(
            ConfigError(
                f"bounces.imap: the environment variable {imap.password_env} (bounces.imap.password_env) "
                "is unset or empty",
                path=where,
                line=config.lines.get("bounces.imap"),
                key="bounces.imap.password_env",
            )
        )
    if (ledger := ledger_password_missing(config)) is not None:
        out.append(ledger)
    dkim = config.dkim
    if dkim is not None and dkim.key_file is not None and not dkim.key_file.is_file():
        out.append(
            ConfigError(
                f"dkim.key_file {dkim.key_file} does not exist", path=where, line=config.lines.get("dkim"), key="dkim"
            )
        )
    elif dkim is not None and dkim.key_file is None and not (dkim.key_env and os.environ.get(dkim.key_env)):
        out.append(
            ConfigError(
                f"dkim: the environment variable {dkim.key_env} (dkim.key_env) holding the private key is unset or "
                "empty (or set dkim.key_file)",
                path=where,
                line=config.lines.get("dkim"),
                key="dkim.key_env",
            )
        )
    return out


def require_secrets(config: Config) -> None:
    """Raise one :class:`ConfigError` listing :func:`missing_secrets`, if any."""
    problems = missing_secrets(config)
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) in the configuration", path=str(config.path), problems=tuple(problems)
        )


# --------------------------------------------------------------------------- (end of issue 14 block)


Similarity = Literal["auto", "semantic", "lexical"]


class Defaults(Model):
    max_papers: int = Field(default=20, ge=1, le=500)
    abstract_chars: int = Field(default=500, ge=0)
    send_empty: bool = False
    stemming: bool = True
    # issue 17 (SPEC 4 "More like these"): similarity to liked papers
    like_threshold: float | None = Field(default=None, gt=0, le=1)  # None: the mode's own (issue 24)
    like_top: int = Field(default=3, ge=0, le=100)
    # issue 24: semantic similarity where the `semantic` extra is installed (auto), or not
    similarity: Similarity = "auto"


def _likes(values: list[str]) -> list[str]:
    """``like``/``dislike`` entries: an arXiv id, a Hugging Face paper URL or an exact title."""
    for value in values:
        if not value.strip():
            raise ValueError("an empty entry (give an arXiv id, a Hugging Face paper URL or an exact title)")
        if _CONTROL.search(value) or len(value) > 1000:
            raise ValueError(f"{value[:60]!r}: one line of at most 1000 characters")
    return values


_keyword_problem = lru_cache(maxsize=1 << 16)(validate_keyword)  # 100,000 profiles share their keywords


def _keywords(values: list[str]) -> list[str]:
    for value in values:
        reason = _keyword_problem(value) if isinstance(value, str) else validate_keyword(value)
        if reason:
            raise ValueError(f"{value!r}: {reason}")
    return values


class SubscriberModel(Model):
    email: str
    name: str | None = None
    keywords: list[str] = []
    require: list[str] = []
    exclude: list[str] = []
    schedule: str | None = None
    max_papers: int | None = Field(default=None, ge=1, le=500)
    abstract_chars: int | None = Field(default=None, ge=0)
    send_empty: bool | None = None
    stemming: bool | None = None
    like: list[str] = []  # issue 17: papers liked / disliked (SPEC 4 "More like these")
    dislike: list[str] = []
    like_threshold: float | None = Field(default=None, gt=0, le=1)
    like_top: int | None = Field(default=None, ge=0, le=100)
    similarity: Similarity | None = None  # issue 24
    library: Path | None = None  # issue 24: a .bib / CSL-JSON / RIS file whose papers count as likes

    _email = field_validator("email")(check_address)
    _like = field_validator("like", "dislike")(_likes)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else check_display_name(value)

    _kw = field_validator("keywords", "require", "exclude")(_keywords)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is not None:
            cron_trigger(value, timezone("UTC"))
        return value


# --------------------------------------------------------------------------- sources and fetch (SPEC 2.5)

HF_DAILY_PAPERS = "https://huggingface.co/api/daily_papers"
ARXIV_RSS = "https://rss.arxiv.org/rss/{categories}"
_ARXIV_CATEGORY = re.compile(r"[a-z-]+(\.[A-Za-z-]+)?")


def fetched_file(path: Path) -> bool:
    """True for a file named as ``newsletter fetch`` names what it writes."""
    return any(path.match(p) for p in FETCHED_PATTERNS)


def _http_url(value: str) -> str:
    if _CONTROL.search(value) or not re.match(r"https?://[^\s/]+", value) or re.search(r"\s", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


class HuggingFaceSource(Model):
    """The Hugging Face daily papers API: one file per day (or ISO week, or month)."""

    type: Literal["huggingface"]
    url: str = HF_DAILY_PAPERS
    period: Literal["daily", "weekly", "monthly"] = "daily"

    _url = field_validator("url")(_http_url)

    @property
    def key(self) -> str:
        """Names the source in the ledger, in ``status`` and in its file names."""
        return "huggingface" if self.period == "daily" else f"huggingface-{self.period.removesuffix('ly')}"


class ArxivSource(Model):
    """arXiv's RSS listing of a set of categories, asked in one request."""

    type: Literal["arxiv"]
    categories: list[str] = Field(min_length=1)
    url: str = ARXIV_RSS

    _url = field_validator("url")(_http_url)

    @field_validator("categories")
    @classmethod
    def _categories(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _ARXIV_CATEGORY.fullmatch(value):
                raise ValueError(f"{value!r} is not an arXiv category (such as cs.CL or math.PR)")
        return list(dict.fromkeys(values))

    @property
    def joined(self) -> str:
        return "+".join(self.categories)

    @property
    def key(self) -> str:
        return f"arxiv-{self.joined}"

    @property
    def listing_url(self) -> str:
        return self.url.replace("{categories}", self.joined)


Source = Annotated[HuggingFaceSource | ArxivSource, Field(discriminator="type")]


class Fetch(Model):
    """``fetch``: when the daemon fetches, and how patiently."""

    cron: str = "30 6 * * *"
    timeout: float = Field(default=30.0, gt=0, le=600)
    retries: int = Field(default=3, ge=0, le=10)
    max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        cron_trigger(value, timezone("UTC"))
        return value


def _unique_sources(sources: list[Source]) -> list[Source]:
    seen: set[str] = set()
    for source in sources:
        if source.key in seen:
            raise ValueError(f"two sources write the same files ({source.key}-*); keep one")
        seen.add(source.key)
    return sources


# --------------------------------------------------------------------------- the whole file
# --- issue 15: the archive (every sent issue as a web page + an Atom feed per subscriber)


class Archive(Model):
    directory: Path | None = None  # where the pages and feeds are written (null: no archive)
    url: str | None = None  # the public URL of ``directory``: the email's "view in browser" link

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and (_CONTROL.search(value) or not re.match(r"https?://\S+$", value)):
            raise ValueError("must be an http(s) URL on one line (where archive.directory is served)")
        return value

    @model_validator(mode="after")
    def _needs_directory(self) -> Archive:
        if self.url is not None and self.directory is None:
            raise ValueError("archive.url needs archive.directory (where the pages are written)")
        return self


# --- issue 23: the ledger in PostgreSQL (SPEC 6d)


class LedgerSettings(Model):
    """``ledger:``: how several senders share a PostgreSQL ledger (accepted with SQLite too)."""

    lease_seconds: float = Field(default=120.0, ge=1, le=3600)  # a claim's lease, on the database's clock


def _state(value: str) -> str:
    """``state:``: a SQLite path, or a libpq URL without a password (secrets never live
    in the file)."""
    if not value.strip() or _CONTROL.search(value):
        raise ValueError("needs a path to the SQLite ledger, or a postgresql:// URL, on one line")
    if is_database_url(value) and url_password(value):
        raise ValueError(
            "a password in the URL: secrets never live in the file; put it in an environment variable and name "
            "it in state_password_env (or use PGPASSWORD, ~/.pgpass)"
        )
    if value.startswith(("postgresql:", "postgres:")) and not is_database_url(value):
        raise ValueError("a PostgreSQL URL reads postgresql://USER@HOST:PORT/DB")
    return value


class ConfigModel(Model):
    digests: Digests = Digests()
    state: str = "newsletter.sqlite3"  # a SQLite path, or postgresql://USER@HOST:PORT/DB (6d)
    state_password_env: str | None = None
    ledger: LedgerSettings = LedgerSettings()
    schedule: Schedule = Schedule()
    sender: Sender = Sender()
    links: Links = Links()
    smtp: Smtp = Smtp()
    templates: Path | None = None
    defaults: Defaults = Defaults()
    subscribers: list[SubscriberModel] = []
    subscribers_dir: Path | None = None
    sources: list[Source] = []
    fetch: Fetch = Fetch()

    archive: Archive = Archive()

    _sources = field_validator("sources")(_unique_sources)
    _state = field_validator("state")(_state)
    _state_password_env = field_validator("state_password_env")(check_env_name)
    bounces: Bounces = Bounces()
    dkim: Dkim | None = None


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
        error = "; ".join(f"{p.key}: {p.message}" if p.key else p.message for p in problems)
        return cls(first.path or "", first.line, email, error, tuple(problems))

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def __str__(self) -> str:
        who = f" ({self.email})" if self.email else ""
        return f"{self.where}: subscriber{who} left out: {self.error}"

    def to_json(self) -> dict[str, Any]:
        return {"email": self.email, "file": self.file, "line": self.line, "error": self.error}


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
    sources: tuple[HuggingFaceSource | ArxivSource, ...] = ()
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

    def subscriber(self, email: str) -> Subscriber:
        wanted = address_key(email)
        for sub in self.subscribers:
            if address_key(sub.email) == wanted:
                return sub
        raise ConfigError(f"no subscriber {email!r} in the configuration", path=str(self.path))


def select_subscribers(config: Config, emails: Sequence[str] = ()) -> tuple[Subscriber, ...]:
    """All subscribers, or the ones named (ConfigError for an unknown address)."""
    if not emails:
        return config.subscribers
    return tuple(config.subscriber(e) for e in emails)


# --------------------------------------------------------------------------- loading


class _Lines:
    """Key path -> line number, looked up in the composed YAML node tree when an error
    needs one: a walk down the path asked for, no map of every node (a file of 100,000
    subscribers has millions). The line of a key path is its value's line when the
    value is a scalar, else the key's; a path that does not exist gives the line of its
    longest existing prefix (a later duplicate key wins, as in the parsed data)."""

    def __init__(self, node: yaml.Node | None) -> None:
        self._root = node

    def line(self, loc: Loc) -> int | None:
        node = self._root
        if node is None:
            return None
        found = node.start_mark.line + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                pair = None
                for key, value in node.value:
                    k = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
                    if k == part:
                        pair = key, value
                if pair is None:
                    return found
                key, node = pair
                found = (node if isinstance(node, yaml.ScalarNode) else key).start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                found = node.start_mark.line + 1
            else:
                return found
        return found


def _read_yaml(path: Path) -> tuple[Any, _Lines]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "configuration file not found: write a starter one with `newsletter init` (in this directory, or "
            "`newsletter init DIR`), or name yours with -c FILE",
            path=str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration: {exc}", path=str(path)) from None
    # one parse: compose the node tree (for line numbers), then construct the data from it;
    # libyaml's CSafeLoader when available (large subscriber lists load several times faster)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is not None and "&" in text:  # no anchor, no alias: nothing can expand
            _check_expansion(node, path)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            f"invalid YAML: {yaml_problem(exc, text)}", path=str(path), line=mark.line + 1 if mark else None
        ) from None
    finally:
        loader.dispose()
    return data, _Lines(node)


# --- reliability (issue 11): YAML alias bombs
MAX_EXPANDED_NODES = 200_000  # nodes the aliases of a file may expand to, beyond 10x the nodes written


def _check_expansion(root: yaml.Node, path: Path) -> None:
    """Refuse a document whose aliases expand past a sane size (a "billion laughs"
    bomb): counted on the composed node graph, where an alias is the anchored node
    itself, so counting is linear in what the file holds (memoised per node), before
    anything walks or validates the expanded tree. One line naming the file and the
    line of the first node that is too big on its own."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    written = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if not done:
            if id(node) in open_nodes:
                raise ConfigError(
                    "a YAML alias refers to a node that contains it", path=str(path), line=node.start_mark.line + 1
                )
            open_nodes.add(id(node))
            written += 1
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        size = 1 + sum(sizes.get(id(child), 1) for child in children)
        sizes[id(node)] = size
        open_nodes.discard(id(node))
        if size > MAX_EXPANDED_NODES and size > 10 * written:
            raise ConfigError(
                f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} nodes here (an alias bomb?); "
                "write the values out or use fewer aliases",
                path=str(path),
                line=node.start_mark.line + 1,
            )


def yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """A YAML syntax error in plain words: tabs and indentation are named as such
    (the parsers say "block end" or "cannot start any token")."""
    mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = str(getattr(exc, "problem", None) or exc)
    lines = text.splitlines()
    line = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    if "\t" in indent or "tab" in problem or (mark is not None and line[mark.column : mark.column + 1] == "\t"):
        return "a tab character in the indentation: YAML indents with spaces only (replace the tab with spaces)"
    if any(k in problem for k in ("block end", "expected key", "indicator", "mapping values are not allowed")):
        where = ""
        if context_mark is not None and mark is not None and context_mark.line != mark.line:
            where = f" (the block it belongs to starts at line {context_mark.line + 1})"
        return (
            f"wrong indentation: this line is indented {len(indent)} space{'s' if len(indent) != 1 else ''}, which "
            f"does not line up with the keys above it{where}; keys of one mapping need the same indentation "
            "(a value holding ': ' needs quotes)"
        )
    if "end of stream" in problem and "quoted" in str(getattr(exc, "context", "")):
        opened = f" opened at line {context_mark.line + 1}" if context_mark is not None else ""
        return f"a quote{opened} is never closed"
    if "flow" in str(getattr(exc, "context", "")):
        opened = f" opened at line {context_mark.line + 1}" if context_mark is not None else ""
        return f"a [list] or {{mapping}}{opened} is not closed, or lacks a comma between items"
    return problem


def _did_you_mean(model: type[BaseModel], loc: Loc) -> str:
    """`` (did you mean `keywords`?)`` for an unknown key at ``loc``, or ``""``."""
    import difflib

    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return ""
        info = current.model_fields.get(str(part))
        if info is None:
            info = next((f for f in current.model_fields.values() if f.alias == part), None)
        if info is None:
            return ""
        current = _model_in(info.annotation)
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return ""
    names = [f.alias or name for name, f in current.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside ``Model``, ``list[Model]``, ``Model | None``."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _key_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _problems(
    exc: ValidationError, *, path: Path, lines: _Lines, prefix: Loc = (), model: type[BaseModel] | None = None
) -> Iterator[ConfigError]:
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # pydantic reports a validator on a union/optional field with the type in loc: drop it
        loc = tuple(p for p in loc if p not in ("str", "int", "list[str]", "bool", "float"))
        if len(loc) > 2 and loc[0] == "sources" and loc[2] in ("huggingface", "arxiv"):
            loc = (*loc[:2], *loc[3:])  # the discriminated union names the source type in loc
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key" + (_did_you_mean(model or ConfigModel, loc) if loc else "")
            if loc and loc[-1] == "password":
                message = (
                    "unknown key: secrets never live in the file; put the password in an "
                    "environment variable and name it in smtp.password_env"
                )
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            ctx = err.get("ctx") or {}
            tag = f"unknown source type {ctx['tag']!r}" if "tag" in ctx else "a source needs a type"
            message = f"{tag} (expected {ctx.get('expected_tags', 'huggingface or arxiv')})"
        elif err["type"] == "missing":
            message = "required key is missing"
        full = (*prefix, *loc)
        yield ConfigError(message, path=str(path), line=lines.line(loc), key=_key_path(full) or None)


def in_line_order(problems: Sequence[ConfigError]) -> tuple[ConfigError, ...]:
    """The problems file by file (in the order the files first come up), each file's in
    line order; problems without a line last in their file, as found."""
    first: dict[str | None, int] = {}
    for problem in problems:
        first.setdefault(problem.path, len(first))
    return tuple(
        sorted(problems, key=lambda p: (first[p.path], p.line is None, p.line or 0))  # stable: ties keep their order
    )


async def load_off_loop(load: Callable[[], Config], log: logging.Logger) -> Config | None:
    """``load()`` (a SIGHUP reload: parse, and whatever else must be ready) in a thread,
    so the event loop keeps serving meanwhile; None, with one error line, when the new
    configuration is refused (the caller keeps the running one)."""
    try:
        return await asyncio.to_thread(load)
    except NewsletterError as exc:
        log.error("reload refused, keeping the running configuration: %s", " / ".join(str(exc).splitlines()))
        return None


def _resolve(base: Path, value: Path) -> Path:
    value = value.expanduser()
    return value if value.is_absolute() else (base / value).resolve()


FREEZE_FROM = 5_000  # subscribers: a configuration this large is moved out of the collector's sight


def load_config(path: str | os.PathLike[str] = DEFAULT_CONFIG, *, strict: bool = True) -> Config:
    """Load and validate a configuration file; raises ConfigError listing every problem.

    ``strict=False`` (what ``send``, ``run``, ``status`` and the other everyday commands
    use, SPEC 6c): a bad subscriber (an entry or a file of ``subscribers_dir`` that does
    not validate, a duplicate, a profile without keywords) is not an error but a
    :class:`LeftOut` in ``Config.left_out``, and everybody else is loaded. Problems of
    the configuration itself (everything but the subscriber entries, and a
    ``subscribers`` that is not a list) always raise. ``check`` is strict.

    Loading makes millions of objects for 100,000 subscribers, none of them garbage
    cycles: the cyclic garbage collector is paused meanwhile (it would walk them all
    again and again: two thirds of a plain ``yaml.load``'s time, measured), and a large
    configuration is then frozen (``gc.freeze``: never walked again; still freed by
    reference counting once dropped, as on a SIGHUP reload)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        config = _load_config(path, strict=strict)
    finally:
        if enabled:
            gc.enable()
    if len(config.subscribers) >= FREEZE_FROM:
        gc.freeze()
    return config


Entry = tuple[SubscriberModel, str, int | None, str]  # a subscriber, its file, line and key path


def _load_config(path: str | os.PathLike[str], *, strict: bool) -> Config:
    cfg_path = Path(path).resolve() if Path(path).exists() else Path(path)
    data, lines = _read_yaml(cfg_path)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError("the configuration must be a mapping of keys", path=str(cfg_path), line=1)
    problems: list[ConfigError] = []
    left: list[LeftOut] = []
    model, kept = _validate_main(data, cfg_path, lines, problems, left)
    base = cfg_path.parent
    subscribers: list[Entry] = []
    if model is not None:
        for sub, i in zip(model.subscribers, kept, strict=True):
            subscribers.append((sub, str(cfg_path), lines.line(("subscribers", i)), f"subscribers[{i}]"))
        if model.subscribers_dir is not None:
            subscribers.extend(_load_subscriber_dir(_resolve(base, model.subscribers_dir), problems, left))
        problems.extend(_check_paths(model, base, cfg_path, lines))
        problems.extend(_check_ledger(model, cfg_path, lines))
    subscribers = _usable(subscribers, left)
    if problems or (strict and left):
        every = (*problems, *(p for lo in left for p in lo.problems))
        raise ConfigError(
            f"{len(every)} problem(s) in the configuration", path=str(cfg_path), problems=in_line_order(every)
        )
    assert model is not None
    return _config_of(model, cfg_path, lines, subscribers, tuple(left))


def _validate_main(
    data: Mapping[str, Any], cfg_path: Path, lines: _Lines, problems: list[ConfigError], left: list[LeftOut]
) -> tuple[ConfigModel | None, list[int]]:
    """The configuration model, and the indexes of the inline subscribers it holds. An
    inline entry that does not validate becomes a :class:`LeftOut` and the rest is
    validated again without it (only then: a clean file is validated once)."""
    entries = data.get("subscribers")
    count = len(entries) if isinstance(entries, list) else 0
    try:
        return ConfigModel.model_validate(data), list(range(count))
    except ValidationError as exc:
        found = list(_problems(exc, path=cfg_path, lines=lines))
        errors = [tuple(e["loc"]) for e in exc.errors()]
    bad: dict[int, list[ConfigError]] = {}
    for problem, loc in zip(found, errors, strict=True):
        if count and len(loc) > 1 and loc[0] == "subscribers" and isinstance(loc[1], int):
            bad.setdefault(loc[1], []).append(problem)
        else:
            problems.append(problem)
    assert isinstance(entries, list) or not bad
    for i, entry_problems in sorted(bad.items()):
        left.append(LeftOut.of(entry_problems, entries[i] if entries else None))
    if problems:
        return None, []
    kept = [i for i in range(count) if i not in bad]
    try:
        model = ConfigModel.model_validate({**data, "subscribers": [entries[i] for i in kept] if entries else []})
    except ValidationError as exc:  # never expected: the same data less the bad entries
        problems.extend(_problems(exc, path=cfg_path, lines=lines))
        return None, []
    return model, kept


def _usable(subscribers: list[Entry], left: list[LeftOut]) -> list[Entry]:
    """The subscribers less those left out: a second definition of an address (the first
    one is served), a profile with nothing to match."""
    seen: dict[str, str] = {}
    out: list[Entry] = []
    for entry in subscribers:
        sub, source, line, key = entry
        first = seen.get(address_key(sub.email))
        if first:
            why = f"duplicate subscriber {sub.email} (first defined at {first})"
            problem = ConfigError(why, path=source, line=line, key=f"{key}.email")
            left.append(LeftOut.of([problem], {"email": sub.email}))
            continue
        if not sub.keywords and not sub.require and not sub.like and sub.library is None:
            problem = ConfigError(
                "a subscriber needs at least one entry in keywords, require or like, or a library",
                path=source,
                line=line,
                key=key,
            )
            left.append(LeftOut.of([problem], {"email": sub.email}))
            continue
        seen[address_key(sub.email)] = f"{Path(source).name}:{line}" if line else Path(source).name
        out.append(entry)
    return out


def _config_of(
    model: ConfigModel, cfg_path: Path, lines: _Lines, subscribers: list[Entry], left: tuple[LeftOut, ...]
) -> Config:
    base = cfg_path.parent
    d = model.defaults
    return Config(
        path=cfg_path,
        digests=model.digests.model_copy(update={"directory": _resolve(base, model.digests.directory)}),
        ledger_path=_ledger_path(base, model.state),
        schedule=model.schedule,
        sender=model.sender,
        links=model.links,
        smtp=model.smtp.model_copy(
            update={"ca_file": _resolve(base, model.smtp.ca_file) if model.smtp.ca_file else None}
        ),
        templates=_resolve(base, model.templates) if model.templates else None,
        defaults=d,
        subscribers=tuple(_subscriber(s, source, d, base) for s, source, _, _ in subscribers),
        sources=tuple(model.sources),
        fetch=model.fetch,
        subscribers_dir=_resolve(base, model.subscribers_dir) if model.subscribers_dir else None,
        archive=model.archive.model_copy(
            update={"directory": _resolve(base, model.archive.directory) if model.archive.directory else None}
        ),
        bounces=_resolve_bounces(model.bounces, base),
        dkim=model.dkim.model_copy(update={"key_file": _resolve(base, model.dkim.key_file)})
        if model.dkim is not None and model.dkim.key_file is not None
        else model.dkim,
        lines={
            key: line
            for key, loc in (
                ("smtp.username", ("smtp", "username")),
                ("bounces.imap", ("bounces", "imap")),
                ("dkim", ("dkim",)),
                ("state_password_env", ("state_password_env",)),
            )
            if (line := lines.line(loc)) is not None
        },
        left_out=left,
        ledger_url=model.state.strip() if _is_url(model.state) else None,
        ledger_password_env=model.state_password_env,
        ledger=model.ledger,
    )


def _subscriber(s: SubscriberModel, source: str, d: Defaults, base: Path) -> Subscriber:
    return Subscriber(
        email=s.email,
        name=s.name,
        keywords=tuple(s.keywords),
        require=tuple(s.require),
        exclude=tuple(s.exclude),
        max_papers=s.max_papers if s.max_papers is not None else d.max_papers,
        abstract_chars=s.abstract_chars if s.abstract_chars is not None else d.abstract_chars,
        send_empty=s.send_empty if s.send_empty is not None else d.send_empty,
        stemming=s.stemming if s.stemming is not None else d.stemming,
        schedule=s.schedule,
        source=source,
        like=tuple(s.like),
        dislike=tuple(s.dislike),
        like_threshold=s.like_threshold if s.like_threshold is not None else d.like_threshold,
        like_top=s.like_top if s.like_top is not None else d.like_top,
        similarity=s.similarity or d.similarity,
        library=_resolve(base, s.library) if s.library else None,
    )


def _is_url(state: str) -> bool:
    return is_database_url(state.strip())


def _ledger_path(base: Path, state: str) -> Path:
    """The SQLite ledger's path; for a PostgreSQL URL, a path that only names the
    database (it is never a file: the SQLite ledger and its lock refuse it)."""
    if _is_url(state):
        return Path(redact_url(state.strip()))
    return _resolve(base, Path(state))


def _check_ledger(model: ConfigModel, cfg_path: Path, lines: _Lines) -> Iterator[ConfigError]:
    """``state_password_env`` only with a URL; on PostgreSQL, a lease longer than an SMTP
    transaction (SQLite takes no leases: any value is accepted there)."""
    if model.state_password_env is not None and not _is_url(model.state):
        yield ConfigError(
            "state_password_env is for a PostgreSQL ledger (state: postgresql://USER@HOST:PORT/DB)",
            path=str(cfg_path),
            line=lines.line(("state_password_env",)),
            key="state_password_env",
        )
    if _is_url(model.state) and model.ledger.lease_seconds <= model.smtp.timeout:
        yield ConfigError(
            f"{model.ledger.lease_seconds:g} s is not longer than smtp.timeout ({model.smtp.timeout:g} s): a "
            "sender could not finish one SMTP transaction within its lease",
            path=str(cfg_path),
            line=lines.line(("ledger", "lease_seconds")),
            key="ledger.lease_seconds",
        )


def _resolve_bounces(bounces: Bounces, base: Path) -> Bounces:
    update: dict[str, Any] = {}
    if bounces.maildir is not None:
        update["maildir"] = _resolve(base, bounces.maildir)
    if bounces.imap is not None and bounces.imap.ca_file is not None:
        update["imap"] = bounces.imap.model_copy(update={"ca_file": _resolve(base, bounces.imap.ca_file)})
    return bounces.model_copy(update=update) if update else bounces


def _load_subscriber_dir(directory: Path, problems: list[ConfigError], left: list[LeftOut]) -> Iterator[Entry]:
    """The subscribers of ``subscribers_dir``; a file that cannot be read or does not
    validate is a :class:`LeftOut` (a directory that is not there: a problem)."""
    if not directory.is_dir():
        problems.append(ConfigError("subscribers_dir is not a directory", path=str(directory)))
        return
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    for file in files:
        try:
            data, lines = _read_yaml(file)
        except ConfigError as exc:
            left.append(LeftOut.of([exc], None))
            continue
        if not isinstance(data, Mapping):
            problem = ConfigError("a subscriber file must be a mapping of keys", path=str(file), line=1)
            left.append(LeftOut.of([problem]))
            continue
        try:
            yield SubscriberModel.model_validate(data), str(file), 1, "subscriber"
        except ValidationError as exc:
            left.append(LeftOut.of(list(_problems(exc, path=file, lines=lines, model=SubscriberModel)), data))


def _check_paths(model: ConfigModel, base: Path, cfg_path: Path, lines: _Lines) -> Iterator[ConfigError]:
    directory = _resolve(base, model.digests.directory)
    if not directory.is_dir():
        yield ConfigError(
            f"digest directory {directory} does not exist",
            path=str(cfg_path),
            line=lines.line(("digests", "directory")),
            key="digests.directory",
        )
    if model.templates is not None and not _resolve(base, model.templates).is_dir():
        yield ConfigError(
            f"template directory {_resolve(base, model.templates)} does not exist",
            path=str(cfg_path),
            line=lines.line(("templates",)),
            key="templates",
        )
    if model.smtp.ca_file is not None and not _resolve(base, model.smtp.ca_file).is_file():
        yield ConfigError(
            f"CA file {_resolve(base, model.smtp.ca_file)} does not exist",
            path=str(cfg_path),
            line=lines.line(("smtp", "ca_file")),
            key="smtp.ca_file",
        )
