"""`newsletter subscribers import|export` with the files spreadsheet programs really write
(Excel, LibreOffice, Google Sheets) and with hostile or broken ones: real files in tmp
dirs, the real CLI (click's runner)."""

from __future__ import annotations

import codecs
import csv
import io
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.app import roster
from newsletter.config import load_config
from tests.conftest import newsletter

HEADER = "email,name,keywords,require,exclude,schedule,like,dislike"


def started(tmp_path: Path) -> Path:
    assert newsletter("init", str(tmp_path)).exit_code == 0
    return tmp_path / "config.yaml"


def imported(cfg: Path, data: bytes, name: str = "team.csv") -> tuple[int, str]:
    csv_file = cfg.parent / name
    csv_file.write_bytes(data)
    result = newsletter("subscribers", "-c", str(cfg), "import", str(csv_file))
    return result.exit_code, result.output


def profiles(cfg: Path) -> dict[str, tuple[object, ...]]:
    return {s.email: (s.name, s.keywords, s.require, s.exclude, s.schedule) for s in load_config(cfg).subscribers}


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.yaml"))}


def test_subscribers_import_excel_csv_of_a_european_windows_locale(tmp_path: Path) -> None:
    """Excel's plain "CSV" on Windows in France or Germany: `;` between cells, Windows-1252,
    CRLF, and a trailing `;` on every line once a column to the right was touched. It was
    refused: "'utf-8' codec can't decode byte 0xe9"."""
    cfg = started(tmp_path)
    data = (
        "email;name;keywords;exclude;;\r\n"
        "andre@example.org;André Müller;diffusion;survey;;\r\n"
        "zoe@example.org;Zoë Çelik;agents;;;\r\n"
        ";;;;;\r\n"
    ).encode("cp1252")
    code, output = imported(cfg, data)
    assert code == 0, output
    assert "2 added, 0 updated" in output
    subs = profiles(cfg)
    assert subs["andre@example.org"][:2] == ("André Müller", ("diffusion",))
    assert subs["zoe@example.org"][0] == "Zoë Çelik"


def test_subscribers_import_excel_unicode_text_utf16_with_tabs(tmp_path: Path) -> None:
    """Excel's "Unicode text": UTF-16 with a byte order mark, tabs between cells. It was
    refused: "'utf-8' codec can't decode byte 0xff in position 0"."""
    cfg = started(tmp_path)
    data = "Email\tName\tKeywords\r\nana@example.org\tÁna Þór\tdiffusion;agents\r\n".encode("utf-16")
    code, output = imported(cfg, data, "team.txt")
    assert code == 0, output
    assert profiles(cfg)["ana@example.org"][:2] == ("Ána Þór", ("diffusion", "agents"))


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_subscribers_import_utf16_without_a_byte_order_mark(tmp_path: Path, encoding: str) -> None:
    """UTF-16 without a byte order mark (some exporters write it): it was refused as
    "binary data (byte 0x00), not a CSV file"."""
    cfg = started(tmp_path)
    data = "email,name,keywords\r\nana@example.org,Ána Þór,diffusion;agents\r\n".encode(encoding)
    code, output = imported(cfg, data)
    assert code == 0, output
    assert profiles(cfg)["ana@example.org"][:2] == ("Ána Þór", ("diffusion", "agents"))


def test_subscribers_import_excel_for_mac_csv_in_mac_roman(tmp_path: Path) -> None:
    """Excel for Mac's "CSV (Macintosh)": Mac Roman with CR line ends. Read as
    Windows-1252 it gave "AndrŽ MŸller" and "ZoÎ" for every accented name."""
    cfg = started(tmp_path)
    data = (
        "email,name,keywords\r"
        "andre@example.org,André Müller,diffusion\r"
        "zoe@example.org,Zoë Çelik,agents\r"
        "jose@example.org,JOSÉ Núñez,retrieval\r"
    ).encode("mac_roman")
    code, output = imported(cfg, data)
    assert code == 0, output
    subs = profiles(cfg)
    assert [subs[a][0] for a in ("andre@example.org", "zoe@example.org", "jose@example.org")] == [
        "André Müller",
        "Zoë Çelik",
        "JOSÉ Núñez",
    ]


