"""Warnings ``check`` and ``preview`` print: things that work but a user should know.

Pure over a loaded :class:`~newsletter.config.Config` and rendered emails; the
commands print the lines (``warning: ...`` on stderr, exit code unchanged).
"""

from __future__ import annotations

from collections.abc import Iterable

from newsletter.config import Config

GMAIL_CLIP = 102 * 1024  # Gmail clips an HTML part beyond ~102 KB ("[Message clipped]")


def config_warnings(config: Config) -> list[str]:
    """Warnings about the configuration itself."""
    out = []
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


def clip_warnings(emails: Iterable[tuple[str, str]]) -> list[str]:
    """One warning per (address, HTML part) over Gmail's clipping size."""
    out = []
    for email, html in emails:
        size = len(html.encode("utf-8"))
        if size > GMAIL_CLIP:
            out.append(
                f"{email}: the HTML part is {size / 1024:.1f} KB, over Gmail's 102 KB: Gmail clips it "
                "(lower max_papers or abstract_chars)"
            )
    return out


def largest_email(config: Config) -> tuple[str, str] | None:
    """(address, HTML part) of the subscriber with the most papers in the current digests,
    rendered by the one render path; None without subscribers or digests."""
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
    renderer = Renderer(config)
    email = renderer.render(sub, matches, message_id=renderer.message_id(sub, matches))
    return sub.email, email.html
