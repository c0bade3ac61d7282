"""Loading: the YAML read (with line numbers looked up on demand, and a guard against alias
bombs), validated, merged and resolved into a
:class:`~newsletter.config.records.Config`."""

from __future__ import annotations

import codecs
import gc
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from newsletter.base.addresses import (
    address_key,
)
from newsletter.base.errors import ConfigError, NewsletterError
from newsletter.base.resources import shipped
from newsletter.base.urls import is_database_url, redact_url
from newsletter.config.fields import Loc
from newsletter.config.messages import (
    Loader,
    YamlLines,
    in_line_order,
    validation_problems,
    yaml_line,
    yaml_problem,
)
from newsletter.config.records import Config, LeftOut, Subscriber
from newsletter.config.schema import Bounces, ConfigModel, Defaults, SubscriberModel

DEFAULT_CONFIG = "config.yaml"


def _text_of(path: Path) -> str:
    """The file's text: UTF-8, or UTF-16 with its byte-order mark (as YAML allows; what
    Windows PowerShell's ``>`` writes). Another encoding is one line naming the byte."""
    data = path.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} in line {line}): save the file as UTF-8",
            path=str(path),
            line=line,
        ) from None


def _read_yaml(path: Path) -> tuple[Any, YamlLines]:
    try:
        text = _text_of(path)
    except FileNotFoundError:
        raise ConfigError(
            "configuration file not found: write a starter one with `newsletter init` (in this directory, or "
            "`newsletter init DIR`), or name yours with -c FILE",
            path=str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration: {exc}", path=str(path)) from None
    # one parse: compose the node tree (for line numbers), then construct the data from it
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None and "&" in text:  # no anchor, no alias: nothing can expand
            _check_expansion(node, path)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"invalid YAML: {yaml_problem(exc, text)}", path=str(path), line=yaml_line(exc, text)
        ) from None
    finally:
        loader.dispose()
    return data, YamlLines(node, tuple(loader.twice))


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
                    "a YAML alias refers to a node that contains it",
                    path=str(path),
                    line=node.start_mark.line + 1,
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


async def load_off_loop(load: Callable[[], Config], log: logging.Logger) -> Config | None:
    """``load()`` (a SIGHUP reload: parse, and whatever else must be ready) in a thread,
    so the event loop keeps serving meanwhile; None, with one error line, when the new
    configuration is refused (the caller keeps the running one)."""
    try:
        import asyncio  # only the daemon and the web shells load off their loop

        return await asyncio.to_thread(load)
    except NewsletterError as exc:
        log.error(
            "reload refused, keeping the running configuration: %s",
            " / ".join(str(exc).splitlines()),
        )
        return None


def _resolve(base: Path, value: Path) -> Path:
    """``value`` against the config's directory; a symbolic link loop on the way, or a
    link that leads nowhere, is left unresolved (its use then says what it is: a ledger
    is never made at a dangling link's target) rather than raised out of the loader."""
    value = value.expanduser()
    if value.is_absolute():
        return value
    try:
        if (base / value).is_symlink() and not (base / value).exists():
            return Path(os.path.abspath(base / value))
        return (base / value).resolve()
    except (OSError, RuntimeError):  # Python < 3.13 raises RuntimeError on a symlink loop
        return Path(os.path.abspath(base / value))


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
    if data is None:  # 0 bytes, comments only, `~`: a file cut short by a full disk, never "all defaults"
        raise ConfigError(
            "the configuration is empty (no keys): write a starter one with `newsletter init`, or restore it",
            path=str(cfg_path),
            line=1,
        )
    if not isinstance(data, Mapping):
        raise ConfigError("the configuration must be a mapping of keys", path=str(cfg_path), line=1)
    problems: list[ConfigError] = []
    left: list[LeftOut] = []
    model, kept = _validate_main(data, cfg_path, lines, problems, left, _written_twice(lines, cfg_path, problems))
    base = cfg_path.parent
    subscribers: list[Entry] = []
    if model is not None:
        for sub, i in zip(model.subscribers, kept, strict=True):
            subscribers.append(
                (
                    sub,
                    str(cfg_path),
                    lines.line(("subscribers", i)),
                    f"subscribers[{i}]",
                )
            )
        if model.subscribers_dir is not None:
            subscribers.extend(_load_subscriber_dir(_resolve(base, model.subscribers_dir), problems, left))
        problems.extend(_check_paths(model, base, cfg_path, lines))
        problems.extend(_check_ledger(model, cfg_path, lines))
    subscribers = _usable(subscribers, left)
    if problems or (strict and left):
        every = (*problems, *(p for lo in left for p in lo.problems))
        raise ConfigError(
            f"{len(every)} problem(s) in the configuration",
            path=str(cfg_path),
            problems=in_line_order(every),
        )
    assert model is not None
    return _config_of(model, cfg_path, lines, subscribers, tuple(left))


