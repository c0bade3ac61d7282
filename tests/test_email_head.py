"""The email's head: no remote fonts, dark-mode styles readable in headless Chromium
(prefers-color-scheme: dark), and the Gmail clip warning in `preview` and `check`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import chrome_driver, newsletter
from tests.smtpd import EXAMPLE_SUBSCRIBERS, write_config

# WCAG contrast of every element's own text against its effective background
CONTRAST_JS = """
function parse(c){const m=c.match(/rgba?\\(([^)]+)\\)/); if(!m) return null;
  const p=m[1].split(',').map(Number); return {r:p[0],g:p[1],b:p[2],a:p.length>3?p[3]:1};}
function lum(c){const f=v=>{v/=255;return v<=0.03928?v/12.92:Math.pow((v+0.055)/1.055,2.4)};
  return 0.2126*f(c.r)+0.7152*f(c.g)+0.0722*f(c.b);}
function bg(el){while(el){const c=parse(getComputedStyle(el).backgroundColor);
  if(c&&c.a>0.5) return c; el=el.parentElement;} return {r:255,g:255,b:255,a:1};}
const rows=[];
for(const el of document.body.querySelectorAll('*')){
  if(![...el.childNodes].some(n=>n.nodeType===3&&n.textContent.trim())) continue;
  const st=getComputedStyle(el), box=el.getBoundingClientRect();
  if(st.display==='none'||st.visibility==='hidden'||!box.width||!box.height) continue;
  const a=lum(parse(st.color)), b=lum(bg(el));
  rows.push([(Math.max(a,b)+0.05)/(Math.min(a,b)+0.05), el.textContent.trim().slice(0,60)]);
}
rows.sort((x,y)=>x[0]-y[0]);
return {rows: rows, body: lum(bg(document.body.querySelector('div') || document.body))};
"""


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


def _chrome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    return chrome_driver(tmp_path, monkeypatch, width=420, height=900)


def test_email_dark_mode_text_readable_in_chromium(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    result, out = previews(tmp_path, seeds)
    assert result.exit_code == 0, result.output
    driver = _chrome(tmp_path, monkeypatch)
    measured: dict[str, Any] = {}
    try:
        for scheme in ("light", "dark"):
            driver.execute_cdp_cmd(
                "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
            )
            driver.get((out / "alice@example.org.html").as_uri())
            measured[scheme] = driver.execute_script(CONTRAST_JS)
            driver.save_screenshot(str(tmp_path / f"email-{scheme}.png"))
    finally:
        driver.quit()
    dark, light = measured["dark"], measured["light"]
    assert len(dark["rows"]) > 20  # the whole email was measured: titles, abstracts, chips, footer
    assert dark["body"] < 0.05 < light["body"]  # the dark styles apply, and only in dark mode
    worst = dark["rows"][0]
    assert worst[0] >= 4.5, f"text {worst[1]!r} has contrast {worst[0]:.2f} on its background in dark mode"
    print(f"dark-mode minimum contrast {worst[0]:.2f}; light {light['rows'][0][0]:.2f}")


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
