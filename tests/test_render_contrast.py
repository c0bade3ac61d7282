"""Every word readable, for every reader (SPEC 5, issue 25), measured in Debian's headless
Chromium: the email built from a Hugging Face API digest (AI summaries, code with stars,
organisations, TeX) and from a seed, and the archive's issue and index pages.

Each page is measured at 375 and 800 px, with ``prefers-color-scheme`` light and dark
(CDP ``Emulation.setEmulatedMedia``), as a client that strips ``<style>`` shows it (inline
styles alone, light and dark), and under Chromium's forced dark mode (``--force-dark-mode``,
``forceDarkModeEnabled``: what Gmail's apps do to emails), with and without the page's own
dark styles. Every element that shows text gets the WCAG contrast of its computed colour
against the background it sits on (the ancestors' backgrounds composited with their alpha
over the canvas). Forced dark changes colours at paint time, so there the contrast comes
from the pixels of a full-page screenshot: per text box, the background is its most common
colour and the text the pixel farthest from it.

Set ``PAPER_DIGEST_SCREENSHOTS=DIR`` to keep the screenshots (``DIR/<page>-<mode>-<width>.png``).
"""

from __future__ import annotations

import base64
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SEEDS, chrome_driver, newsletter, settled_copy
from tests.smtpd import smtp_server, write_config

pytestmark = pytest.mark.slow  # a real Chromium for every case

SAMPLES = Path(__file__).resolve().parent / "samples"
WCAG_AA = 4.5
WIDTHS = (375, 800)

# (contrast, text, tag.class) of every visible element with text of its own, worst first
CONTRAST_JS = r"""
function parse(c){const m=c.match(/rgba?\(([^)]+)\)/); if(!m) return null;
  const p=m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return [p[0],p[1],p[2],p.length>3?p[3]:1];}
function over(t,b){const a=t[3]; return [t[0]*a+b[0]*(1-a), t[1]*a+b[1]*(1-a), t[2]*a+b[2]*(1-a), 1];}
function lum(c){const f=v=>{v/=255; return v<=0.04045?v/12.92:Math.pow((v+0.055)/1.055,2.4)};
  return 0.2126*f(c[0])+0.7152*f(c[1])+0.0722*f(c[2]);}
const darkCanvas = matchMedia('(prefers-color-scheme: dark)').matches
  && getComputedStyle(document.documentElement).colorScheme.includes('dark');
const canvas = darkCanvas ? [18,18,18,1] : [255,255,255,1];
function background(el){const layers=[];
  for(let e=el; e; e=e.parentElement){const c=parse(getComputedStyle(e).backgroundColor);
    if(c && c[3]>0){layers.push(c); if(c[3]>=1) break;}}
  let bg=canvas; for(let i=layers.length-1;i>=0;i--) bg=over(layers[i],bg); return bg;}
const rows=[];
for(const el of document.body.querySelectorAll('*')){
  if(![...el.childNodes].some(n=>n.nodeType===3 && /[\p{L}\p{N}]/u.test(n.textContent))) continue;
  const st=getComputedStyle(el), box=el.getBoundingClientRect();
  if(st.display==='none'||st.visibility==='hidden'||st.opacity==='0'||!box.width||!box.height) continue;
  const bg=background(el), fg=parse(st.color);
  if(!fg){rows.push([0, el.textContent.trim().slice(0,60), 'unparsed colour '+st.color]); continue;}
  const a=lum(over(fg,bg)), b=lum(bg);
  rows.push([(Math.max(a,b)+0.05)/(Math.min(a,b)+0.05), el.textContent.trim().slice(0,60),
             el.tagName.toLowerCase()+(el.className?'.'+el.className:'')]);
}
rows.sort((x,y)=>x[0]-y[0]);
return rows;
"""

# the boxes of every text node with a letter or digit, in page coordinates
TEXT_BOXES_JS = r"""
const out=[]; const walker=document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for(let n=walker.nextNode(); n; n=walker.nextNode()){
  if(!/[\p{L}\p{N}]{2}/u.test(n.textContent)) continue;
  const st=getComputedStyle(n.parentElement); if(st.visibility==='hidden'||st.display==='none') continue;
  const r=document.createRange(); r.selectNodeContents(n);
  for(const b of r.getClientRects()){ if(b.width<6||b.height<8) continue;
    out.push([b.left+scrollX, b.top+scrollY, b.width, b.height, n.textContent.trim().slice(0,50)]); }
}
return out;
"""


