"""``newsletter check`` (:func:`check_config`, its one core call) and the warnings
``check`` and ``preview`` print: things that work but a user should know.

The warnings are pure over a loaded :class:`~newsletter.config.Config` and rendered
emails; the commands print the lines (``warning: ...`` on stderr, exit code unchanged).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from newsletter.base.errors import ConfigError, RenderError
from newsletter.config import Config
from newsletter.config.secrets import missing_channel_secrets
from newsletter.render.fit import GMAIL_CLIP, Fit, html_size  # (one constant with the renderer's)


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What ``check`` prints after the summary: ``similarity``, the similarity mode and the
    library files' counts (lines; empty when nobody likes anything); ``warnings``."""

    similarity: list[str]
    warnings: list[str]


def check_config(config: Config) -> CheckReport:
    """Validate what loading does not (secrets, the DKIM key, the templates: a
    :class:`~newsletter.base.errors.ConfigError`, exit 2), then gather the warnings."""
    validate(config)
    lines, library_notes = similarity(config)
    return CheckReport(lines, [*check_warnings(config), *library_notes])


def ledger_state(config: Config) -> str:
    """What the SQLite ledger is: ``not made yet`` or ``schema N``, opened read-only (nothing
    written, nothing migrated); a damaged, foreign or newer ledger is the
    :class:`~newsletter.base.errors.LedgerError` `send` would meet (exit 2). A PostgreSQL
    ledger is not reached here (``check`` works without the database)."""
    if config.ledger_url is not None:
        return "not reached by check"
    from newsletter.store import SqliteLedger

    ledger = SqliteLedger.open_readonly(config.ledger_path)
    if ledger is None:
        return "not made yet: the first send makes it"
    from newsletter.store import SCHEMA_VERSION

    with ledger:
        version = ledger.version
    if version < SCHEMA_VERSION:
        return f"schema {version}: the next send brings it to {SCHEMA_VERSION}"
    return f"schema {version}"


def try_smtp_relay(config: Config) -> str:
    """``check --connect``: connect, TLS, AUTH, QUIT; the line saying what worked (a
    :class:`~newsletter.base.errors.DeliveryError` when the relay did not take us)."""
    import asyncio

    from newsletter.delivery.smtp import try_relay

    return asyncio.run(try_relay(config.smtp))


def validate(config: Config) -> None:
    """What loading does not check: secrets, the DKIM key, the templates; every problem
    found, in one ConfigError (exit 2)."""
    from newsletter.config.secrets import missing_secrets
    from newsletter.render.dkim import signer_for
    from newsletter.render.templates import check_templates

    problems = [*missing_secrets(config), *missing_channel_secrets(config)]  # unset variables
    if not any(p.key and p.key.startswith("dkim") for p in problems):
        _gather(problems, lambda: signer_for(config))  # a DKIM key that is no PEM RSA key
    _gather(problems, lambda: check_templates(config))  # a RenderError names template and line
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) in the configuration", path=str(config.path), problems=tuple(problems)
        )


def _gather(problems: list[ConfigError], step: Callable[[], object]) -> None:
    """``step()``; its ConfigError (or RenderError: a template is configuration) added to ``problems``."""
    try:
        with templates_are_configuration():
            step()
    except ConfigError as exc:
        problems.extend(exc.problems or (exc,))


@contextmanager
def templates_are_configuration() -> Iterator[None]:
    """A RenderError in ``check`` (a template is configuration) is a ConfigError: exit 2."""
    try:
        yield
    except RenderError as exc:
        raise ConfigError(exc.message, path=exc.path, line=exc.line) from None


def similarity(config: Config) -> tuple[list[str], list[str]]:
    """The similarity mode and the library files' counts (lines), and one warning per
    broken library entry; nothing (and no import) when nobody likes anything."""
    if not any(s.like or s.dislike or s.library is not None for s in config.subscribers):
        return [], []
    from newsletter.app.likes import similarity_report

    return similarity_report(config)


def check_warnings(config: Config) -> list[str]:
    """Every warning of ``check`` but the similarity library's (:func:`similarity`)."""
    largest = largest_email(config)  # the biggest email of the current digests, against Gmail's clip
    out = [*config_warnings(config), *clip_warnings([largest] if largest else [])]
    likers = [s for s in config.subscribers if s.like or s.dislike]
    if likers:  # issue 17: liked papers nobody has seen yet
        from newsletter.app.likes import known_papers, like_warnings

        out += like_warnings(likers, known_papers(config))
    return [*out, *unsubscribe_warnings(config), *bounce_warnings(config)]


