"""The email's head: no remote fonts, the dark scheme declared, and the Gmail clip
warning in `preview` and `check` (contrast in Chromium: test_render_contrast.py)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.conftest import newsletter
from tests.smtpd import EXAMPLE_SUBSCRIBERS, write_config

BROAD = {"email": "wide@example.org", "keywords": ["learning", "model*", "data"], "max_papers": 200}


def previews(tmp_path: Path, seeds: dict[str, Path], **defaults: Any) -> tuple[Any, Path]:
    top: dict[str, Any] = {"defaults": defaults} if defaults else {}
    subscribers = [*EXAMPLE_SUBSCRIBERS[:2], BROAD] if defaults else EXAMPLE_SUBSCRIBERS[:2]
    cfg = write_config(tmp_path, 2525, subscribers, **top)
    for name in ("001", "002"):
        shutil.copy2(seeds[name], tmp_path / "digests")
    out = tmp_path / "out"
    return newsletter("preview", "-c", str(cfg), "--out", str(out)), out


def test_email_head_no_remote_fonts_and_dark_scheme_declared(tmp_path: Path, seeds: dict[str, Path]) -> None:
    result, out = previews(tmp_path, seeds)
    assert result.exit_code == 0, result.output
    html = (out / "alice@example.org.html").read_text(encoding="utf-8")
    head = html[: html.index("</head>")]
    assert "fonts.googleapis" not in html and "@import" not in html
    assert "<link" not in head and "<script" not in html.lower()
    assert '<meta name="color-scheme" content="light dark"' in head
    assert "@media (prefers-color-scheme: dark)" in head
    assert "warning" not in result.output  # a normal email is far below Gmail's clip


def test_email_over_gmail_clip_warns_in_preview_and_check(tmp_path: Path, seeds: dict[str, Path]) -> None:
    result, out = previews(tmp_path, seeds, max_papers=200, abstract_chars=20000)
    assert result.exit_code == 0, result.output
    size = (out / "wide@example.org.html").stat().st_size
    assert size > 102 * 1024
    big = [ln for ln in result.output.splitlines() if ln.startswith("warning:") and "Gmail" in ln]
    assert len(big) == 1 and big[0].startswith("warning: wide@example.org:") and "102 KB" in big[0]
    assert f"{size / 1024:.1f} KB" in big[0]
    check = newsletter("check", "-c", str(tmp_path / "config.yaml"))
    assert check.exit_code == 0, check.output
    assert any("Gmail" in ln and ln.startswith("warning:") for ln in check.output.splitlines()), check.output