def _lum(rgb: Any) -> Any:
    import numpy as np

    c = np.asarray(rgb, dtype=float) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return c @ np.array([0.2126, 0.7152, 0.0722])


def pixel_contrast(png: bytes, boxes: list[list[Any]]) -> list[tuple[float, str]]:
    """Per text box: the contrast of its text pixels against its background pixels."""
    import numpy as np
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    rows = []
    for x, y, w, h, text in boxes:
        x0, y0 = max(int(x), 0), max(int(y), 0)
        crop = image[y0 : int(y + h), x0 : int(x + w)].reshape(-1, 3)
        if len(crop) < 20:
            continue
        colours, counts = np.unique(crop, axis=0, return_counts=True)
        bg = _lum(colours[counts.argmax()])
        lums = _lum(colours)
        ratios = (np.maximum(lums, bg) + 0.05) / (np.minimum(lums, bg) + 0.05)
        rows.append((float(ratios.max()), text))
    return sorted(rows)


# --------------------------------------------------------------------------- the pages


def strip_styles(html: str, *, scheme_meta: bool = True) -> str:
    """The page as a client that drops ``<style>`` shows it (and, ``scheme_meta=False``,
    one that drops the color-scheme declarations too, as Gmail's apps do)."""
    html = re.sub(r"<style\b.*?</style>", "", html, flags=re.S | re.I)
    if not scheme_meta:
        html = re.sub(r'<meta name="(?:supported-)?color-scheme"[^>]*>', "", html)
    return html


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The emails (HF API digest, seed) from `preview`, and an archive issue page and index
    written by a real `send` to a local SMTP server."""
    root = tmp_path_factory.mktemp("contrast")
    subscribers = [
        {
            "email": "hf@example.org",
            "name": "Ana Quiroga",
            "keywords": ["self-supervised", "contrastive learning", "diffusion", "reward model*", "augment*"],
            "exclude": ["survey"],
            "abstract_chars": 300,
        },
    ]
    top: dict[str, Any] = {
        "archive": {"directory": "archive", "url": "https://digest.example.org/archive"},
        "sender": {
            "from": "Paper Digest <digest@example.org>",
            "unsubscribe": {"mailto": "unsubscribe@example.org", "url": "https://digest.example.org/u/{{ token }}"},
            "feedback": {"url": "https://digest.example.org"},
        },
    }
    out: dict[str, Path] = {}
    for name, source in (("hf", SAMPLES / "hf-api-digest.json"), ("seed", next(SEEDS.glob("002_*")))):
        folder = root / name
        folder.mkdir()
        cfg = write_config(folder, 2525, subscribers, **top)
        settled_copy(source, folder / "digests")
        result = newsletter("preview", "-c", str(cfg), "--out", str(folder / "out"))
        assert result.exit_code == 0, result.output
        out[f"email-{name}"] = folder / "out" / "hf@example.org.html"
    folder = root / "sent"
    folder.mkdir()
    with smtp_server() as server:
        cfg = write_config(folder, server.port, subscribers, **top)
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        settled_copy(SAMPLES / "hf-api-digest.json", folder / "digests")
        result = newsletter("send", "-c", str(cfg))
        assert result.exit_code == 0, result.output
    [issue] = (p for p in (folder / "archive").glob("*/*.html") if p.name != "index.html")
    out["archive-issue"] = issue
    out["archive-index"] = issue.parent / "index.html"
    return out


def _variant(path: Path, kind: str, directory: Path) -> Path:
    if kind == "page":
        return path
    target = directory / f"{path.stem}-{kind}.html"
    html = path.read_text(encoding="utf-8")
    target.write_text(strip_styles(html, scheme_meta=kind == "strip"), encoding="utf-8")
    return target


# --------------------------------------------------------------------------- the browser


class Browser:
    """One headless Chromium; full-page measurements at a given width and colour scheme."""

    def __init__(self, driver: Any, keep: Path | None) -> None:
        self.driver = driver
        self.keep = keep

    def load(self, path: Path, *, width: int, scheme: str | None) -> None:
        d = self.driver
        features = [{"name": "prefers-color-scheme", "value": scheme}] if scheme else []
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": features})
        metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500}
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        d.get(path.as_uri())
        height = d.execute_script("return document.documentElement.scrollHeight")
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": int(height)})

    def screenshot(self, name: str) -> bytes:
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        png = base64.b64decode(shot["data"])
        if self.keep is not None:
            self.keep.mkdir(parents=True, exist_ok=True)
            (self.keep / f"{name}.png").write_bytes(png)
        return png

    def computed(self) -> list[list[Any]]:
        rows: list[list[Any]] = self.driver.execute_script(CONTRAST_JS)
        return rows

    def pixels(self, name: str) -> list[tuple[float, str]]:
        boxes = self.driver.execute_script(TEXT_BOXES_JS)
        return pixel_contrast(self.screenshot(name), boxes)


def _keep() -> Path | None:
    value = os.environ.get("PAPER_DIGEST_SCREENSHOTS")
    return Path(value) if value else None


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    driver = chrome_driver(tmp_path, monkeypatch, width=800, height=900)
    try:
        yield Browser(driver, _keep())
    finally:
        driver.quit()


FORCE_DARK = ("--force-dark-mode", "--blink-settings=forceDarkModeEnabled=true")


@pytest.fixture
def forced_dark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    """Chromium with Gmail-style forced dark: the browser darkens pages itself."""
    driver = chrome_driver(tmp_path, monkeypatch, width=800, height=900, extra=FORCE_DARK)
    try:
        yield Browser(driver, _keep())
    finally:
        driver.quit()


def _worst(rows: list[Any]) -> tuple[float, str]:
    return (float(rows[0][0]), " | ".join(str(x) for x in rows[0][1:])) if rows else (99.0, "")


MODES = (("light", "page", "light"), ("dark", "page", "dark"), ("nostyle-light", "strip", "light"))
MODES += (("nostyle-dark", "strip", "dark"),)


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("page", ["email-hf", "email-seed", "archive-issue", "archive-index"])
def test_render_contrast_every_text_in_light_dark_and_without_styles(
    page: str, pages: dict[str, Path], browser: Browser, tmp_path: Path
) -> None:
    worst: dict[str, tuple[float, str]] = {}
    measured = 0
    for mode, kind, scheme in MODES:
        target = _variant(pages[page], kind, tmp_path)
        for width in WIDTHS:
            browser.load(target, width=width, scheme=scheme)
            rows = browser.computed()
            measured += len(rows)
            if browser.keep is not None:
                browser.screenshot(f"{page}-{mode}-{width}")
            low = _worst(rows)
            if low[0] < worst.get(mode, (99.0, ""))[0]:
                worst[mode] = low
    summary = ", ".join(f"{mode} {ratio:.2f} ({what[:50]})" for mode, (ratio, what) in worst.items())
    print(f"{page}: minimum contrast {summary}")
    assert measured > len(MODES) * len(WIDTHS) * 3  # every mode and width measured text
    for mode, (ratio, what) in worst.items():
        assert ratio >= WCAG_AA, f"{page} {mode}: contrast {ratio:.2f} for {what}"


@pytest.mark.parametrize("page", ["email-hf", "email-seed", "archive-issue"])
def test_render_contrast_under_forced_dark_mode(
    page: str, pages: dict[str, Path], forced_dark: Browser, tmp_path: Path
) -> None:
    worst = {}
    for kind in ("page", "no-style"):
        target = _variant(pages[page], kind, tmp_path)
        for width in WIDTHS:
            forced_dark.load(target, width=width, scheme=None)
            rows = forced_dark.pixels(f"{page}-forced-dark-{kind}-{width}")
            assert len(rows) > 10
            worst[(kind, width)] = rows[0]
    print(page, "forced dark minimum contrast:", {k: round(v[0], 2) for k, v in worst.items()})
    for (kind, width), (ratio, text) in worst.items():
        assert ratio >= WCAG_AA, f"{page} forced dark ({kind}, {width} px): contrast {ratio:.2f} for {text!r}"


def test_render_contrast_forced_dark_really_darkens_a_light_only_page(forced_dark: Browser, tmp_path: Path) -> None:
    """The forced-dark browser is not a no-op: a page without dark styles comes out dark."""
    page = tmp_path / "light.html"
    page.write_text('<body style="background:#ffffff;color:#111111"><p>Plain light page text</p></body>')
    forced_dark.load(page, width=375, scheme=None)
    png = forced_dark.screenshot("light-only")
    import numpy as np
    from PIL import Image

    corner = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[5, 5]
    assert _lum(corner) < 0.2, corner


def test_render_contrast_measures_a_bad_pair(browser: Browser, tmp_path: Path) -> None:
    """The measure itself: a light TL;DR box whose text turns light (the bug of issue 25) is
    found, through a transparent wrapper, at 1.1."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<body style="background:#111827"><div style="background:rgba(0,0,0,0)">'
        '<div style="background:#f1f5f9;color:#e5e7eb">TL;DR unreadable</div></div></body>'
    )
    browser.load(page, width=375, scheme="dark")
    ratio, text = _worst(browser.computed())
    assert ratio < 1.2 and "TL;DR" in text


