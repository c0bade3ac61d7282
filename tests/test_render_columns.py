"""The text part counted in display columns (SPEC 5: lines within 78): CJK and emoji
take two columns on screen, combining marks none (newsletter/render/columns.py)."""

from __future__ import annotations

import unicodedata

from newsletter.render.columns import columns
from newsletter.render.content import wrap

ZH = (
    "本文提出了一种新的自监督学习方法，通过对比学习在大规模数据集上训练视觉模型。"
    "实验表明，该方法在多个基准测试中取得了最先进的结果（包括ImageNet和COCO），"
    "并且显著减少了所需的标注数据量。我们还分析了数据增强策略的影响。"
)


def screen_width(line: str) -> int:
    """What a terminal shows, told independently of the code under test: two columns for
    East Asian wide/fullwidth, none for combining marks and format characters."""
    total = 0
    for ch in line:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return total


def test_columns_wrap_chinese_within_78_columns_and_nothing_lost() -> None:
    lines = wrap(ZH, 78, "    ").split("\n")
    assert len(lines) == 3  # 240 columns: three full lines, not two lines of 78 characters
    assert all(screen_width(line) <= 78 for line in lines), lines
    assert all(screen_width(line) >= 70 for line in lines[:-1]), lines  # filled, not one word a line
    assert "".join(line.strip() for line in lines) == ZH


def test_columns_wrap_never_starts_a_line_with_closing_punctuation() -> None:
    text = "模型" * 36 + "。" + "数据（包括" + "实验" * 40 + "）。"
    for width in range(20, 80, 3):
        lines = wrap(text, width).split("\n")
        assert all(screen_width(line) <= width for line in lines), (width, lines)
        assert not any(line[0] in "。）、，" for line in lines), (width, lines)
        assert not any(line[-1] in "（「" for line in lines), (width, lines)
        assert "".join(lines) == text


def test_columns_wrap_emoji_combining_and_korean() -> None:
    text = "Results 🚀🎉 are strong ❤️ " * 6 + "Cafe\u0301 nai\u0308ve " * 8 + "한국어 텍스트입니다 " * 8
    lines = wrap(text, 40, "  ", "1. ").split("\n")
    assert all(screen_width(line) <= 40 for line in lines), lines
    assert lines[0].startswith("1. Results 🚀🎉")
    words = [w for line in lines for w in line.split() if w != "1."]
    assert "".join(words) == "".join(text.split())
    # every word whole but a run of emoji (each may end a line): Hangul words, e + U+0301
    assert [w for w in words if not w.startswith(("🚀", "🎉"))] == [w for w in text.split() if not w.startswith("🚀")]
    # a line of 38 combining-accented letters is 38 columns, not 76 characters cut in two
    accented = "e\u0301" * 38
    assert wrap(accented, 40) == accented


def test_columns_wrap_long_url_alone_and_long_cjk_word_cut() -> None:
    url = "https://example.org/论文/" + "x" * 90
    assert wrap(f"代码：{url} 见此", 40, "  ").split("\n") == ["  代码：", f"  {url}", "  见此"]
    cut = wrap("𝔸" * 10 + "漢" * 50, 30).split("\n")
    assert all(screen_width(line) <= 30 for line in cut) and "".join(cut) == "𝔸" * 10 + "漢" * 50


def test_columns_counts() -> None:
    assert columns("abc") == 3
    assert columns("漢字") == 4
    assert columns("e\u0301") == 1
    assert columns("❤️") == 2  # a narrow heart with the emoji variation selector
    assert columns("👩\u200d🔬") == 4  # two wide emoji, the joiner takes none
    assert columns("ＡＢ") == 4  # fullwidth forms
