"""``newsletter parse``: the papers found in digest files."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence

import click

from newsletter.cli import cli
from newsletter.digest import FORMATS, Paper, read_digest
from newsletter.errors import DigestParseError


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def paper_table(papers: Sequence[Paper], *, width: int) -> list[str]:
    """A fixed-width table: title, authors or organisation, date, votes."""
    meta_w, date_w, votes_w = 16, 10, 5
    title_w = max(20, width - meta_w - date_w - votes_w - 6)
    rows = [f"{'TITLE':<{title_w}}  {'BY':<{meta_w}}  {'DATE':<{date_w}}  {'VOTES':>{votes_w}}"]
    for p in papers:
        by = p.organization or (f"{p.authors} authors" if p.authors is not None else "-")
        when = p.published.isoformat() if p.published else "-"
        votes = str(p.upvotes) if p.upvotes is not None else "-"
        rows.append(
            f"{_cut(p.title, title_w):<{title_w}}  {_cut(by, meta_w):<{meta_w}}  {when:<{date_w}}  {votes:>{votes_w}}"
        )
    return rows


@cli.command("parse")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="Digest format; 'auto' detects it from the content.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of paper records.")
def parse_command(files: tuple[str, ...], fmt: str, as_json: bool) -> None:
    """Show the papers found in digest FILEs.

    Bad files are reported one line each on stderr (exit code 1); the good ones
    are still printed.

    \b
    Example:
      newsletter parse seeds/001_c30e4185ff9befb4.txt
      newsletter parse --json seeds/*.txt > papers.json
    """
    papers: list[Paper] = []
    failed = False
    summaries: list[str] = []
    for path in files:
        try:
            digest = read_digest(path, fmt=fmt)
        except DigestParseError as exc:
            click.echo(f"error: {exc}", err=True)
            failed = True
            continue
        papers.extend(digest.papers)
        when = f", digest of {digest.date.isoformat()}" if digest.date else ""
        summaries.append(f"{path}: {len(digest.papers)} papers ({digest.format}{when})")
    if as_json:
        click.echo(json.dumps([p.to_json() for p in papers], ensure_ascii=False, indent=2))
    else:
        width = shutil.get_terminal_size((100, 24)).columns
        for row in paper_table(papers, width=width):
            click.echo(row)
        for line in summaries:
            click.echo(line)
    if failed:
        raise SystemExit(1)
