"""`newsletter subscribers list|add|remove|import|export`: real files, a real ledger."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import yaml

from newsletter.config import load_config
from tests.conftest import in_terminal, newsletter, run_cli
from tests.smtpd import EXAMPLE_SUBSCRIBERS, smtp_server, write_config


def started(tmp_path: Path) -> Path:
    assert newsletter("init", str(tmp_path)).exit_code == 0
    return tmp_path / "config.yaml"


def test_subscribers_add_writes_one_valid_file_per_subscriber(tmp_path: Path) -> None:
    cfg = started(tmp_path)
    result = newsletter(
        "subscribers", "-c", str(cfg), "add", "ana@example.org", "--name", "Ana Lima",
        "--keyword", "diffusion", "--keyword", "image restoration", "--exclude", "survey",
        "--schedule", "0 7 * * 1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    files = list((tmp_path / "subscribers").glob("*.yaml"))
    assert len(files) == 1
    data = yaml.safe_load(files[0].read_text(encoding="utf-8"))
    assert data == {
        "email": "ana@example.org",
        "name": "Ana Lima",
        "keywords": ["diffusion", "image restoration"],
        "exclude": ["survey"],
        "schedule": "0 7 * * 1",
    }
    sub = load_config(cfg).subscriber("ANA@example.org")
    assert sub.keywords == ("diffusion", "image restoration") and sub.schedule == "0 7 * * 1"
    assert not list((tmp_path / "subscribers").glob(".*"))  # no temporary file left behind


def test_subscribers_add_refuses_bad_profiles_and_duplicates(tmp_path: Path) -> None:
    cfg = started(tmp_path)
    assert newsletter("subscribers", "-c", str(cfg), "add", "ana@example.org", "--keyword", "x").exit_code == 0
    cases = [
        (["ANA@EXAMPLE.ORG", "--keyword", "y"], "already a subscriber"),  # casefold on the whole address
        (["bob@example.org"], "at least one keyword"),
        (["bob@", "--keyword", "y"], "email"),
        (["bob@example.org", "--keyword", "y", "--schedule", "0 7 * * mon,tue x"], "schedule"),
        (["bob@example.org", "--keyword", "title:"], "keywords"),
    ]
    for args, expected in cases:
        result = newsletter("subscribers", "-c", str(cfg), "add", *args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert expected in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert len(list((tmp_path / "subscribers").glob("*.yaml"))) == 1


def test_subscribers_add_configures_subscribers_dir_when_missing(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, 2525, [EXAMPLE_SUBSCRIBERS[0]])
    before = cfg.read_text(encoding="utf-8")
    result = newsletter("subscribers", "-c", str(cfg), "add", "dan@example.org", "--keyword", "agents")
    assert result.exit_code == 0, result.output
    after = cfg.read_text(encoding="utf-8")
    assert after.startswith(before) and "subscribers_dir: subscribers" in after
    config = load_config(cfg)
    assert [s.email for s in config.subscribers] == ["alice@example.org", "dan@example.org"]


def test_subscribers_inline_entries_are_listed_not_edited(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, 2525, EXAMPLE_SUBSCRIBERS)
    listed = newsletter("subscribers", "list", "-c", str(cfg))
    assert listed.exit_code == 0, listed.output
    assert "alice@example.org" in listed.output and "inline" in listed.output
    removed = newsletter("subscribers", "-c", str(cfg), "remove", "alice@example.org")
    assert removed.exit_code == 2
    assert "inline" in removed.output and "by hand" in removed.output
    assert "alice@example.org" in cfg.read_text(encoding="utf-8")


def test_subscribers_remove_deletes_the_file(tmp_path: Path) -> None:
    cfg = started(tmp_path)
    newsletter("subscribers", "-c", str(cfg), "add", "ana@example.org", "--keyword", "x")
    result = newsletter("subscribers", "-c", str(cfg), "remove", "Ana@Example.org")
    assert result.exit_code == 0, result.output
    assert load_config(cfg).subscribers == ()
    again = newsletter("subscribers", "-c", str(cfg), "remove", "ana@example.org")
    assert again.exit_code == 2 and "no subscriber" in again.output


def test_subscribers_export_to_a_place_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    """`export FILE` below a file (a typo in the folder) is one line, exit 2 (it was a
    FileExistsError traceback from the folder's mkdir)."""
    cfg = started(tmp_path)
    target = cfg / "team.csv"
    result = newsletter("subscribers", "-c", str(cfg), "export", str(target))
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [f"error: {cfg}: cannot write the CSV file there (Not a directory)"]


def test_subscribers_import_export_round_trip(tmp_path: Path) -> None:
    cfg = started(tmp_path)
    csv_file = tmp_path / "team.csv"
    csv_file.write_text(
        "email,name,keywords,require,exclude,schedule,like,dislike\n"
        'ana@example.org,Ana,"diffusion; image restoration",,survey,,2509.01234;2509.04321,2509.09999\n'
        "bo@example.org,Bo,reasoning;title:agent*,language,,0 7 * * 1,,\n",
        encoding="utf-8",
    )
    result = newsletter("subscribers", "-c", str(cfg), "import", str(csv_file))
    assert result.exit_code == 0, result.output
    assert "2 added, 0 updated" in result.output
    subs = {s.email: s for s in load_config(cfg).subscribers}
    assert subs["ana@example.org"].keywords == ("diffusion", "image restoration")
    assert subs["bo@example.org"].require == ("language",) and subs["bo@example.org"].schedule == "0 7 * * 1"
    out = tmp_path / "out.csv"
    exported = newsletter("subscribers", "export", "-c", str(cfg), str(out))
    assert exported.exit_code == 0, exported.output
    with out.open(encoding="utf-8", newline="") as f:  # as a script reads it: the header as it stands
        assert next(csv.DictReader(f))["email"] == "ana@example.org"
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "email,name,keywords,require,exclude,schedule,like,dislike"
    assert "ana@example.org,Ana,diffusion;image restoration,,survey,,2509.01234;2509.04321,2509.09999" in lines
    assert subs["ana@example.org"].like == ("2509.01234", "2509.04321")
    assert subs["ana@example.org"].dislike == ("2509.09999",)
    # a second import updates, keeping keys the CSV has no column for
    ana = tmp_path / "subscribers" / "ana@example.org.yaml"
    ana.write_text(ana.read_text(encoding="utf-8") + "max_papers: 5\n", encoding="utf-8")
    again = newsletter("subscribers", "-c", str(cfg), "import", str(out))
    assert again.exit_code == 0 and "0 added, 2 updated" in again.output
    assert load_config(cfg).subscriber("ana@example.org").max_papers == 5
    assert load_config(cfg).subscriber("ana@example.org").like == ("2509.01234", "2509.04321")  # round trip


def test_subscribers_import_bad_rows_named_by_line_nothing_written(tmp_path: Path) -> None:
    cfg = started(tmp_path)
    csv_file = tmp_path / "team.csv"
    csv_file.write_text(
        "email,name,keywords\n"
        "ana@example.org,Ana,diffusion\n"
        "not-an-address,Bo,reasoning\n"
        '"carl@example.org","Carl\nSmith",agents\n'
        "dee@example.org,Dee,\n"
        "ANA@example.org,Ana again,x\n",
        encoding="utf-8",
    )
    result = newsletter("subscribers", "-c", str(cfg), "import", str(csv_file))
    assert result.exit_code == 2
    errors = result.output.strip().splitlines()
    assert any("team.csv:3:" in e and "email" in e for e in errors), errors
    assert any("team.csv:4:" in e and "name" in e for e in errors), errors  # a line break in a name
    assert any("team.csv:6:" in e and "at least one keyword" in e for e in errors), errors
    assert any("team.csv:7:" in e and "line 2" in e for e in errors), errors  # the same address twice
    assert list((tmp_path / "subscribers").iterdir()) == []
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("email,keyword\nana@example.org,x\n", encoding="utf-8")
    result = newsletter("subscribers", "-c", str(cfg), "import", str(bad_header))
    assert result.exit_code == 2 and "bad.csv:1:" in result.output and "'keyword'" in result.output


def test_subscribers_list_shows_last_delivery(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS[:2])
        before = newsletter("subscribers", "list", "-c", str(cfg))
        assert before.output.count("never") == 2, before.output
        newsletter("send", "-c", str(cfg))  # registers both: they start with the next digest
        shutil.copy2(seeds["001"], tmp_path / "digests")
        sent = newsletter("send", "-c", str(cfg))
        assert sent.exit_code == 0, sent.output
        assert server.received
    listed = newsletter("subscribers", "list", "-c", str(cfg))
    rows = {ln.split()[0]: ln for ln in listed.output.splitlines() if "@" in ln.split()[0]}
    for email in {m.rcpt_tos[0] for m in server.received}:
        assert " sent 20" in rows[email], listed.output


def test_subscribers_config_option_on_group_or_command(tmp_path: Path) -> None:
    cfg = started(tmp_path)
    newsletter("subscribers", "-c", str(cfg), "add", "ana@example.org", "--keyword", "x")
    for args in (["subscribers", "-c", str(cfg), "list"], ["subscribers", "list", "-c", str(cfg)]):
        result = newsletter(*args)
        assert result.exit_code == 0 and "ana@example.org" in result.output, (args, result.output)


def test_subscribers_add_replaces_explicit_null_dir(tmp_path: Path) -> None:
    (tmp_path / "digests").mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "digests: {directory: digests}\nsubscribers_dir: null       # optional directory\n# a comment the user wrote\n",
        encoding="utf-8",
    )
    result = newsletter("subscribers", "-c", str(cfg), "add", "ana@example.org", "--keyword", "x")
    assert result.exit_code == 0, result.output
    text = cfg.read_text(encoding="utf-8")
    assert "subscribers_dir: subscribers" in text and "null" not in text
    assert "# a comment the user wrote" in text and text.count("subscribers_dir") == 1
    assert [s.email for s in load_config(cfg).subscribers] == ["ana@example.org"]


