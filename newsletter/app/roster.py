"""Subscribers without hand-editing YAML: list, add, remove, CSV import and export.

Each subscriber managed here is one YAML file in ``subscribers_dir`` (written
atomically: a temporary file, then a rename). A configuration without
``subscribers_dir`` gets ``subscribers_dir: subscribers`` (a folder beside the
config file) on the first ``add`` or ``import``: the line is appended to the
config file, or replaces an explicit ``subscribers_dir: null``; nothing else in
the file changes. Inline ``subscribers:`` in the main file are listed and
exported, never edited (an error says so).

One spelling of "the same address": addresses are normalised as the
configuration does (:func:`~newsletter.config.check_address`: the domain
lowercased) and then compared case-insensitively on the whole address
(:func:`~newsletter.base.addresses.address_key`), exactly like the configuration's duplicate check and
``--subscriber`` lookups.

Every profile is validated by the configuration's own model
(:class:`~newsletter.config.SubscriberModel`) before anything is written; an
import writes nothing unless every row is valid, and puts back what it wrote when a
write fails halfway. The CSV as spreadsheets write it is :mod:`newsletter.app.sheet`'s.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from newsletter.app.sheet import for_spreadsheet, join_list, read_sheet, split_list
from newsletter.base.addresses import address_key
from newsletter.base.errors import ConfigError, NewsletterError
from newsletter.base.fsutil import atomic_write
from newsletter.config import Config, Subscriber, SubscriberModel, load_config
from newsletter.store import iso
from newsletter.store.choose import open_ledger_readonly

LIKE_COLUMNS = ("like", "dislike")  # issue 17: arXiv ids or URLs (`;` separates); an empty cell keeps a file's
COLUMNS = ("email", "name", "keywords", "require", "exclude", "schedule", *LIKE_COLUMNS)  # CSV, in this order
LISTS = ("keywords", "require", "exclude", *LIKE_COLUMNS)
DEFAULT_DIR = "subscribers"
_UNSAFE = re.compile(r"[^a-z0-9@._+-]")
_DIR_LINE = re.compile(r"^subscribers_dir:\s*(?:null|~)?\s*(?:#.*)?$", re.MULTILINE)


def same_address(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are one subscriber (:func:`address_key`)."""
    return address_key(a) == address_key(b)


@dataclass(frozen=True, slots=True)
class Listed:
    """One row of ``subscribers list``."""

    subscriber: Subscriber
    inline: bool  # defined in the main config file (not editable here)
    last_delivery: str | None  # "sent 2026-11-30T07:00:02+00:00", or None: never


def is_inline(config: Config, sub: Subscriber) -> bool:
    return Path(sub.source) == config.path


def list_subscribers(config: Config) -> list[Listed]:
    """Every subscriber in config order, with its latest delivery from the ledger (read-only)."""
    last: dict[str, tuple[str, float]] = {}
    ledger = open_ledger_readonly(config)
    if ledger is not None:
        try:
            last = {address_key(e): v for e, v in ledger.last_deliveries().items()}
        finally:
            ledger.close()
    out = []
    for sub in config.subscribers:
        seen = last.get(address_key(sub.email))
        out.append(Listed(sub, is_inline(config, sub), f"{seen[0]} {iso(seen[1])}" if seen else None))
    return out


# --------------------------------------------------------------------------- validation


def validate_profile(data: dict[str, Any], *, path: str | None, line: int | None = None) -> SubscriberModel:
    """The configuration's own validation of one subscriber; ConfigError lists every problem."""
    try:
        model = SubscriberModel.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
            loc = [p for p in loc if p not in ("str", "int", "list[str]", "bool", "float")]
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            key = loc[0] if loc else None
            problems.append(ConfigError(message, path=path, line=line, key=key))
        if len(problems) == 1:
            raise problems[0] from None
        raise ConfigError(f"{len(problems)} problem(s)", path=path, problems=tuple(problems)) from None
    if not model.keywords and not model.require and not model.like:
        raise ConfigError(
            "a subscriber needs at least one keyword (--keyword K), require entry or liked paper (--like P)",
            path=path,
            line=line,
        )
    return model


def profile_data(model: SubscriberModel, keep: dict[str, Any] | None = None) -> dict[str, Any]:
    """The YAML mapping of a subscriber file: the CSV columns over ``keep`` (other keys
    of an existing file, such as ``max_papers``, stay)."""
    return _merged(_own(model), keep)