def test_subscribers_import_sheets_export_with_empty_columns_and_lines(tmp_path: Path) -> None:
    """LibreOffice and Google Sheets write empty header cells for columns once touched,
    empty cells past the header, quoted cells with quotes and line breaks, and Excel may
    start with `sep=,`; a blank line before the header. They were refused ("unknown column
    ''", "5 cells, the header has 3 columns", "unknown column 'sep='")."""
    cfg = started(tmp_path)
    data = (
        b"sep=,\r\n"
        b"\r\n"
        b" Keywords , EMAIL ,Name,,\r\n"
        b'"diffusion;\r\nimage restoration",ana@example.org,"Ana ""the Lima"" Silva",,\r\n'
        b"agents,bo@example.org,Bo,,,,\r\n"
        b"\r\n"
    )
    code, output = imported(cfg, data)
    assert code == 0, output
    subs = profiles(cfg)
    assert subs["ana@example.org"][:2] == ('Ana "the Lima" Silva', ("diffusion", "image restoration"))
    assert subs["bo@example.org"][:2] == ("Bo", ("agents",))
    # a value under no header name: a name with an unquoted comma shifted the row
    shifted = b"email,name,keywords\ncy@example.org,Lima, Cy,agents\n"
    code, output = imported(cfg, shifted, "shifted.csv")
    assert code == 2
    assert output.strip() == (
        f"error: {tmp_path / 'shifted.csv'}:2: a value in column 4, which the header does not name "
        "(a comma inside a cell that is not quoted?)"
    )
    assert "cy@example.org" not in profiles(cfg)


def test_subscribers_import_other_columns_ignored_with_one_notice(tmp_path: Path) -> None:
    """Columns of another system (`created_at`, Mailchimp's "Email Address", "First Name")
    are ignored and named in one notice; a near miss of one of ours (`keyword`) and a
    column named twice are refused, so a typo never drops keywords. `created_at` was
    refused; a second `name` column silently won over the first."""
    cfg = started(tmp_path)
    data = b"Email Address,First Name,keywords,created_at,tags\nana@example.org,Ana,diffusion,2024-01-01,vip\n"
    code, output = imported(cfg, data)
    assert code == 0, output
    notes = [line for line in output.splitlines() if line.startswith("note:")]
    assert notes == [
        f"note: {tmp_path / 'team.csv'}: ignored column(s) 'First Name', 'created_at', 'tags': not among {HEADER}"
    ]
    assert profiles(cfg)["ana@example.org"][:2] == (None, ("diffusion",))
    code, output = imported(cfg, b"email,keyword\nbo@example.org,x\n", "typo.csv")
    assert code == 2 and "typo.csv:1: unknown column 'keyword' (did you mean 'keywords'?)" in output
    code, output = imported(cfg, b"email,name,keywords,Name\nbo@example.org,Bo,x,Other\n", "twice.csv")
    assert code == 2 and output.strip() == f"error: {tmp_path / 'twice.csv'}:1: column 'name' twice (columns 2 and 4)"
    assert "bo@example.org" not in profiles(cfg)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)),
            'a workbook (.xlsx or .ods), not CSV: save it as "CSV UTF-8"',
        ),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "an Excel 97-2003 workbook (.xls), not CSV"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4, ":1: binary data (byte 0x02), not a CSV file"),
        (
            "email,name,keywords\nana@example.org,Anaïs,x\n".encode() + "bo@example.org,Bö,x\n".encode("cp1252"),
            ':3: byte 0xF6 is not UTF-8 while the rest of the file is: save it as "CSV UTF-8"',
        ),
        (b"", f": the CSV file is empty (expected a header line: {HEADER})"),
    ],
    ids=["xlsx", "xls", "binary", "two-encodings", "empty"],
)
def test_subscribers_import_a_file_that_is_not_csv_text_is_one_line(tmp_path: Path, data: bytes, message: str) -> None:
    """A workbook, a binary file, a file of two encodings: one line saying what it is and
    what to do, exit 2, nothing written (they were "'utf-8' codec can't decode byte ...";
    a file of UTF-8 accents with one Windows-1252 byte must not be read as Windows-1252,
    which would write mojibake into every other name)."""
    cfg = started(tmp_path)
    code, output = imported(cfg, data)
    assert code == 2
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path / 'team.csv'}") and message in lines[0], lines
    assert list((tmp_path / "subscribers").iterdir()) == []


def test_subscribers_import_bounds_a_huge_file_and_a_huge_cell(tmp_path: Path) -> None:
    """A 200 MB file is refused before it is read (it was read whole, parsed and validated:
    5.6 GB and 151 s for 2.1 million rows); a 10 MB cell is one line naming its line."""
    cfg = started(tmp_path)
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as f:
        f.write(b"email,name,keywords\n")
        f.truncate(200 * 2**20)  # sparse: 200 MB to the file system, nothing to write
    result = newsletter("subscribers", "-c", str(cfg), "import", str(huge))
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {huge}: the CSV file is 200 MiB; at most 32 MiB (about 150,000 subscribers) "
        "is imported at once: split it"
    )
    code, output = imported(cfg, b"email,name,keywords\nana@example.org,Ana,x\nbo@example.org,Bo," + b"k" * 10 * 2**20)
    assert code == 2
    assert output.strip() == (
        f"error: {tmp_path / 'team.csv'}:3: a cell of more than 131,072 characters "
        "(no address, name or keyword list is that long)"
    )


