"""HTTP for ``newsletter fetch``, through httpx: one GET with everything around it.

- Timeouts: ``fetch.timeout`` seconds to connect and for each read, and for the
  whole answer, headers included (a server that drips bytes does not hold a pass
  up: :class:`~newsletter.fetch.bounded.Deadline`).
- Retries: 408, 429 and 5xx answers (except 501) and transport errors (refused or
  dropped connections, timeouts) are retried up to ``fetch.retries`` times, with
  exponential backoff (``backoff * 2**n`` seconds, +-20 % jitter, at most
  :data:`MAX_BACKOFF`). A ``Retry-After`` header (seconds, or an HTTP date) is
  honoured: the retry waits that long, never less; a server asking for more than
  :data:`MAX_RETRY_AFTER` seconds fails the source now (the next scheduled fetch
  tries again) rather than being asked again too early.
- Conditional requests: the caller passes the ``ETag`` / ``Last-Modified`` of the
  previous answer; a 304 comes back as an answer without a body. A 304 to a request
  that carried neither (nothing was fetched before, or a later page) fails the source:
  it would otherwise pass for "unchanged" while nothing was ever written.
- Redirects are followed here, one hop at a time (at most :data:`MAX_REDIRECTS`), each
  judged before its request is sent (:mod:`newsletter.fetch.redirects`): http and https
  only, never from https down to http, never to an address deeper inside the network
  than the source's own (a public source redirected to ``169.254.169.254`` or
  ``127.0.0.1``). A refused redirect fails the source at once, not retried. A redirect's
  own body is never read.
- The body is capped at ``fetch.max_bytes`` (decoded bytes, decoded by us within the
  cap: a compressed bomb is cut before it is in memory; layered or unknown content
  encodings are refused, :class:`~newsletter.fetch.bounded.Decoder`); a
  ``Content-Length`` above the cap is refused before reading.
  Too large is not retried.
- The User-Agent names the program and its version.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from newsletter import __version__
from newsletter.fetch.bounded import BadEncoding, Deadline, Decoder, TooLarge
from newsletter.fetch.redirects import Guard, RedirectRefused

log = logging.getLogger(__name__)
# httpx logs every request at INFO: our own lines say what each source did
logging.getLogger("httpx").setLevel(logging.WARNING)

USER_AGENT = f"paper-digest/{__version__} (newsletter fetch)"
MAX_REDIRECTS = 5
MAX_BACKOFF = 60.0
MAX_RETRY_AFTER = 120.0
RETRIED = frozenset({408, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524})
_VALIDATOR_MAX = 1024  # an ETag or Last-Modified longer than this is not kept


class FetchFailed(Exception):
    """The source could not be fetched; ``str`` is the one line to show."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class Answer:
    """A 200 (with its body) or a 304 (``body`` empty) after retries and redirects."""

    status: int
    url: str  # the final URL, after redirects
    body: bytes
    etag: str | None
    last_modified: str | None
    attempts: int
    redirects: int


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(attempt: int, backoff: float, rng: random.Random | None = None) -> float:
    """The wait before retry number ``attempt`` (1-based) without a Retry-After."""
    base: float = min(backoff * 2.0 ** (attempt - 1), MAX_BACKOFF)
    jitter: float = (rng or random.Random()).uniform(0.8, 1.2)
    return base * jitter


def _validator(value: str | None) -> str | None:
    return value if value is not None and 0 < len(value) <= _VALIDATOR_MAX else None


def _conditional(headers: Mapping[str, str]) -> bool:
    names = {name.lower() for name in headers}
    return bool(names & {"if-none-match", "if-modified-since"})