def _own(model: SubscriberModel) -> dict[str, Any]:
    """What a profile sets of the CSV columns (a few hundred bytes: what an import holds
    per row, not the validated model, ten times that)."""
    data: dict[str, Any] = {"email": model.email}
    for key in ("name", "schedule"):
        if getattr(model, key) is not None:
            data[key] = getattr(model, key)
    for key in LISTS:
        values = list(getattr(model, key))
        if values or key == "keywords":
            data[key] = values
    return data


def _merged(own: dict[str, Any], keep: dict[str, Any] | None) -> dict[str, Any]:
    """``own`` (:func:`_own`) over ``keep``: a column the profile leaves empty is dropped,
    but likes and dislikes stay unless the CSV gives new ones."""
    data: dict[str, Any] = dict(keep or {})
    data["email"] = own["email"]
    for key in ("name", "schedule", *LISTS):
        if key in own:
            data[key] = own[key]
        elif key not in LIKE_COLUMNS:
            data.pop(key, None)
    order = [*COLUMNS, *(k for k in data if k not in COLUMNS)]
    return {k: data[k] for k in order if k in data}


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1000)


# --------------------------------------------------------------------------- the directory


def load_for_edit(path: str | Path) -> Config:
    """The configuration, creating a configured ``subscribers_dir`` that does not exist yet
    (the only problem that ``add``/``import`` fix by themselves)."""
    try:
        return load_config(path, strict=False)
    except ConfigError as exc:
        problems = exc.problems or (exc,)
        missing = [p for p in problems if p.message == "subscribers_dir does not exist"]
        if len(missing) != len(problems) or not missing[0].path or Path(missing[0].path).is_symlink():
            raise
        Path(missing[0].path).mkdir(parents=True)
        return load_config(path, strict=False)


def ensure_subscribers_dir(config: Config) -> Config:
    """The configuration with a ``subscribers_dir`` that exists: configured (one line in
    the config file) and created when missing."""
    if config.subscribers_dir is None:
        text = config.path.read_text(encoding="utf-8")
        line = f"subscribers_dir: {DEFAULT_DIR}   # one YAML file per subscriber (newsletter subscribers)"
        if _DIR_LINE.search(text):
            new = _DIR_LINE.sub(line, text, count=1)
        else:
            new = text + ("" if text.endswith("\n") or not text else "\n") + line + "\n"
        (config.path.parent / DEFAULT_DIR).mkdir(parents=True, exist_ok=True)
        atomic_write(config.path, new)
        try:
            config = load_config(config.path, strict=False)
        except ConfigError:
            atomic_write(config.path, text)  # never leave the user's file worse than it was
            raise
        if config.subscribers_dir is None:  # e.g. the key sits inside a flow mapping: say so
            atomic_write(config.path, text)
            raise ConfigError(
                "cannot set subscribers_dir in this file; add `subscribers_dir: subscribers` by hand",
                path=str(config.path),
            )
    assert config.subscribers_dir is not None
    config.subscribers_dir.mkdir(parents=True, exist_ok=True)
    return config


def _file_for(directory: Path, email: str, taken: set[Path]) -> Path:
    stem = _UNSAFE.sub("_", email.casefold())  # address-key: a file name, not a comparison
    path = directory / f"{stem}.yaml"
    n = 2
    while path.exists() or path in taken:
        path = directory / f"{stem}-{n}.yaml"
        n += 1
    return path


def _find(config: Config, email: str) -> Subscriber | None:
    return next((s for s in config.subscribers if same_address(s.email, email)), None)


def _inline_error(config: Config, sub: Subscriber) -> ConfigError:
    return ConfigError(
        f"{sub.email} is defined inline under `subscribers:` in this file; the subscribers command only "
        "edits files in subscribers_dir: edit or move that entry by hand",
        path=str(config.path),
    )


# --------------------------------------------------------------------------- add / remove


