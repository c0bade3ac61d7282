"""``newsletter match``: who gets which papers and why (changes no state)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from newsletter.app.tuning import TRIAL_EMAIL, entry_stats, trial_subscriber
from newsletter.base.errors import ConfigError
from newsletter.base.wording import plural
from newsletter.cli.options import config_option, json_option, load_config_leaving_out
from newsletter.config import Config, Subscriber, select_subscribers
from newsletter.digest import Paper, revision_label
from newsletter.digest.scan import digest_files, load_digests
from newsletter.matching import Hit, Match
from newsletter.matching.likes import read_like_state
from newsletter.matching.matcher import plan_each
from newsletter.matching.matchjson import is_like_hit, paper_json, subscriber_json
from newsletter.render.content import bidi_closed


def _why(match: Match) -> str:
    return ", ".join(h.keyword if is_like_hit(h) else f"{h.keyword} ({'+'.join(h.fields)})" for h in match.hits)


def _cut(text: str, width: int) -> str:
    """``text`` within ``width`` characters, the bidi overrides it opens closed (a title's
    U+202E would reverse the rest of the terminal line, the score and votes after it)."""
    return bidi_closed(text if len(text) <= width else text[: max(width - 1, 1)] + "…")


class _Compact:
    """One subscriber's compact JSON, each paper's entry written once per (paper, score,
    hits) and reused: 100,000 subscribers share a few hundred of them. The text is what
    ``json.dumps`` writes for the whole object (its separators are the same at every
    depth without ``indent``)."""

    LIMIT = 1 << 16

    def __init__(self) -> None:
        self.papers: dict[tuple[str, int, tuple[Hit, ...]], str] = {}

    def paper(self, m: Match) -> str:
        if any(is_like_hit(h) for h in m.hits):  # a similarity hit carries more than its tuple
            return json.dumps(paper_json(m), ensure_ascii=False)
        key = (m.paper.id, m.score, m.hits)
        text = self.papers.get(key)
        if text is None:
            if len(self.papers) >= self.LIMIT:
                self.papers.clear()
            text = self.papers[key] = json.dumps(paper_json(m), ensure_ascii=False)
        return text

    def subscriber(self, email: str, matches: list[Match]) -> str:
        papers = ", ".join([self.paper(m) for m in matches])
        return f'{{"email": {json.dumps(email, ensure_ascii=False)}, "papers": [{papers}]}}'


def match_json(results: Iterable[tuple[str, list[Match]]], *, indent: int | None = None) -> Iterator[str]:
    """The ``match --json`` document of SPEC 7 (``{"subscribers": [...]}``), in pieces, one
    subscriber at a time: the text of ``json.dumps(document, indent=indent)`` without the
    whole document in memory (or the pure-Python encoder ``indent`` needs for all of it)."""
    first = True
    compact = _Compact()
    for email, matches in results:
        if indent is None:
            item = compact.subscriber(email, matches)
        else:
            item = json.dumps(subscriber_json(email, matches), ensure_ascii=False, indent=indent)
        if indent is None:
            yield ('{"subscribers": [' if first else ", ") + item
        else:  # JSON strings hold no raw line break: indenting by lines is exact
            pad = " " * (2 * indent)
            yield (
                ("{\n" + " " * indent + '"subscribers": [\n' if first else ",\n") + pad + item.replace("\n", "\n" + pad)
            )
        first = False
    if first:
        yield json.dumps({"subscribers": []}, indent=indent)
    else:
        yield "]}" if indent is None else "\n" + " " * indent + "]\n}"


@click.command("match")
@config_option
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--subscriber", "emails", multiple=True, metavar="EMAIL", help="Only this subscriber (repeatable).")
@json_option
@click.option(
    "--stats",
    is_flag=True,
    help="Per profile entry, labelled: the papers each keyword/require hits (flags none or over half), "
    "and the papers each exclude removed.",
)
@click.option(
    "--keyword",
    "keywords",
    multiple=True,
    metavar="K",
    help="Try a keyword (repeatable) without a profile: every paper it matches, best first.",
)
@click.option("--require", "require", multiple=True, metavar="R", help="With --keyword: must also match (repeatable).")
@click.option("--exclude", "exclude", multiple=True, metavar="X", help="With --keyword: leave out (repeatable).")
def match_command(
    config_path: str,
    files: tuple[str, ...],
    emails: tuple[str, ...],
    as_json: bool,
    stats: bool,
    keywords: tuple[str, ...],
    require: tuple[str, ...],
    exclude: tuple[str, ...],
) -> None:
    """Show which papers each subscriber would get from digest FILEs, and why.

    Without FILEs, every digest in the configured directory is read (the ledger
    is ignored: papers already sent count too). A paper recurring in several
    files counts once.

    With --keyword K (and --require/--exclude), no profile is needed: every
    paper K matches is shown, to try a keyword before putting it in a profile.

    \b
    Example:
      newsletter match -c config.yaml digests/002_cde32cb1abaeaae0.txt
      newsletter match -c config.yaml --subscriber alice@example.org --json
      newsletter match -c config.yaml --stats
      newsletter match -c config.yaml --keyword "contrastive learning" --exclude medical
    """
    config = load_config_leaving_out(config_path)
    subscribers = _chosen(config, emails, keywords, require, exclude)
    paths: list[str | Path] = list(files) if files else list(digest_files(config))
    loaded = load_digests(paths, fmt=config.digests.format)
    for err in loaded.errors:
        click.echo(f"error: {err}", err=True)
    if stats:
        _print_stats(subscribers, loaded.papers, as_json=as_json)
    else:
        results: Iterable[tuple[str, list[Match]]] = (
            (sub.email, matches)
            for sub, matches in plan_each(subscribers, loaded.papers, likes=read_like_state(config))
        )
        if keywords or require:  # a trial has no address: say what was tried
            label = TRIAL_EMAIL if as_json else _trial_label(keywords, require, exclude)
            results = [(label, next(iter(results))[1])]
        _print_matches(results, papers=len(loaded.papers), as_json=as_json)
    if loaded.errors:
        raise SystemExit(1)


def _chosen(
    config: Config, emails: Sequence[str], keywords: Sequence[str], require: Sequence[str], exclude: Sequence[str]
) -> tuple[Subscriber, ...]:
    """The subscribers to match: a keyword trial's own, or those named, or everyone."""
    if keywords or require:
        if emails:
            raise ConfigError("--keyword tries a keyword without a profile: leave out --subscriber")
        return (trial_subscriber(config, keywords, require=require, exclude=exclude),)
    if exclude:
        raise ConfigError("--exclude goes with --keyword K (or --require R)")
    return select_subscribers(config, emails)


