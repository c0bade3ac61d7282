"""``newsletter fetch``: ask every configured source, write what is new (SPEC 2.5).

One call, :func:`fetch_sources`, returns a :class:`FetchReport` with one
:class:`SourceResult` per source, in config order; it prints nothing (the CLI and
the daemon report). Per source:

1. the URL for the day (default: today in ``schedule.timezone``), with
   ``If-None-Match`` / ``If-Modified-Since`` from the ledger when the same URL was
   answered before;
2. GET with timeouts, retries and a size cap (:mod:`newsletter.fetch.client`);
3. ``304``, or the very bytes of the file already there, or of a digest the ledger
   already picked up: ``unchanged``, nothing written;
4. an answer without papers (``[]``, an RSS channel without items): ``empty``,
   nothing written (a weekend is not an error); an answer whose items are no paper
   records the digest reader can read (``[1, 2, null]``, objects without a title) is
   ``failed``, nothing written, the day's earlier file kept (SPEC 6c); a record we
   cannot read beside good ones is named in the line, and the file written all the same
   (the pick-up records it partial, naming the record again);
5. else the answer is written atomically into ``digests.directory``: a hidden
   temporary name in the same directory (locked while written), fsync, rename, fsync
   of the directory. Temporary files of a fetch that was killed are removed when the
   next fetch starts (:func:`remove_leftovers`).
   The pick-up never takes hidden or ``.part`` names, so it sees the whole file or
   nothing; fetched names are picked up at once, whatever ``digests.pattern``
   says.

A source that fails (after its retries) is ``failed`` with one line of reason; the
other sources go on. Every outcome is recorded in the ledger (``fetch_sources``)
with the validators of the answer.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import httpx

from newsletter.base.cron import timezone
from newsletter.base.errors import ConfigError
from newsletter.config import BiorxivSource, Config, HuggingFaceSource, OpenReviewSource
from newsletter.digest import missing_list, not_read
from newsletter.fetch import client as http
from newsletter.fetch import paging
from newsletter.fetch.sources import AnySource, BadAnswer, Inspection, accept, file_name, inspect, request_url
from newsletter.store import FetchState, Ledger, LedgerError
from newsletter.store.choose import open_ledger

Outcome = Literal["written", "unchanged", "empty", "failed"]


@dataclass(frozen=True, slots=True)
class SourceResult:
    """What fetching one source did."""

    source: str  # its key: huggingface, arxiv-cs.CL+cs.LG
    url: str  # the URL asked
    outcome: Outcome
    path: Path | None = None  # the file written (or found unchanged)
    items: int = 0  # papers in the answer (when it was read)
    size: int = 0  # bytes of the answer
    attempts: int = 0
    http_status: int | None = None
    error: str | None = None
    unread: tuple[str, ...] = ()  # records of the answer the reader set aside (written all the same)

    def line(self) -> str:
        """One human line (without the source name) saying what happened."""
        if self.outcome == "written":
            lost = f"; {not_read(self.unread)}: {missing_list(self.unread)}" if self.unread else ""
            return f"wrote {self.path} ({self.items} papers, {self.size:,} bytes{lost})"
        if self.outcome == "unchanged":
            return "unchanged since the last fetch, nothing written" + (f" ({self.path})" if self.path else "")
        if self.outcome == "empty":
            return "no papers in the answer (a weekend or a holiday?), nothing written"
        return f"{self.url}: {self.error}"


@dataclass(frozen=True, slots=True)
class FetchReport:
    day: date
    results: tuple[SourceResult, ...]
    removed: tuple[Path, ...] = ()  # temporary files of a killed fetch, removed first

    @property
    def written(self) -> list[Path]:
        return [r.path for r in self.results if r.outcome == "written" and r.path is not None]

    @property
    def failed(self) -> list[SourceResult]:
        return [r for r in self.results if r.outcome == "failed"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def today(config: Config) -> date:
    """Today in the configuration's time zone (``schedule.timezone``)."""
    return datetime.now(timezone(config.schedule.timezone)).date()


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file, or all of the new.
    The temporary file is locked (``flock``) while it is written: a fetch that finds a
    ``.part`` file it can lock knows its writer is gone (:func:`remove_leftovers`)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_leftovers(directory: Path) -> list[Path]:
    """Remove the temporary ``.NAME.*.part`` files a killed fetch left in ``directory``
    (SPEC 6c). One still being written by another fetch (the daemon's, or one by hand)
    is locked by its writer and stays; so nothing here depends on how old a file is."""
    removed: list[Path] = []
    try:
        candidates = sorted(directory.glob(".*.part"))
    except OSError:
        return removed
    for part in candidates:
        try:
            fd = os.open(part, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by a live writer: BlockingIOError
            part.unlink()
            removed.append(part)
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


def fetch_sources(
    config: Config,
    *,
    day: date | None = None,
    ledger: Ledger | None = None,
    backoff: float = 1.0,
    stop: threading.Event | None = None,
) -> FetchReport:
    """Fetch every configured source for ``day`` (see the module doc)."""
    wanted = day or today(config)
    own = ledger is None
    if ledger is None:
        try:
            ledger = open_ledger(config)
        except LedgerError as exc:
            raise ConfigError(str(exc)) from None
    try:
        removed = remove_leftovers(config.digests.directory)
        states = ledger.fetch_states()
        results: list[SourceResult] = []
        with http.make_client(config.fetch.timeout) as client:
            for source in config.sources:
                if stop is not None and stop.is_set():
                    break
                result, state = _fetch_one(
                    config, source, wanted, states.get(source.key), ledger, client, backoff=backoff, stop=stop
                )
                ledger.record_fetch(state)
                results.append(result)
        return FetchReport(wanted, tuple(results), tuple(removed))
    finally:
        if own:
            ledger.close()


def _fetch_one(
    config: Config,
    source: AnySource,
    day: date,
    previous: FetchState | None,
    ledger: Ledger,
    client: httpx.Client,
    *,
    backoff: float,
    stop: threading.Event | None,
) -> tuple[SourceResult, FetchState]:
    return _SourceFetch(config, source, day, previous, ledger).run(client, backoff=backoff, stop=stop)


class _SourceFetch:
    """One source's fetch for one day: the request (with the validators of the same URL's
    last answer), the answer judged, the file written; each outcome with the state to keep."""

    def __init__(
        self, config: Config, source: AnySource, day: date, previous: FetchState | None, ledger: Ledger
    ) -> None:
        self.config, self.source, self.day, self.previous, self.ledger = config, source, day, previous, ledger
        self.url = request_url(source, day)
        same_url = previous is not None and previous.url == self.url
        self.kept_etag = previous.etag if previous is not None and same_url else None
        self.kept_modified = previous.last_modified if previous is not None and same_url else None
        self.now = time.time()
        self.paged = False  # the answer is several pages: no validators kept for it

    def headers(self) -> dict[str, str]:
        headers = {"Accept": accept(self.source)}
        if self.kept_etag:
            headers["If-None-Match"] = self.kept_etag
        if self.kept_modified:
            headers["If-Modified-Since"] = self.kept_modified
        return headers

    def state(self, result: SourceResult, etag: str | None, modified: str | None) -> FetchState:
        ok = result.outcome != "failed"
        previous = self.previous
        return FetchState(
            source=self.source.key,
            url=self.url,
            etag=etag,
            last_modified=modified,
            checked_at=self.now,
            outcome=result.outcome,
            detail=result.error if not ok else (str(result.path) if result.path else None),
            http_status=result.http_status,
            ok_at=self.now if ok else (previous.ok_at if previous else None),
        )

    def run(
        self, client: httpx.Client, *, backoff: float, stop: threading.Event | None
    ) -> tuple[SourceResult, FetchState]:
        key, url = self.source.key, self.url
        try:
            answer = self.answer(client, backoff=backoff, stop=stop)
        except http.FetchFailed as exc:
            failed = SourceResult(key, url, "failed", attempts=exc.attempts, http_status=exc.status, error=str(exc))
            return failed, self.state(failed, self.kept_etag, self.kept_modified)
        except BadAnswer as exc:
            bad = SourceResult(key, url, "failed", http_status=200, error=str(exc))
            return bad, self.state(bad, None, None)
        etag = None if self.paged else answer.etag or self.kept_etag
        modified = None if self.paged else answer.last_modified or self.kept_modified
        if answer.status == 304:
            unchanged = SourceResult(key, url, "unchanged", attempts=answer.attempts, http_status=304)
            return unchanged, self.state(unchanged, etag, modified)
        try:
            seen = inspect(self.source, answer.body)
        except BadAnswer as exc:
            size = len(answer.body)
            bad = SourceResult(key, url, "failed", size=size, attempts=answer.attempts, http_status=200, error=str(exc))
            return bad, self.state(bad, None, None)  # never answer a broken body with "not modified" later
        read = SourceResult(
            key,
            url,
            "empty",
            items=seen.items,
            size=len(answer.body),
            attempts=answer.attempts,
            http_status=200,
            unread=seen.unread,
        )
        if seen.items == 0:
            return read, self.state(read, etag, modified)
        return self.store(read, seen, answer.body, etag, modified)

    def answer(self, client: httpx.Client, *, backoff: float, stop: threading.Event | None) -> http.Answer:
        """The source's answer: one GET, or every page of a paged source put together
        (:mod:`newsletter.fetch.paging`; no conditional request: a day's pages change)."""
        fetch = self.config.fetch

        def get(url: str, headers: dict[str, str] | None = None) -> http.Answer:
            return http.get(
                client,
                url,
                headers=headers or {"Accept": accept(self.source)},
                retries=fetch.retries,
                timeout=fetch.timeout,
                max_bytes=fetch.max_bytes,
                backoff=backoff,
                stop=stop,
            )

        if isinstance(self.source, BiorxivSource):
            got = paging.biorxiv_items(self.source, self.day.isoformat(), get)
        elif isinstance(self.source, OpenReviewSource):
            got = paging.openreview_notes(self.source, get)
        else:
            first = get(self.url, self.headers())
            more = None
            if isinstance(self.source, HuggingFaceSource) and first.status == 200:
                more = paging.huggingface_rest(self.source, self.day, first, get)
            if more is None:
                return first
            got, self.paged = more, True  # the first page's validators say nothing of the others
        return http.Answer(200, self.url, got.body, None, None, got.attempts, 0)

    def store(
        self, read: SourceResult, seen: Inspection, body: bytes, etag: str | None, modified: str | None
    ) -> tuple[SourceResult, FetchState]:
        """The answer's file written (whole, renamed into place), unless the same bytes
        are there already or were picked up before."""
        target = self.config.digests.directory / file_name(self.source, self.day, seen)
        try:
            current = target.read_bytes() if target.is_file() else None
        except OSError:
            current = None
        if current == body or self.ledger.has_digest(hashlib.sha256(body).hexdigest()):
            unchanged = replace(read, outcome="unchanged", path=target)
            return unchanged, self.state(unchanged, etag, modified)
        try:
            write_atomically(target, body)
        except OSError as exc:
            failed = replace(read, outcome="failed", error=f"cannot write {target}: {exc.strerror or exc}")
            return failed, self.state(failed, None, None)
        written = replace(read, outcome="written", path=target)
        return written, self.state(written, etag, modified)
