"""What a screen-reader or keyboard user gets of the email, the archive and the pages of
`serve` (issue 37): the language and title of every page, the paper titles as headings
to jump between, highlights that are more than a colour, link names that make sense in
a list of links (every "PDF" and "More like this" names its paper), and forms used with
the keyboard alone.

The markup is read with the stdlib parser; what a screen reader is given, from the
accessibility tree of Debian's headless Chromium (CDP ``Accessibility.getFullAXTree``,
through the Selenium driver the contrast tests use) on real output: a `send` over real
SMTP (the email and its archive pages), `preview --out`, and the `serve` endpoint on
127.0.0.1 driven with the Tab and Enter keys.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import chrome_driver, newsletter, settled_copy
from tests.smtpd import free_port, smtp_server, write_config
from tests.test_render import SEEDS, bodies, json_digest, make_config, parse, render_all

SAMPLES = Path(__file__).resolve().parent / "samples"
SECRET = "a11y-secret-0123456789"
# link names that say nothing out of context (WCAG 2.4.4/2.4.9); compared casefolded
BARE = {"here", "click here", "link", "more", "read more", "pdf", "code", "arxiv", "project page"}
BARE |= {"more like this", "fewer like this", "html", "text", ".eml", "view"}


# --------------------------------------------------------------------------- the markup


@dataclass
class Markup:
    """What the stdlib parser finds of the things a screen reader relies on."""

    lang: str | None = None
    title: str = ""
    tables: list[dict[str, str | None]] = field(default_factory=list)
    images: list[dict[str, str | None]] = field(default_factory=list)
    headings: list[tuple[str, str]] = field(default_factory=list)  # (tag, text)
    links: list[str] = field(default_factory=list)  # accessible names: aria-label, else the text
    marks: list[tuple[str, str]] = field(default_factory=list)  # (style, text)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = Markup()
        self.open: list[tuple[str, dict[str, str | None], list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.out.lang = a.get("lang")
        elif tag == "table":
            self.out.tables.append(a)
        elif tag == "img":
            self.out.images.append(a)
        if tag in ("title", "h1", "h2", "h3", "h4", "a", "mark"):
            self.open.append((tag, a, []))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1][0] != tag:
            return
        _, a, parts = self.open.pop()
        text = " ".join("".join(parts).split())
        if self.open:  # an element's text is its parent's too
            self.open[-1][2].append("".join(parts))
        if tag == "title":
            self.out.title = text
        elif tag == "a":
            self.out.links.append(" ".join((a.get("aria-label") or text).split()))
        elif tag == "mark":
            self.out.marks.append((a.get("style") or "", text))
        else:
            self.out.headings.append((tag, text))

    def handle_data(self, data: str) -> None:
        if self.open:
            self.open[-1][2].append(data)


def read(html: str) -> Markup:
    reader = _Reader()
    reader.feed(html)
    return reader.out


def assert_link_names_meaningful(names: list[str], where: str) -> None:
    twice = {name: n for name, n in Counter(names).items() if n > 1}
    assert not twice, f"{where}: link names given to more than one link: {twice}"
    bare = [name for name in names if name.casefold().strip(" .") in BARE]
    assert not bare, f"{where}: link names that say nothing out of context: {bare}"


def twenty_papers(tmp_path: Path, **changes: Any) -> Any:
    """The 20-paper email of the seeds (the size test's), with feedback links."""
    sub = {"email": "many@example.org", "name": "Many Papers", "max_papers": 20}
    sub["keywords"] = ["model*", "learning", "language", "data"]
    config = make_config(tmp_path, subscribers=[sub], **changes)
    ((_, matches, rendered),) = render_all(config)
    assert len(matches) == 20
    return rendered


# --------------------------------------------------------------------------- the email, as markup


def test_a11y_email_says_its_language_and_title_and_tables_are_layout(tmp_path: Path) -> None:
    """MJML wrote lang="und" (undetermined): a screen reader then reads the email with
    the user's default voice, an English email in a German voice. The title is the
    subject; MJML's layout tables are role=presentation (none read as data tables); no
    image without an alt."""
    html = twenty_papers(tmp_path).html
    found = read(html)
    assert found.lang == "en"
    assert re.search(r'<div aria-label="20 new papers for you"[^>]* role="article" lang="en"', html)
    assert found.title == "20 new papers for you"
    assert len(found.tables) >= 5
    assert all(t.get("role") == "presentation" for t in found.tables), found.tables
    assert all(img.get("alt") is not None for img in found.images)


def test_a11y_email_papers_are_headings_under_one_h1(tmp_path: Path) -> None:
    """A screen reader jumps from paper to paper by heading (H / 2): the titles were
    bold <div>s, so the email had no heading at all."""
    rendered = twenty_papers(tmp_path)
    found = read(rendered.html)
    tags = [tag for tag, _ in found.headings]
    assert tags == ["h1"] + ["h2"] * 20
    assert found.headings[0] == ("h1", "Hi Many Papers,")
    text, _ = bodies(parse(rendered))
    for (_, title), numbered in zip(found.headings[1:], re.findall(r"^ *\d+\. (.+)$", text, flags=re.M), strict=False):
        assert numbered.replace("*", "").startswith(title[:30]), (title, numbered)


def test_a11y_email_highlights_are_marks_in_bold(tmp_path: Path) -> None:
    """A matched word was a <span> with a yellow background: nothing for a screen reader,
    and lost to a colour-blind reader (yellow on white is 1.2:1) or in Windows' high
    contrast. Now a <mark> ("highlighted") and bold, visible without the colour."""
    path = json_digest(
        tmp_path,
        [{"title": "Contrastive Learning of Things", "abstract": "We study self-supervised methods for data."}],
    )
    config = make_config(
        tmp_path, subscribers=[{"email": "a@example.org", "keywords": ["contrastive learning", "self-supervised"]}]
    )
    ((_, _, rendered),) = render_all(config, [path])
    html = rendered.html
    found = read(html)
    assert [text for _, text in found.marks] == ["Contrastive Learning", "self-supervised"]
    assert all("font-weight:700" in style and "background-color:#fde68a" in style for style, _ in found.marks)
    assert 'class="hl"' not in html.replace('<mark class="hl"', "")  # no other element carries the highlight
    # the dark styles restyle the marks (light text on a dark amber), not a span any more
    assert "mark.hl, .pd-paper a mark.hl { background-color: #854d0e !important" in html


def test_a11y_email_link_names_name_the_paper(tmp_path: Path) -> None:
    """Twenty "PDF", "Code" and "More like this" links read alike in a screen reader's
    list of links; each now has an aria-label naming its paper (the visible word
    first, as WCAG 2.5.3 wants), the title cut short at a word."""
    rendered = twenty_papers(
        tmp_path, sender={"from": "Paper Digest <d@example.org>", "feedback": {"url": "https://d.example.org"}}
    )
    found = read(rendered.html)
    assert_link_names_meaningful(found.links, "20-paper email")
    feedback = [name for name in found.links if name.startswith("More like this: ")]
    assert len(feedback) == 20
    assert all(len(name) <= len("More like this: ") + 51 for name in feedback), feedback
    assert any(name.endswith("…") for name in feedback)
    assert re.search(r'<a href="[^"]+" aria-label="Code[^"]*: [^"]+"[^>]*>Code', rendered.html)


def test_a11y_email_keyword_chips_are_labelled_and_apart(tmp_path: Path) -> None:
    """The chips were bare words run together ("modellearning"): a screen reader had
    no "Matched" to say what they are, and one word for two chips."""
    html = twenty_papers(tmp_path).html
    chips = re.findall(r'<div class="pd-chips"[^>]*>(.*?)</div>', html)
    assert len(chips) == 20
    for row in chips:
        words = re.sub(r"<[^>]+>", "", row)
        assert words.startswith("Matched: ")
        assert re.search(r"</span>\S*<span", row) is None, row  # a space between chips
    footer = re.search(r"You get this email because.*?</div>", html, flags=re.S)
    assert footer and re.search(r"</span><span", footer.group(0)) is None


def test_a11y_email_20_papers_stay_small(tmp_path: Path) -> None:
    """The labels cost bytes: the 20-paper email of the size test was 65,234 bytes of
    HTML before them; it may grow by 5% at most (and stays far from Gmail's 102 KB)."""
    size = len(twenty_papers(tmp_path).html.encode("utf-8"))
    assert size <= 65_234 * 1.05, size


# --------------------------------------------------------------------------- archive, feed, preview


def test_a11y_feed_and_archive_index_say_the_language_and_tell_issues_apart(tmp_path: Path) -> None:
    """Three issues of one day, all "2 new papers for you": the index's links were three
    identical names. Each now says its date (and its number on such a day); the Atom
    feed says its language, as the pages do."""
    from newsletter.config import load_config
    from newsletter.site.archive import archive_sent
    from newsletter.store import SqliteLedger
    from tests.test_site_archive import _sent_issues, archived_setup

    config = load_config(archived_setup(tmp_path, 2525))
    _sent_issues(config, range(1, 4))
    with SqliteLedger.open(config.ledger_path) as ledger:
        [feed_path] = archive_sent(config, ledger).feeds
    index = read((feed_path.parent / "index.html").read_text(encoding="utf-8"))
    assert index.lang == "en" and index.title == "Paper Digest for Alice Martin"
    assert [tag for tag, _ in index.headings] == ["h1"]
    assert_link_names_meaningful(index.links, "archive index")
    assert any(re.fullmatch(r"\w+day, \d+ \w+ \d{4}, issue 3: 2 new papers for you", n) for n in index.links)
    assert re.search(rb'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en"', feed_path.read_bytes())
    for page in feed_path.parent.glob("*.html"):
        found = read(page.read_text(encoding="utf-8"))
        assert found.lang == "en" and found.title and not [i for i in found.images if i.get("alt") is None]


def test_a11y_preview_index_links_name_the_subscriber(tmp_path: Path) -> None:
    """`preview --out`: every subscriber's "HTML", "text" and ".eml" links said only that."""
    subs = [
        {"email": f"{who}@example.org", "keywords": ["self-supervised", "contrastive learning"]}
        for who in ("ana", "ben")
    ]
    cfg = write_config(tmp_path, 2525, subs)
    settled_copy(SEEDS[0], tmp_path / "digests")
    result = newsletter("preview", "-c", str(cfg), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    index = read((tmp_path / "out" / "index.html").read_text(encoding="utf-8"))
    assert index.lang == "en" and index.title.startswith("Preview: ")
    assert "HTML part to ben@example.org" in index.links
    assert_link_names_meaningful(index.links, "preview index")


# --------------------------------------------------------------------------- in a real browser


@dataclass
class Sent:
    cfg: Path
    email: Path  # the HTML part of the message the SMTP server got
    archive: Path  # its archive page
    port: int  # the serve endpoint's (not running)


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sent]:
    """A real `send` of the Hugging Face API sample (arXiv, PDF, code, project links, TL;DRs)
    with feedback and unsubscribe links to a local `serve` endpoint, and the archive."""
    root = tmp_path_factory.mktemp("a11y")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    top: dict[str, Any] = {
        "archive": {"directory": "archive", "url": "https://digest.example.org/archive"},
        "sender": {
            "from": "Paper Digest <digest@example.org>",
            "unsubscribe": {"url": base + "/unsubscribe/{{ token }}", "listen": f"127.0.0.1:{port}"},
            "feedback": {"url": base},
        },
    }
    subs = [
        {
            "email": "ana@example.org",
            "name": "Ana Quiroga",
            "keywords": ["self-supervised", "contrastive learning", "diffusion", "reward model*", "augment*"],
        }
    ]
    mp = pytest.MonkeyPatch()
    mp.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    try:
        with smtp_server() as server:
            cfg = write_config(root, server.port, subs, **top)
            assert newsletter("send", "-c", str(cfg)).exit_code == 0
            settled_copy(SAMPLES / "hf-api-digest.json", root / "digests")
            result = newsletter("send", "-c", str(cfg))
            assert result.exit_code == 0, result.output
            [msg] = server.by_recipient()["ana@example.org"]
        part = next(p for p in msg.message.walk() if p.get_content_type() == "text/html")
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        email = root / "email.html"
        email.write_bytes(payload)
        [archive] = (p for p in (root / "archive").glob("*/*.html") if p.name != "index.html")
        yield Sent(cfg, email, archive, port)
    finally:
        mp.undo()


class AXTree:
    """The accessibility tree Chromium gives screen readers, of the loaded page."""

    def __init__(self, driver: Any) -> None:
        nodes = driver.execute_cdp_cmd("Accessibility.getFullAXTree", {})["nodes"]
        self.nodes = [n for n in nodes if not n.get("ignored")]
        self._by_id = {n["nodeId"]: n for n in nodes}
        self._root = next(n for n in nodes if not n.get("parentId"))

    @staticmethod
    def role(node: dict[str, Any]) -> str:
        return str(node.get("role", {}).get("value", ""))

    @staticmethod
    def name(node: dict[str, Any]) -> str:
        return " ".join(str(node.get("name", {}).get("value", "")).split())

    def of(self, role: str) -> list[dict[str, Any]]:
        return [n for n in self.nodes if self.role(n) == role]

    def names(self, role: str) -> list[str]:
        return [self.name(n) for n in self.of(role)]

    def headings(self) -> list[tuple[int, str]]:
        out = []
        for n in self.of("heading"):
            level = next(p["value"]["value"] for p in n.get("properties", []) if p["name"] == "level")
            out.append((int(level), self.name(n)))
        return out

    def reading_order(self) -> Iterator[dict[str, Any]]:
        """The nodes not ignored, depth first from the root: the order a screen reader reads."""
        stack = [self._root]
        while stack:
            node = stack.pop()
            if not node.get("ignored"):
                yield node
            stack.extend(self._by_id[c] for c in reversed(node.get("childIds", [])) if c in self._by_id)

    def first_text(self) -> str:
        return next(self.name(n) for n in self.reading_order() if self.role(n) == "StaticText" and self.name(n))


@pytest.fixture
def driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    d = chrome_driver(tmp_path, monkeypatch, width=800, height=900)
    try:
        yield d
    finally:
        d.quit()


@pytest.mark.slow
@pytest.mark.parametrize("page", ["email", "archive"])
def test_a11y_browser_paper_titles_are_headings_and_links_name_their_paper(page: str, sent: Sent, driver: Any) -> None:
    path = sent.email if page == "email" else sent.archive
    driver.get(path.as_uri())
    tree = AXTree(driver)
    titles = driver.execute_script(
        "return [...document.querySelectorAll('.pd-title')].map(e => e.textContent.replace(/\\s+/g, ' ').trim())"
    )
    assert len(titles) >= 4
    headings = tree.headings()
    assert [level for level, _ in headings] == [1] + [2] * len(titles), headings
    assert [name for _, name in headings[1:]] == titles
    assert driver.execute_script("return document.documentElement.lang") == "en"
    [root] = tree.of("RootWebArea")
    assert tree.name(root).startswith(f"{len(titles)} new papers for you")
    # the first words read are the sender's name: no hidden preheader padding before it
    assert tree.first_text().casefold() == "paper digest"
    links = tree.names("link")
    assert len(links) >= len(titles) * 3
    assert_link_names_meaningful(links, page)
    assert any(name.startswith("PDF: ") for name in links) and any(name.startswith("Code ★") for name in links)
    if page == "email":
        assert sum(name.startswith(("More like this: ", "Fewer like this: ")) for name in links) == 2 * len(titles)
    marks = driver.execute_script("return document.querySelectorAll('mark').length")
    assert marks > 4 and len(tree.of("mark")) == marks  # each highlight is one a screen reader can announce
    weights = driver.execute_script(
        "return [...document.querySelectorAll('.pd-abs mark')].map(m => getComputedStyle(m).fontWeight)"
    )
    assert weights and set(weights) == {"700"}


def _tab_to(driver: Any, element_id: str, limit: int = 12) -> list[str]:
    """Press Tab until ``element_id`` has the focus; the ids focused on the way. Each
    focused control must show that it is (a focus ring: no outline: none)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    seen: list[str] = []
    for _ in range(limit):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        focused, outline = driver.execute_script(
            "const e = document.activeElement; const s = getComputedStyle(e);"
            "return [e.id || e.tagName, s.outlineStyle + ' ' + s.outlineWidth];"
        )
        seen.append(focused)
        assert not outline.startswith("none") and not outline.endswith(" 0px"), (focused, outline)
        if focused == element_id:
            return seen
    raise AssertionError(f"Tab never reached #{element_id}: {seen}")


def _form_controls_named(tree: AXTree) -> None:
    for role in ("button", "combobox", "textbox", "searchbox", "checkbox", "radio"):
        for node in tree.of(role):
            assert tree.name(node), f"a {role} without an accessible name"


@pytest.mark.slow
def test_a11y_browser_serve_pages_by_keyboard(sent: Sent, driver: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unsubscribe and feedback pages of `serve`, as a keyboard and screen-reader
    user meets them: a language and a title, one h1, every control named (the pause
    select by its <label>), Tab reaches every control with a visible focus ring, and
    Enter submits. The feedback page's answer was titled "Thanks"; now it says what
    was noted."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.webthread import endpoint_of

    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    html = sent.email.read_text(encoding="utf-8")
    [unsubscribe] = re.findall(r'<a href="(http://127[^"]+/unsubscribe/[^"]+)"', html)
    more = re.findall(r'<a href="(http://127[^"]+/feedback/[^"]+/more/[^"]+)"', html)[0]

    def check(title: str, h1: str) -> AXTree:
        tree = AXTree(driver)
        assert driver.execute_script("return document.documentElement.lang") == "en"
        assert driver.title == title
        assert tree.headings() == [(1, h1)]
        _form_controls_named(tree)
        return tree

    with endpoint_of(sent.cfg):
        driver.get(unsubscribe.replace("&amp;", "&"))
        tree = check("Unsubscribe", "Unsubscribe from Paper Digest")
        assert "Or pause them for" in tree.names("combobox")
        assert set(tree.names("button")) == {"Unsubscribe", "Pause"}
        assert _tab_to(driver, "pause") == ["unsubscribe", "pause_weeks", "pause"]
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.ID, "done")))
        check("Paused", "Digests paused")

        driver.get(more.replace("&amp;", "&"))
        check("More like this", "More papers like this one?")
        _tab_to(driver, "confirm")
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.ID, "done")))
        check("Noted: more like this", "Noted: more like this")

        driver.get(f"http://127.0.0.1:{sent.port}/unsubscribe/not-a-token")
        tree = AXTree(driver)
        assert driver.execute_script("return document.documentElement.lang") == "en"
        assert driver.title and tree.headings() and tree.headings()[0][0] == 1


def test_a11y_text_part_numbers_papers_and_marks_highlights_in_ascii(tmp_path: Path) -> None:
    """The plain-text part, as a screen reader in a text-only client reads it: each paper
    numbered ("1. Title"), the matched words between asterisks (no colour to lose), no
    box-drawing or bullets a speech synthesiser would spell out."""
    rendered = twenty_papers(tmp_path)
    text, _ = bodies(parse(rendered))
    assert len(re.findall(r"^ *\d+\. \S", text, flags=re.M)) == 20
    assert re.search(r"\*[\w-]+\*", text)
    assert not re.search("[\u2500-\u257f\u2022\u25cf\u25aa]", text)
