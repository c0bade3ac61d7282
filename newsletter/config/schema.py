"""The models of the YAML (SPEC 3), section by section, validated by pydantic: the file as
written."""

from __future__ import annotations

import ipaddress
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from newsletter.base.addresses import (
    Mailbox,
    check_address,
    check_display_name,
    check_name,
    parse_mailbox,
)
from newsletter.base.cron import check_cron, timezone
from newsletter.base.errors import ConfigError
from newsletter.base.keywords import validate_keyword
from newsletter.base.urls import is_database_url, url_password
from newsletter.config.channels import Channel, unique_channels
from newsletter.config.fields import CONTROL_CHARS, Model, check_env_name
from newsletter.config.sources import (
    DIGEST_PATTERNS,
    FETCHED_PATTERNS,
    Fetch,
    Source,
    unique_sources,
)


class Digests(Model):
    directory: Path = Path("digests")
    pattern: str | list[str] = list(DIGEST_PATTERNS)
    settle_seconds: float = Field(default=2.0, ge=0, le=3600, description="seconds")
    format: Literal["auto", "hf-text", "json", "hf-html", "arxiv", "biorxiv", "feed", "openreview"] = "auto"

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
        check_cron(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        timezone(value)
        return value


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); ValueError otherwise."""
    m = re.fullmatch(
        r"\s*(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})\s*",
        value,
    )
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
        if value is not None and (CONTROL_CHARS.search(value) or not re.match(r"https?://", value)):
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
        if value is not None and (CONTROL_CHARS.search(value) or not re.match(r"https?://[^\s{}]+$", value)):
            raise ValueError("must be an http(s) base URL on one line, e.g. https://example.org")
        return value


class Sender(Model):
    from_: str = Field(default="Paper Digest <digest@example.org>", alias="from")
    # "1 new paper", "2 new papers" (SPEC 3's default; a subject may also use `new` and `revised`)
    subject: str = "{{ count }} new paper{{ 's' if count != 1 }} for you"
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
    port: int | None = Field(default=None, ge=1, le=65535, description="a TCP port")
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password_env: str | None = "NEWSLETTER_SMTP_PASSWORD"
    ca_file: Path | None = None
    verify: bool = True
    timeout: float = Field(default=30.0, ge=0.1, le=3600, description="seconds")
    connections: int = Field(default=4, ge=1, le=64, description="sessions")
    max_per_second: float | None = Field(
        default=None, ge=0.001, le=10_000, description="messages a second; null: no limit"
    )
    retries: int = Field(default=5, ge=0, le=20, description="retries")
    # a delivery pending this long (temporary failures only) is given up: failed (0: never)
    queue_lifetime_hours: int = Field(default=120, ge=0, le=8760, description="hours; 0: never give up")
    helo: str | None = None

    _env = field_validator("password_env")(check_env_name)

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"none": 25, "starttls": 587, "tls": 465}[self.security]

    @property
    def queue_lifetime(self) -> float | None:
        """Seconds a delivery may stay pending before it is given up; None: forever."""
        return self.queue_lifetime_hours * 3600.0 or None

    def password(self) -> str | None:
        """The SMTP password, read from the environment variable named by ``password_env``."""
        return os.environ.get(self.password_env) if self.password_env else None


class Imap(Model):
    """The IMAP bounce mailbox (``bounces.imap``); the password from ``password_env``."""

    host: str
    port: int | None = Field(default=None, ge=1, le=65535, description="a TCP port")
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str
    password_env: str = "NEWSLETTER_IMAP_PASSWORD"
    folder: str = "INBOX"
    processed: str | None = "Processed"  # processed reports move here; null: flagged \\Seen \\Deleted
    quarantine: str = "Quarantine"  # messages that cannot be read move here (SPEC 6c), never read again
    ca_file: Path | None = None
    verify: bool = True
    timeout: float = Field(default=30.0, ge=0.1, le=3600, description="seconds")

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
    hard: int = Field(default=1, ge=1, le=100, description="hard bounces")
    soft: int = Field(default=5, ge=1, le=100, description="soft bounces in a row")
    every_minutes: float = Field(default=5.0, ge=0.1, le=1440, description="minutes")  # the daemon reads the mailbox
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
                raise ConfigError(
                    f"cannot read the DKIM key: {exc.strerror or exc}",
                    path=str(self.key_file),
                ) from None
        value = os.environ.get(self.key_env) if self.key_env else None
        return value.encode() if value else None


Similarity = Literal["auto", "semantic", "lexical"]


class Defaults(Model):
    max_papers: int = Field(default=20, ge=1, le=500, description="papers")
    abstract_chars: int = Field(default=500, ge=0, le=100_000, description="characters")
    send_empty: bool = False
    stemming: bool = True
    # issue 17 (SPEC 4 "More like these"): similarity to liked papers
    # None: the similarity mode's own (issue 24)
    like_threshold: float | None = Field(default=None, gt=0, le=1, description="a similarity")
    like_top: int = Field(default=3, ge=0, le=100, description="papers")
    # issue 24: semantic similarity where the `semantic` extra is installed (auto), or not
    similarity: Similarity = "auto"
    # arXiv's revisions (a new version of an older paper, announced today): sent, labelled
    # "revised" (true), or left out (false); a paper already sent is never sent again anyway
    revisions: bool = True


def _likes(values: list[str]) -> list[str]:
    """``like``/``dislike`` entries: an arXiv id, a Hugging Face paper URL or an exact title."""
    for value in values:
        if not value.strip():
            raise ValueError("an empty entry (give an arXiv id, a Hugging Face paper URL or an exact title)")
        if CONTROL_CHARS.search(value) or len(value) > 1000:
            raise ValueError(f"{value[:60]!r}: one line of at most 1000 characters")
    return values


_keyword_problem = lru_cache(maxsize=1 << 16)(validate_keyword)  # 100,000 profiles share their keywords


def _keywords(values: list[str]) -> list[str]:
    for value in values:
        reason = _keyword_problem(value) if isinstance(value, str) else validate_keyword(value)
        if reason:  # the entry shortened: a 100,000-character keyword is not a 100,000-character error line
            long = isinstance(value, str) and len(value) > 80
            shown = f"{value[:60]!r}... ({len(value):,} characters)" if long else repr(value)
            raise ValueError(f"{shown}: {reason}")
    return values


class SubscriberModel(Model):
    email: str
    name: str | None = None
    keywords: list[str] = []
    require: list[str] = []
    exclude: list[str] = []
    schedule: str | None = None
    max_papers: int | None = Field(default=None, ge=1, le=500, description="papers")
    abstract_chars: int | None = Field(default=None, ge=0, le=100_000, description="characters")
    send_empty: bool | None = None
    stemming: bool | None = None
    like: list[str] = []  # issue 17: papers liked / disliked (SPEC 4 "More like these")
    dislike: list[str] = []
    like_threshold: float | None = Field(default=None, gt=0, le=1, description="a similarity")
    like_top: int | None = Field(default=None, ge=0, le=100, description="papers")
    similarity: Similarity | None = None  # issue 24
    revisions: bool | None = None  # arXiv's revisions of older papers: sent (labelled) or not
    library: Path | None = None  # issue 24: a .bib / CSL-JSON / RIS file whose papers count as likes
    channels: list[Channel] = []  # issue 27: chat channels (SPEC 2.5)
    send_email: bool = True  # false: channels only (`email:` stays the subscriber's address and key)

    _email = field_validator("email")(check_address)
    _channels = field_validator("channels")(unique_channels)

    @field_validator("send_email")
    @classmethod
    def _somewhere(cls, value: bool, info: ValidationInfo) -> bool:
        if not value and not info.data.get("channels"):
            raise ValueError("false needs at least one of `channels:` (else this subscriber gets nothing anywhere)")
        return value

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
            check_cron(value)
        return value


class Archive(Model):
    directory: Path | None = None  # where the pages and feeds are written (null: no archive)
    url: str | None = None  # the public URL of ``directory``: the email's "view in browser" link

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and (CONTROL_CHARS.search(value) or not re.match(r"https?://\S+$", value)):
            raise ValueError("must be an http(s) URL on one line (where archive.directory is served)")
        return value

    @model_validator(mode="after")
    def _needs_directory(self) -> Archive:
        if self.url is not None and self.directory is None:
            raise ValueError("archive.url needs archive.directory (where the pages are written)")
        return self


class LedgerSettings(Model):
    """``ledger:``: how several senders share a PostgreSQL ledger (accepted with SQLite too)."""

    # a claim's lease, on the database's clock
    lease_seconds: float = Field(default=120.0, ge=1, le=3600, description="seconds")


def _state(value: str) -> str:
    """``state:``: a SQLite path, or a libpq URL without a password (secrets never live
    in the file)."""
    if not value.strip() or CONTROL_CHARS.search(value):
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

    _sources = field_validator("sources")(unique_sources)
    _state = field_validator("state")(_state)
    _state_password_env = field_validator("state_password_env")(check_env_name)
    bounces: Bounces = Bounces()
    dkim: Dkim | None = None