def _validate_main(
    data: Mapping[str, Any],
    cfg_path: Path,
    lines: YamlLines,
    problems: list[ConfigError],
    left: list[LeftOut],
    twice: dict[int, list[ConfigError]],
) -> tuple[ConfigModel | None, list[int]]:
    """The configuration model, and the indexes of the inline subscribers it holds. An
    inline entry that does not validate, or that ``twice`` names (a key written twice in
    it), becomes a :class:`LeftOut` and the rest is validated again without it (only
    then: a clean file is validated once)."""
    entries = data.get("subscribers")
    count = len(entries) if isinstance(entries, list) else 0
    found: list[ConfigError] = []
    errors: list[Loc] = []
    try:
        model = ConfigModel.model_validate(data)
        if not twice:
            return model, list(range(count))
    except ValidationError as exc:
        found = list(validation_problems(exc, path=cfg_path, lines=lines))
        errors = [tuple(e["loc"]) for e in exc.errors()]
    bad = _inline_problems(found, errors, count, problems)
    for i, written_twice in twice.items():
        bad.setdefault(i, []).extend(written_twice)
    assert isinstance(entries, list) or not bad
    for i, entry_problems in sorted(bad.items()):
        left.append(LeftOut.of(entry_problems, entries[i] if entries else None))
    if problems:
        return None, []
    kept = [i for i in range(count) if i not in bad]
    try:
        model = ConfigModel.model_validate({**data, "subscribers": [entries[i] for i in kept] if entries else []})
    except ValidationError as exc:  # never expected: the same data less the bad entries
        problems.extend(validation_problems(exc, path=cfg_path, lines=lines))
        return None, []
    return model, kept


def _written_twice(lines: YamlLines, cfg_path: Path, problems: list[ConfigError]) -> dict[int, list[ConfigError]]:
    """The keys written twice in the main file: inside an inline subscriber entry, by its
    index (that entry is left out); anywhere else, a problem of the configuration."""
    by_entry: dict[int, list[ConfigError]] = {}
    for twice in lines.duplicates:
        i = lines.entry_of("subscribers", twice.line)
        if i is None:
            problems.append(twice.error(cfg_path))
        else:
            by_entry.setdefault(i, []).append(twice.error(cfg_path, f"subscribers[{i}].{twice.key}"))
    return by_entry


def _inline_problems(
    found: list[ConfigError], errors: list[Loc], count: int, problems: list[ConfigError]
) -> dict[int, list[ConfigError]]:
    """The problems of inline subscriber entries, by entry index; the others go to ``problems``."""
    bad: dict[int, list[ConfigError]] = {}
    for problem, loc in zip(found, errors, strict=True):
        if count and len(loc) > 1 and loc[0] == "subscribers" and isinstance(loc[1], int):
            bad.setdefault(loc[1], []).append(problem)
        else:
            problems.append(problem)
    return bad


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
    model: ConfigModel,
    cfg_path: Path,
    lines: YamlLines,
    subscribers: list[Entry],
    left: tuple[LeftOut, ...],
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
        channels=tuple(s.channels),
        send_email=s.send_email,
        revisions=s.revisions if s.revisions is not None else d.revisions,
    )


def _is_url(state: str) -> bool:
    return is_database_url(state.strip())


