"""More like these (issue 17, SPEC 4): like/dislike in profiles, similarity hits and
their explanations, the feedback links of the email (real SMTP, real HTTP, a real
browser), the `feedback` command. Samples: tests/samples/likes.txt (three topics)."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.config import load_config
from newsletter.matching.refs import ref_keys
from newsletter.render.links.feedback import encode_paper, signature
from newsletter.render.links.tokens import unsubscribe_token
from newsletter.store import SqliteLedger
from newsletter.web.unsubscribe import UnsubscribeServer
from tests.conftest import chrome_driver, settled_copy
from tests.smtpd import free_port, smtp_server, write_config
from tests.webthread import Background

SAMPLE = Path(__file__).parent / "samples" / "likes.txt"
SECRET = "feedback-test-secret"
FOLD = "FoldFast: Protein Structure Prediction from Single Sequences"
NOISY = "Noisy Audio, Clean Transcripts: Robust Speech Recognition"
ACCENT = "Accent Adaptation for Speech Recognition Transducers"
PROTEIN = {
    FOLD,
    "Contact Maps Help Protein Folding Models Generalise",
    "Diffusion over Protein Backbones for Structure Design",
    "Benchmarking Protein Language Models on Structure Tasks",
}
SPEECH = {
    "Streaming Speech Recognition with Chunked Attention",
    NOISY,
    ACCENT,
    "Low-Resource Speech Recognition with Self-Training",
}


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)


def config_with(tmp_path: Path, subscribers: list[dict[str, Any]], *, port: int = 2525, **top: Any) -> Path:
    cfg = write_config(tmp_path, port, subscribers, **top)
    settled_copy(SAMPLE, tmp_path / "digests")
    return cfg


def newsletter(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def matched(cfg: Path, email: str | None = None) -> list[dict[str, Any]]:
    args = ["match", "-c", str(cfg), "--json"] + (["--subscriber", email] if email else [])
    result = newsletter(*args)
    assert result.exit_code == 0, result.output
    papers: list[dict[str, Any]] = json.loads(result.output)["subscribers"][0]["papers"]
    return papers


# --------------------------------------------------------------------------- matching


def test_like_pulls_its_topic_and_names_the_liked_paper(tmp_path: Path) -> None:
    cfg = config_with(tmp_path, [{"email": "ana@example.org", "like": [FOLD], "max_papers": 3}])
    papers = matched(cfg)
    assert {p["title"] for p in papers} == PROTEIN - {FOLD}  # its topic, not the liked paper itself
    fold_text = SAMPLE.read_text(encoding="utf-8").split(FOLD)[1].split("authors")[0].lower()
    for p in papers:
        [hit] = p["matched"]
        assert hit["like"] == FOLD
        assert 1 <= len(hit["terms"]) <= 3
        for term in hit["terms"]:  # a phrase both papers use (stems aside)
            assert all(word[:5] in fold_text for word in term.split()), term
        assert 0 < hit["similarity"] <= 1
        assert p["score"] == round(10 * hit["similarity"])
    table = newsletter("match", "-c", str(cfg)).output
    assert f"like {FOLD[:40]}" in table


def test_like_beside_keywords_ranks_its_topic_above_unrelated(tmp_path: Path) -> None:
    cfg = config_with(tmp_path, [{"email": "ana@example.org", "keywords": ["attention"]}])
    before = {p["title"]: p["score"] for p in matched(cfg)}
    assert before == {
        "Streaming Speech Recognition with Chunked Attention": 4,
        "Sparse Attention Kernels for Long Documents": 4,
    }
    cfg = config_with(tmp_path, [{"email": "ana@example.org", "keywords": ["attention"], "like": [NOISY]}])
    papers = matched(cfg)
    score = {p["title"]: p["score"] for p in papers}
    assert papers[0]["title"] == "Streaming Speech Recognition with Chunked Attention"
    assert (
        score["Streaming Speech Recognition with Chunked Attention"]
        > score["Sparse Attention Kernels for Long Documents"]
    )
    assert set(score) == (SPEECH - {NOISY}) | {"Sparse Attention Kernels for Long Documents"}  # its topic joins
    assert NOISY not in score
    first = papers[0]["matched"]
    assert first[0] == {"keyword": "attention", "fields": ["title", "abstract"]}
    assert first[1]["like"] == NOISY


def test_dislike_pushes_its_topic_down_and_adds_nothing(tmp_path: Path) -> None:
    subs: list[dict[str, Any]] = [{"email": "ana@example.org", "keywords": ["protein", "speech"], "max_papers": 20}]
    cfg = config_with(tmp_path, subs)
    plain = matched(cfg)
    subs[0]["dislike"] = [ACCENT]
    cfg = config_with(tmp_path, subs)
    pushed = matched(cfg)
    assert {p["title"] for p in pushed} <= {p["title"] for p in plain}  # never adds a paper
    assert ACCENT not in {p["title"] for p in pushed}
    titles = [p["title"] for p in pushed]
    speech_ranks = [titles.index(t) for t in SPEECH - {ACCENT}]
    protein_ranks = [titles.index(t) for t in PROTEIN]
    assert min(speech_ranks) > max(protein_ranks)  # every speech paper below every protein paper
    plain_score = {p["title"]: p["score"] for p in plain}
    for p in pushed:
        assert p["score"] <= plain_score[p["title"]]  # never up
        if p["title"] in SPEECH:
            assert any(h.get("dislike") == ACCENT for h in p["matched"])


def test_like_require_and_exclude_still_apply(tmp_path: Path) -> None:
    cfg = config_with(tmp_path, [{"email": "ana@example.org", "like": [FOLD], "exclude": ["diffusion"]}])
    titles = {p["title"] for p in matched(cfg)}
    assert "Diffusion over Protein Backbones for Structure Design" not in titles
    assert "Contact Maps Help Protein Folding Models Generalise" in titles
    cfg = config_with(tmp_path, [{"email": "ana@example.org", "like": [FOLD], "require": ["contact"]}])
    titles = {p["title"] for p in matched(cfg)}
    assert titles == {
        "Contact Maps Help Protein Folding Models Generalise",
        "Benchmarking Protein Language Models on Structure Tasks",
    }


def test_ref_keys_read_ids_urls_and_titles() -> None:
    assert ref_keys("2509.01234v3") == ("2509.01234",)
    assert ref_keys("https://huggingface.co/papers/2509.01234") == ("2509.01234",)
    assert ref_keys("https://arxiv.org/abs/2509.01234v2") == ("2509.01234",)
    assert ref_keys("https://arxiv.org/pdf/2509.01234.pdf") == ("2509.01234",)
    assert ref_keys("  FoldFast: Protein Structure  ")[1] == "foldfast-protein-structure"


def test_config_like_entries_are_validated_with_lines(tmp_path: Path) -> None:
    cfg = config_with(tmp_path, [{"email": "ana@example.org", "like": [FOLD, ""], "like_threshold": 2}])
    result = newsletter("check", "-c", str(cfg))
    assert result.exit_code == 2
    assert "subscribers[0].like" in result.output and "an empty entry" in result.output
    assert "subscribers[0].like_threshold" in result.output
    assert re.search(r"config\.yaml:\d+", result.output)
    assert "Traceback" not in result.output


def test_check_warns_about_an_unknown_liked_paper(tmp_path: Path) -> None:
    cfg = config_with(tmp_path, [{"email": "ana@example.org", "like": [FOLD, "2611.99999"]}])
    result = newsletter("check", "-c", str(cfg))
    assert result.exit_code == 0, result.output  # a warning, not an error: it may arrive later
    assert "warning:" in result.stderr and "'2611.99999' names no paper" in result.stderr
    assert FOLD not in result.stderr  # the known one is fine


# --------------------------------------------------------------------------- email, links, endpoint


def _sent_html(msg: Message) -> str:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/html")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


def _links(html: str, label: str) -> dict[str, str]:
    """Paper title -> its feedback link with ``label`` in a delivered HTML part."""
    out: dict[str, str] = {}
    for block in html.split("border-top:1px solid #e2e8f0")[1:]:
        title = re.search(r'text-decoration-color:#93c5fd;">(.*?)</a>', block)
        link = re.search(rf'<a href="([^"]+)"[^>]*>{label}</a>', block)
        if title and link:
            out[re.sub(r"<[^>]+>", "", title.group(1)).replace("&#39;", "'").replace("&amp;", "&")] = link.group(
                1
            ).replace("&amp;", "&")
    return out


def _send(tmp_path: Path, http_port: int, subscribers: list[dict[str, Any]]) -> tuple[Path, Message]:
    with smtp_server() as smtp:
        cfg = config_with(
            tmp_path,
            subscribers,
            port=smtp.port,
            sender={
                "from": "Paper Digest <digest@example.org>",
                "unsubscribe": {
                    "url": f"http://127.0.0.1:{http_port}/unsubscribe/{{{{ token }}}}",
                    "listen": f"127.0.0.1:{http_port}",
                },
                "feedback": {"url": f"http://127.0.0.1:{http_port}"},
            },
        )
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        msg = smtp.by_recipient()["ana@example.org"][0].message
    return cfg, msg


def _http(url: str, data: bytes | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def _feedback(cfg: Path) -> list[tuple[str, str, str]]:
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        return [(r.email, r.action, r.title) for r in ledger.feedback_rows()]


def test_liked_paper_never_sent_and_email_explains_and_links(tmp_path: Path) -> None:
    port = free_port()
    _, msg = _send(tmp_path, port, [{"email": "ana@example.org", "keywords": ["protein"], "like": [FOLD]}])
    html = _sent_html(msg)
    assert "FoldFast" not in msg["Subject"] and f">{FOLD}<" not in html  # liked: never sent
    assert f"like {FOLD}: shared terms" in html  # the chip names the liked paper
    more = _links(html, "More like this")
    assert set(more) == PROTEIN - {FOLD}
    text = next(p for p in msg.walk() if p.get_content_type() == "text/plain").get_payload(decode=True)
    assert isinstance(text, bytes) and b"More like this:" in text
    assert all(len(line) <= 78 or b"://" in line for line in text.splitlines())


def test_no_feedback_links_without_feedback_url(tmp_path: Path) -> None:
    with smtp_server() as smtp:
        cfg = config_with(tmp_path, [{"email": "ana@example.org", "keywords": ["protein"]}], port=smtp.port)
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        html = _sent_html(smtp.by_recipient()["ana@example.org"][0].message)
    assert "/feedback/" not in html and "More like this" not in html


def test_feedback_get_changes_nothing_post_records_forged_is_404(tmp_path: Path) -> None:
    port = free_port()
    cfg, msg = _send(tmp_path, port, [{"email": "ana@example.org", "keywords": ["speech"], "max_papers": 2}])
    more = _links(_sent_html(msg), "More like this")
    fewer = _links(_sent_html(msg), "Fewer like this")
    title, link = next(iter(more.items()))
    server = UnsubscribeServer(load_config(cfg), port=port)
    background = Background(server).start()
    try:
        status, page = _http(link)
        assert status == 200 and "More papers like this one?" in page and title in page.replace("&#39;", "'")
        assert _feedback(cfg) == []  # a GET (a mail scanner) changes nothing
        # forged: another paper, another action, another address, a bad signature
        token, _word, paper, sig = link.rsplit("/", 4)[1:]
        other_paper = encode_paper("some-other-paper")
        bob_token = unsubscribe_token("bob@example.org", SECRET)
        for forged in (
            link.replace(f"/{paper}/", f"/{other_paper}/"),
            link.replace("/more/", "/fewer/"),
            link.replace(token, bob_token),
            link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB"),
            link.replace(sig, signature("ana@example.org", "x", "more", "wrong secret")),
        ):
            assert _http(forged, b"confirm=1")[0] == 404, forged
        assert _feedback(cfg) == []
        status, page = _http(link, b"confirm=1")
        assert status == 200 and "Noted: more like this" in page
        assert _http(link, b"confirm=1")[0] == 200  # idempotent
        assert _http(fewer[title], b"")[0] == 200  # the other link: now a dislike
    finally:
        background.stop()
    assert _feedback(cfg) == [("ana@example.org", "dislike", title)]
    status = newsletter("status", "-c", str(cfg), "--json")
    assert json.loads(status.output)["feedback"][0]["action"] == "dislike"


def test_feedback_link_in_a_real_browser_then_match_reflects_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    assert shutil.which("chromedriver"), "install Debian's chromium-driver (.ci/run does)"
    port = free_port()
    cfg, msg = _send(tmp_path, port, [{"email": "ana@example.org", "keywords": ["robot", "protein"]}])
    link = _links(_sent_html(msg), "More like this")[FOLD]
    before = {p["title"] for p in matched(cfg)}
    assert not SPEECH & before
    server = UnsubscribeServer(load_config(cfg), port=port)
    background = Background(server).start()
    try:
        driver = chrome_driver(tmp_path, monkeypatch)
        try:
            driver.get(link)
            assert driver.find_element(By.ID, "title").text == "More papers like this one?"
            assert driver.find_element(By.ID, "paper").text == FOLD
            assert _feedback(cfg) == []  # opening the page changed nothing
            driver.find_element(By.ID, "confirm").click()
            done = WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.ID, "done")))
            assert done.text == "Noted: more like this"
            shot = tmp_path / "feedback-confirmed.png"
            driver.save_screenshot(str(shot))
            assert shot.stat().st_size > 3000
        finally:
            driver.quit()
    finally:
        background.stop()
    assert _feedback(cfg) == [("ana@example.org", "like", FOLD)]
    after = matched(cfg)
    titles = [p["title"] for p in after]
    assert FOLD not in titles  # liked now: never sent again
    liked_hits = [h for p in after for h in p["matched"] if h.get("like") == FOLD]
    assert liked_hits  # the next match names the paper liked from the email
    listed = newsletter("subscribers", "-c", str(cfg), "list").output
    assert "like: FoldFast" in listed


# --------------------------------------------------------------------------- by hand


def test_feedback_command_like_list_forget(tmp_path: Path) -> None:
    cfg = config_with(tmp_path, [{"email": "ana@example.org", "keywords": ["robot"]}])
    assert not {p["title"] for p in matched(cfg)} & SPEECH
    done = newsletter("feedback", "-c", str(cfg), "like", "ANA@example.org", NOISY.lower())
    assert done.exit_code == 0 and f"like {NOISY}" in done.output
    assert {p["title"] for p in matched(cfg)} & SPEECH  # the like joins the profile
    listed = newsletter("feedback", "-c", str(cfg), "list")
    assert "ana@example.org  like" in listed.output and NOISY in listed.output
    unknown = newsletter("feedback", "-c", str(cfg), "like", "ana@example.org", "2611.99999")
    assert unknown.exit_code == 2 and "no paper '2611.99999'" in unknown.output
    stranger = newsletter("feedback", "-c", str(cfg), "like", "zed@example.org", NOISY)
    assert stranger.exit_code == 2
    gone = newsletter("feedback", "-c", str(cfg), "forget", "ana@example.org", NOISY)
    assert gone.exit_code == 0
    assert not {p["title"] for p in matched(cfg)} & SPEECH
    again = newsletter("feedback", "-c", str(cfg), "forget", "ana@example.org", NOISY)
    assert again.exit_code == 1


def test_subscribers_add_like_and_csv_like_column(tmp_path: Path) -> None:
    cfg = config_with(tmp_path, [{"email": "ana@example.org", "keywords": ["robot"]}])
    added = newsletter("subscribers", "-c", str(cfg), "add", "bo@example.org", "--like", FOLD)
    assert added.exit_code == 0, added.output
    data = yaml.safe_load((tmp_path / "subscribers" / "bo@example.org.yaml").read_text(encoding="utf-8"))
    assert data["like"] == [FOLD]
    csv_file = tmp_path / "team.csv"
    csv_file.write_text(f"email,keywords,like\ncy@example.org,,{FOLD}\n", encoding="utf-8")
    assert newsletter("subscribers", "-c", str(cfg), "import", str(csv_file)).exit_code == 0
    assert {p["title"] for p in matched(cfg, "cy@example.org")} <= PROTEIN - {FOLD}


def test_old_ledger_without_feedback_table_reads_as_no_feedback(tmp_path: Path) -> None:
    cfg = config_with(tmp_path, [{"email": "ana@example.org", "like": [FOLD]}])
    state = load_config(cfg).ledger_path
    SqliteLedger.open(state).close()
    with sqlite3.connect(state) as conn:
        conn.execute("DROP TABLE feedback")
        conn.execute("PRAGMA user_version = 6")
    assert matched(cfg)  # read only: no table, no feedback, no crash


def test_preview_serve_explains_likes_and_sees_new_feedback(tmp_path: Path) -> None:
    from newsletter.app.likes import set_feedback
    from newsletter.web.preview import PreviewServer

    # like_top 6: the likes of two topics together (a paper's similarity is its mean over the likes)
    cfg = config_with(tmp_path, [{"email": "ana@example.org", "keywords": ["robot"], "like": [FOLD], "like_top": 6}])
    server = PreviewServer(cfg, port=0)
    background = Background(server).start()
    try:

        def page() -> str:
            with urllib.request.urlopen(server.url + "s/ana@example.org", timeout=30) as resp:
                return str(resp.read().decode("utf-8"))

        first = page()
        assert f"like {FOLD}: shared terms" in first  # why-matched names the liked paper
        assert "like Noisy Audio" not in first
        set_feedback(load_config(cfg), "ana@example.org", NOISY, "like")
        assert f"like {NOISY}: shared terms" in page()  # the ledger is re-read on every load
    finally:
        background.stop()


def test_feedback_pages_escape_the_paper_title() -> None:
    from newsletter.render.pages import render_page

    for name in ("feedback.html", "feedback_done.html"):
        page = render_page(name, address="an***@example.org", list_name="Digest", paper="<script>x</script>", more=True)
        assert "<script>x" not in page and "&lt;script&gt;x" in page


def test_feedback_page_closes_a_titles_bidi_override(tmp_path: Path) -> None:
    """A title ending inside a right-to-left override (U+202E) would reverse the page's next
    line ("... will send an***@example.org fewer papers"): the page closes it after the title."""
    from newsletter.render.links.feedback import FeedbackLink
    from newsletter.render.pages import render_page
    from newsletter.web.feedback import _Handlers

    class Server:
        config = load_config(config_with(tmp_path, [{"email": "ana@example.org", "keywords": ["x"]}], port=1025))

    link = FeedbackLink("ana@example.org", "2611.00001", "dislike")
    context = _Handlers(Server())._context(link, "Tables \u202eelbat")  # type: ignore[arg-type]
    page = render_page("feedback.html", **context)
    assert "<strong>Tables \u202eelbat\u202c</strong>" in page


def test_feedback_list_says_when_in_the_schedule_zone(tmp_path: Path) -> None:
    """A like recorded at 12:00 UTC, listed for a newsletter in Europe/Berlin: `13:00 CET`
    (it said `12:00`, UTC unsaid, an hour off for the user reading it)."""
    import sqlite3
    from datetime import UTC, datetime

    cfg = config_with(
        tmp_path,
        [{"email": "ana@example.org", "keywords": ["robot"]}],
        schedule={"cron": "0 7 * * *", "timezone": "Europe/Berlin"},
    )
    assert newsletter("feedback", "-c", str(cfg), "like", "ana@example.org", NOISY).exit_code == 0
    noon = datetime(2026, 11, 20, 12, 0, tzinfo=UTC).timestamp()
    with sqlite3.connect(load_config(cfg).ledger_path) as db:
        db.execute("UPDATE feedback SET created_at = ?", (noon,))
    db.close()
    listed = newsletter("feedback", "-c", str(cfg), "list")
    assert "ana@example.org  like     2026-11-20 13:00 CET" in listed.output
