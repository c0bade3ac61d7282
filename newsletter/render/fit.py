"""Fitting an email's HTML part under Gmail's clip (SPEC 5: "HTML under 102 KB").

Gmail shows an HTML part larger than about 102 KB only up to that size, then
"[Message clipped] View entire message": the footer (the subscriber's keywords, the
unsubscribe link) is hidden behind it. An email whose HTML part would pass
:data:`GMAIL_CLIP` is rendered again with shorter abstracts (:func:`fit`): the largest
``abstract_chars`` (a multiple of :data:`STEP`, below the configured one) whose HTML
fits, down to no abstract at all (the title, links, chips and TL;DR stay; so does every
paper: a delivery's papers are recorded as sent). When even that does not fit, the
smallest rendering is kept and ``check``/``preview`` warn.

Only the HTML part is fitted: the text part keeps the configured abstracts (Gmail does
not clip it, and a client showing text shows all of it). Archive pages are web pages
and keep them too (they are rendered from :meth:`Renderer.context`, not here).

Only an oversized email pays: a normal one is measured once (the length of its HTML in
UTF-8) and never rendered again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

GMAIL_CLIP = 102 * 1024  # Gmail clips an HTML part beyond ~102 KB ("[Message clipped]")
STEP = 10  # abstract_chars tried are multiples of this: "shortened to 240 characters"
MAX_RENDERS = 12  # the search's renders at most (about 6 for abstract_chars 500)


class Fit(NamedTuple):
    """How an email's HTML part was fitted under :data:`GMAIL_CLIP`.

    ``configured``: the subscriber's ``abstract_chars``; ``chars``: the one used (0: no
    abstracts); ``full``: the size in bytes the HTML part had at ``configured``;
    ``size``: its size as sent; ``fits``: whether ``size`` is within the clip (False:
    even without abstracts it is not, and Gmail clips it)."""

    configured: int
    chars: int
    full: int
    size: int
    fits: bool

    def describe(self) -> str:
        """What happened, for a log line, ``preview`` and ``check``."""
        full = f"{self.full / 1024:.1f} KB"
        if not self.fits:
            return (
                f"the HTML part is {self.size / 1024:.1f} KB even without abstracts ({full} with them), "
                "over Gmail's 102 KB: Gmail clips it and hides the footer (lower max_papers)"
            )
        if self.chars:
            what = f"abstracts shortened to {self.chars} characters"
        else:
            what = "abstracts left out" if self.configured else "the snippets of matched words left out"
        return (
            f"{what} to fit Gmail's 102 KB clip (the HTML part would be {full} with abstract_chars "
            f"{self.configured}; it is {self.size / 1024:.1f} KB); the text part keeps them whole"
        )


def html_size(html: str) -> int:
    """The size of an HTML part in bytes (UTF-8), what Gmail's clip counts."""
    return len(html.encode("utf-8"))


def fit(render_at: Callable[[int], str], *, configured: int, longest: int, full: int) -> tuple[str, Fit]:
    """The HTML ``render_at(chars)`` gives for the largest ``chars`` below ``configured``
    (and below ``longest``, the longest abstract: no longer limit cuts anything) whose
    size fits :data:`GMAIL_CLIP`, with its :class:`Fit`; ``full`` is the size at
    ``configured`` (over the clip). ``render_at(0)`` is the smallest rendering: when it
    does not fit, it is the answer (``fits`` False).

    The search keeps a bracket (``lo`` fits, ``hi`` does not) and guesses by linear
    interpolation between their sizes, kept away from the ends so that the bracket
    shrinks by an eighth at least: about 5 renders for ``abstract_chars`` 500."""
    best = render_at(0)
    lo_size = html_size(best)
    if lo_size > GMAIL_CLIP:
        return best, Fit(configured, 0, full, lo_size, fits=False)
    lo, hi, hi_size = 0, min(configured, longest), full
    renders = 1
    while hi - lo > STEP and renders < MAX_RENDERS:
        guess = lo + (hi - lo) * (GMAIL_CLIP - lo_size) // max(hi_size - lo_size, 1)
        margin = max((hi - lo) // 8, STEP)
        chars = min(max(guess, lo + margin), hi - margin) // STEP * STEP
        if chars <= lo:
            chars = lo + STEP
        html = render_at(chars)
        renders += 1
        size = html_size(html)
        if size <= GMAIL_CLIP:
            best, lo, lo_size = html, chars, size
        else:
            hi, hi_size = chars, size
    return best, Fit(configured, lo, full, lo_size, fits=True)