def _trial_label(keywords: Sequence[str], require: Sequence[str], exclude: Sequence[str]) -> str:
    return "; ".join(
        f"{name} " + ", ".join(repr(v) for v in values)
        for name, values in (("keyword", keywords), ("require", require), ("exclude", exclude))
        if values
    )


def _print_matches(results: Iterable[tuple[str, list[Match]]], *, papers: int, as_json: bool) -> None:
    if as_json:  # streamed; indented for a person at a terminal, compact for a program
        for piece in match_json(results, indent=2 if sys.stdout.isatty() else None):
            click.echo(piece, nl=False)
        click.echo()
    else:
        _print_report(list(results), papers=papers)


def _print_report(results: list[tuple[str, list[Match]]], *, papers: int) -> None:
    width = shutil.get_terminal_size((100, 24)).columns
    click.echo(plural(papers, "distinct paper"))
    for email, matches in results:
        click.echo("")
        click.secho(f"{email}: {len(matches)} paper{'s' if len(matches) != 1 else ''}", bold=True)
        for m in matches:
            votes = f"  ▲{m.paper.upvotes}" if m.paper.upvotes else ""
            click.echo(f"  {m.score:>3}  {_cut(m.paper.title, width - 7 - len(votes))}{votes}")
            if label := revision_label(m.paper):
                click.echo(f"       {_cut(label, width - 7)}")
            click.echo(f"       {_cut('matched: ' + _why(m), width - 7)}")


def _print_stats(subscribers: Sequence[Subscriber], papers: tuple[Paper, ...], *, as_json: bool) -> None:
    rows: list[dict[str, Any]] = []
    for sub in subscribers:
        entries = []
        for st in entry_stats(papers, sub):
            row: dict[str, Any] = {"kind": st.kind, "keyword": st.entry, "hits": st.hits, "flag": st.flag}
            if st.kind == "exclude":
                row["removed"] = [{"id": p.id, "title": p.title} for p in st.removed]
            entries.append(row)
        rows.append({"email": sub.email, "papers": len(papers), "keywords": entries})
    if as_json:
        click.echo(json.dumps({"subscribers": rows}, ensure_ascii=False, indent=2))
        return
    width = shutil.get_terminal_size((100, 24)).columns
    click.echo(plural(len(papers), "distinct paper"))
    labels = {"keyword": "keyword", "require": "require", "exclude": "exclude"}
    for row in rows:
        click.echo("")
        click.secho("keyword trial" if row["email"] == TRIAL_EMAIL else row["email"], bold=True)
        for kw in row["keywords"]:
            flag = f"  <- {kw['flag']}" if kw["flag"] else ""
            what = "removed" if kw["kind"] == "exclude" else ("paper" if kw["hits"] == 1 else "papers")
            click.echo(f"  {labels[kw['kind']]:<8} {kw['hits']:>4} {what:<7}  {kw['keyword']}{flag}")
            for removed in kw.get("removed", []):
                click.echo(f"  {'':<8} {'':>4} {'':<7}    - {_cut(removed['title'], width - 30)}")
