"""The email (SPEC 5): rendered messages parsed back with the stdlib email package."""

from __future__ import annotations

import email
import html as htmllib
import json
import os
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import mjml
import pytest
import yaml

from newsletter.base.errors import ConfigError, RenderError
from newsletter.config import Config, load_config
from newsletter.digest import Paper
from newsletter.digest.scan import load_digests
from newsletter.matching import Match
from newsletter.matching.matcher import plan
from newsletter.render import RenderedEmail, Renderer, boundary_for, message_id_for
from newsletter.render.content import cut_at_word, wrap
from newsletter.render.links.tokens import unsubscribe_token, verify_token
from newsletter.store import SqliteLedger

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "seeds").glob("*.txt"))
GOLDEN = Path(__file__).resolve().parent / "golden"
WHEN = datetime(2025, 9, 15, 7, 30, tzinfo=UTC)
SECRET = "test-secret"


# --------------------------------------------------------------------------- helpers


def make_config(tmp_path: Path, **changes: Any) -> Config:
    """config.example.yaml with the seeds as digests, state in tmp, and ``changes`` merged."""
    data = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
    data["digests"]["directory"] = str(ROOT / "seeds")
    data["state"] = str(tmp_path / "state.sqlite3")
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_config(path)


def render_all(
    config: Config, paths: list[Path] | None = None, **kw: Any
) -> list[tuple[Any, list[Match], RenderedEmail]]:
    renderer = Renderer(config, secret=SECRET)
    loaded = load_digests(paths or SEEDS)
    out = []
    for sub, matches in plan(config.subscribers, loaded.papers):
        rendered = renderer.render(sub, matches, message_id=renderer.message_id(sub, matches), date=WHEN, **kw)
        out.append((sub, matches, rendered))
    return out


def parse(rendered: RenderedEmail) -> EmailMessage:
    msg = email.message_from_bytes(rendered.as_bytes(), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "title"):
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join("".join(parser.parts).split())


def plain(text: str) -> str:
    return " ".join(text.replace("*", "").split())


def bodies(msg: EmailMessage) -> tuple[str, str]:
    text_part = msg.get_body(("plain",))
    html_part = msg.get_body(("html",))
    assert text_part is not None and html_part is not None
    # parsed from CRLF bytes, the decoded bodies keep CRLF
    return (text_part.get_content().replace("\r\n", "\n"), html_part.get_content().replace("\r\n", "\n"))


