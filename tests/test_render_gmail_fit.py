"""An email past Gmail's 102 KB clip is sent with shorter abstracts (SPEC 5): every paper
and the footer stay visible; the text part keeps the abstracts; `send -v`, `preview` and
`check` say it once per subscriber (real SMTP server, real files, the seeds)."""

from __future__ import annotations

import logging
import shutil
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from newsletter.config import load_config
from newsletter.delivery.service import POOL_MIN, PassOptions, run_send
from newsletter.digest.scan import digest_files, load_digests
from newsletter.matching.matcher import plan
from newsletter.render.content import collapse, paper_base
from tests.conftest import newsletter, text_of
from tests.smtpd import EXAMPLE_SUBSCRIBERS, smtp_server, write_config

CLIP = 102 * 1024
BIG = {"email": "big@example.org", "keywords": ["model*"], "max_papers": 60}  # 60 of the seeds' 187
HUGE = {"email": "huge@example.org", "keywords": ["model*", "learn*", "data*"], "max_papers": 500}
FEW = EXAMPLE_SUBSCRIBERS[0]  # alice: a few papers a day


class _Titles(HTMLParser):
    """The text of every paper title (``<h2 class="pd-title">``) and whether the paper
    shows an abstract (``pd-abs``)."""

    def __init__(self) -> None:
        super().__init__()
        self.titles: list[str] = []
        self.abstracts = 0
        self._in: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        if tag == "h2" and "pd-title" in cls:
            self._in = []
        self.abstracts += "pd-abs" in cls.split()

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and self._in is not None:
            self.titles.append(collapse("".join(self._in)))
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._in.append(data)


