"""Validation problems in plain words: YAML syntax errors, pydantic's errors as key paths
with their lines, did-you-mean for unknown keys, and the order they are listed in."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from annotated_types import Ge, Gt, Le, Lt
from pydantic import (
    BaseModel,
    ValidationError,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from newsletter.base.errors import ConfigError
from newsletter.config.fields import Loc
from newsletter.config.schema import ConfigModel


@dataclass(frozen=True, slots=True)
class Twice:
    """A key written twice in one mapping: where, where first, which."""

    line: int
    first: int
    key: str

    def error(self, path: Path | str, key_path: str | None = None) -> ConfigError:
        why = f"this key is written twice in one mapping (first at line {self.first})"
        return ConfigError(why, path=str(path), line=self.line, key=key_path or self.key)


if TYPE_CHECKING:
    _Loader = yaml.SafeLoader
else:  # libyaml's parser when available (large subscriber lists load several times faster)
    _Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_Loader):
    """The safe loader, noting every key written twice in one mapping (YAML parsers keep
    the later one and drop the earlier in silence). Checked when a mapping comes out
    smaller than the pairs written in it: no cost for a clean file. Merge keys
    (``<<: *base``) override freely, as YAML means them to."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.twice: list[Twice] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        written = node.value  # the merge pair is deleted from this very list; merged pairs go in front of a new one
        mapping = super().construct_mapping(node, deep=deep)
        if len(mapping) < len(written):
            self.twice.extend(_written_twice(written))
        return mapping


def _written_twice(pairs: list[tuple[yaml.Node, yaml.Node]]) -> Iterator[Twice]:
    seen: dict[str, int] = {}
    for key, _ in pairs:
        if isinstance(key, yaml.ScalarNode):
            line = key.start_mark.line + 1
            if key.value in seen:
                yield Twice(line, seen[key.value], str(key.value))
            else:
                seen[key.value] = line


class YamlLines:
    """Key path -> line number, looked up in the composed YAML node tree when an error
    needs one: a walk down the path asked for, no map of every node (a file of 100,000
    subscribers has millions). The line of a key path is its value's line when the
    value is a scalar, else the key's; a path that does not exist gives the line of its
    longest existing prefix (a later duplicate key wins, as in the parsed data)."""

    def __init__(self, node: yaml.Node | None, duplicates: tuple[Twice, ...] = ()) -> None:
        self._root = node
        self.duplicates = duplicates

    def entry_of(self, key: str, line: int) -> int | None:
        """The index of the item of the top-level list ``key`` that holds ``line``."""
        node = self._root
        if not isinstance(node, yaml.MappingNode):
            return None
        items = [v for k, v in node.value if getattr(k, "value", None) == key]
        if not items or not isinstance(items[-1], yaml.SequenceNode):
            return None
        found = None
        for i, item in enumerate(items[-1].value):
            if item.start_mark.line + 1 <= line:
                found = (i, item)
        return found[0] if found and line <= found[1].end_mark.line + 1 else None

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


def yaml_line(exc: yaml.YAMLError, text: str) -> int | None:
    """The line of a YAML error: its mark's, or for a character the reader refuses (it
    gives an offset, no mark) the line of that offset."""
    if isinstance(exc, yaml.reader.ReaderError):
        return text.count("\n", 0, exc.position) + 1
    mark = getattr(exc, "problem_mark", None)
    return int(mark.line) + 1 if mark is not None else None


def yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """A YAML syntax error in plain words: tabs and indentation are named as such
    (the parsers say "block end" or "cannot start any token")."""
    if isinstance(exc, yaml.reader.ReaderError):
        return (
            f"a control character (U+{exc.character:04X}) YAML cannot hold: "
            "not a text file, or saved in another encoding than UTF-8"
        )
    return _syntax_problem(exc, text)