def unsubscribe_warnings(config: Config) -> list[str]:
    """How unsubscribing works, where it is weak."""
    from newsletter.render.links.tokens import fallback_reason

    out = []
    unsub = config.sender.unsubscribe
    if unsub.url and (reason := fallback_reason(config)) is not None:
        out.append(f"{reason}: unsubscribe tokens use a fallback secret derived from the config path; set it")
    if unsub.url and not unsub.url.lower().startswith("https://"):
        out.append("sender.unsubscribe.url is not https: no List-Unsubscribe-Post (one-click) header")
    if not unsub.mailto and not unsub.url:
        out.append(
            f"no sender.unsubscribe: List-Unsubscribe is a mailto: to {config.sender.mailbox.address} "
            "with the subject 'unsubscribe TOKEN'; set sender.unsubscribe (mailto and an https url for one-click)"
        )
    return out


def bounce_warnings(config: Config) -> list[str]:
    """Whether later bounces are read."""
    if not config.bounces.mailbox:
        return ["no bounces.maildir or bounces.imap: later bounces and mailto unsubscribe requests are not read"]
    maildir = config.bounces.maildir
    if maildir is not None and not (maildir / "new").is_dir():  # the mail server may make it later: a warning
        return [f"bounces.maildir {maildir} is not a Maildir (no new/ folder): no bounce is read until it is"]
    return []


def zone_warnings(name: str) -> list[str]:
    """A ``schedule.timezone`` that is valid but likely not what was meant: ``Etc/GMT+5``
    is UTC-05:00 (POSIX's inverted sign), ``localtime`` whatever the host is set to."""
    etc = re.fullmatch(r"Etc/GMT([+-])(\d+)", name)
    if etc and int(etc[2]):
        east = "-" if etc[1] == "+" else "+"
        return [
            f"schedule.timezone: {name} is UTC{east}{int(etc[2]):02d}:00, {int(etc[2])} hours "
            f"{'behind' if east == '-' else 'ahead of'} UTC (the Etc names invert the sign)"
        ]
    if name in ("localtime", "Factory", "posixrules"):
        return [
            f"schedule.timezone: {name} is whatever zone the host is set to, not a place: name the zone "
            "(e.g. Europe/Paris), or hosts sharing a ledger fire at different times"
        ]
    return []


def config_warnings(config: Config) -> list[str]:
    """Warnings about the configuration itself."""
    out = zone_warnings(config.schedule.timezone)
    if not config.subscribers:
        out.append(f"no subscribers yet: add one with `newsletter subscribers -c {config.path} add EMAIL --keyword K`")
    smtp = config.smtp
    if smtp.effective_port == 465 and smtp.security != "tls":
        out.append(
            f"smtp: port 465 is for implicit TLS, but security is {smtp.security}: set security: tls "
            "(or port 587 for starttls); `newsletter check --connect` tries it"
        )
    if smtp.effective_port == 587 and smtp.security == "tls":
        out.append(
            "smtp: port 587 expects STARTTLS, but security is tls (implicit TLS, port 465): set security: starttls "
            "(or port 465); `newsletter check --connect` tries it"
        )
    return out


def clip_lines(emails: Iterable[tuple[str, str, Fit | None]]) -> list[tuple[str, str]]:
    """``(level, line)`` per (address, HTML part, its :class:`~newsletter.render.fit.Fit`)
    that met Gmail's clip: ``note`` when the abstracts were shortened to fit (what every
    send of it does), ``warning`` when it is still over (Gmail clips it)."""
    out = []
    for email, html, fit in emails:
        if fit is not None:
            out.append(("note" if fit.fits else "warning", f"{email}: {fit.describe()}"))
        elif (size := html_size(html)) > GMAIL_CLIP:
            out.append(
                (
                    "warning",
                    f"{email}: the HTML part is {size / 1024:.1f} KB, over Gmail's 102 KB: Gmail clips it "
                    "(lower max_papers or abstract_chars)",
                )
            )
    return out


def clip_warnings(emails: Iterable[tuple[str, str, Fit | None]]) -> list[str]:
    """``check``: one warning per email that met Gmail's clip, saying what happens to it
    (abstracts shortened to N characters, or clipped even without them)."""
    return [line for _, line in clip_lines(emails)]


def largest_email(config: Config) -> tuple[str, str, Fit | None] | None:
    """(address, HTML part, how it was fitted under Gmail's clip) of the subscriber with
    the most papers in the current digests, rendered by the one render path; None without
    subscribers or digests."""
    if not config.subscribers:
        return None  # before the imports: the renderer, the planner and the ledger behind it
    from newsletter.digest.scan import digest_files, load_digests
    from newsletter.matching.matcher import plan
    from newsletter.render import Renderer

    loaded = load_digests(digest_files(config), fmt=config.digests.format)
    if not loaded.papers:
        return None
    planned = plan(config.subscribers, loaded.papers)
    sub, matches = max(planned, key=lambda item: (len(item[1]), item[0].abstract_chars))
    if not matches:
        return None
    with templates_are_configuration():  # a template that fails on today's papers: exit 2 too
        renderer = Renderer(config)
        email = renderer.render(sub, matches, message_id=renderer.message_id(sub, matches))
    return sub.email, email.html, email.fit
