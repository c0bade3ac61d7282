"""Hostile and odd library files (SPEC 4 "A library as likes", red-team audit): old
encodings, CSL-JSON items of odd shapes, huge files. Real files in tmp dirs, the real CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.matching.library import MAX_BYTES, read_library
from tests.smtpd import write_config

UMLAUT = "Über die Quantenmechanik für Müller: Ça ira"


def test_library_latin1_bibtex_of_old_jabref_keeps_its_accents(tmp_path: Path) -> None:
    """A Latin-1 .bib (old JabRef, Windows) was decoded as UTF-8 with every accent turned
    into U+FFFD: the title never equalled the paper's, the terms were mangled."""
    declared = tmp_path / "jabref.bib"
    header = "% This file was created with JabRef 2.10.\n% Encoding: ISO8859_1\n\n"
    declared.write_bytes(f"{header}@article{{a, title={{{UMLAUT}}}}}\n".encode("latin-1"))
    bare = tmp_path / "windows.bib"
    bare.write_bytes(f"@article{{a, title={{{UMLAUT} – “quoted”}}}}\n".encode("cp1252"))
    utf16 = tmp_path / "utf16.bib"
    utf16.write_text(f"@article{{a, title={{{UMLAUT}}}}}\n", encoding="utf-16")  # with its BOM
    assert [p.title for p in read_library(declared).papers] == [UMLAUT]
    assert [p.title for p in read_library(bare).papers] == [f"{UMLAUT} – “quoted”"]
    assert [p.title for p in read_library(utf16).papers] == [UMLAUT]
    utf8 = tmp_path / "utf8.bib"
    utf8.write_text(f"% Encoding: ISO8859_1\n@article{{a, title={{{UMLAUT}}}}}\n", encoding="utf-8")
    assert [p.title for p in read_library(utf8).papers] == [UMLAUT]  # valid UTF-8 wins over a stale header


def test_library_csl_json_item_of_odd_shape_is_that_item_only(tmp_path: Path) -> None:
    """One CSL-JSON item whose date is not the usual nesting (``"date-parts": [2021]``,
    a string, an empty list) lost the whole library to one "cannot read" warning."""
    items: list[dict[str, object]] = [
        {"title": "Protein Folding Landscapes", "issued": {"date-parts": [[2021]]}},
        {"title": "Flat Date Parts", "issued": {"date-parts": [2020]}},
        {"title": "Date Parts As Text", "issued": {"date-parts": "2019"}},
        {"title": "Empty Date Parts", "issued": {"date-parts": [[]]}},
        {"title": "Issued As A List", "issued": [2018]},
        {"title": "Fine At The End", "issued": {"raw": "2017-05"}},
    ]
    path = tmp_path / "refs.json"
    path.write_text(json.dumps(items, indent=2), encoding="utf-8")
    library = read_library(path)
    assert library.warnings == ()
    assert [p.title for p in library.papers] == [i["title"] for i in items]
    assert library.years == (2021, 2020, 2019, None, None, 2017)


def test_library_csl_json_broken_items_named_by_their_line_far_down(tmp_path: Path) -> None:
    """Line numbers are counted on from item to item (they were counted from the top of the
    file for every item: 100,000 items on one line took minutes); still exact."""
    items: list[object] = [{"title": f"Paper {i}"} for i in range(3000)]
    items[1500] = "not an item"
    items[2999] = {"abstract": "no title"}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(items, indent=1), encoding="utf-8")
    library = read_library(path)
    assert len(library.papers) == 2998
    text = path.read_text(encoding="utf-8").splitlines()
    lines = [int(w.split(":")[1]) for w in library.warnings]
    assert text[lines[0] - 1].strip() == '"not an item",'
    assert text[lines[1] - 1].strip() == "{"
    assert text[lines[1]].strip() == '"abstract": "no title"'
    one_line = tmp_path / "one.json"
    one_line.write_text(json.dumps(items), encoding="utf-8")
    assert [int(w.split(":")[1]) for w in read_library(one_line).warnings] == [1, 1]