def _syntax_problem(exc: yaml.YAMLError, text: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = str(getattr(exc, "problem", None) or exc)
    lines = text.splitlines()
    line = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    tab_at_mark = mark is not None and line[mark.column : mark.column + 1] == "\t"
    if "\t" in indent or "tab" in problem or tab_at_mark:
        return "a tab character in the indentation: YAML indents with spaces only (replace the tab with spaces)"
    if any(k in problem for k in _INDENTATION_PHRASES):
        where = ""
        if context_mark is not None and mark is not None and context_mark.line != mark.line:
            where = f" (the block it belongs to starts at line {context_mark.line + 1})"
        return (
            f"wrong indentation: this line is indented {len(indent)} space{'s' if len(indent) != 1 else ''}, which "
            f"does not line up with the keys above it{where}; keys of one mapping need the same indentation "
            "(a value holding ': ' needs quotes)"
        )
    return _unclosed(exc, problem, context_mark) or problem


_INDENTATION_PHRASES = ("block end", "expected key", "indicator", "mapping values are not allowed")


def _unclosed(exc: yaml.YAMLError, problem: str, context_mark: Any) -> str | None:
    """A quote, list or mapping left open, in plain words (None: something else)."""
    context = str(getattr(exc, "context", ""))
    opened = f" opened at line {context_mark.line + 1}" if context_mark is not None else ""
    if "end of stream" in problem and "quoted" in context:
        return f"a quote{opened} is never closed"
    if "flow" in context:
        return f"a [list] or {{mapping}}{opened} is not closed, or lacks a comma between items"
    return None


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model holding the key at ``loc`` (list indexes skipped), or None."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = _field(current, part)
        if info is None:
            return None
        current = _model_in(info.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field(model: type[BaseModel], key: str | int) -> FieldInfo | None:
    info = model.model_fields.get(str(key))
    return info or next((f for f in model.model_fields.values() if f.alias == key), None)


def _did_you_mean(model: type[BaseModel], loc: Loc) -> str:
    """`` (did you mean `keywords`?)`` for an unknown key at ``loc``, or ``""``."""
    import difflib

    current = _model_at(model, loc)
    if current is None:
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


def validation_problems(
    exc: ValidationError, *, path: Path, lines: YamlLines, prefix: Loc = (), model: type[BaseModel] | None = None
) -> Iterator[ConfigError]:
    for err in exc.errors():
        loc = _loc_of(err)
        message = _message_of(err, loc, model or ConfigModel)
        full = (*prefix, *loc)
        yield ConfigError(message, path=str(path), line=lines.line(loc), key=_key_path(full) or None)


_TYPE_NAMES = ("str", "int", "list[str]", "bool", "float")
from newsletter.config.channels import CHANNEL_TYPES  # noqa: E402

SOURCE_TYPES = ("huggingface", "arxiv", "biorxiv", "medrxiv", "feed", "openreview")


def _loc_of(err: ErrorDetails) -> Loc:
    """Where an error is, as the file spells it: without pydantic's validator and type
    names (a validator on a union or optional field reports the type in its location),
    nor the type a discriminated source union adds."""
    loc = tuple(
        p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")) and p not in _TYPE_NAMES
    )
    if len(loc) > 2 and loc[0] == "sources" and loc[2] in SOURCE_TYPES:
        loc = (*loc[:2], *loc[3:])
    for i in range(len(loc) - 2):  # subscribers[N].channels[M].<type>.key: the type is no key
        if loc[i] == "channels" and loc[i + 2] in CHANNEL_TYPES:
            loc = (*loc[: i + 2], *loc[i + 3 :])
            break
    return loc


def _message_of(err: ErrorDetails, loc: Loc, model: type[BaseModel]) -> str:
    if err["type"] == "extra_forbidden":
        if loc and loc[-1] == "password":
            return (
                "unknown key: secrets never live in the file; put the password in an "
                "environment variable and name it in smtp.password_env"
            )
        return "unknown key" + (_did_you_mean(model, loc) if loc else "")
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        ctx = err.get("ctx") or {}
        what = "channel" if "channels" in loc else "source"
        tag = f"unknown {what} type {ctx['tag']!r}" if "tag" in ctx else f"a {what} needs a type"
        return f"{tag} (expected {ctx.get('expected_tags', ', '.join(SOURCE_TYPES))})"
    if err["type"] == "missing":
        return "required key is missing"
    if err["type"] in _BOUND_ERRORS and loc:
        return _out_of_range(err, loc, model) or err["msg"]
    return err["msg"].removeprefix("Value error, ")


_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _number(value: object) -> str:
    """A number as a YAML file would hold it (a string: as written, ``1e9``)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _out_of_range(err: ErrorDetails, loc: Loc, model: type[BaseModel]) -> str | None:
    """``1e-300 is out of range: from 0.001 to 10000 (messages a second; ...)``: the
    value, both bounds of the key and its unit (the field's description)."""
    holder = _model_at(model, loc)
    info = _field(holder, loc[-1]) if holder is not None else None
    if info is None:
        return None
    low = next((m for m in info.metadata if isinstance(m, (Ge, Gt))), None)
    high = next((m for m in info.metadata if isinstance(m, (Le, Lt))), None)
    if isinstance(low, Ge) and isinstance(high, Le):
        bounds = f"from {_number(low.ge)} to {_number(high.le)}"
    else:
        parts = [
            *([f"at least {_number(low.ge)}"] if isinstance(low, Ge) else []),
            *([f"more than {_number(low.gt)}"] if isinstance(low, Gt) else []),
            *([f"at most {_number(high.le)}"] if isinstance(high, Le) else []),
            *([f"less than {_number(high.lt)}"] if isinstance(high, Lt) else []),
        ]
        bounds = " and ".join(parts)
    unit = f" ({info.description})" if info.description else ""
    return f"{_number(err['input'])} is out of range: {bounds}{unit}"


def in_line_order(problems: Sequence[ConfigError]) -> tuple[ConfigError, ...]:
    """The problems file by file (in the order the files first come up), each file's in
    line order; problems without a line last in their file, as found."""
    first: dict[str | None, int] = {}
    for problem in problems:
        first.setdefault(problem.path, len(first))
    return tuple(
        sorted(problems, key=lambda p: (first[p.path], p.line is None, p.line or 0))  # stable: ties keep their order
    )
