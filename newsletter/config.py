"""Configuration: the YAML of SPEC 3, validated into typed, frozen models at load.

Validation uses pydantic (unknown keys rejected, types checked); every problem is
reported with its key path and the line of the YAML file it comes from, all at
once, as one :class:`~newsletter.errors.ConfigError` (exit code 2). Relative paths
resolve against the config file's directory. Secrets never live in the file:
``smtp.password_env`` and ``sender.unsubscribe.secret_env`` name environment
variables.

Subscribers come from ``subscribers`` and from ``subscribers_dir`` (one YAML file
per subscriber, ``*.yaml``/``*.yml`` in name order), inline ones first. Every key of
``defaults`` can be set on a subscriber; :class:`Subscriber` holds the merged,
effective settings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from newsletter.cron import cron_trigger, timezone
from newsletter.errors import ConfigError

DEFAULT_CONFIG = "config.yaml"
_CONTROL = re.compile(r"[\r\n\x00]")
_SPECIALS = re.compile(r'[()<>@,;:\\"\[\]]')
_NAME_ADDR = re.compile(r"^\s*(?P<name>[^<>]*?)\s*<(?P<addr>[^<>]*)>\s*$")

Loc = tuple[str | int, ...]


# --------------------------------------------------------------------------- helpers


def check_address(value: str) -> str:
    """A strictly parsed bare address (``alice@example.org``), normalised; ValueError otherwise."""
    if _CONTROL.search(value):
        raise ValueError("must not contain line breaks or NUL")
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address ({exc})") from None


def check_name(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain line breaks or NUL")
    return value.strip()


# --- reliability (issue 11): display names that always fit a header line
MAX_NAME = 150  # characters of a display name (To/From): one encoded word within 998 octets
_NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_display_name(value: str) -> str:
    """A display name (``name``, the name in ``from``): no line break, NUL or other
    control character, runs of spaces made one, at most :data:`MAX_NAME` characters,
    so that its header line stays within 998 octets however it is encoded (longer
    names are refused, never cut)."""
    value = check_name(value)
    if _NAME_CONTROL.search(value):
        raise ValueError("must not contain control characters (tabs included)")
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


def check_env_name(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


# --------------------------------------------------------------------------- models


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Digests(Model):
    directory: Path = Path("digests")
    pattern: str = "*.txt"
    settle_seconds: float = Field(default=2.0, ge=0)
    format: Literal["auto", "hf-text", "json"] = "auto"


class Schedule(Model):
    cron: str = "0 7 * * *"
    timezone: str = "UTC"
    on_arrival: bool = False

    @model_validator(mode="after")
    def _valid(self) -> Schedule:
        tz = timezone(self.timezone)
        cron_trigger(self.cron, tz)
        return self


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

    _env = field_validator("secret_env")(check_env_name)

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


class Sender(Model):
    from_: str = Field(default="Paper Digest <digest@example.org>", alias="from")
    subject: str = "{{ count }} new papers for you"
    reply_to: str | None = None
    list_id: str | None = None
    unsubscribe: Unsubscribe = Unsubscribe()

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


class Defaults(Model):
    max_papers: int = Field(default=20, ge=1, le=500)
    abstract_chars: int = Field(default=500, ge=0)
    send_empty: bool = False
    stemming: bool = True


def _keywords(values: list[str]) -> list[str]:
    from newsletter.matching import validate_keyword

    for value in values:
        reason = validate_keyword(value)
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

    _email = field_validator("email")(check_address)

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


class ConfigModel(Model):
    digests: Digests = Digests()
    state: Path = Path("newsletter.sqlite3")
    schedule: Schedule = Schedule()
    sender: Sender = Sender()
    links: Links = Links()
    smtp: Smtp = Smtp()
    templates: Path | None = None
    defaults: Defaults = Defaults()
    subscribers: list[SubscriberModel] = []
    subscribers_dir: Path | None = None


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

    @property
    def mailbox(self) -> Mailbox:
        return Mailbox(self.name or "", self.email)


@dataclass(frozen=True, slots=True)
class Config:
    """The validated configuration; paths are absolute."""

    path: Path
    digests: Digests
    state: Path
    schedule: Schedule
    sender: Sender
    links: Links
    smtp: Smtp
    templates: Path | None
    defaults: Defaults
    subscribers: tuple[Subscriber, ...]

    def subscriber(self, email: str) -> Subscriber:
        wanted = email.strip().casefold()
        for sub in self.subscribers:
            if sub.email.casefold() == wanted:
                return sub
        raise ConfigError(f"no subscriber {email!r} in the configuration", path=str(self.path))


# --------------------------------------------------------------------------- loading


class _Lines:
    """Key path -> line number, from the composed YAML node tree."""

    def __init__(self, node: yaml.Node | None) -> None:
        self.lines: dict[Loc, int] = {}
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, loc: Loc) -> None:
        self.lines[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                k = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
                self.lines[(*loc, k)] = key.start_mark.line + 1
                self._walk_value(value, (*loc, k))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*loc, i))

    def _walk_value(self, node: yaml.Node, loc: Loc) -> None:
        key_line = self.lines[loc]
        self._walk(node, loc)
        if not isinstance(node, yaml.ScalarNode):
            self.lines[loc] = key_line

    def line(self, loc: Loc) -> int | None:
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get(())


def _read_yaml(path: Path) -> tuple[Any, _Lines]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("configuration file not found", path=str(path)) from None
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
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML: {problem}", path=str(path), line=mark.line + 1 if mark else None) from None
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


def _key_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _problems(exc: ValidationError, *, path: Path, lines: _Lines, prefix: Loc = ()) -> Iterator[ConfigError]:
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # pydantic reports a validator on a union/optional field with the type in loc: drop it
        loc = tuple(p for p in loc if p not in ("str", "int", "list[str]", "bool", "float"))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
            if loc and loc[-1] == "password":
                message = (
                    "unknown key: secrets never live in the file; put the password in an "
                    "environment variable and name it in smtp.password_env"
                )
        elif err["type"] == "missing":
            message = "required key is missing"
        full = (*prefix, *loc)
        yield ConfigError(message, path=str(path), line=lines.line(loc), key=_key_path(full) or None)


def _resolve(base: Path, value: Path) -> Path:
    value = value.expanduser()
    return value if value.is_absolute() else (base / value).resolve()


def load_config(path: str | os.PathLike[str] = DEFAULT_CONFIG) -> Config:
    """Load and validate a configuration file; raises ConfigError listing every problem."""
    cfg_path = Path(path).resolve() if Path(path).exists() else Path(path)
    data, lines = _read_yaml(cfg_path)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError("the configuration must be a mapping of keys", path=str(cfg_path), line=1)
    problems: list[ConfigError] = []
    model: ConfigModel | None = None
    try:
        model = ConfigModel.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems(exc, path=cfg_path, lines=lines))
    base = cfg_path.parent
    subscribers: list[tuple[SubscriberModel, str, int | None, str]] = []
    if model is not None:
        for i, sub in enumerate(model.subscribers):
            subscribers.append((sub, str(cfg_path), lines.line(("subscribers", i)), f"subscribers[{i}]"))
        if model.subscribers_dir is not None:
            subscribers.extend(_load_subscriber_dir(_resolve(base, model.subscribers_dir), problems))
    seen: dict[str, str] = {}
    for sub, source, line, key in subscribers:
        first = seen.get(sub.email.casefold())
        if first:
            problems.append(
                ConfigError(
                    f"duplicate subscriber {sub.email} (first defined at {first})",
                    path=source,
                    line=line,
                    key=f"{key}.email",
                )
            )
        else:
            seen[sub.email.casefold()] = f"{Path(source).name}:{line}" if line else Path(source).name
        if not sub.keywords and not sub.require:
            problems.append(
                ConfigError(
                    "a subscriber needs at least one entry in keywords or require", path=source, line=line, key=key
                )
            )
    if model is not None:
        problems.extend(_check_paths(model, base, cfg_path, lines))
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) in the configuration", path=str(cfg_path), problems=tuple(problems)
        )
    assert model is not None
    d = model.defaults
    return Config(
        path=cfg_path,
        digests=model.digests.model_copy(update={"directory": _resolve(base, model.digests.directory)}),
        state=_resolve(base, model.state),
        schedule=model.schedule,
        sender=model.sender,
        links=model.links,
        smtp=model.smtp.model_copy(
            update={"ca_file": _resolve(base, model.smtp.ca_file) if model.smtp.ca_file else None}
        ),
        templates=_resolve(base, model.templates) if model.templates else None,
        defaults=d,
        subscribers=tuple(
            Subscriber(
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
            )
            for s, source, _, _ in subscribers
        ),
    )


def _load_subscriber_dir(
    directory: Path, problems: list[ConfigError]
) -> Iterator[tuple[SubscriberModel, str, int | None, str]]:
    if not directory.is_dir():
        problems.append(ConfigError("subscribers_dir is not a directory", path=str(directory)))
        return
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    for file in files:
        try:
            data, lines = _read_yaml(file)
        except ConfigError as exc:
            problems.append(exc)
            continue
        if not isinstance(data, Mapping):
            problems.append(ConfigError("a subscriber file must be a mapping of keys", path=str(file), line=1))
            continue
        try:
            yield SubscriberModel.model_validate(data), str(file), 1, "subscriber"
        except ValidationError as exc:
            problems.extend(_problems(exc, path=file, lines=lines))


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