def test_subscribers_import_bad_rows_named_up_to_twenty_nothing_written(tmp_path: Path) -> None:
    """A file of 1,000 bad rows (a wrong column picked as the addresses) printed 1,000
    lines; the first 20 are named by line, one more line counts the rest. Nothing is
    written: the import is all or nothing."""
    cfg = started(tmp_path)
    rows = "".join(f"Person {i},x\n" for i in range(1000))
    code, output = imported(cfg, ("email,keywords\nana@example.org,x\n" + rows).encode())
    assert code == 2
    lines = output.strip().splitlines()
    assert len(lines) == 21, lines[:3]
    assert lines[0].startswith(f"error: {tmp_path / 'team.csv'}:3: email: not a valid email address")
    assert lines[19].startswith(f"error: {tmp_path / 'team.csv'}:22: email:")
    assert lines[20] == f"error: {tmp_path / 'team.csv'}: 980 more problem(s) in further rows; nothing imported"
    assert list((tmp_path / "subscribers").iterdir()) == []


def test_subscribers_import_a_huge_bad_keyword_is_a_short_line(tmp_path: Path) -> None:
    """A keyword of 100,000 characters holding ESC made an error line of 100,121
    characters (the whole keyword); it is shown shortened."""
    cfg = started(tmp_path)
    code, output = imported(cfg, b"email,keywords\nana@example.org," + b"k" * 100_000 + b"\x1b\n")
    assert code == 2
    lines = output.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 300, len(lines[0])
    assert "(100,001 characters): a keyword must not contain control characters" in lines[0]


def test_subscribers_import_header_only_changes_nothing(tmp_path: Path) -> None:
    """A header line without rows (an empty template, the wrong sheet) said "0 added, 0
    updated" and still appended `subscribers_dir:` to a config without one."""
    cfg = tmp_path / "config.yaml"
    assert newsletter("init", str(tmp_path)).exit_code == 0
    text = cfg.read_text(encoding="utf-8").replace("subscribers_dir: subscribers", "subscribers_dir: null")
    cfg.write_text(text, encoding="utf-8")
    code, output = imported(cfg, (HEADER + "\r\n\r\n").encode())
    assert code == 0, output
    assert output.strip() == f"{tmp_path / 'team.csv'}: no subscriber rows (only a header line); nothing imported"
    assert cfg.read_text(encoding="utf-8") == text


HOSTILE = [  # (email, name, keywords, require, exclude)
    ("ana@example.org", "'=1+1", ["a;b", 'say "hi"', "x\\", "back\\;slash"], ["@me"], ["-survey"]),
    ("+tag@example.org", '=HYPERLINK("http://evil.example/","x")', ["=cmd|' /C calc'!A0", "+diffusion"], [], []),
    ("bo@example.org", "''Bo", ["\tTAB", " spaced ", "C:\\data"], [], ["=1;2"]),
    ("zoe@example.org", 'Zoë "Z" Çelik', ["'quoted'", "diffusion;;image"], [], []),
]


def test_subscribers_export_import_round_trips_hostile_values_byte_for_byte(tmp_path: Path) -> None:
    """Names and keywords that start like formulas, hold `;`, `"`, `'` or backslashes:
    the export runs no formula in a spreadsheet (no cell starts with = + - @ tab CR) and
    imports into an empty subscribers_dir to byte-identical subscriber files. It did not:
    a name `'=1+1` came back `=1+1`, a keyword `a;b` came back as two keywords `a` and `b`,
    a keyword with a leading tab lost it."""
    cfg = started(tmp_path / "one")
    for email, name, keywords, require, exclude in HOSTILE:
        args = ["subscribers", "-c", str(cfg), "add", email, "--name", name]
        args += [f"--keyword={k}" for k in keywords] + [f"--require={r}" for r in require]
        args += [f"--exclude={x}" for x in exclude]
        result = newsletter(*args)
        assert result.exit_code == 0, result.output
    out = tmp_path / "team.csv"
    assert newsletter("subscribers", "-c", str(cfg), "export", str(out)).exit_code == 0
    cfg2 = started(tmp_path / "two")
    result = newsletter("subscribers", "-c", str(cfg2), "import", str(out))
    assert result.exit_code == 0 and "4 added, 0 updated" in result.output, result.output
    assert profiles(cfg2) == profiles(cfg)
    assert files(tmp_path / "two" / "subscribers") == files(tmp_path / "one" / "subscribers")
    raw = out.read_bytes()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert [c for r in rows for c in r if c.startswith(("=", "+", "-", "@", "\t", "\r"))] == []
    assert not raw.startswith(codecs.BOM_UTF8)  # scripts read the header `email` as it stands
    again = tmp_path / "again.csv"  # and the export of the import is the same file
    assert newsletter("subscribers", "-c", str(cfg2), "export", str(again)).exit_code == 0
    assert again.read_bytes() == raw


