"""One chat message part posted (SPEC 2.5): the request each service takes, and what its
answer means.

- Slack, Discord, webhook: ``POST`` the stored JSON to the URL of the ``url_env``
  variable (Discord with ``?wait=true``); the webhook signs the very bytes it posts:
  ``X-Signature: sha256=<hex HMAC-SHA256(secret, body)>`` with the ``secret_env``
  variable's value.
- Matrix: ``PUT {homeserver}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txnId}``
  with ``Authorization: Bearer`` the ``token_env`` variable. ``txnId`` is the same for a
  part whatever the attempt (``pd-{delivery}-{part}-{hash of the channel}``): the
  homeserver takes a retried request as the one it already has, never a second message.

A 2xx is ``sent``. Network errors, 5xx and 429 are retried (``retries`` times, waiting
``backoff * 2**n`` seconds, or what the service asked: ``Retry-After``, Discord's JSON
``retry_after`` seconds, Matrix's ``retry_after_ms``; a wait longer than
:data:`MAX_WAIT` leaves the part for the next pass at once); still failing after that:
``pending``, the next pass tries again. Any other 4xx is ``failed`` (shown in
``status``). Errors are one line that never holds the URL (a webhook URL is a secret).
Each attempt, the answer included, is bounded in time and size (:func:`exchange`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from newsletter.config.channels import AnyChannel, DiscordChannel, MatrixChannel, WebhookChannel
from newsletter.delivery.channels.limits import MAX_WAIT
from newsletter.fetch.client import USER_AGENT, retry_after
from newsletter.store import ChannelRow

_RETRIED = frozenset({408, 425, 429})
MAX_REPLY = 4096  # bytes of a service's answer read: its error text, Discord's retry_after


@dataclass(frozen=True, slots=True)
class Posted:
    status: str  # sent, pending or failed
    attempts: int
    error: str | None = None


class _Missing(Exception):
    pass


def _env(var: str) -> str:
    value = os.environ.get(var, "")
    if not value:
        raise _Missing(f"the environment variable {var} is unset or empty")
    return value


def txn_id(row: ChannelRow) -> str:
    """The Matrix transaction id of a part: the same at every attempt."""
    digest = hashlib.sha256(row.channel.encode("utf-8")).hexdigest()[:12]
    return f"pd-{row.delivery_id}-{row.part}-{digest}"


def request_of(channel: AnyChannel, row: ChannelRow) -> tuple[str, str, dict[str, str], bytes]:
    """(method, URL, headers, body) of posting ``row`` to ``channel``."""
    body = row.payload.encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT.replace("fetch", "channels")}
    if isinstance(channel, MatrixChannel):
        headers["Authorization"] = f"Bearer {_env(channel.token_env)}"
        room = quote(channel.room, safe="")
        url = f"{channel.homeserver}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn_id(row)}"
        return "PUT", url, headers, body
    url = _env(channel.url_env)
    if isinstance(channel, DiscordChannel):
        url = str(httpx.URL(url).copy_merge_params({"wait": "true"}))
    if isinstance(channel, WebhookChannel) and channel.secret_env:
        mac = hmac.new(_env(channel.secret_env).encode("utf-8"), body, hashlib.sha256).hexdigest()
        headers["X-Signature"] = f"sha256={mac}"
    return "POST", url, headers, body


@dataclass(frozen=True, slots=True)
class Reply:
    """What a service answered: the status, the headers, the first :data:`MAX_REPLY` bytes."""

    status_code: int
    headers: httpx.Headers
    content: bytes


async def exchange(client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], body: bytes) -> Reply:
    """One request, all of it (headers dripped line by line included) within the client's
    read timeout, and at most :data:`MAX_REPLY` bytes of the answer read: a service (or
    whatever answers at its URL) can hold neither the pass nor its memory. The answer is
    asked for unencoded and read raw, so no compressed bomb is ever expanded."""
    limit = client.timeout.read or 30.0

    async def once() -> Reply:
        request = client.build_request(method, url, headers={**headers, "Accept-Encoding": "identity"}, content=body)
        response = await client.send(request, stream=True)
        try:
            content = b""
            async for chunk in response.aiter_raw():
                content += chunk
                if len(content) >= MAX_REPLY:
                    break
            return Reply(response.status_code, response.headers, content[:MAX_REPLY])
        finally:
            await response.aclose()

    try:
        return await asyncio.wait_for(once(), limit)
    except TimeoutError:
        raise httpx.ReadTimeout(f"no whole answer within {limit:g} s") from None


def asked_wait(response: Reply) -> float | None:
    """How long the service asked us to wait: ``Retry-After``, else the JSON body's
    ``retry_after`` (Discord, seconds) or ``retry_after_ms`` (Matrix)."""
    header = retry_after(response.headers.get("Retry-After"))
    if header is not None:
        return header
    if response.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        return None  # asked for identity and got something else: nothing to read
    try:
        data = json.loads(response.content)
    except ValueError:
        return None
    if isinstance(data, dict):
        for key, scale in (("retry_after", 1.0), ("retry_after_ms", 0.001)):
            value = data.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                return float(value) * scale
    return None


def _reason(response: Reply) -> str:
    phrase = httpx.codes.get_reason_phrase(response.status_code)
    encoded = response.headers.get("Content-Encoding", "identity").strip().lower() != "identity"
    said = "" if encoded else response.content[:120].decode("utf-8", "replace")
    said = " ".join(said.split())
    return f"HTTP {response.status_code} {phrase}".rstrip() + (f": {ascii(said)[1:-1]}" if said else "")


async def post(
    client: httpx.AsyncClient,
    channel: AnyChannel,
    row: ChannelRow,
    *,
    retries: int,
    backoff: float,
    stop: asyncio.Event | None = None,
) -> Posted:
    """Post one part (see the module doc)."""
    attempts = row.attempts
    try:
        method, url, headers, body = request_of(channel, row)
    except _Missing as exc:
        return Posted("pending", attempts, str(exc))
    reason = ""
    for n in range(retries + 1):
        attempts += 1
        wait: float | None = None
        try:
            response = await exchange(client, method, url, headers, body)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: no answer from the service"
        else:
            if 200 <= response.status_code < 300:
                return Posted("sent", attempts)
            reason = _reason(response)
            if response.status_code < 500 and response.status_code not in _RETRIED:
                return Posted("failed", attempts, reason)
            wait = asked_wait(response)
        delay = wait if wait is not None else backoff * 2.0**n
        if delay > MAX_WAIT:
            return Posted("pending", attempts, f"{reason} (asked to wait {delay:.0f} s: left for the next pass)")
        if n == retries or (stop is not None and stop.is_set()):
            break
        await asyncio.sleep(delay)
    return Posted("pending", attempts, reason)