def test_subscribers_add_creates_a_configured_but_missing_dir(tmp_path: Path) -> None:
    cfg = started(tmp_path)
    shutil.rmtree(tmp_path / "subscribers")
    assert newsletter("check", "-c", str(cfg)).exit_code == 2  # other commands: a configuration error
    result = newsletter("subscribers", "-c", str(cfg), "add", "ana@example.org", "--keyword", "x")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "subscribers" / "ana@example.org.yaml").is_file()


def test_subscribers_list_cut_to_a_narrow_terminal_only(tmp_path: Path) -> None:
    cfg = started(tmp_path)
    address = "a-rather-long-address-of-one-reader@example.org"
    keywords = [f"a rather long keyword number {i}" for i in range(8)]
    args = [arg for k in keywords for arg in ("--keyword", k)]
    assert newsletter("subscribers", "-c", str(cfg), "add", address, "--name", "Reader", *args).exit_code == 0
    profile = "Reader; keywords: " + ", ".join(keywords)

    piped = run_cli("subscribers", "-c", str(cfg), "list")  # not a terminal: nothing is ever cut
    assert piped.returncode == 0, piped.stderr
    (row,) = [ln for ln in piped.stdout.splitlines() if ln.startswith(address)]
    assert row.endswith(profile) and f"{address}.yaml" in row and "…" not in piped.stdout

    wide = in_terminal("subscribers", "-c", str(cfg), "list", columns=400)  # everything fits: nothing cut
    (row,) = [ln for ln in wide.splitlines() if ln.startswith(address)]
    assert row.endswith(profile) and f"{address}.yaml" in row and "…" not in wide

    narrow = in_terminal("subscribers", "-c", str(cfg), "list", columns=100)
    rows = [ln for ln in narrow.splitlines() if ln.strip()]
    assert all(len(ln) <= 100 for ln in rows), narrow
    (row,) = [ln for ln in rows if "@" in ln]
    assert row.endswith("…") and "Reader; keywords: a" in row and row.startswith(address[:30])