def test_library_larger_than_the_limit_is_one_warning_never_read(tmp_path: Path) -> None:
    """A library beyond MAX_BYTES (a 200 MB export) is one warning: parsing it would take
    minutes and gigabytes at every pass. The profile's keywords still work."""
    huge = tmp_path / "huge.bib"
    with huge.open("wb") as f:
        f.write(b"@article{a, title={Protein Folding}}\n")
        f.truncate(MAX_BYTES + 1)  # sparse: no 64 MiB written to the disk
    library = read_library(huge)
    assert library.papers == ()
    assert library.warnings == (f"{huge}: cannot read the library: 64 MiB, at most 64 MiB",)
    (tmp_path / "digests").mkdir()
    cfg = write_config(tmp_path, 2525, [{"email": "ana@example.org", "library": "huge.bib", "keywords": ["x"]}])
    check = CliRunner().invoke(cli, ["check", "-c", str(cfg)])
    assert check.exit_code == 0, check.output
    assert f"warning: {huge}: cannot read the library: 64 MiB, at most 64 MiB" in check.stderr
    os.truncate(huge, 1000)
    assert [p.title for p in read_library(huge).papers] == ["Protein Folding"]  # changed: read again


def test_library_of_thousands_of_broken_entries_is_a_few_lines_not_thousands(tmp_path: Path) -> None:
    """A wrong file as library (RIS without ER lines, BibTeX of entries without titles) named
    every broken entry: 100,000 lines in `check` and in the log of every pass. The first
    MAX_WARNINGS are named, the rest counted in one line; the good entries are used."""
    from newsletter.matching.library import MAX_WARNINGS

    ris = tmp_path / "noer.ris"
    ris.write_text("TY  - JOUR\nTI  - A record that never ends\n" * 3000, encoding="utf-8")
    bib = tmp_path / "untitled.bib"
    bib.write_text("@article{x, author={A}}\n" * 3000 + "@article{y, title={Protein Folding}}\n", encoding="utf-8")
    for path in (ris, bib):
        library = read_library(path)
        assert len(library.warnings) == MAX_WARNINGS + 1
        assert (
            library.warnings[-1]
            == f"{path}: {3000 - MAX_WARNINGS} more broken entries skipped (the first 20 are named)"
        )
    assert [p.title for p in read_library(bib).papers] == ["Protein Folding"]
    (tmp_path / "digests").mkdir()
    cfg = write_config(tmp_path, 2525, [{"email": "ana@example.org", "library": "untitled.bib", "keywords": ["x"]}])
    check = CliRunner().invoke(cli, ["check", "-c", str(cfg)])
    assert check.exit_code == 0, check.output
    assert len([line for line in check.stderr.splitlines() if str(bib) in line]) == MAX_WARNINGS + 1
    match = CliRunner().invoke(cli, ["match", "-c", str(cfg)])
    assert match.exit_code == 0, match.output
    assert len([line for line in match.stderr.splitlines() if str(bib) in line]) == MAX_WARNINGS + 1


def test_library_bibtex_latex_still_decoded_where_there_is_some(tmp_path: Path) -> None:
    """Only strings holding LaTeX go through the decoder now (it was most of the time of
    reading a library); those still come out as text, the others exactly as written."""
    path = tmp_path / "refs.bib"
    path.write_text(
        "@article{a, title={{GAN}s for {\\\"U}ber -- Fast ``Quoted'' Models~Now}}\n"
        "@article{b, title={R\\&D with $\\alpha$-Divergences}, abstract={50\\% fewer {F}LOPs}}\n"
        "@article{c, title={Plain Title,  with  Spaces: and (Parentheses) 2.0}}\n",
        encoding="utf-8",
    )
    library = read_library(path)
    assert [p.title for p in library.papers] == [
        "GANs for Über – Fast “Quoted” Models Now",
        "R&D with $\\alpha$-Divergences",
        "Plain Title, with Spaces: and (Parentheses) 2.0",
    ]
    assert library.papers[1].abstract == "50% fewer FLOPs"


def test_library_utf8_with_one_stray_byte_keeps_its_other_accents(tmp_path: Path) -> None:
    """A UTF-8 export with one Latin-1 byte pasted in (merged files) stays UTF-8: only that
    byte is lost, never every other accent of the file turned into mojibake."""
    path = tmp_path / "merged.bib"
    path.write_bytes(f"@article{{a, title={{{UMLAUT}}}}}\n".encode() + b"@article{b, title={Stray M\xfcller byte}}\n")
    assert [p.title for p in read_library(path).papers] == [UMLAUT, "Stray M\ufffdller byte"]