def add_subscriber(
    config: Config,
    email: str,
    *,
    name: str | None = None,
    keywords: Sequence[str] = (),
    require: Sequence[str] = (),
    exclude: Sequence[str] = (),
    schedule: str | None = None,
    like: Sequence[str] = (),
) -> Path:
    """Write a new subscriber file; returns it. ConfigError for an invalid profile or an
    address already subscribed (nothing written)."""
    data: dict[str, Any] = {  # items stripped as import strips them: a file of `add` round-trips through CSV
        "email": email,
        "name": name,
        "keywords": [k.strip() for k in keywords],
        "require": [r.strip() for r in require],
        "exclude": [x.strip() for x in exclude],
        "schedule": schedule,
        "like": [p.strip() for p in like],
    }
    model = validate_profile({k: v for k, v in data.items() if v is not None}, path=None)
    existing = _find(config, model.email)
    if existing is not None:
        if is_inline(config, existing):
            raise _inline_error(config, existing)
        raise ConfigError(
            f"{existing.email} is already a subscriber; remove it first or edit the file", path=existing.source
        )
    config = ensure_subscribers_dir(config)
    assert config.subscribers_dir is not None
    path = _file_for(config.subscribers_dir, model.email, set())
    atomic_write(path, _dump(profile_data(model)))
    return path


def remove_subscriber(config: Config, email: str) -> Path:
    """Delete the subscriber file of ``email``; returns it. ConfigError when unknown or inline."""
    sub = _find(config, email)
    if sub is None:
        raise ConfigError(f"no subscriber {email!r} in the configuration", path=str(config.path))
    if is_inline(config, sub):
        raise _inline_error(config, sub)
    path = Path(sub.source)
    path.unlink()
    return path


# --------------------------------------------------------------------------- CSV


@dataclass(frozen=True, slots=True)
class Imported:
    added: tuple[Path, ...]
    updated: tuple[Path, ...]
    unchanged: tuple[str, ...] = ()  # rows equal to a subscriber inline in the main file (not editable)
    ignored: tuple[str, ...] = ()  # header names that are not columns of ours: not read
    rows: int = 0


MAX_NAMED = 20  # bad rows named one per line; the rest counted in one more


def import_csv(config: Config, path: str | Path) -> Imported:
    """Add (or update) one subscriber per CSV row. Every row is validated first; any bad
    row (reported with its CSV line) means nothing is written."""
    csv_path = Path(path)
    sheet = read_sheet(csv_path, COLUMNS)
    profiles, unchanged, rows = _valid_rows(config, csv_path, sheet.rows)
    if not profiles:  # a header line only, or rows that change nothing: the config is left alone
        return Imported((), (), unchanged, sheet.ignored, rows)
    config = ensure_subscribers_dir(config)
    assert config.subscribers_dir is not None
    index = _index(config)
    writes: list[tuple[Path, str, str | None]] = []  # (file, new text, its text before; None: a new file)
    taken: set[Path] = set()
    for own in profiles:
        existing = index.get(address_key(own["email"]))
        if existing is not None:
            before = Path(existing.source).read_text(encoding="utf-8")
            keep = yaml.safe_load(before) or {}
            writes.append((Path(existing.source), _dump(_merged(own, keep)), before))
        else:
            target = _file_for(config.subscribers_dir, own["email"], taken)
            taken.add(target)
            writes.append((target, _dump(_merged(own, None)), None))
    _write_all(writes)
    added = tuple(p for p, _, before in writes if before is None)
    updated = tuple(p for p, _, before in writes if before is not None)
    return Imported(added, updated, unchanged, sheet.ignored, rows)


def _write_all(writes: list[tuple[Path, str, str | None]]) -> None:
    """Each file written atomically; when one cannot be (a full disk, a file-size limit),
    those written before it are put back as they were (a new file removed): the import
    is all or nothing on disk too. NewsletterError (exit 1) naming the file."""
    done: list[tuple[Path, str | None]] = []
    for target, text, before in writes:
        try:
            atomic_write(target, text)
        except OSError as exc:
            lost = _put_back(done)
            why = f"cannot write it ({exc.strerror or exc})"
            message = f"{why}; nothing imported"
            if lost:
                message = f"{why}; {lost} of the {len(done)} file(s) written before it could not be put back"
            elif done:
                message += f" (the {len(done)} file(s) written before it were put back)"
            raise NewsletterError(message, path=str(target)) from None
        done.append((target, before))


def _put_back(done: list[tuple[Path, str | None]]) -> int:
    """Undo :func:`_write_all`'s writes, latest first; how many could not be undone."""
    lost = 0
    for path, before in reversed(done):
        try:
            if before is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write(path, before)
        except OSError:
            lost += 1
    return lost


def _index(config: Config) -> dict[str, Subscriber]:
    """Each subscriber by :func:`address_key` (the first of a duplicate, as :func:`_find`):
    one look-up per CSV row, not a scan of every subscriber (100,000 rows re-imported)."""
    index: dict[str, Subscriber] = {}
    for sub in config.subscribers:
        index.setdefault(address_key(sub.email), sub)
    return index


