"""``newsletter subscribers``: list, add, remove, import and export subscribers."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from newsletter.app.likes import read_feedback
from newsletter.app.roster import (
    COLUMNS,
    add_subscriber,
    export_csv,
    import_csv,
    list_subscribers,
    load_for_edit,
    remove_subscriber,
)
from newsletter.base.addresses import address_key
from newsletter.base.errors import printable
from newsletter.cli.options import config_option
from newsletter.config import DEFAULT_CONFIG, Config, Subscriber, load_config

F = TypeVar("F", bound=Callable[..., Any])


def _sub_config(func: F) -> F:
    """``-c`` on a subcommand too (``subscribers list -c CFG``); default: the group's."""
    return click.option(
        "-c",
        "--config",
        "config_path",
        default=None,
        type=click.Path(dir_okay=False),
        help="The configuration file (YAML); default: the one given to `subscribers`, else ./config.yaml.",
    )(func)


def _load(config_path: str | None, *, edit: bool = False) -> Config:
    ctx = click.get_current_context()
    group = ctx.parent.params.get("config_path") if ctx.parent is not None else None
    path = config_path or group or DEFAULT_CONFIG
    config = load_for_edit(path) if edit else load_config(path, strict=False)
    for left in config.left_out:  # a bad subscriber file never blocks managing the others (SPEC 6c)
        click.echo(f"warning: {left}", err=True)
    return config


@click.group("subscribers")
@config_option
def subscribers_group(config_path: str) -> None:
    """Manage subscribers without editing YAML: one file per subscriber in
    subscribers_dir (set to a `subscribers` folder beside the config on the first
    add or import when it is missing). Subscribers written inline in the config
    file are listed and exported but not edited.

    \b
    Example:
      newsletter subscribers -c config.yaml add ana@example.org --keyword diffusion
      newsletter subscribers -c config.yaml list
    """


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def _profile(s: Subscriber, likes: Sequence[str], dislikes: Sequence[str]) -> str:
    profile = "keywords: " + ", ".join(s.keywords)
    if s.require:
        profile += "; require: " + ", ".join(s.require)
    if s.exclude:
        profile += "; exclude: " + ", ".join(s.exclude)
    if s.schedule:
        profile += f"; schedule: {s.schedule}"
    if s.like or likes:
        profile += "; like: " + ", ".join([*s.like, *likes])
    if s.dislike or dislikes:
        profile += "; dislike: " + ", ".join([*s.dislike, *dislikes])
    return f"{s.name}; {profile}" if s.name else profile