def json_digest(tmp_path: Path, papers: list[dict[str, Any]], name: str = "d.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(papers), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, list[Match], RenderedEmail]]:
    return render_all(make_config(tmp_path_factory.mktemp("example")))


# --------------------------------------------------------------------------- structure and headers


def test_structure_multipart_alternative_text_then_html(example: list[Any]) -> None:
    for _, _, rendered in example:
        msg = parse(rendered)
        assert msg.get_content_type() == "multipart/alternative"
        parts = list(msg.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
        for p in parts:
            assert p.get_content_charset() == "utf-8"
            assert p["Content-Transfer-Encoding"] == "quoted-printable"
        assert msg.defects == [] and all(p.defects == [] for p in parts)
        raw = rendered.as_bytes()
        assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_every_header(example: list[Any]) -> None:
    _, matches, rendered = example[0]
    msg = parse(rendered)
    assert msg["From"] == "Paper Digest <digest@example.org>"
    assert msg["To"].addresses[0].addr_spec == "alice@example.org"
    assert msg["To"].addresses[0].display_name == "Alice Martin"
    assert msg["Subject"] == f"{len(matches)} new papers for you"
    assert msg["Date"].datetime == WHEN
    ids = [m.paper.id for m in matches]
    assert msg["Message-ID"] == message_id_for("alice@example.org", ids, domain="example.org", secret=SECRET)
    assert msg["Message-ID"] != message_id_for("alice@example.org", ids, domain="example.org")  # keyed
    assert re.fullmatch(r"<[0-9a-f]{40}@example\.org>", msg["Message-ID"])
    assert msg["MIME-Version"] == "1.0"
    assert msg["List-Id"] == "<paper-digest.example.org>"
    token = unsubscribe_token("alice@example.org", SECRET)
    assert msg["List-Unsubscribe"].strip() == (
        f"<mailto:unsubscribe@example.org?subject=unsubscribe%20{token}>, "
        f"<https://digest.example.org/unsubscribe/{token}>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    names = [k for k, _ in msg.items()]
    for header in (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Content-Type",
    ):
        assert names.count(header) == 1, header


def test_one_click_only_with_https_url(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, sender={"unsubscribe": {"mailto": "leave@example.org", "url": "http://example.org/u/{{ token }}"}}
    )
    msg = parse(render_all(config, SEEDS[:1])[0][2])
    assert "List-Unsubscribe-Post" not in msg
    assert "<http://example.org/u/" in msg["List-Unsubscribe"]
    config = make_config(tmp_path, sender={"unsubscribe": {"mailto": "leave@example.org", "url": None}})
    msg = parse(render_all(config, SEEDS[:1])[0][2])
    assert "List-Unsubscribe-Post" not in msg
    assert msg["List-Unsubscribe"].strip().startswith("<mailto:leave@example.org?")
    text, html = bodies(msg)
    assert "To unsubscribe, write to leave@example.org" in text
    assert 'href="mailto:leave@example.org?' in html


def test_message_id_deterministic_and_bytes_match_stdlib(example: list[Any], tmp_path: Path) -> None:
    again = render_all(make_config(tmp_path))
    for (_, _, a), (_, _, b) in zip(example, again, strict=True):
        assert a.message_id == b.message_id
        assert a.as_bytes() == b.as_bytes()  # same delivery, same date: same bytes
        assert a.as_bytes() == a.message.as_bytes()  # the fast writer equals the stdlib generator
    ids = {r.message_id for _, _, r in example}
    assert len(ids) == len(example)
    assert message_id_for("A@x.org", ["b", "a"], domain="d") == message_id_for("a@x.org", ["a", "b"], domain="d")
    assert message_id_for("a@x.org", ["a"], domain="d") != message_id_for("a@x.org", ["a", "b"], domain="d")
    assert message_id_for("a@x.org", [], domain="d", salt="2025-09-15") != message_id_for(
        "a@x.org", [], domain="d", salt="2025-09-16"
    )
    assert boundary_for("<x@y>").startswith("=_")


def test_display_names_are_encoded_never_injected(tmp_path: Path) -> None:
    subs = [
        {"email": "zoe@example.org", "name": "Zoë Ünïcode-Ñame", "keywords": ["diffusion"]},
        {"email": "doe@example.org", "name": 'Doe, John "JD" <x@evil.org>', "keywords": ["diffusion"]},
    ]
    config = make_config(tmp_path, subscribers=subs, sender={"from": "Digest Ärger <digest@example.org>"})
    for sub, _, rendered in render_all(config, SEEDS[2:3]):
        raw = rendered.as_bytes()
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert head.isascii()
        msg = parse(rendered)
        (addr,) = msg["To"].addresses
        assert (addr.display_name, addr.addr_spec) == (sub.name, sub.email)
        assert msg["From"].addresses[0].display_name == "Digest Ärger"
        assert "x@evil.org" not in [a.addr_spec for a in msg["To"].addresses]


@pytest.mark.parametrize("name", ["Eve\r\nBcc: victim@example.org", "Eve\nX-Evil: 1", "Eve\x00"])
def test_name_with_line_break_rejected_at_config_load(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, subscribers=[{"email": "eve@example.org", "name": name, "keywords": ["x"]}])
    assert "subscribers[0].name" in str(err.value)
    assert "line breaks" in str(err.value)


def test_subject_template_whitespace_collapsed(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, sender={"subject": "  {{ count }}\n papers\tfor {{ name }} ({{ email }}) on {{ date }}  "}
    )
    _, matches, rendered = render_all(config, SEEDS[:1])[0]
    expected = f"{len(matches)} papers for Alice Martin (alice@example.org) on 2025-09-15"
    assert rendered.subject == expected
    assert parse(rendered)["Subject"] == expected


# --------------------------------------------------------------------------- content


def test_every_matched_title_in_both_parts_and_nothing_unmatched(example: list[Any]) -> None:
    papers = load_digests(SEEDS).papers
    for _, matches, rendered in example:
        assert matches
        text, html = bodies(parse(rendered))
        seen_text, seen_html = plain(text), visible_text(html)
        chosen = {m.paper.id for m in matches}
        for m in matches:
            title = " ".join(m.paper.title.split())
            assert title in seen_text
            assert title in seen_html
        for paper in papers:
            if paper.id not in chosen:
                title = " ".join(paper.title.split())
                assert title not in seen_text and title not in seen_html, title


def test_paper_order_and_why_matched(example: list[Any]) -> None:
    for _, matches, rendered in example:
        text, html = bodies(parse(rendered))
        positions = [plain(text).index(" ".join(m.paper.title.split())) for m in matches]
        assert positions == sorted(positions)
        for m in matches:
            for hit in m.hits:
                assert f">{htmllib.escape(hit.keyword, quote=False)}</span>" in html
        assert f"Matched: {', '.join(h.keyword for h in matches[0].hits)}" in text


def test_highlighting_in_both_parts(tmp_path: Path) -> None:
    path = json_digest(
        tmp_path,
        [
            {
                "title": "Contrastive Learning of Things",
                "abstract": "We study self-supervised methods. Our data augmentation helps; medical is not here.",
            }
        ],
    )
    config = make_config(
        tmp_path,
        subscribers=[{"email": "a@example.org", "keywords": ["contrastive learning", "self-supervised", "augment*"]}],
    )
    ((_, _, rendered),) = render_all(config, [path])
    text, html = bodies(parse(rendered))
    assert "*Contrastive Learning* of Things" in text
    assert "*self-supervised* methods" in text
    assert "*augmentation* helps" in text
    marks = re.findall(r'<mark class="hl"[^>]*>([^<]*)</mark>', html)
    assert marks == ["Contrastive Learning", "self-supervised", "augmentation"]


def test_markup_from_digest_is_escaped(tmp_path: Path) -> None:
    path = json_digest(
        tmp_path,
        [
            {
                "title": "<script>alert('x')</script> Contrastive learning & <b>friends</b>",
                "abstract": 'Contrastive learning <img src=x onerror="alert(1)"> "quoted" & more.',
                "url": "javascript:alert(1)",
            }
        ],
    )
    config = make_config(
        tmp_path, subscribers=[{"email": "a@example.org", "name": "<b>Al</b>", "keywords": ["contrastive learning"]}]
    )
    ((_, _, rendered),) = render_all(config, [path])
    text, html = bodies(parse(rendered))
    assert "<script" not in html.lower()
    assert "<img" not in html.lower() and "<b>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert "Hi &lt;b&gt;Al&lt;/b&gt;," in html
    assert "javascript:" not in html  # a non-http URL is never a link
    assert "<script>alert('x')</script>" in text  # plain text is not HTML: kept as written


def test_meta_links_and_abstract_cut(tmp_path: Path) -> None:
    abstract = "Diffusion " + " ".join(f"word{i}" for i in range(200)) + " see https://github.com/o/r."
    path = json_digest(
        tmp_path,
        [
            {
                "title": "A Diffusion Paper",
                "abstract": abstract,
                "authors": ["A", "B", "C"],
                "published": "2025-09-14",
                "upvotes": 42,
                "url": "https://example.org/paper/1",
            }
        ],
    )
    config = make_config(
        tmp_path, subscribers=[{"email": "a@example.org", "keywords": ["diffusion"], "abstract_chars": 120}]
    )
    ((_, _, rendered),) = render_all(config, [path])
    text, html = bodies(parse(rendered))
    assert "A, B, C · 14 Sep 2025 · 42 upvotes" in text
    assert "A, B, C · 14 Sep 2025 · 42 upvotes" in html
    assert 'href="https://example.org/paper/1"' in html
    assert "Code: https://github.com/o/r" in text and "Link: https://github.com/o/r" not in text
    assert 'href="https://github.com/o/r"' in html
    cut = re.search(r"\*Diffusion\* word0.*?…", text, re.S)
    assert cut is not None
    body = " ".join(cut.group(0).split())
    assert len(body.replace("*", "")) <= 121 and body.endswith("…")
    assert re.search(r"word\d+…", body)  # ends on a whole word


def test_cut_at_word() -> None:
    assert cut_at_word("short", 10) == ("short", False)
    assert cut_at_word("one two three", 9) == ("one two", True)
    assert cut_at_word("one two, three", 8) == ("one two", True)
    assert cut_at_word("abcdefghij", 4) == ("abcd", True)
    assert cut_at_word("anything", 0) == ("", True)


def test_text_lines_at_most_78(example: list[Any], tmp_path: Path) -> None:
    config = make_config(tmp_path, defaults={"max_papers": 20, "abstract_chars": 2000})
    for _, _, rendered in [*example, *render_all(config)]:
        text, _ = bodies(parse(rendered))
        for line in text.splitlines():
            if len(line) > 78:
                assert len(line.split()) == 1 and "://" in line, line


def test_wrap() -> None:
    assert wrap("a b c", 3) == "a b\nc"
    assert wrap("x " * 3, 10, "   ", " 1. ") == " 1. x x x"
    assert wrap("https://example.org/" + "x" * 100, 20, "  ") == "  https://example.org/" + "x" * 100


def test_html_under_100_kb_for_20_papers(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        subscribers=[
            {
                "email": "many@example.org",
                "name": "Many Papers",
                "max_papers": 20,
                "keywords": ["model*", "learning", "language", "data"],
            }
        ],
    )
    ((_, matches, rendered),) = render_all(config)
    assert len(matches) == 20
    assert all(len(m.paper.abstract) > 500 for m in matches[:10])
    assert len(rendered.html.encode("utf-8")) < 100 * 1024
    assert len(rendered.as_bytes()) < 100 * 1024 + 20 * 1024  # text part and encoding on top


def test_fast_path_equals_jinja_then_mjml(example: list[Any], tmp_path: Path) -> None:
    """MJML compiled once with the Jinja markup in gives what Jinja-then-MJML gives."""
    config = make_config(tmp_path)
    renderer = Renderer(config, secret=SECRET)
    sub, matches, rendered = example[1]
    ctx = renderer.context(sub, matches, date=WHEN, token=unsubscribe_token(sub.email, SECRET))
    slow = mjml.mjml2html(renderer.templates.html_source.render(ctx), disable_comments=True)

    def norm(s: str) -> str:
        return re.sub(r">\s+<", "><", " ".join(s.split()))

    assert norm(slow) == norm(rendered.html)


def test_empty_email_when_send_empty(tmp_path: Path) -> None:
    config = make_config(tmp_path, subscribers=[{"email": "a@example.org", "keywords": ["zzzqqq"], "send_empty": True}])
    ((_, matches, rendered),) = render_all(config, SEEDS[:1])
    assert matches == []
    text, html = bodies(parse(rendered))
    assert "No new papers matched your keywords this time." in text
    assert "No new papers matched your keywords this time." in visible_text(html)


# --------------------------------------------------------------------------- unsubscribe


def test_unsubscribe_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token = unsubscribe_token("Alice@Example.org ", "s3cret")
    assert token == unsubscribe_token("alice@example.org", b"s3cret")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert verify_token("alice@example.org", token, "s3cret")
    assert not verify_token("bob@example.org", token, "s3cret")
    assert not verify_token("alice@example.org", token, "other")
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", "from-env")
    renderer = Renderer(make_config(tmp_path))
    assert not renderer.insecure_secret
    sub = renderer.config.subscribers[0]
    url, _ = renderer.unsubscribe_uris(sub, unsubscribe_token(sub.email, "from-env"))
    rendered = renderer.render(sub, [], message_id="<x@example.org>", date=WHEN)
    assert url and url in parse(rendered)["List-Unsubscribe"]
    monkeypatch.delenv("NEWSLETTER_UNSUBSCRIBE_SECRET")
    assert Renderer(make_config(tmp_path)).insecure_secret  # no ledger yet: nothing is written
    assert not (tmp_path / "state.sqlite3.secret").exists()
    SqliteLedger.open(tmp_path / "state.sqlite3").close()
    kept = Renderer(make_config(tmp_path))  # unset: the secret kept beside the ledger
    assert not kept.insecure_secret
    assert (tmp_path / "state.sqlite3.secret").is_file()
    assert Renderer(make_config(tmp_path, state=str(tmp_path / "none" / "state.sqlite3"))).insecure_secret


# --------------------------------------------------------------------------- templates


def test_template_override_dir_file_by_file(tmp_path: Path) -> None:
    tdir = tmp_path / "tpl"
    tdir.mkdir()
    (tdir / "digest.txt.j2").write_text(
        "Custom for {{ email }}: {{ count }}\n{% for p in papers %}- {{ p.title }}\n{% endfor %}", encoding="utf-8"
    )
    config = make_config(tmp_path, templates=str(tdir))
    _, matches, rendered = render_all(config, SEEDS[:1])[0]
    text, html = bodies(parse(rendered))
    assert text.startswith(f"Custom for alice@example.org: {len(matches)}\n- ")
    assert "matched your keywords" in visible_text(html)  # the HTML template is still the shipped one


def test_html_template_override_is_autoescaped(tmp_path: Path) -> None:
    tdir = tmp_path / "tpl"
    tdir.mkdir()
    (tdir / "digest.mjml.j2").write_text(
        "<mjml><mj-body><mj-section><mj-column><mj-text>{{ name }}"
        "</mj-text></mj-column></mj-section></mj-body></mjml>\n",
        encoding="utf-8",
    )
    config = make_config(
        tmp_path,
        templates=str(tdir),
        subscribers=[{"email": "a@example.org", "name": "<i>A</i>", "keywords": ["model"]}],
    )
    ((_, _, rendered),) = render_all(config, SEEDS[:1])
    assert "&lt;i&gt;A&lt;/i&gt;" in rendered.html and "<i>" not in rendered.html


def _override(tmp_path: Path, name: str, body: str) -> Config:
    tdir = tmp_path / "tpl"
    tdir.mkdir(exist_ok=True)
    (tdir / name).write_text(body, encoding="utf-8")
    return make_config(tmp_path, templates=str(tdir))


MJML_OK = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hi {{ name }}</mj-text>
        {body}
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""


@pytest.mark.parametrize(
    ("name", "body", "line", "words"),
    [
        ("digest.txt.j2", "Hi\n\n{% for p in papers %}\n{{ p.title }\n{% endfor %}\n", 4, "syntax"),
        ("digest.txt.j2", "Hi\n{{ count }}\n{{ no_such_thing }}\n", 3, "no_such_thing"),
        ("digest.txt.j2", "Hi\n{% for p in papers %}\n{{ p.no_such_attr }}\n{% endfor %}\n", 3, "no_such_attr"),
        ("digest.mjml.j2", MJML_OK.replace("{body}", "<mj-text>{% if count %}</mj-text>"), 6, "syntax"),
        ("digest.mjml.j2", MJML_OK.replace("{body}", "<mj-text>{{ nope }}</mj-text>"), 6, "nope"),
        ("digest.mjml.j2", MJML_OK.replace("{body}", "<mj-text>{{ papers[0].nope }}</mj-text>"), 6, "nope"),
        (
            "digest.mjml.j2",
            MJML_OK.replace("{body}", '<mj-image src="https://x.org/a.png" width="{{ count }}px" />'),
            6,
            "dropped or changed",
        ),
        (
            "digest.mjml.j2",
            MJML_OK.replace(
                "<mj-body>", "<mj-head>\n{% if count %}<mj-title>x</mj-title>{% endif %}</mj-head><mj-body>"
            ),
            3,
            "MJML",
        ),
        ("digest.mjml.j2", MJML_OK.replace("{body}", "<mj-text>unclosed"), 7, "MJML"),
        ("digest.mjml.j2", MJML_OK.replace("{body}", "<mj-txet>typo</mj-txet>"), 6, "mj-txet"),
    ],
)
def test_template_errors_name_template_and_line(tmp_path: Path, name: str, body: str, line: int, words: str) -> None:
    config = _override(tmp_path, name, body)
    with pytest.raises(RenderError) as err:
        render_all(config, SEEDS[2:3])
    message = str(err.value)
    assert err.value.path is not None and err.value.path.endswith(os.sep + name), message
    assert err.value.line == line, message
    assert f"{name}:{line}:" in message
    assert words in message


def test_bad_subject_template_is_a_render_error(tmp_path: Path) -> None:
    config = make_config(tmp_path, sender={"subject": "{{ count "})
    with pytest.raises(RenderError) as err:
        Renderer(config)
    assert "sender.subject" in str(err.value)
    config = make_config(tmp_path, sender={"subject": "{{ nothing }}"})
    with pytest.raises(RenderError) as err:
        render_all(config, SEEDS[:1])
    assert "sender.subject" in str(err.value) and "nothing" in str(err.value)


# --------------------------------------------------------------------------- golden files


def normalise(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=policy.default)
    boundary = msg.get_boundary()
    assert boundary
    text = raw.decode("ascii")
    text = text.replace(boundary, "BOUNDARY")
    text = re.sub(r"^Message-ID: .*$", "Message-ID: <MESSAGE-ID>", text, flags=re.M)
    return re.sub(r"^Date: .*$", "Date: DATE", text, flags=re.M)


def test_golden_files(tmp_path: Path) -> None:
    """The complete messages for the example subscribers and one seed; set UPDATE_GOLDEN=1 to refresh."""
    config = make_config(tmp_path)
    seed = tmp_path / SEEDS[2].name
    seed.write_bytes(SEEDS[2].read_bytes())
    fixed = datetime(2025, 9, 1, tzinfo=UTC).timestamp()  # yearless dates resolve against the mtime
    os.utime(seed, (fixed, fixed))
    for sub, _, rendered in render_all(config, [seed]):
        got = normalise(rendered.as_bytes())
        path = GOLDEN / f"{sub.email.split('@')[0]}.eml"
        if os.environ.get("UPDATE_GOLDEN"):
            GOLDEN.mkdir(exist_ok=True)
            path.write_bytes(got.encode("ascii"))
        assert path.read_bytes().decode("ascii") == got, f"{path} differs (UPDATE_GOLDEN=1)"


def test_paper_objects_unchanged_by_render(example: list[Any]) -> None:
    _, matches, _ = example[0]
    assert all(isinstance(m.paper, Paper) for m in matches)


SAMPLES = Path(__file__).resolve().parent / "samples"


def test_email_shows_real_world_paper_fields(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        subscribers=[{"email": "a@example.org", "keywords": ["satellite", "author:Osei"], "abstract_chars": 400}],
    )
    ((_, matches, rendered),) = render_all(config, [SAMPLES / "api.json"])
    assert len(matches) == 1
    msg = parse(rendered)
    assert msg["Subject"] == "1 new paper for you"  # singular
    text, html = bodies(msg)
    assert "1 new paper matched your keywords." in text
    assert "1 new paper matched" in visible_text(html)
    # the title links to the Hugging Face page; arXiv, PDF, code with stars, project page
    assert 'href="https://huggingface.co/papers/2610.01234"' in html
    for url in (
        "https://arxiv.org/abs/2610.01234",
        "https://arxiv.org/pdf/2610.01234",
        "https://github.com/tide-lab/contrastive-tide",
        "https://tide-lab.example.org/tide",
    ):
        assert f'href="{url}"' in html and url in text
    assert "Code ★ 3.3k: https://github.com/tide-lab/contrastive-tide" in text
    assert "Code ★ 3.3k" in visible_text(html)
    # first authors' names, the organisation, upvotes; the comment count is never a vote
    meta = "Ana Quiroga, Ben Osei and 1 more · Tidal Intelligence Dynamics Lab · 4 Oct 2026 · 118 upvotes"
    assert meta in plain(text) and meta in visible_text(html)
    assert "2 votes" not in text and "2 upvotes" not in text
    assert "TL;DR: Contrastive learning over time recovers ocean currents from satellite images." in plain(text)
    assert "TL;DR Contrastive learning over time" in visible_text(html)
    assert "Matched: satellite, author:Osei" in text


def test_email_snippet_gives_every_chip_evidence(tmp_path: Path) -> None:
    abstract = "Diffusion " + " ".join(f"word{i}" for i in range(100)) + " a rare zebrafish term, then more words."
    path = json_digest(tmp_path, [{"title": "A Diffusion Paper", "abstract": abstract}])
    config = make_config(
        tmp_path,
        subscribers=[{"email": "a@example.org", "keywords": ["diffusion", "zebrafish"], "abstract_chars": 120}],
    )
    ((_, _, rendered),) = render_all(config, [path])
    text, html = bodies(parse(rendered))
    assert re.search(r"> …word\d+ .*\*zebrafish\* term, then more words\.", " ".join(text.split()))
    assert '<mark class="hl" style="background-color:#fde68a;color:inherit;font-weight:700;">zebrafish</mark>' in html
    # a hit inside the cut abstract gets no snippet
    assert text.count("> …") == 1


def test_email_every_keyword_chip_has_visible_evidence(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    renderer = Renderer(config, secret=SECRET)
    chips = by_snippet = 0
    for sub, matches in plan(config.subscribers, load_digests(SEEDS).papers):
        views = renderer.context(sub, matches, date=WHEN, token="t")["papers"]
        for view in views:
            shown = {
                "title": [sg.text.casefold() for sg in view.title_segments if sg.mark],
                "abstract": [sg.text.casefold() for sg in view.abstract_segments if sg.mark],
                "snippet": [sg.text.casefold() for sn in view.snippets for sg in sn if sg.mark],
            }
            for hit in view.hits:
                chips += 1
                first = re.findall(r"[^\W_]+", hit.keyword.split(":")[-1].casefold())[0].rstrip("*")[:4]
                where = [k for k, marks in shown.items() if any(first in m for m in marks)]
                assert where, (sub.email, view.title, hit.keyword)
                by_snippet += where == ["snippet"]
    assert chips > 40 and by_snippet >= 5  # without the snippets those chips had no evidence


def test_email_hostile_digest_values_are_escaped(tmp_path: Path) -> None:
    config = make_config(tmp_path, subscribers=[{"email": "a@example.org", "keywords": ["evil"]}])
    ((_, _, rendered),) = render_all(config, [SAMPLES / "hostile.json"])
    raw = rendered.as_bytes()
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert b"Bcc:" not in headers and b"Injected:" not in headers
    text, html = bodies(parse(rendered))
    assert "<script>alert(1)</script>" not in html and "<b>tags</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Mallory Injected: yes" in visible_text(html)
    assert "javascript:" not in html
    assert "=?utf-8?q?encoded?=" in text  # shown as written, never decoded


def test_email_arxiv_only_paper_links_to_its_abs_page(tmp_path: Path) -> None:
    config = make_config(tmp_path, subscribers=[{"email": "a@example.org", "keywords": ["curriculum"]}])
    ((_, _, rendered),) = render_all(config, [SAMPLES / "arxiv.atom"])
    text, html = bodies(parse(rendered))
    assert 'href="https://arxiv.org/abs/2611.00004"' in html
    assert html.count('href="https://arxiv.org/abs/2611.00004"') == 1  # the title, not a second link
    assert "PDF: http://arxiv.org/pdf/2611.00004v1" in text
    assert "Gil Amar · 1 Nov 2026" in text


# --------------------------------------------------------------------------- issue 25: the text part


ORPHAN = re.compile(r"\s*[.,;:!?…]+\s*")


def _check_text_lines(text: str) -> None:
    for line in text.splitlines():
        assert not ORPHAN.fullmatch(line), f"orphan punctuation line {line!r}"
        if len(line) > 78:  # the one exception: a URL alone on its line
            assert re.fullmatch(r"\s*https?://\S+", line), line


def test_text_part_lines_orphans_and_singular_with_hostile_input(tmp_path: Path) -> None:
    long = "https://example.org/" + "very-long-path/" * 10 + "code"
    digest = json_digest(
        tmp_path,
        [
            {
                "title": "Zebrafish " + "regeneration " * 12 + ".",
                "abstract": f"Zebrafish fins regrow ; code at {long} and data at {long}x . The end .",
                "id": "z1",
                "url": long + "/paper",
            }
        ],
    )
    config = make_config(
        tmp_path,
        subscribers=[
            {"email": "z@example.org", "keywords": ["zebrafish", "x" * 90], "exclude": ["y" * 70]},
            {"email": "r@example.org", "require": ["zebrafish"]},  # no keywords: no "about: ."
        ],
    )
    rendered = render_all(config, [digest])
    assert len(rendered) == 2
    for _sub, _, email_ in rendered:
        msg = parse(email_)
        assert msg["Subject"] == "1 new paper for you"
        text, html = bodies(msg)
        _check_text_lines(text)
        assert "1 new paper matched your keywords." in text and "1 new papers" not in text
        assert f"Link: {long}x" not in text  # too long for one line: the URL stands alone
        footer = visible_text(html).split("You get this email")[1]
        assert " ." not in footer and "about ." not in footer
    text, _ = bodies(parse(rendered[1][2]))
    assert "subscribed to papers mentioning all of: zebrafish." in " ".join(text.split())


def test_text_part_of_hf_api_digest_within_78_columns(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        subscribers=[{"email": "a@example.org", "keywords": ["self-supervised", "diffusion", "reward model*"]}],
        sender={"feedback": {"url": "https://digest.example.org"}},
        archive={"directory": str(tmp_path / "archive"), "url": "https://digest.example.org/archive"},
    )
    ((_, matches, rendered),) = render_all(config, [SAMPLES / "hf-api-digest.json"])
    assert len(matches) == 5  # every paper but the withdrawn one
    text, _ = bodies(parse(rendered))
    _check_text_lines(text)
    assert "Code ★ 12.8k: https://github.com/curve-lab/bezier-flow" in text


def test_preview_counts_are_singular_for_one(tmp_path: Path) -> None:
    from tests.conftest import newsletter
    from tests.smtpd import write_config

    cfg = write_config(tmp_path, 2525, [{"email": "one@example.org", "keywords": ["zebrafish"]}])
    json_digest(tmp_path / "digests", [{"title": "Zebrafish fins", "abstract": "Zebrafish regrow.", "id": "z"}])
    result = newsletter("preview", "-c", str(cfg), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "one@example.org: 1 paper, '1 new paper for you'" in result.output
    index = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "1 distinct paper from 1 digest file." in index and "1 papers" not in index


def test_render_idn_domains_are_written_as_a_labels(tmp_path: Path) -> None:
    """A sender on an internationalised domain made rendering fail (a UnicodeEncodeError
    traceback on the Message-ID); a subscriber's To came out as RFC 2047 words inside the
    address (``=?utf-8?q?...?=.de``), which no client reads as the address. Headers now
    carry the domains' ASCII form (IDNA A-labels)."""
    subs = [{"email": "ana@bücher.de", "name": "Ana Bücher", "keywords": ["zebrafish"]}]
    sender = {"from": "Digest <digest@exämple.org>", "unsubscribe": {"mailto": "leave@exämple.org"}}
    config = make_config(tmp_path, subscribers=subs, sender=sender)
    digest = json_digest(tmp_path, [{"title": "Zebrafish fins", "abstract": "Zebrafish regrow.", "id": "z"}])
    ((_, _, rendered),) = render_all(config, [digest])
    raw = rendered.as_bytes()
    assert raw.split(b"\r\n\r\n", 1)[0].isascii()
    assert raw == rendered.message.as_bytes()
    msg = parse(rendered)
    (to,) = msg["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Ana Bücher", "ana@xn--bcher-kva.de")
    assert msg["From"].addresses[0].addr_spec == "digest@xn--exmple-cua.org"
    assert str(msg["Message-ID"]).endswith("@xn--exmple-cua.org>")
    assert str(msg["List-Unsubscribe"]).startswith("<mailto:leave@xn--exmple-cua.org?subject=unsubscribe%20")


_BIDI_OPEN, _BIDI_CLOSE = "\u202a\u202b\u202d\u202e\u2066\u2067\u2068", "\u202c\u2069"


def _bidi_balanced(text: str) -> bool:
    return sum(text.count(c) for c in _BIDI_OPEN) == sum(text.count(c) for c in _BIDI_CLOSE)


def test_render_bidi_override_in_a_field_is_closed_within_it(tmp_path: Path) -> None:
    """A right-to-left override (U+202E) left open in an author's name or an organisation
    reversed the rest of the meta line (the date, the upvotes) in both parts; one in a
    title, a TL;DR or an abstract cut before its end ran on too. Each field now closes
    what it opens."""
    paper = {
        "title": "Zebrafish \u202eregrowth",
        "abstract": "Zebrafish fins \u2067regrow " + "fast " * 200 + "and regeneration \u202eagain and " + "more " * 40,
        "summary": "Fins \u202bregrow",
        "authors": ["Mallory \u202eevil", "Bea Osei"],
        "organization": "Lab \u202d",
        "published": "2026-11-17",
        "upvotes": 12,
        "id": "z",
    }
    subs = [{"email": "a@example.org", "keywords": ["zebrafish", "regeneration"]}]
    ((_, _, rendered),) = render_all(make_config(tmp_path, subscribers=subs), [json_digest(tmp_path, [paper])])
    text, html = bodies(parse(rendered))
    (meta,) = [line for line in text.splitlines() if "Mallory" in line]
    assert meta.strip().endswith("17 Nov 2026 · 12 upvotes")
    assert all(_bidi_balanced(part) for part in meta.split(" · ")), repr(meta)
    for cls in ("pd-title", "pd-meta", "pd-tldr", "pd-abs", "pd-snip"):
        found = re.findall(rf'<(?:div|h2) class="{cls}"[^>]*>(.*?)</(?:div|h2)>', html)
        assert found, cls
        for content in found:
            shown = visible_text(content)
            assert all(_bidi_balanced(part) for part in shown.split(" · ")), (cls, shown)


def test_text_part_of_cjk_and_emoji_papers_within_78_display_columns(tmp_path: Path) -> None:
    """A Chinese or Japanese abstract at 78 characters a line ran 156 columns wide on
    screen: the text part counts display columns (wide characters two, combining none)."""
    from tests.test_render_columns import ZH, screen_width

    ja = "大規模言語モデルの推論能力を向上させるための新しい強化学習手法を提案する。" * 4
    digest = json_digest(
        tmp_path,
        [
            {"title": "ImageNet 上的自监督对比学习：" + "新方法" * 12, "abstract": ZH * 3, "id": "zh1"},
            {"title": "ImageNet 🚀🎉 " * 8, "abstract": ja + " 🚀 ImageNet é\u0301" * 12, "id": "ja1"},
        ],
    )
    config = make_config(
        tmp_path,
        subscribers=[{"email": "z@example.org", "name": "王小明" + "の研究室" * 12, "keywords": ["imagenet"]}],
        defaults={"abstract_chars": 2000},
    )
    ((_, matches, rendered),) = render_all(config, [digest])
    assert len(matches) == 2
    text, _ = bodies(parse(rendered))
    wide = [line for line in text.splitlines() if screen_width(line) > 78]
    assert all(re.fullmatch(r"\s*https://\S+", line) for line in wide), wide  # only a URL alone
    assert any(screen_width(line) >= 76 and not line.isascii() for line in text.splitlines())
    assert "".join(ZH * 3) in "".join(text.split())  # wrapped, nothing lost
    assert "".join(text.split("\n\n")[0].split()) == "Hi王小明" + "の研究室" * 12 + ","  # the greeting too


def test_render_dates_the_email_in_the_schedule_time_zone(tmp_path: Path) -> None:
    """The 18:00 digest of a newsletter in Los Angeles, rendered on a server whose clock
    says 02:00 UTC on Saturday 5 December: the subject's date, the heading and the Date
    header say Friday 4 December, the subscribers' day, not the server's."""
    config = make_config(
        tmp_path,
        schedule={"cron": "0 18 * * *", "timezone": "America/Los_Angeles"},
        sender={"subject": "Digest of {{ date }}"},
    )
    renderer = Renderer(config, secret=SECRET)
    [(sub, matches), *_] = plan(config.subscribers, load_digests(SEEDS).papers)
    evening = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    msg = parse(renderer.render(sub, matches, message_id=renderer.message_id(sub, matches), date=evening))
    assert msg["Subject"] == "Digest of 2026-12-04"
    html = msg.get_body(("html",))
    assert html is not None and "Friday, 4 Dec 2026" in html.get_content()
    assert msg["Date"].datetime == evening
    assert msg["Date"].datetime.utcoffset() == timedelta(hours=-8)
    from newsletter.delivery.channels.compose import chat_issue  # the chat messages' heading, likewise

    assert chat_issue(renderer, sub, matches, evening).heading.endswith("· Friday, 4 Dec 2026")
