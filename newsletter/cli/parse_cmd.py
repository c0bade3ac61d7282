"""``newsletter parse``: the papers found in digest files."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence

import click

from newsletter.base.errors import DigestParseError
from newsletter.digest import FORMATS, Paper, not_read, partial_line
from newsletter.digest.scan import read_digest

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters; control characters (a terminal escape
    in a title) never reach the terminal."""
    text = _CONTROL.sub("?", text)
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _by(p: Paper) -> str:
    if p.organization:
        return p.organization
    if p.author_names:
        more = max(p.authors or 0, len(p.author_names)) - 1
        return p.author_names[0] + (f" +{more}" if more > 0 else "")
    return f"{p.authors} authors" if p.authors is not None else "-"


def _count(n: int | None) -> str:
    return str(n) if n is not None else "-"


def paper_table(papers: Sequence[Paper], *, width: int) -> list[str]:
    """A fixed-width table: title, arXiv id, authors or organisation, date, upvotes,
    comments (the two never mixed up), and what else the source gave (code, PDF, ...)."""
    id_w, by_w, date_w, up_w, cm_w, more_w = 10, 16, 10, 3, 3, 7
    title_w = max(50, width - id_w - by_w - date_w - up_w - cm_w - more_w - 12)
    rows = [
        f"{'TITLE':<{title_w}}  {'ARXIV':<{id_w}}  {'BY':<{by_w}}  {'DATE':<{date_w}}  "
        f"{'UP':>{up_w}}  {'CMT':>{cm_w}}  {'HAS':<{more_w}}"
    ]
    for p in papers:
        when = p.published.isoformat() if p.published else "-"
        has = "".join(
            flag
            for flag, present in (
                ("c", p.code_url),
                ("p", p.pdf_url),
                ("w", p.project_url),
                ("s", p.summary),
            )
            if present
        )
        rows.append(
            f"{_cut(p.title, title_w):<{title_w}}  {p.arxiv_id or '-':<{id_w}}  {_cut(_by(p), by_w):<{by_w}}  "
            f"{when:<{date_w}}  {_count(p.upvotes):>{up_w}}  {_count(p.comments):>{cm_w}}  {has or '-':<{more_w}}"
        )
    return rows


@click.command("parse")
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
    """Show the papers found in digest FILEs (text dumps of Hugging Face listings,
    the daily-papers API's JSON, saved Hugging Face pages, arXiv RSS/Atom).

    Bad files are reported one line each on stderr (exit code 1); the good ones
    are still printed. A text dump that links to papers the reader could not
    read is partial: its papers are printed, and one line on stderr names the
    ids it missed (exit code 1).

    \b
    Example:
      newsletter parse digests/001_c30e4185ff9befb4.txt
      newsletter parse digests/huggingface-2026-11-17.json digests/saved-page.html
      newsletter parse --format arxiv digests/arxiv-cs.CL+cs.LG-2026-11-17.xml
      newsletter parse --json digests/*.txt > papers.json
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
        count = len(digest.papers)
        partial = f", partial: {not_read(digest.missing, short=True)}" if digest.missing else ""
        summaries.append(f"{path}: {count} paper{'s' if count != 1 else ''} ({digest.format}{when}{partial})")
        if digest.missing:  # read what it could, named what it could not (SPEC 2.1): exit 1
            click.echo(f"error: {partial_line(path, digest.missing)}", err=True)
            failed = True
    if as_json:
        click.echo(json.dumps([p.to_json() for p in papers], ensure_ascii=False, indent=2))
    else:
        width = shutil.get_terminal_size((120, 24)).columns
        for row in paper_table(papers, width=width) if papers else []:  # no header over nothing
            click.echo(row)
        for line in summaries:
            click.echo(line)
        if papers:
            click.echo("UP: upvotes, CMT: comments; HAS: c code, p PDF, w project page, s AI summary")
    if failed:
        raise SystemExit(1)