def table(rows: Sequence[tuple[str, str, str, str]], width: int | None) -> list[str]:
    """Rows of (email, last delivery, defined in, profile) under a header, the columns as
    wide as their widest cell. ``width`` (a terminal's): the profile is cut to fit it,
    and the first columns only when even they would not fit; None: nothing is cut."""
    rows = [("EMAIL", "LAST DELIVERY", "DEFINED IN", "PROFILE"), *rows]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    if width is not None and sum(widths) + 6 + 20 > width:  # too narrow: the first columns give way
        widths = [min(widths[0], 40), widths[1], min(widths[2], 16)]
    fixed = sum(widths) + 6
    out = []
    for email, last, where, profile in rows:
        cells = [_cut(email, widths[0]), last, _cut(where, widths[2])]
        text = profile if width is None else _cut(profile, max(width - fixed, 20))
        out.append("  ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True)) + "  " + text)
    return out


@subscribers_group.command("list")
@_sub_config
def list_command(config_path: str | None) -> None:
    """A table of every subscriber: profile, where it is defined, last delivery.
    On a terminal the profile column is cut to its width; piped or redirected,
    nothing is cut.

    \b
    Example:
      newsletter subscribers list -c config.yaml
    """
    config = _load(config_path)
    rows = list_subscribers(config)
    feedback = read_feedback(config)  # issue 17: likes/dislikes from the email, by address
    if not rows:
        click.echo("no subscribers yet (add one: newsletter subscribers add EMAIL --keyword K)")
        return
    cells = []
    for r in rows:
        s = r.subscriber
        likes, dislikes = feedback.get(address_key(s.email), ((), ()))
        where = "inline (config)" if r.inline else Path(s.source).name
        cells.append((s.email, r.last_delivery or "never", where, _profile(s, likes, dislikes)))
    width = shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else None
    for line in table(cells, width):
        click.echo(line.rstrip())
    click.echo(f"{len(rows)} subscriber{'s' if len(rows) != 1 else ''}")


@subscribers_group.command("add")
@_sub_config
@click.argument("email")
@click.option("--name", help="Display name (used in the greeting and the To header).")
@click.option("--keyword", "keywords", multiple=True, metavar="K", help="A keyword or phrase (repeatable).")
@click.option("--require", "require", multiple=True, metavar="R", help="Must also match (repeatable).")
@click.option(
    "--exclude", "exclude", multiple=True, metavar="X", help="Papers matching this are left out (repeatable)."
)
@click.option("--schedule", metavar="CRON", help='An own cron line, e.g. "0 7 * * 1" (Mondays 07:00).')
@click.option(
    "--like",
    "like",
    multiple=True,
    metavar="P",
    help="A liked paper: arXiv id, Hugging Face paper URL or exact title; similar papers match (repeatable).",
)
def add_command(
    config_path: str | None,
    email: str,
    name: str | None,
    keywords: tuple[str, ...],
    require: tuple[str, ...],
    exclude: tuple[str, ...],
    schedule: str | None,
    like: tuple[str, ...],
) -> None:
    """Add a subscriber: writes one YAML file in subscribers_dir (validated first,
    written atomically). A new subscriber starts with the next digest (or use
    `send --backfill` to give it the latest one).

    \b
    Example:
      newsletter subscribers -c config.yaml add ana@example.org --name Ana \\
          --keyword "diffusion" --keyword "image restoration" --exclude survey
      newsletter subscribers -c config.yaml add bo@example.org --like 2509.01234
    """
    config = _load(config_path, edit=True)
    path = add_subscriber(
        config, email, name=name, keywords=keywords, require=require, exclude=exclude, schedule=schedule, like=like
    )
    click.echo(f"added {email}: {path}")


@subscribers_group.command("remove")
@_sub_config
@click.argument("email")
def remove_command(config_path: str | None, email: str) -> None:
    """Remove a subscriber: deletes its file in subscribers_dir (the ledger keeps
    its history).

    \b
    Example:
      newsletter subscribers -c config.yaml remove alice@example.org
    """
    path = remove_subscriber(_load(config_path), email)
    click.echo(f"removed {email}: deleted {path}")


@subscribers_group.command("import")
@_sub_config
@click.argument("csv_file", type=click.Path(dir_okay=False))
def import_command(config_path: str | None, csv_file: str) -> None:
    """Add or update subscribers from a CSV file with a header line naming columns
    among email,name,keywords,require,exclude,schedule,like,dislike in any order
    and case (list items separated by `;`, `\\;` for a `;` inside one; an empty
    like or dislike cell keeps the file's). Other columns are ignored with one
    note. Reads what spreadsheets save: UTF-8 (with or without a BOM), UTF-16
    with a BOM, else Windows-1252; `,`, `;` or tab between cells. Every row is
    checked first: bad rows (reported with their lines) and nothing is written.
    An address already in subscribers_dir is updated (keys the CSV has no column
    for, such as max_papers, stay).

    \b
    Example:
      newsletter subscribers -c config.yaml export team.csv   # edit it, then:
      newsletter subscribers -c config.yaml import team.csv
    """
    done = import_csv(_load(config_path, edit=True), csv_file)
    shown = printable(csv_file)
    if done.ignored:  # one notice, however many columns (an export of another system has dozens)
        names = ", ".join(repr(n) for n in done.ignored[:8])
        if len(done.ignored) > 8:
            names += f" and {len(done.ignored) - 8} more"
        click.echo(f"note: {shown}: ignored column(s) {names}: not among {','.join(COLUMNS)}", err=True)
    if not done.rows:
        click.echo(f"{shown}: no subscriber rows (only a header line); nothing imported")
        return
    line = f"imported {shown}: {len(done.added)} added, {len(done.updated)} updated"
    if done.unchanged:
        line += f", {len(done.unchanged)} unchanged (inline in the config file)"
    click.echo(line)


@subscribers_group.command("export")
@_sub_config
@click.argument("csv_file", required=False, type=click.Path(dir_okay=False))
def export_command(config_path: str | None, csv_file: str | None) -> None:
    """Write every subscriber as CSV (email,name,keywords,require,exclude,schedule,
    like,dislike) to CSV_FILE (UTF-8, no byte order mark: in Excel open it through
    Data > From Text/CSV), or to standard output. A cell that a spreadsheet would run as a formula gets a
    `'` in front; `import` takes it off again.

    \b
    Example:
      newsletter subscribers -c config.yaml export team.csv
    """
    text = export_csv(_load(config_path))
    if csv_file is None:
        click.echo(text, nl=False)
        return
    from newsletter.base.fsutil import atomic_write, writing

    with writing("the CSV file", Path(csv_file)):
        atomic_write(Path(csv_file), text)
    click.echo(f"exported to {csv_file}")
