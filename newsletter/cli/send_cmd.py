"""``newsletter send``: one pass (pick up new digests, deliver, exit), for system cron.

Quiet by default when not on a terminal: a good pass prints nothing at all, so cron
mails nobody. What needs a human always goes to stderr, each thing once: a failed
delivery (``failed: EMAIL: reply``), a digest that does not parse, a stop (``error:
delivery stopped: ...``), a file in the digests folder that is not a digest (the
first time it is seen), and the log's warnings (a delivery left pending, a rate
limit); after anything failed, the summary line too. On a terminal, or with ``-v``,
the summary line always; ``--log-level info`` adds the log's progress lines.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import click

from newsletter.base.errors import ConfigError, printable
from newsletter.base.wording import plural
from newsletter.cli.options import config_option, load_config_leaving_out, log_level_option, setup_logging
from newsletter.config import Config, LeftOut
from newsletter.daemon.lock import LedgerLock
from newsletter.delivery.service import BATCH, PassOptions, SendSummary, run_send
from newsletter.delivery.smtp import Result
from newsletter.digest import partial_line
from newsletter.render.spawn import EarlyWorkers, early_workers

if TYPE_CHECKING:  # the dry run, backfill and fetching are imported when asked for (start-up)
    from newsletter.app.dryrun import DryRun
    from newsletter.delivery.plan import Planned

log = logging.getLogger("newsletter.send")


class BarProgress:
    """A progress bar with position, rate and ETA (on a terminal)."""

    def __init__(self) -> None:
        self.bar: click._termui_impl.ProgressBar[int] | None = None
        self.started = time.monotonic()
        self.done = 0

    def _rate(self, _item: object) -> str:
        elapsed = time.monotonic() - self.started
        return f"{self.done / elapsed:,.0f} msg/s" if elapsed > 0 and self.done else ""

    def start(self, total: int) -> None:
        if total:
            self.bar = click.progressbar(
                length=total, label="sending", show_pos=True, show_eta=True, item_show_func=self._rate, file=sys.stderr
            )
            self.bar.__enter__()
        self.started = time.monotonic()

    def advance(self, result: Result) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1, self.done)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


class LogProgress:
    """One log line per batch of deliveries (not on a terminal)."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.counts = {"sent": 0, "failed": 0, "pending": 0}
        self.every = BATCH
        self.started = time.monotonic()

    def start(self, total: int) -> None:
        self.total = total
        self.every = max(BATCH, total // 20)
        self.started = time.monotonic()
        if total:
            log.info("sending %d deliveries", total)

    def advance(self, result: Result) -> None:
        self.done += 1
        self.counts[result.status] += 1
        if self.done % self.every == 0 or self.done == self.total:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            log.info(
                "%d/%d done (sent %d, failed %d, pending %d), %.0f msg/s",
                self.done,
                self.total,
                self.counts["sent"],
                self.counts["failed"],
                self.counts["pending"],
                self.done / elapsed,
            )

    def finish(self) -> None:
        pass


@click.command("send")
@config_option
@click.option("--dry-run", is_flag=True, help="Show who would get which papers; change nothing, send nothing.")
@click.option("--fetch", "fetch_first", is_flag=True, help="Run `newsletter fetch` first (the configured sources).")
@click.option(
    "--to",
    "to",
    metavar="EMAIL|CHANNEL",
    help="A test send: one email (S's, see --subscriber) to EMAIL now, or S's messages to a chat channel "
    "(slack:VAR, discord:VAR, webhook:VAR: VAR holds the URL; or a configured channel's key, matrix:!room:host); "
    "the ledger is not touched.",
)
@click.option(
    "--subscriber",
    "test_subscriber",
    metavar="S",
    help="With --to: whose email to send (default: the first subscriber, or a sample profile).",
)
@click.option(
    "--backfill",
    is_flag=True,
    help="Subscribers who never had an email get the latest digest now instead of waiting for the next.",
)
@click.option(
    "-v", "--verbose", is_flag=True, help="Print the summary line (and fetch results) also when all went well."
)
@log_level_option("warning")
def send_command(
    config_path: str,
    dry_run: bool,
    fetch_first: bool,
    to: str | None,
    test_subscriber: str | None,
    backfill: bool,
    verbose: bool,
    log_level: str,
) -> None:
    """One delivery pass, for system cron: pick up new digest files, send each
    subscriber the new papers matching their profile, record everything in the
    ledger, exit. Pending deliveries of an earlier pass (a crash, a server that
    was down) go first, with the same Message-ID.

    Every subscriber is served, including those with an own schedule (the
    daemon, `newsletter run`, honours those). Exit code 1 when a delivery failed
    or stays pending, a digest could not be parsed, or a subscriber was left
    out (an entry or a subscribers_dir file that does not validate: one line
    naming the file and line; everybody else is served). Unsubscribed (or paused)
    addresses get nothing; a pending delivery to one is marked failed
    "unsubscribed" and never re-sent.

    With --fetch, the sources are fetched first (as `newsletter fetch` does)
    and what they bring is delivered in the same pass; a source that failed
    makes the exit code 1, and the other digests are delivered all the same.
    With --to EMAIL, a test send instead: the email of --subscriber S (default:
    the first subscriber, or a sample profile) from the current digests, sent to
    EMAIL now; nothing is recorded. With --backfill, subscribers who never had
    an email (new ones start with the next digest) get the latest digest.

    Quiet for cron: when not on a terminal, a good pass prints nothing (-v: one
    summary line; --log-level info: progress lines too). Warnings and errors
    always go to stderr, each once; after a failure the summary line too.

    \b
    Example:
      newsletter send -c config.yaml --dry-run
      newsletter send -c config.yaml --fetch
      newsletter send -c config.yaml --to me@example.org --subscriber alice@example.org
      newsletter send -c config.yaml --backfill
    """
    setup_logging(log_level)
    _check_options(dry_run=dry_run, fetch_first=fetch_first, to=to, test_subscriber=test_subscriber, backfill=backfill)
    # a big pass's render workers start now and load while the configuration is read
    with early_workers(config_path, wanted=to is None and not dry_run) as early:
        # a bad subscriber is left out (one line each), everybody else is served; exit 1 (SPEC 6c)
        config = load_config_leaving_out(config_path, level=None if dry_run else "error" if to is None else "warning")
        if to is not None:
            _test_send(config, to, test_subscriber)
        elif dry_run:
            _dry_run(config, backfill=backfill)
            if config.left_out:
                raise SystemExit(1)  # the pass itself would exit 1
        else:
            verbose = verbose or sys.stdout.isatty()
            _pass(config, fetch_first=fetch_first, backfill=backfill, verbose=verbose, early=early)


def _check_options(
    *, dry_run: bool, fetch_first: bool, to: str | None, test_subscriber: str | None, backfill: bool
) -> None:
    """Options that do not go together: one line, exit 2."""
    if to is not None and (dry_run or backfill or fetch_first):
        raise ConfigError("--to is a test send: it cannot go with --dry-run, --backfill or --fetch")
    if to is None and test_subscriber is not None:
        raise ConfigError("--subscriber goes with --to (a test send)")
    if dry_run and fetch_first:
        raise click.UsageError("--fetch writes digest files; it does not go with --dry-run")


def _pass(config: Config, *, fetch_first: bool, backfill: bool, verbose: bool, early: EarlyWorkers) -> None:
    """The pass itself, under the ledger lock: fetch, backfill, deliver, archive; then
    what needs saying (everything with ``verbose``)."""
    if fetch_first:
        from newsletter.cli.fetch_cmd import require_sources

        require_sources(config)
    with LedgerLock(config.ledger_path, purpose="send"):
        fetched = _fetch(config, verbose=verbose) if fetch_first else 0
        if backfill:
            from newsletter.app.why import backfill_new

            for email in backfill_new(config):
                click.echo(f"backfill: {email} gets the latest digest")
        progress = BarProgress() if sys.stderr.isatty() else LogProgress()
        summary = run_send(config, PassOptions(progress=progress, early_workers=early))
        pages = 0
        if summary.sent and config.archive.directory is not None:
            from newsletter.site.archive import archive_after_pass

            pages = len(archive_after_pass(config).pages)
    _said(config, summary, fetched=fetched, pages=pages, verbose=verbose)


def _said(config: Config, summary: SendSummary, *, fetched: int, pages: int, verbose: bool) -> None:
    """What a pass says when it is done, and its exit code (128 + N when signal N stopped it)."""
    if summary.signal is not None:
        _stop_interrupted(summary)
    _print_summary(summary, verbose=verbose, left_out=len(config.left_out))
    code = summary.exit_code or fetched or (1 if config.left_out else 0)
    if code:
        raise SystemExit(code)
    if pages and verbose:
        click.echo(f"archive: {pages} new page{'s' if pages != 1 else ''} in {config.archive.directory}")


def _fetch(config: Config, *, verbose: bool) -> int:
    """``--fetch``: the sources fetched (one line each when ``verbose``); the fetch's exit code."""
    from newsletter.cli.fetch_cmd import echo_report
    from newsletter.fetch import fetch_sources

    report = fetch_sources(config)
    echo_report(report, quiet=not verbose)
    return report.exit_code


def _test_send(config: Config, to: str, subscriber: str | None) -> None:
    from newsletter.app.testsend import send_test, send_test_channel
    from newsletter.config.channels import CHANNEL_TYPES

    if to.partition(":")[0] in CHANNEL_TYPES:  # issue 27: --to slack:VAR, a channel for a test
        done = send_test_channel(config, to, subscriber=subscriber)
        click.echo(
            f"test send: {done.papers} paper(s) for {done.profile} posted to {to} ({done.subject}); nothing recorded"
        )
        return
    done = send_test(config, to, subscriber=subscriber)
    click.echo(
        f"test send: {done.papers} paper{'s' if done.papers != 1 else ''} for {done.profile} sent to "
        f"{done.to} ({done.size / 1024:.1f} KB, {done.subject!r}); nothing recorded"
    )


def _print_summary(summary: SendSummary, *, verbose: bool, left_out: int = 0) -> None:
    """The pass's problems on stderr, each once; the summary line with ``verbose`` or
    after a problem (stdout); with ``verbose``, one line per email fitted under Gmail's clip
    (abstracts shortened: not a problem, and cron runs it every day)."""
    for line in _problems(summary):
        click.echo(line, err=True)
    if verbose:
        for email, how in summary.fitted:
            click.echo(f"note: {email}: {how}")
    if verbose or summary.exit_code or left_out:
        click.echo(_summary_line(summary, left_out))


def _problems(summary: SendSummary) -> Iterator[str]:
    for line in summary.ignored:
        yield f"warning: {line}"
    for path, error in summary.digest_errors:
        shown = printable(str(path))  # a file name never starts a line of its own
        yield f"error: digest {error}" if shown in error else f"error: {shown}: {printable(error)}"
    for path, missing in summary.digest_partial:  # its papers are delivered; the lost ones named
        yield f"warning: digest {partial_line(path, missing)}"
    for email, error in summary.failures:
        yield f"failed: {email}: {printable(error)}"
    if summary.stopped:
        yield f"error: delivery stopped: {summary.stopped} (the remaining deliveries stay pending)"


def _stop_interrupted(summary: SendSummary) -> NoReturn:
    """A pass stopped by Ctrl-C or SIGTERM: its problems, then one line saying what was
    done (all of it recorded) and that the rest is not lost; exit 128 + the signal."""
    for line in _problems(summary):
        click.echo(line, err=True)
    click.echo(
        f"interrupted: sent {summary.sent}, failed {summary.failed}, pending {summary.pending}; everyone not "
        "reached yet is served by the next send",
        err=True,
    )
    raise SystemExit(summary.exit_code)


def _summary_line(summary: SendSummary, left_out: int) -> str:
    digests = f"{summary.digests_ok} new digest{'s' if summary.digests_ok != 1 else ''}"
    if summary.digests_failed:
        digests += f" ({summary.digests_failed} failed)"
    return (
        f"{digests}; sent {summary.sent}, failed {summary.failed}, pending {summary.pending}"
        + (f" (incl. {summary.resent} re-sent from earlier runs)" if summary.resent else "")
        + f"; {summary.nothing} subscriber{'s' if summary.nothing != 1 else ''} with nothing new"
        + (f"; {summary.suppressed} unsubscribed skipped" if summary.suppressed else "")
        + (f"; {summary.cancelled} pending dropped (unsubscribed)" if summary.cancelled else "")
        + (f"; {left_out} subscriber{'s' if left_out != 1 else ''} left out (see above)" if left_out else "")
        + (_channels_text(summary) if summary.channel_sent or summary.channel_failed or summary.channel_pending else "")
    )


def _channels_text(summary: SendSummary) -> str:
    return (
        f"; channels: posted {summary.channel_sent}, failed {summary.channel_failed}, pending {summary.channel_pending}"
    )


def _dry_run(config: Config, *, backfill: bool = False) -> None:
    from newsletter.app.dryrun import dry_run_pass

    done = dry_run_pass(config, backfill=backfill)
    for email in done.backfilled:
        click.echo(f"backfill: {email} would get the latest digest")
    _echo_dry_run(done.found, config.left_out)


def _echo_dry_run(found: DryRun, left_out: tuple[LeftOut, ...] = ()) -> None:
    for stray in found.ignored:
        click.echo(stray)
    for path, count in found.picked.ok:
        click.echo(f"would pick up {printable(str(path))} ({plural(count, 'paper')})")
    for path, missing in found.picked.partial:
        click.echo(f"warning: digest {partial_line(path, missing)}")
    for _path, error in found.picked.failed:
        click.echo(f"would record as failed: {error}")
    for path in found.picked.unsettled:
        click.echo(f"not settled yet: {printable(str(path))}")
    if found.pending:
        click.echo(f"would re-send {found.pending} pending deliver{'ies' if found.pending != 1 else 'y'} first")
    for email, why in found.suppressed:
        click.echo(f"{email}: {why}")
    for left in left_out:
        click.echo(str(left))  # FILE:LINE: subscriber (ADDRESS) left out: why
    for p in found.planned:
        _echo_planned(p, found.nothing)
    click.echo("dry run: nothing recorded, nothing sent")


def _echo_planned(planned: Planned, nothing: dict[str, str]) -> None:
    """One subscriber of a dry run: its papers, and where they would go when it has
    channels (the email unless channels only, then each channel); or why nothing."""
    sub, matches = planned.subscriber, planned.matches
    if not planned.wanted:
        click.echo(f"{sub.email}: nothing: {nothing[sub.email]}")
        return
    click.echo(f"{sub.email}: {plural(len(matches), 'paper')}")
    if sub.channels:
        where = (["email"] if sub.send_email else []) + [c.key for c in sub.channels]
        click.echo(f"  to: {', '.join(where)}")
    for m in matches:
        click.echo(f"  {m.score:>3}  {m.paper.title}")
