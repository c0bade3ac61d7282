"""``send --to``: one subscriber's email (or a sample) to an address of your choice, now.

The email is made by the one render path (:class:`~newsletter.render.Renderer`)
from every digest in the digests directory, as ``preview`` makes it; it goes
through the same SMTP sender as every delivery. The ledger is never opened:
no delivery is recorded, no horizon moves, no paper counts as sent. Only the To
header and the envelope recipient change (and the unsubscribe link, which is
the test address's own: a click on it never unsubscribes the real subscriber).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

import httpx

from newsletter.base.errors import ConfigError, DeliveryError
from newsletter.config import Config, Subscriber, check_address
from newsletter.config.channels import AnyChannel, DiscordChannel, SlackChannel, WebhookChannel
from newsletter.delivery.smtp import Outgoing, Result, SmtpSender, iterate
from newsletter.digest.scan import digest_files, load_digests
from newsletter.matching.matcher import plan
from newsletter.store import ChannelRow

# the profile of a test send when the configuration has no subscriber yet
SAMPLE_KEYWORDS = ("large language models", "diffusion", "reasoning", "benchmark", "agent*")


@dataclass(frozen=True, slots=True)
class TestSent:
    """What a test send did."""

    profile: str  # whose profile: an address, or "a sample profile"
    to: str
    papers: int
    subject: str
    message_id: str
    size: int  # bytes of the message


def sample_subscriber(config: Config, email: str) -> Subscriber:
    d = config.defaults
    return Subscriber(
        email=email,
        name=None,
        keywords=SAMPLE_KEYWORDS,
        require=(),
        exclude=(),
        max_papers=d.max_papers,
        abstract_chars=d.abstract_chars,
        send_empty=True,
        stemming=d.stemming,
        schedule=None,
        source="sample",
    )


def send_test(config: Config, to: str, *, subscriber: str | None = None) -> TestSent:
    """Render S's email (default: the first subscriber, else a sample profile) from the
    current digests and send it to ``to``. DeliveryError when the server refused it or
    could not be reached (one attempt, no retries: you are waiting for it)."""
    try:
        address = check_address(to)
    except ValueError as exc:
        raise ConfigError(f"--to: {exc}") from None
    if subscriber is not None:
        source = config.subscriber(subscriber)
        profile = source.email
    elif config.subscribers:
        source = config.subscribers[0]
        profile = source.email
    else:
        source = sample_subscriber(config, address)
        profile = "a sample profile (" + ", ".join(SAMPLE_KEYWORDS) + ")"
    loaded = load_digests(digest_files(config), fmt=config.digests.format)
    [(_, matches)] = plan([source], loaded.papers)
    target = replace(source, email=address, send_empty=True)  # a test send always sends
    from newsletter.render import Renderer

    renderer = Renderer(config)
    message_id = renderer.message_id(target, matches, salt=f"test:{uuid.uuid4().hex}")
    email = renderer.render(target, matches, message_id=message_id, view=None)  # no archive page: no link
    data = email.as_bytes()
    settings = config.smtp.model_copy(update={"connections": 1, "retries": 0})
    results: list[Result] = []

    async def record(result: Result) -> None:
        results.append(result)

    outgoing = Outgoing(0, config.sender.mailbox.address, address, data, message_id)
    sender = SmtpSender(settings, on_result=record)

    async def one() -> None:
        await sender.send_all(iterate([outgoing]))

    asyncio.run(one())
    if not results or results[0].status != "sent":
        reason = (results[0].error or "") if results else "the server did not accept the message"
        # one attempt and nothing recorded: no "pending", no "not sent" left for a next run
        raise DeliveryError(f"test send to {address} failed: {reason.removeprefix('not sent: ')}")
    return TestSent(profile, address, len(matches), email.subject, message_id, len(data))


def _test_channel(config: Config, target: str) -> AnyChannel:
    """The channel ``--to`` names: a configured channel with that key (``slack:VAR``,
    ``matrix:!room:example.org``), else for slack, discord and webhook one made of the
    variable named (``webhook:VAR``: unsigned)."""
    for sub in config.subscribers:
        for channel in sub.channels:
            if channel.key == target:
                return channel
    kind, _, rest = target.partition(":")
    try:
        if kind == "slack":
            return SlackChannel(type="slack", url_env=rest)
        if kind == "discord":
            return DiscordChannel(type="discord", url_env=rest)
        if kind == "webhook":
            return WebhookChannel(type="webhook", url_env=rest)
    except ValueError:
        pass
    raise ConfigError(
        f"--to {target}: not a channel of the configuration, nor slack:VAR, discord:VAR or webhook:VAR "
        "(VAR: the environment variable holding the URL)"
    )


def send_test_channel(config: Config, target: str, *, subscriber: str | None = None) -> TestSent:
    """``send --to slack:VAR`` (or any channel key): S's delivery (default: the first
    subscriber, else a sample profile) posted to that channel now, one attempt; nothing
    recorded. DeliveryError when the service refused it or could not be reached."""
    from newsletter.delivery.channels.compose import chat_issue, parts_of
    from newsletter.delivery.channels.post import post
    from newsletter.render import Renderer

    channel = _test_channel(config, target)
    missing = channel.missing()
    if missing:
        raise ConfigError(f"--to {target}: the environment variable {missing[0].split()[-1]} is unset or empty")
    source = config.subscriber(subscriber) if subscriber else (config.subscribers or [None])[0]
    source = source or sample_subscriber(config, "test@example.org")
    loaded = load_digests(digest_files(config), fmt=config.digests.format)
    [(_, matches)] = plan([source], loaded.papers)
    target_sub = replace(source, channels=(channel,))
    issue = chat_issue(Renderer(config), target_sub, matches, datetime.now().astimezone())
    parts = parts_of(0, target_sub, issue)
    rows = [ChannelRow(0, 0, p.email, p.channel, p.part, p.parts, p.payload, "pending", 0, None, 0.0) for p in parts]

    async def post_all() -> list[str]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0), follow_redirects=False) as client:
            errors = []
            for row in rows:
                done = await post(client, channel, row, retries=0, backoff=1.0)
                if done.status != "sent":
                    errors.append(done.error or done.status)
            return errors

    errors = asyncio.run(post_all())
    if errors:
        raise DeliveryError(f"test send to {target} failed: {errors[0]}")
    size = sum(len(r.payload) for r in rows)
    return TestSent(source.email, target, len(matches), f"{len(rows)} message(s)", "", size)
