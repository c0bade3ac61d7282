"""Rendering throughput: complete messages (render + MIME bytes) per second.

10-paper emails for the subscribers of ``config.example.yaml`` (cycled, each
with 10 papers of the seeds matched for them, padded with other papers when
fewer match), on one core. Prints messages/s and the top of a cProfile run.

What dominates: with MJML compiled once per run (see
:mod:`newsletter.render.templates`; measured side by side below against the
Jinja-then-MJML-per-message path) and the run's memos (:mod:`newsletter.render.memo`,
:mod:`newsletter.render.qpmemo`: a paper's view, its HTML and text, its quoted-printable
lines made once per run; measured side by side below against rendering every email from
scratch), what is left is per subscriber: the two templates' own markup around the
papers, the subject, the unsubscribe links and the MIME headers. The cProfile listing
printed below shows the split on the machine at hand.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from datetime import UTC, datetime
from pathlib import Path

import mjml

from newsletter.config import load_config
from newsletter.digest.scan import digest_files, load_digests
from newsletter.matching import Hit, Match
from newsletter.matching.matcher import plan
from newsletter.render import Renderer

ROOT = Path(__file__).resolve().parent.parent
PAPERS = 10


def _jobs() -> tuple[Renderer, list[tuple[object, list[Match]]]]:
    config = load_config(ROOT / "config.example.yaml")
    renderer = Renderer(config, secret="bench")
    loaded = load_digests(digest_files(config))
    jobs = []
    for sub, matches in plan(config.subscribers, loaded.papers):
        chosen = list(matches[:PAPERS])
        for paper in loaded.papers:  # pad with unmatched papers so every email has 10
            if len(chosen) >= PAPERS:
                break
            if all(m.paper.id != paper.id for m in chosen):
                chosen.append(Match(paper, 1, (Hit(sub.keywords[0], ("abstract",)),), len(chosen)))
        jobs.append((sub, chosen))
    return renderer, jobs  # type: ignore[return-value]


def run() -> None:
    renderer, jobs = _jobs()
    when = datetime(2025, 9, 15, 7, 0, tzinfo=UTC)

    def once(n: int) -> int:
        size = 0
        for i in range(n):
            sub, matches = jobs[i % len(jobs)]
            email = renderer.render(sub, matches, message_id=f"<{i}@example.org>", date=when)  # type: ignore[arg-type]
            size += len(email.as_bytes())
        return size

    once(50)  # warm caches
    n = 2000
    started = time.perf_counter()
    size = once(n)
    elapsed = time.perf_counter() - started
    print(f"== render: {PAPERS}-paper emails, one core ==")
    print(f"  {n / elapsed:,.0f} messages/s ({elapsed / n * 1e3:.2f} ms each, {size / n / 1024:.0f} KB per message)")
    plain = Renderer(renderer.config, secret="bench", memo=False)
    started = time.perf_counter()
    for i in range(n // 4):
        sub, matches = jobs[i % len(jobs)]
        plain.render(sub, matches, message_id=f"<{i}@example.org>", date=when).as_bytes()  # type: ignore[arg-type]
    per = (time.perf_counter() - started) / (n // 4)
    print(
        f"  without the run's memos (newsletter/render/memo.py, qpmemo.py: each email from scratch): "
        f"{1 / per:,.0f} messages/s ({per * 1e3:.2f} ms each)"
    )

    # side by side: the alternative path, Jinja renders MJML per message and MJML compiles it
    sub, matches = jobs[0]
    ctx = renderer.context(sub, matches, date=when, token="t")  # type: ignore[arg-type]
    started = time.perf_counter()
    for _ in range(200):
        mjml.mjml2html(renderer.templates.html_source.render(ctx), disable_comments=True)
    per = (time.perf_counter() - started) / 200
    started = time.perf_counter()
    for _ in range(200):
        renderer.templates.render_html(ctx)
    once_per_run = (time.perf_counter() - started) / 200
    print(
        f"  HTML part: {once_per_run * 1e3:.2f} ms with MJML compiled once per run, "
        f"{per * 1e3:.2f} ms with Jinja then MJML per message"
    )

    latex()

    profiler = cProfile.Profile()
    profiler.enable()
    once(500)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    print("  top functions by own time (cProfile, 500 messages):")
    for line in out.getvalue().splitlines():
        if line.strip() and ("/" in line or "{" in line) and "function calls" not in line:
            print("   ", line.strip()[:150])


def latex() -> None:
    """TeX as text (:mod:`newsletter.render.latex`): a text without TeX, a TeX-laden
    abstract (every island new, then cached)."""
    from newsletter.render import latex as tex

    plain = "We propose a method that runs fast for curves with strong results. " * 14
    heavy = " ".join(
        rf"Step {i}: B\'ezier fits in $\mathcal{{O}}(n^{{{i}}} \log n)$ with \textbf{{gain {i}}}\%." for i in range(12)
    )
    timings = []
    for text, cached in ((plain, True), (heavy, False), (heavy, True)):
        n = 20000 if text is plain else 200
        started = time.perf_counter()
        for _ in range(n):
            if not cached:
                tex._island.cache_clear()
            tex.readable(text)
        timings.append((time.perf_counter() - started) / n * 1e3)
    print(
        f"  TeX as text: {timings[0]:.3f} ms a {len(plain)}-character text without TeX; "
        f"{timings[1]:.2f} ms a {len(heavy)}-character abstract with 36 islands ({timings[2]:.2f} ms cached); "
        "once per paper and run"
    )


if __name__ == "__main__":
    run()