def test_subscribers_export_then_import_with_inline_subscribers(tmp_path: Path) -> None:
    """Export, edit, import (the documented way) failed on a configuration with inline
    subscribers: every inline row was an error "defined inline", nothing imported. A row
    equal to its inline subscriber is left alone; a changed one is still refused."""
    cfg = started(tmp_path)
    with cfg.open("a", encoding="utf-8") as f:
        f.write('subscribers:\n  - {email: alice@example.org, name: Alice, keywords: ["self-supervised"]}\n')
    assert newsletter("subscribers", "-c", str(cfg), "add", "bo@example.org", "--keyword", "agents").exit_code == 0
    out = tmp_path / "team.csv"
    assert newsletter("subscribers", "-c", str(cfg), "export", str(out)).exit_code == 0
    text = out.read_text(encoding="utf-8-sig").replace("bo@example.org,,agents", "bo@example.org,Bo,agents")
    out.write_text(text + "cy@example.org,Cy,diffusion,,,,,\n", encoding="utf-8")
    result = newsletter("subscribers", "-c", str(cfg), "import", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"imported {out}: 1 added, 1 updated, 1 unchanged (inline in the config file)"
    assert profiles(cfg)["bo@example.org"][0] == "Bo"
    out.write_text(text.replace("alice@example.org,Alice,", "alice@example.org,Alicia,"), encoding="utf-8")
    result = newsletter("subscribers", "-c", str(cfg), "import", str(out))
    assert result.exit_code == 2 and "team.csv:2: email: alice@example.org is defined inline" in result.output


def test_subscribers_reimport_looks_each_address_up_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-importing an export compared every row with every subscriber: 16,000 rows took
    85 s (2,000: 2.7 s). Counted rather than timed: address comparisons per row stay
    constant as the list grows."""
    cfg = started(tmp_path)
    n = 300
    rows = "".join(f"user{i}@example.org,User {i},diffusion\n" for i in range(n))
    assert imported(cfg, ("email,name,keywords\n" + rows).encode())[0] == 0
    calls = 0
    real = roster.address_key

    def counting(address: str) -> str:
        nonlocal calls
        calls += 1
        return real(address)

    monkeypatch.setattr(roster, "address_key", counting)
    code, output = imported(cfg, ("email,name,keywords\n" + rows.replace("diffusion", "agents")).encode())
    assert code == 0 and f"0 added, {n} updated" in output, output
    assert calls <= 6 * n, calls  # 4 per row; it was 2 * n * n (180,900)
    assert {s.keywords for s in load_config(cfg).subscribers} == {("agents",)}


def test_sheet_list_cells_round_trip() -> None:
    """`;` inside an item and backslashes survive join and split, whatever they touch."""
    from newsletter.app.sheet import join_list, split_list

    for items in (["a;b", "c"], ["x\\"], ["\\;"], ["\\\\;\\"], ["a\\b", "C:\\data\\"], [";", ";;"], ["plain"]):
        assert split_list(join_list(items)) == items, items
    assert split_list("C:\\data; b ;;c") == ["C:\\data", "b", "c"]  # a hand-written cell: a lone backslash is itself


def _file_size_limit(limit: int) -> None:
    """In the child: files larger than ``limit`` bytes cannot be written (EFBIG, not a
    signal): a real write failure in the middle of an import, without root or a full disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_subscribers_import_a_write_failing_midway_puts_back_what_it_wrote(tmp_path: Path) -> None:
    """The third of three files cannot be written (a file-size limit; a full disk is the
    same): the two written before it stayed, one new subscriber and one rewritten, with a
    traceback. Now they are put back (the new file removed, the updated one as it was),
    and one line names the file, exit 1."""
    cfg = started(tmp_path)
    assert newsletter("subscribers", "-c", str(cfg), "add", "bo@example.org", "--keyword", "agents").exit_code == 0
    folder = tmp_path / "subscribers"
    before = files(folder)
    big = ";".join(f"keyword number {i}" for i in range(200))  # a file of about 4 KB
    csv_file = tmp_path / "team.csv"
    csv_file.write_text(
        f"email,name,keywords\nana@example.org,Ana,diffusion\nbo@example.org,Bo,reasoning\ncy@example.org,Cy,{big}\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "newsletter", "subscribers", "-c", str(cfg), "import", str(csv_file)],
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=lambda: _file_size_limit(2048),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == (
        f"error: {folder / 'cy@example.org.yaml'}: cannot write it (File too large); nothing imported "
        "(the 2 file(s) written before it were put back)"
    )
    assert files(folder) == before
    assert sorted(p.name for p in folder.iterdir()) == ["bo@example.org.yaml"]  # no temporary file left