def _ledger_path(base: Path, state: str) -> Path:
    """The SQLite ledger's path; for a PostgreSQL URL, a path that only names the
    database (it is never a file: the SQLite ledger and its lock refuse it)."""
    if _is_url(state):
        return Path(redact_url(state.strip()))
    return _resolve(base, Path(state))


def _check_ledger(model: ConfigModel, cfg_path: Path, lines: YamlLines) -> Iterator[ConfigError]:
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
    validate, or a ``*.yaml`` that is no regular file (a dangling link, a directory), is a
    :class:`LeftOut` (hidden names aside: editors' lock files); a directory that is not
    there is a problem."""
    if not directory.is_dir():
        problems.append(ConfigError(f"subscribers_dir {_not_a_directory(directory)}", path=str(directory)))
        return
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
    for file in files:
        if not file.is_file():
            if not file.name.startswith("."):  # an editor's lock (.#bob.yaml, a dangling link) is no one
                left.append(LeftOut.of([ConfigError(_not_a_file(file), path=str(file))]))
            continue
        try:
            data, lines = _read_yaml(file)
        except ConfigError as exc:
            left.append(LeftOut.of([exc], None))
            continue
        if not isinstance(data, Mapping):
            problem = ConfigError("a subscriber file must be a mapping of keys", path=str(file), line=1)
            left.append(LeftOut.of([problem]))
            continue
        if lines.duplicates:
            left.append(LeftOut.of([twice.error(file) for twice in lines.duplicates], data))
            continue
        try:
            yield SubscriberModel.model_validate(data), str(file), 1, "subscriber"
        except ValidationError as exc:
            left.append(
                LeftOut.of(
                    list(validation_problems(exc, path=file, lines=lines, model=SubscriberModel)),
                    data,
                )
            )


def _not_a_file(path: Path) -> str:
    """What a subscriber file that is no regular file is, in words."""
    if path.is_symlink() and not path.exists():
        return "a symbolic link that leads nowhere (a loop, or a missing target)"
    return "not a regular file (a directory)" if path.is_dir() else "not a regular file"


def _not_a_directory(path: Path) -> str:
    """What a path that should be a directory is instead, in words."""
    if path.is_symlink() and not path.exists():
        return "is a symbolic link that leads nowhere (a loop, or a missing target)"
    return "is not a directory" if path.exists() else "does not exist"


def _broken_overrides(directory: Path) -> Iterator[tuple[Path, str]]:
    """Entries of a ``templates:`` directory named like a shipped template that are no
    readable file (a directory, a link to nowhere): Jinja would skip them in silence and
    use the shipped template instead."""
    if not directory.is_dir():
        return
    for name in sorted(n.name for n in shipped().iterdir() if n.name.endswith(".j2")):
        path = directory / name
        if path.is_symlink() and not path.exists():
            yield path, "a symbolic link that leads nowhere"
        elif path.exists() and not path.is_file():
            yield path, "a directory" if path.is_dir() else "not a regular file"


def _check_paths(model: ConfigModel, base: Path, cfg_path: Path, lines: YamlLines) -> Iterator[ConfigError]:
    directory = _resolve(base, model.digests.directory)
    if not directory.is_dir():
        yield ConfigError(
            f"digest directory {directory} {_not_a_directory(directory)}",
            path=str(cfg_path),
            line=lines.line(("digests", "directory")),
            key="digests.directory",
        )
    if model.templates is not None:
        templates = _resolve(base, model.templates)
        line = lines.line(("templates",))
        if not templates.is_dir():
            problem = f"template directory {templates} {_not_a_directory(templates)}"
            yield ConfigError(problem, path=str(cfg_path), line=line, key="templates")
        for override, what in _broken_overrides(templates):
            problem = f"template {override} is {what}, not a template file"
            yield ConfigError(problem, path=str(cfg_path), line=line, key="templates")
    if model.smtp.ca_file is not None and not _resolve(base, model.smtp.ca_file).is_file():
        yield ConfigError(
            f"CA file {_resolve(base, model.smtp.ca_file)} does not exist",
            path=str(cfg_path),
            line=lines.line(("smtp", "ca_file")),
            key="smtp.ca_file",
        )
