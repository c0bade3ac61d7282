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
