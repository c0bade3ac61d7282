"""``newsletter match``: who gets which papers and why (changes no state)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from newsletter.cli import cli
from newsletter.cli.options import config_option, json_option
from newsletter.config import Subscriber, load_config
from newsletter.digest import Paper
from newsletter.matching import Match, PaperIndex, keyword_stats
from newsletter.pipeline import digest_files, load_digests, plan, profile_of, select_subscribers


def _why(match: Match) -> str:
    return ", ".join(f"{h.keyword} ({'+'.join(h.fields)})" for h in match.hits)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def match_json(results: list[tuple[str, list[Match]]]) -> dict[str, object]:
    """The ``match --json`` shape of SPEC 7."""
    return {
        "subscribers": [
            {
                "email": email,
                "papers": [
                    {
                        "id": m.paper.id,
                        "title": m.paper.title,
                        "score": m.score,
                        "matched": [{"keyword": h.keyword, "fields": list(h.fields)} for h in m.hits],
                    }
                    for m in matches
                ],
            }
            for email, matches in results
        ]
    }


@cli.command("match")
@config_option
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--subscriber", "emails", multiple=True, metavar="EMAIL", help="Only this subscriber (repeatable).")
@json_option
@click.option(
    "--stats",
    is_flag=True,
    help="Per keyword: how many papers it hits; flags keywords that hit nothing or more than half of all papers.",
)
def match_command(
    config_path: str, files: tuple[str, ...], emails: tuple[str, ...], as_json: bool, stats: bool
) -> None:
    """Show which papers each subscriber would get from digest FILEs, and why.

    Without FILEs, every digest in the configured directory is read (the ledger
    is ignored: papers already sent count too). A paper recurring in several
    files counts once.

    \b
    Example:
      newsletter match -c config.yaml seeds/002_cde32cb1abaeaae0.txt
      newsletter match -c config.yaml --subscriber alice@example.org --json
      newsletter match -c config.yaml --stats
    """
    config = load_config(config_path)
    subscribers = select_subscribers(config, emails)
    paths: list[str | Path] = list(files) if files else list(digest_files(config))
    loaded = load_digests(paths, fmt=config.digests.format)
    for err in loaded.errors:
        click.echo(f"error: {err}", err=True)
    if stats:
        _print_stats(subscribers, loaded.papers, as_json=as_json)
    else:
        results = [(sub.email, matches) for sub, matches in plan(subscribers, loaded.papers)]
        if as_json:
            click.echo(json.dumps(match_json(results), ensure_ascii=False, indent=2))
        else:
            _print_report(results, papers=len(loaded.papers))
    if loaded.errors:
        raise SystemExit(1)


def _print_report(results: list[tuple[str, list[Match]]], *, papers: int) -> None:
    width = shutil.get_terminal_size((100, 24)).columns
    click.echo(f"{papers} distinct papers")
    for email, matches in results:
        click.echo("")
        click.secho(f"{email}: {len(matches)} paper{'s' if len(matches) != 1 else ''}", bold=True)
        for m in matches:
            votes = f"  ▲{m.paper.upvotes}" if m.paper.upvotes else ""
            click.echo(f"  {m.score:>3}  {_cut(m.paper.title, width - 7 - len(votes))}{votes}")
            click.echo(f"       {_cut('matched: ' + _why(m), width - 7)}")


def _print_stats(subscribers: Sequence[Subscriber], papers: tuple[Paper, ...], *, as_json: bool) -> None:
    index = PaperIndex(papers)
    half = len(papers) / 2
    rows: list[dict[str, Any]] = []
    for sub in subscribers:
        counts = keyword_stats(index, profile_of(sub))
        keywords = [
            {
                "keyword": kw,
                "hits": n,
                "flag": "no hits" if n == 0 else ("over half of all papers" if n > half else None),
            }
            for kw, n in counts
        ]
        rows.append({"email": sub.email, "papers": len(papers), "keywords": keywords})
    if as_json:
        click.echo(json.dumps({"subscribers": rows}, ensure_ascii=False, indent=2))
        return
    click.echo(f"{len(papers)} distinct papers")
    for row in rows:
        click.echo("")
        click.secho(row["email"], bold=True)
        for kw in row["keywords"]:
            flag = f"  <- {kw['flag']}" if kw["flag"] else ""
            click.echo(f"  {kw['hits']:>4}  {kw['keyword']}{flag}")
