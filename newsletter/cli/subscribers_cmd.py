"""``newsletter subscribers``: list, add, remove, import and export subscribers."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from newsletter.cli.options import config_option
from newsletter.config import DEFAULT_CONFIG, Config, load_config
from newsletter.likes import read_feedback
from newsletter.subscribers import (
    add_subscriber,
    export_csv,
    import_csv,
    list_subscribers,
    load_for_edit,
    remove_subscriber,
)

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


@subscribers_group.command("list")
@_sub_config
def list_command(config_path: str | None) -> None:
    """A table of every subscriber: profile, where it is defined, last delivery.

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
    width = shutil.get_terminal_size((120, 24)).columns
    email_w = min(max(len(r.subscriber.email) for r in rows), 40)
    click.echo(f"{'EMAIL':<{email_w}}  {'LAST DELIVERY':<30}  {'DEFINED IN':<16}  PROFILE")
    for r in rows:
        s = r.subscriber
        profile = "keywords: " + ", ".join(s.keywords)
        if s.require:
            profile += "; require: " + ", ".join(s.require)
        if s.exclude:
            profile += "; exclude: " + ", ".join(s.exclude)
        if s.schedule:
            profile += f"; schedule: {s.schedule}"
        likes, dislikes = feedback.get(s.email.lower(), ((), ()))
        if s.like or likes:
            profile += "; like: " + ", ".join([*s.like, *likes])
        if s.dislike or dislikes:
            profile += "; dislike: " + ", ".join([*s.dislike, *dislikes])
        if s.name:
            profile = f"{s.name}; {profile}"
        where = "inline (config)" if r.inline else Path(s.source).name
        last = r.last_delivery or "never"
        click.echo(
            f"{_cut(s.email, email_w):<{email_w}}  {last:<30}  {_cut(where, 16):<16}  "
            + _cut(profile, max(width - email_w - 52, 20))
        )
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
      newsletter subscribers -c config.yaml remove ana@example.org
    """
    path = remove_subscriber(_load(config_path), email)
    click.echo(f"removed {email}: deleted {path}")


@subscribers_group.command("import")
@_sub_config
@click.argument("csv_file", type=click.Path(dir_okay=False))
def import_command(config_path: str | None, csv_file: str) -> None:
    """Add or update subscribers from a CSV file with a header line naming columns
    among email,name,keywords,require,exclude,schedule (list items separated by
    `;`). Every row is checked first: one bad row (reported with its line) and
    nothing is written. An address already in subscribers_dir is updated (keys the
    CSV has no column for, such as max_papers, stay).

    \b
    Example:
      newsletter subscribers -c config.yaml import team.csv
    """
    done = import_csv(_load(config_path, edit=True), csv_file)
    click.echo(f"imported {csv_file}: {len(done.added)} added, {len(done.updated)} updated")


@subscribers_group.command("export")
@_sub_config
@click.argument("csv_file", required=False, type=click.Path(dir_okay=False))
def export_command(config_path: str | None, csv_file: str | None) -> None:
    """Write every subscriber as CSV (email,name,keywords,require,exclude,schedule)
    to CSV_FILE, or to standard output.

    \b
    Example:
      newsletter subscribers -c config.yaml export team.csv
    """
    text = export_csv(_load(config_path))
    if csv_file is None:
        sys.stdout.write(text)
        return
    from newsletter.fsutil import atomic_write

    atomic_write(Path(csv_file), text)
    click.echo(f"exported to {csv_file}")