def html_of(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode("utf-8")
    raise AssertionError("no HTML part")


def setup(tmp_path: Path, seeds: dict[str, Path], port: int, *subscribers: dict[str, Any]) -> Path:
    cfg = write_config(tmp_path, port, list(subscribers))
    for path in seeds.values():
        shutil.copy2(path, cfg.parent / "digests")
    return cfg


def expected(cfg: Path, email: str) -> tuple[set[str], list[str]]:
    """The titles the subscriber's email must show, and the papers' whole abstracts."""
    config = load_config(cfg)
    for sub, matches in plan(config.subscribers, load_digests(digest_files(config)).papers):
        if sub.email == email:
            bases = [paper_base(m.paper, None) for m in matches]
            return {b.title for b in bases}, [b.abstract for b in bases]
    raise AssertionError(email)


def by_address(received: list[Any]) -> dict[str, Message]:
    return {r.rcpt_tos[0]: r.message for r in received}


def test_send_sixty_papers_fit_under_gmail_clip_with_every_title_and_footer(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    with smtp_server() as server:
        cfg = setup(tmp_path, seeds, server.port, BIG, FEW)
        result = newsletter("send", "-c", str(cfg), "-v")
        assert result.exit_code == 0, result.output
        mails = by_address(server.received)
    html = html_of(mails["big@example.org"])
    assert len(html.encode("utf-8")) <= CLIP  # Gmail shows all of it
    titles, abstracts = expected(cfg, "big@example.org")
    assert len(titles) == 60
    shown = _Titles()
    shown.feed(html)
    assert len(shown.titles) == 60 and set(shown.titles) == titles  # every paper, each once
    assert "You get this email because big@example.org subscribed" in html  # the footer and its keywords
    assert 'To unsubscribe, write to <a href="mailto:digest@example.org?subject=unsubscribe%20' in html
    # the text part is not clipped: it keeps the configured 500 characters of each abstract
    text = text_of(mails["big@example.org"])
    long = next(a for a in abstracts if len(a) > 600)
    assert " ".join(long[380:500].split()[1:-1]) in text
    # said once, for that subscriber only; the few-paper email is untouched
    notes = [ln for ln in result.output.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and notes[0].startswith("note: big@example.org: abstracts shortened to ")
    assert "to fit Gmail's 102 KB clip" in notes[0]


def test_send_few_papers_keep_full_abstracts_beside_a_fitted_email(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = setup(tmp_path, seeds, server.port, FEW, BIG)
        result = newsletter("send", "-c", str(cfg), "-v")
        assert result.exit_code == 0, result.output
        mails = by_address(server.received)
    assert len(html_of(mails["big@example.org"]).encode("utf-8")) <= CLIP  # the big one fitted...
    html = html_of(mails[FEW["email"]])  # ...and the few-paper one as configured
    _, abstracts = expected(cfg, FEW["email"])
    shown = _Titles()
    shown.feed(html)
    assert shown.abstracts == len(abstracts) == len(shown.titles)  # every abstract shown
    cut = next(a for a in abstracts if len(a) > 520)  # cut at the configured 500 characters, not fewer
    words = cut[:500].split()
    assert collapse(" ".join(words[-6:-1])) in collapse(html.replace("<mark", " <mark"))
    assert not any(ln.startswith(f"note: {FEW['email']}") for ln in result.output.splitlines())


def test_send_five_hundred_papers_title_only_still_every_paper_and_check_warns(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    with smtp_server() as server:
        cfg = setup(tmp_path, seeds, server.port, HUGE)
        result = newsletter("send", "-c", str(cfg), "-v")
        assert result.exit_code == 0, result.output
        (mail,) = server.received
    html = html_of(mail.message)
    titles, _ = expected(cfg, HUGE["email"])
    shown = _Titles()
    shown.feed(html)
    assert len(titles) > 150 and set(shown.titles) == titles and len(shown.titles) == len(titles)  # never dropped
    assert shown.abstracts == 0  # the smallest rendering: no abstracts
    assert len(html.encode("utf-8")) > CLIP  # and still over: Gmail clips it
    check = newsletter("check", "-c", str(cfg))
    assert check.exit_code == 0, check.output
    warn = [ln for ln in check.output.splitlines() if ln.startswith("warning:") and "Gmail" in ln]
    assert len(warn) == 1 and warn[0].startswith("warning: huge@example.org: the HTML part is ")
    assert "even without abstracts" in warn[0] and "lower max_papers" in warn[0]


def test_check_and_preview_say_abstracts_shortened_to_n_characters(tmp_path: Path, seeds: dict[str, Path]) -> None:
    cfg = setup(tmp_path, seeds, 2525, BIG, FEW)
    check = newsletter("check", "-c", str(cfg))
    assert check.exit_code == 0, check.output
    (warn,) = [ln for ln in check.output.splitlines() if "Gmail" in ln]
    assert warn.startswith("warning: big@example.org: abstracts shortened to ") and " characters" in warn
    out = tmp_path / "out"
    preview = newsletter("preview", "-c", str(cfg), "--out", str(out))
    assert preview.exit_code == 0, preview.output
    lines = [ln for ln in preview.output.splitlines() if "Gmail" in ln]
    assert lines == [warn.replace("warning:", "note:", 1)]  # once, a note: nothing to fix
    assert (out / "big@example.org.html").stat().st_size <= CLIP


def test_send_fitted_in_render_workers_said_once(
    tmp_path: Path, seeds: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A pass large enough for render workers: the note crosses the worker's pipe, and
    the log has it once, as INFO."""
    caplog.set_level(logging.INFO, logger="newsletter")
    small = [{"email": f"r{i}@example.org", "keywords": ["reasoning"], "max_papers": 1} for i in range(POOL_MIN - 1)]
    with smtp_server() as server:
        cfg = setup(tmp_path, seeds, server.port, BIG, *small)
        summary = run_send(load_config(cfg), PassOptions(backoff=0.01))
        assert summary.exit_code == 0 and summary.sent == POOL_MIN
        big = by_address(server.received)["big@example.org"]
    assert len(html_of(big).encode("utf-8")) <= CLIP
    ((email, how),) = summary.fitted
    assert email == "big@example.org" and how.startswith("abstracts shortened to ")
    said = [r for r in caplog.records if "Gmail" in r.getMessage()]
    assert [(r.levelname, r.getMessage()) for r in said] == [("INFO", f"{email}: {how}")]