def test_subscribers_export_neutralises_formulas_and_round_trips(tmp_path: Path) -> None:
    """A cell starting with = + - @ is a formula to a spreadsheet opening the export
    (``=cmd|' /C calc'!A0``, ``=HYPERLINK(...)``): it was written as it is. It gets a ``'``
    in front now, and import takes it off again, so the profiles round-trip."""
    cfg = started(tmp_path)
    hostile = tmp_path / "hostile.csv"
    hostile.write_text(
        "email,name,keywords,require,exclude\n"
        'ana@example.org,"=HYPERLINK(""http://evil.example/"",""x"")",'
        "\"=cmd|' /C calc'!A0;+diffusion\",@SUM(1),-survey\n"
        "bo@example.org,Bo,agents,,\n",
        encoding="utf-8",
    )
    assert newsletter("subscribers", "-c", str(cfg), "import", str(hostile)).exit_code == 0
    before = {s.email: (s.name, s.keywords, s.require, s.exclude) for s in load_config(cfg).subscribers}
    assert before["ana@example.org"][1] == ("=cmd|' /C calc'!A0", "+diffusion")
    exported = newsletter("subscribers", "-c", str(cfg), "export")
    assert exported.exit_code == 0, exported.output
    rows = list(csv.reader(io.StringIO(exported.output)))
    ana = next(r for r in rows if r[0] == "ana@example.org")
    assert ana[1] == '\'=HYPERLINK("http://evil.example/","x")'
    assert ana[2:5] == ["'=cmd|' /C calc'!A0;+diffusion", "'@SUM(1)", "'-survey"]
    formula_cells = [c for r in rows for c in r if c[:1] in ("=", "+", "-", "@")]
    assert formula_cells == []  # no cell of the export starts like a formula
    assert next(r for r in rows if r[0] == "bo@example.org")[1:3] == ["Bo", "agents"]  # the rest as it was
    out = tmp_path / "out.csv"
    out.write_text(exported.output, encoding="utf-8")
    assert newsletter("subscribers", "-c", str(cfg), "import", str(out)).exit_code == 0
    after = {s.email: (s.name, s.keywords, s.require, s.exclude) for s in load_config(cfg).subscribers}
    assert after == before


def test_subscribers_import_semicolon_csv_of_a_european_spreadsheet(tmp_path: Path) -> None:
    """A spreadsheet in a locale whose decimal separator is the comma saves CSV with ``;``
    between cells (cells holding ``;`` quoted): it was refused as one unknown column
    'email;name;keywords'."""
    cfg = started(tmp_path)
    semi = tmp_path / "team.csv"
    semi.write_bytes(
        "\ufeffemail;name;keywords;exclude\r\n"
        'ana@example.org;Ana Lima;"diffusion;image restoration";survey\r\n'
        "bo@example.org;Bö;agents;\r\n".encode()
    )
    result = newsletter("subscribers", "-c", str(cfg), "import", str(semi))
    assert result.exit_code == 0, result.output
    subs = {s.email: s for s in load_config(cfg).subscribers}
    assert subs["ana@example.org"].keywords == ("diffusion", "image restoration")
    assert subs["ana@example.org"].name == "Ana Lima" and subs["ana@example.org"].exclude == ("survey",)
    assert subs["bo@example.org"].name == "Bö" and subs["bo@example.org"].keywords == ("agents",)