# --------------------------------------------------------------------------- hostile lengths


LONG_KEYWORD = "self-supervised contrastive representation learning for medical images"
OVERFLOW_JS = r"""
const width = document.documentElement.clientWidth, out = [];
for (const el of document.body.querySelectorAll('*')) {
  const box = el.getBoundingClientRect();
  if (box.width && box.right > width + 1)
    out.push(el.tagName.toLowerCase() + '.' + el.className + ' ' + Math.round(box.right));
}
return [document.documentElement.scrollWidth, width, out.slice(0, 5)];
"""


@pytest.fixture(scope="module")
def long_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An email and the archive pages of a paper with words no line can hold: a
    2,000-character title without a space, a 120-character author name, a long
    organisation, TL;DR and abstract URL, and a 70-character keyword phrase."""
    import json

    root = tmp_path_factory.mktemp("long")
    paper = {
        "id": "2612.00002",
        "title": f"{LONG_KEYWORD} " + "Longtitle" * 222,
        "abstract": f"We study {LONG_KEYWORD}. See https://example.org/{'a' * 300} and more.",
        "authors": ["A" * 120, "Bea Osei"],
        "organization": "O" * 200,
        "summary": "S" * 400,
    }
    subscribers = [{"email": "ana@example.org", "name": "Ana", "keywords": ["zebrafish", LONG_KEYWORD]}]
    top: dict[str, Any] = {"archive": {"directory": "archive", "url": "https://digest.example.org/archive"}}
    with smtp_server() as server:
        cfg = write_config(root, server.port, subscribers, **top)
        (root / "digests" / "long.json").write_text(json.dumps([paper]), encoding="utf-8")
        assert newsletter("preview", "-c", str(cfg), "--out", str(root / "out")).exit_code == 0
        result = newsletter("send", "-c", str(cfg))
        assert result.exit_code == 0, result.output
    [issue] = (p for p in (root / "archive").glob("*/*.html") if p.name != "index.html")
    email = root / "out" / "ana@example.org.html"
    return {"email": email, "archive-issue": issue, "archive-index": issue.parent / "index.html"}


@pytest.mark.parametrize("page", ["email", "archive-issue", "archive-index"])
def test_render_contrast_long_words_and_keywords_stay_within_375_px(
    page: str, long_pages: dict[str, Path], browser: Browser
) -> None:
    """Nothing sticks out of a phone's screen (the page would scroll sideways and cut
    every line of the email): long words wrap, long keyword chips wrap."""
    for scheme in ("light", "dark"):
        browser.load(long_pages[page], width=375, scheme=scheme)
        scroll, width, wide = browser.driver.execute_script(OVERFLOW_JS)
        if browser.keep is not None:
            browser.screenshot(f"long-{page}-{scheme}-375")
        assert scroll <= width and not wide, f"{page} ({scheme}) is {scroll} px wide at {width} px: {wide}"