def _row_data(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as the profile keys it sets (empty cells left out)."""
    data: dict[str, Any] = {"email": (row.get("email") or "").strip()}
    for key in ("name", "schedule"):
        if (row.get(key) or "").strip():
            data[key] = (row.get(key) or "").strip()
    for key in LISTS:
        data[key] = split_list(row.get(key))
    return data


def _valid_rows(
    config: Config, csv_path: Path, rows: Iterable[tuple[int, dict[str, str]]]
) -> tuple[list[dict[str, Any]], tuple[str, ...], int]:
    """Every row validated: the profiles to write (:func:`_own`), the addresses of rows
    equal to an inline subscriber, and the number of rows. A ConfigError lists the bad
    rows by line (at most :data:`MAX_NAMED` of them named)."""
    problems: list[ConfigError] = []
    profiles: list[dict[str, Any]] = []
    unchanged: list[str] = []
    seen: dict[str, int] = {}
    index = _index(config)
    count = bad = 0
    for line, row in rows:
        count += 1
        try:
            model = validate_profile(_row_data(row), path=str(csv_path), line=line)
        except ConfigError as exc:
            found: tuple[ConfigError, ...] = exc.problems or (exc,)  # one or several problems of this row
        else:
            key = address_key(model.email)
            problem = _row_problem(config, model, index.get(key), seen.setdefault(key, line), csv_path, line)
            found = (problem,) if isinstance(problem, ConfigError) else ()
            if problem == "unchanged":
                unchanged.append(model.email)
            elif not found and not bad:  # once a row is bad nothing is written: profiles no longer kept
                profiles.append(_own(model))
        bad += len(found)
        problems.extend(found[: MAX_NAMED - len(problems)])  # the first ones named, the others counted
    if bad:
        raise _bad_rows(problems, bad, csv_path)
    return profiles, tuple(unchanged), count


def _bad_rows(problems: list[ConfigError], bad: int, csv_path: Path) -> ConfigError:
    """The problems named (at most :data:`MAX_NAMED`) and one more line counting the rest."""
    shown = list(problems)
    if bad > len(shown):
        more = f"{bad - len(shown):,} more problem(s) in further rows; nothing imported"
        shown.append(ConfigError(more, path=str(csv_path)))
    return ConfigError(f"{bad} bad row(s); nothing imported", path=str(csv_path), problems=tuple(shown))


def _csv_cells(sub: Subscriber | SubscriberModel) -> list[str]:
    """A subscriber's cells under :data:`COLUMNS` (before :func:`for_spreadsheet`)."""
    return [
        sub.email,
        sub.name or "",
        join_list(sub.keywords),
        join_list(sub.require),
        join_list(sub.exclude),
        sub.schedule or "",
        join_list(sub.like),
        join_list(sub.dislike),
    ]


def _row_problem(
    config: Config, model: SubscriberModel, existing: Subscriber | None, first: int, path: Path, line: int
) -> ConfigError | str | None:
    """Why a valid row cannot be imported: its address is on an earlier row (``first``),
    or defined inline in the main configuration with another profile; ``"unchanged"``:
    inline with this very profile (an export of the configuration imported back)."""
    if first != line:
        return ConfigError(f"{model.email} is already on line {first}", path=str(path), line=line)
    if existing is not None and is_inline(config, existing):
        if _same_row(existing, model):
            return "unchanged"
        message = f"{existing.email} is defined inline in {config.path.name} (not editable here)"
        return ConfigError(message, path=str(path), line=line, key="email")
    return None


def _same_row(sub: Subscriber, model: SubscriberModel) -> bool:
    """The row says nothing the inline subscriber does not (an empty like/dislike cell keeps)."""
    ours, theirs = _csv_cells(sub), _csv_cells(model)
    likes = len(COLUMNS) - len(LIKE_COLUMNS)
    return ours[:likes] == theirs[:likes] and all(
        t in ("", o) for o, t in zip(ours[likes:], theirs[likes:], strict=True)
    )


def export_csv(config: Config) -> str:
    """Every subscriber (inline ones too) as CSV with the columns of :data:`COLUMNS`:
    list items joined by :func:`join_list`, each cell through :func:`for_spreadsheet`."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for sub in config.subscribers:
        writer.writerow([for_spreadsheet(cell) for cell in _csv_cells(sub)])
    return out.getvalue()
