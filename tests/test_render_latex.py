"""TeX in titles and abstracts shown as readable text (newsletter/render/latex.py), in the
email's both parts and on the archive pages, never by dropping words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.render.latex import readable

SAMPLES = Path(__file__).resolve().parent / "samples"


@pytest.mark.parametrize(
    ("tex", "text"),
    [
        (r"Smooth B\'ezier Flows", "Smooth Bézier Flows"),
        (r"a \textbf{bold} claim", "a bold claim"),
        (r"runs in $\mathcal{O}(n \log n)$ time", "runs in O(n log n) time"),
        (r"Schr\"odinger and M\"{u}ller, G\"odel, \c{c}a", "Schrödinger and Müller, Gödel, ça"),
        (r"$\alpha$-divergence and $\ell_1$ on $\mathbb{R}^d$", "α-divergence and ℓ_1 on R^d"),
        (r"{\em Diffusion} and \emph{Text-to-Image}", "Diffusion and Text-to-Image"),
        (r"gains of 18\% \& more", "gains of 18% & more"),
        (r"cost $O(n^{2})$, $\frac{1}{2}$", "cost O(n^2), 1/2"),
        (r"see~\cite{smith2020} and \href{http://x.org}{this}", "see and this"),
        (r"\unknowncommand{kept words} here", "kept words here"),
    ],
)
def test_latex_becomes_readable_text(tex: str, text: str) -> None:
    assert " ".join(readable(tex).split()) == text


@pytest.mark.parametrize(
    "plain",
    [
        "50% of users and 100% sure",  # % is not a TeX comment in plain text
        "costs $5 and $10 more",  # money, not math
        "~5x faster, a_b and x^2, {braces} & #tags",
        "$unclosed math and a lone \\",
        "",
    ],
)
def test_latex_plain_text_keeps_every_character(plain: str) -> None:
    assert readable(plain) == plain


def _letters(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isalnum()).casefold()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*"ab c1\\$%{}~^_'\"`", "\\emph", "\\textbf", "$x$", "\\'e"]), max_size=30))
def test_latex_never_drops_a_word(pieces: list[str]) -> None:
    """Whatever the input, every letter and digit outside command names stays, in order."""
    text = "".join(pieces)
    out = readable(text)
    wanted = _letters(re.sub(r"\\[A-Za-z]+", " ", text))
    got = iter(_letters(out))
    assert all(c in got for c in wanted), (text, out)


def test_latex_readable_in_email_parts_and_archive(tmp_path: Path) -> None:
    from newsletter.config import load_config
    from newsletter.site.archive import archive_sent
    from newsletter.store import SqliteLedger
    from tests.conftest import newsletter, settled_copy
    from tests.smtpd import smtp_server, write_config

    with smtp_server() as server:
        subs = [{"email": "ana@example.org", "keywords": ["curve"]}]
        cfg = write_config(tmp_path, server.port, subs, archive={"directory": "archive"})
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        settled_copy(SAMPLES / "hf-api-digest.json", tmp_path / "digests")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        [msg] = server.by_recipient()["ana@example.org"]
    from email import message_from_bytes, policy

    parsed = message_from_bytes(msg.data, policy=policy.default)
    body, html = (parsed.get_body(preferencelist=(kind,)).get_content() for kind in ("plain", "html"))  # type: ignore[union-attr]
    with SqliteLedger.open(load_config(cfg).ledger_path) as ledger:
        archive_sent(load_config(cfg), ledger)
    [page] = [p for p in (tmp_path / "archive").glob("*/*.html") if p.name != "index.html"]
    for shown in (body, html, page.read_text(encoding="utf-8")):
        flat = re.sub(r"<[^>]+>", "", shown).replace("*", "")
        assert "Smooth Bézier Flows" in flat and "in O(n log n)" in flat
        assert "Schrödinger bridges" in flat or "Schrödinger" in flat
        assert "\\'e" not in flat and "\\mathcal" not in flat and "\\textbf" not in flat