def make_client(timeout: float) -> httpx.Client:
    """An httpx client with the program's User-Agent and timeouts. It follows no redirect
    itself: :func:`get` does, judging each (:mod:`newsletter.fetch.redirects`)."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_keepalive_connections=0),  # each request's connection seen opening (Deadline)
        trust_env=True,  # HTTP(S)_PROXY and NO_PROXY like every other tool
    )


def get(
    client: httpx.Client,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    retries: int = 3,
    timeout: float = 30.0,
    max_bytes: int = 16 * 1024 * 1024,
    backoff: float = 1.0,
    stop: threading.Event | None = None,
) -> Answer:
    """GET ``url`` (see the module doc); FetchFailed with one line when it cannot."""
    attempt = 0
    while True:
        attempt += 1
        wait: float | None = None
        try:
            answer = _once(client, url, headers or {}, timeout=timeout, max_bytes=max_bytes, attempt=attempt)
        except _Retry as exc:
            if attempt > retries:
                raise FetchFailed(
                    f"{exc.reason} (after {attempt} attempts)", status=exc.status, attempts=attempt
                ) from None
            wait = exc.wait
            if wait is not None and wait > MAX_RETRY_AFTER:
                raise FetchFailed(
                    f"{exc.reason}, asked to retry after {wait:.0f} s (more than {MAX_RETRY_AFTER:.0f} s: "
                    "left for the next fetch)",
                    status=exc.status,
                    attempts=attempt,
                ) from None
            delay = wait if wait is not None else backoff_delay(attempt, backoff)
            log.debug("%s: %s; retry %d of %d in %.1f s", url, exc.reason, attempt, retries, delay)
            if stop is not None:
                if stop.wait(delay):
                    raise FetchFailed(
                        f"{exc.reason}; stopped before retrying", status=exc.status, attempts=attempt
                    ) from None
            else:
                time.sleep(delay)
            continue
        return answer


class _Retry(Exception):
    def __init__(self, reason: str, *, status: int | None = None, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.wait = wait


def _reason(status: int) -> str:
    phrase = httpx.codes.get_reason_phrase(status)
    return f"HTTP {status} {phrase}".rstrip()


def _once(
    client: httpx.Client, url: str, headers: Mapping[str, str], *, timeout: float, max_bytes: int, attempt: int
) -> Answer:
    deadline = Deadline(timeout)

    def trace(event: str, info: Mapping[str, Any]) -> None:
        guard.trace(event, info)
        deadline.trace(event, info)

    try:
        request = client.build_request("GET", url, headers=dict(headers), extensions={"trace": trace})
        guard = Guard(request.url)
        with deadline, contextlib.closing(_follow(client, request, guard, attempt)) as response:
            status = response.status_code
            if status in RETRIED:
                raise _Retry(_reason(status), status=status, wait=retry_after(response.headers.get("Retry-After")))
            if status not in (200, 304):
                raise FetchFailed(_reason(status), status=status, attempts=attempt)
            if status == 304 and not _conditional(headers):
                raise FetchFailed(
                    f"{_reason(status)} to a request that was not conditional", status=304, attempts=attempt
                )
            body = _body(response, max_bytes, attempt) if status == 200 else b""
            if deadline.expired:  # a body without a length ends where the deadline cut it
                raise _Retry(f"the answer took more than {timeout:g} s")
            return Answer(
                status=status,
                url=str(response.url),
                body=body,
                etag=_validator(response.headers.get("ETag")),
                last_modified=_validator(response.headers.get("Last-Modified")),
                attempts=attempt,
                redirects=len(response.history),
            )
    except RedirectRefused as exc:
        raise FetchFailed(str(exc), attempts=attempt) from None
    except httpx.UnsupportedProtocol as exc:
        raise FetchFailed(f"cannot follow: {exc}", attempts=attempt) from None
    except (httpx.TimeoutException, httpx.TransportError) as exc:
        if deadline.expired:
            raise _Retry(f"the answer took more than {timeout:g} s") from None
        if isinstance(exc, httpx.TimeoutException):
            raise _Retry(f"timed out after {timeout:g} s") from None
        raise _Retry(f"connection failed: {type(exc).__name__}: {exc}") from None


def _follow(client: httpx.Client, request: httpx.Request, guard: Guard, attempt: int) -> httpx.Response:
    """The answer at the end of ``request``'s redirects, streaming (its body unread). Each
    redirect's answer is closed unread, its next step judged by ``guard`` (which also
    judges each connection's address as it opens), at most :data:`MAX_REDIRECTS` of them."""
    history: list[httpx.Response] = []
    while True:
        response = client.send(request, stream=True, follow_redirects=False)
        following = response.next_request
        if following is None:
            response.history = history
            return response
        response.close()
        history.append(response)
        if len(history) > MAX_REDIRECTS:
            raise FetchFailed(f"more than {MAX_REDIRECTS} redirects", attempts=attempt)
        guard.step(request.url, following.url)
        request = following


def _body(response: httpx.Response, max_bytes: int, attempt: int) -> bytes:
    """The decoded body, refused past ``max_bytes`` (its ``Content-Length`` first, then
    as it arrives, decoded by :class:`~newsletter.fetch.bounded.Decoder`)."""

    def too_large(size: str) -> FetchFailed:
        return FetchFailed(
            f"the answer is {size} fetch.max_bytes ({max_bytes:,} bytes); refused", status=200, attempts=attempt
        )

    length = response.headers.get("Content-Length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise too_large(f"{int(length):,} bytes, more than")
    chunks: list[bytes] = []
    try:
        decoder = Decoder(response.headers.get("Content-Encoding"), max_bytes)
        for chunk in response.iter_raw():
            chunks.append(decoder.feed(chunk))
        decoder.finish()
    except TooLarge:
        raise too_large("more than") from None
    except BadEncoding as exc:
        raise FetchFailed(str(exc), status=200, attempts=attempt) from None
    return b"".join(chunks)
