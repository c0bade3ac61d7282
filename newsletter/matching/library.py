"""A library as likes (issue 24, SPEC 4): a reference manager's export whose papers count
as liked, each with its own title and abstract.

Formats (Zotero exports all three; the format is told by the file name, else by its
first character): BibTeX (``.bib``, read with ``bibtexparser`` 2, LaTeX decoded),
CSL-JSON (``.json``, the standard ``json`` module) and RIS (``.ris``, each record read
with ``rispy``). :func:`parse_library` is pure; :func:`read_library` reads a file (kept
while its path, size, modification time and inode are unchanged: in memory, and on disk
for the next run, :mod:`newsletter.matching.librarycache`).

An entry without a title is broken: one warning naming the file and line, and the rest
of the library is used; so is a file that cannot be read or parsed at all, or holds no
entry (one warning, no likes from it). An entry without an abstract is matched on its title.

In a library of more than :data:`LARGE` entries, recent entries weigh more: an entry
``n`` years older than the newest one weighs ``0.5 ** (n / HALF_LIFE)`` (at least
:data:`FLOOR`); an entry without a year weighs like the median one.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from newsletter.digest import Paper, arxiv_id, paper_id

__all__ = ["Library", "parse_library", "read_library"]

LARGE = 20
MAX_WARNINGS = 20  # broken entries named one by one; the rest are counted in one more line
MAX_BYTES = 64 * 2**20  # a larger file is one warning, never read (about 40,000 entries with abstracts)
HALF_LIFE = 3.0
FLOOR = 0.2
_YEAR = re.compile(r"(1[89]\d\d|20\d\d)")
_SPACE = re.compile(r"\s+")
_ARXIV_IN = re.compile(r"arxiv\.org/(?:abs|pdf)/([^\s?#]+?)(?:\.pdf)?(?:[?#]|$)|arxiv:\s*([^\s,;]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Library:
    """The liked papers of one file (in file order), their weights (1.0, or less for old
    entries of a large library) and one warning per broken entry."""

    path: Path
    papers: tuple[Paper, ...] = ()
    weights: tuple[float, ...] = ()
    warnings: tuple[str, ...] = ()
    years: tuple[int | None, ...] = ()

    @property
    def without_abstract(self) -> int:
        return sum(1 for p in self.papers if not p.abstract)


@dataclass(frozen=True, slots=True)
class _Entry:
    line: int
    title: str
    abstract: str
    year: int | None
    ref: str  # an arXiv id, a URL or eprint field: where the paper's arXiv id may be


def _clean(value: Any) -> str:
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    return _SPACE.sub(" ", str(value or "")).strip().strip("{}").strip()


def _year(*values: Any) -> int | None:
    for value in values:
        m = _YEAR.search(str(value or ""))
        if m:
            return int(m.group(1))
    return None


# --------------------------------------------------------------------------- the three formats


# What pylatexenc may change: a macro, a group, math, a tie, a comment, an alignment tab,
# ligatures (-- `` '' !` ?`), sub/superscripts. A string without any is decoded as itself.
_LATEX = re.compile(r"[\\{}$~%&#^_`'!?]|--")


@cache
def _decoding() -> Any:
    """bibtexparser's LaTeX decoding, skipping strings that hold no LaTeX: decoding every
    field was most of reading a library (10,000 real abstracts: 68 s, now 26 s, loaded machine)."""
    from bibtexparser.middlewares import LatexDecodingMiddleware

    class Decoding(LatexDecodingMiddleware):
        def _transform_python_value_string(self, python_string: str) -> tuple[str, str]:
            if not _LATEX.search(python_string):
                return python_string, ""
            return super()._transform_python_value_string(python_string)

    return Decoding


def _bibtex(text: str, name: str) -> Iterator[_Entry | str]:
    from bibtexparser import parse_string  # type: ignore[attr-defined]

    logging.getLogger("bibtexparser").setLevel(logging.ERROR)  # its warnings: ours, by file and line
    parsed = parse_string(text, append_middleware=[_decoding()()])
    for block in parsed.failed_blocks:
        error = getattr(block, "error", None)
        reason = _clean(getattr(error, "abort_reason", None) or error or "cannot parse")[:200]
        yield f"{name}:{(block.start_line or 0) + 1}: broken entry skipped: {reason}"
    for entry in parsed.entries:
        fields = {k.lower(): f.value for k, f in entry.fields_dict.items()}
        ref = " ".join(str(fields.get(k, "")) for k in ("eprint", "arxiv", "url", "doi", "journal"))
        if fields.get("archiveprefix", "").lower() == "arxiv" and fields.get("eprint"):
            ref = f"arxiv:{fields['eprint']} {ref}"
        yield _Entry(
            (entry.start_line or 0) + 1,
            _clean(fields.get("title")),
            _clean(fields.get("abstract")),
            _year(fields.get("year"), fields.get("date")),
            ref,
        )


def _csl_json(text: str, name: str) -> Iterator[_Entry | str]:
    decoder = json.JSONDecoder()
    start = len(text) - len(text.lstrip())
    if not text.startswith("[", start):  # one item alone
        items: Iterable[tuple[int, Any]] = [(start, decoder.raw_decode(text, start)[0])]
    else:
        items = _json_items(text, start + 1, decoder)
    line, counted = 1, 0
    for pos, item in items:
        line += text.count("\n", counted, pos)  # counted on from the last item: linear, not quadratic
        counted = pos
        try:
            yield _csl_item(item, line, name)
        except (TypeError, AttributeError, IndexError, KeyError) as exc:  # one odd item: that item only
            yield f"{name}:{line}: broken entry skipped: not a CSL-JSON item ({type(exc).__name__}: {exc})"


def _csl_item(item: Any, line: int, name: str) -> _Entry | str:
    if not isinstance(item, dict):
        return f"{name}:{line}: broken entry skipped: not a CSL-JSON item (an object)"
    issued = item.get("issued") or {}
    parts = issued.get("date-parts") if isinstance(issued, dict) else None
    first = parts[0] if isinstance(parts, list) and parts else parts
    year = _year(
        first[0] if isinstance(first, list) and first else first, issued.get("raw") if isinstance(issued, dict) else ""
    )
    ref = " ".join(str(item.get(k, "")) for k in ("URL", "DOI", "number", "archive_location"))
    return _Entry(line, _clean(item.get("title")), _clean(item.get("abstract")), year, ref)


def _json_items(text: str, pos: int, decoder: json.JSONDecoder) -> Iterator[tuple[int, Any]]:
    """The elements of the JSON array whose ``[`` is just before ``pos``, with their offsets."""
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        item, end = decoder.raw_decode(text, pos)
        yield pos, item
        pos = end


_RIS_TAG = re.compile(r"^([A-Z][A-Z0-9])  -( |$)")


def _ris(text: str, name: str) -> Iterator[_Entry | str]:
    import rispy

    record: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        tag = _RIS_TAG.match(line)
        if tag and tag.group(1) == "TY":
            if record:
                yield f"{name}:{start}: broken entry skipped: no ER line before the next TY"
            record, start = [line], number
        elif record:
            record.append(line)
            if tag and tag.group(1) == "ER":
                yield _ris_record(rispy, record, start, name)
                record = []
        elif line.strip():
            yield f"{name}:{number}: broken entry skipped: a line outside any record (TY ... ER)"
    if record:
        yield f"{name}:{start}: broken entry skipped: no ER line at the end"


def _ris_record(rispy: Any, lines: list[str], start: int, name: str) -> _Entry | str:
    try:
        [item] = rispy.loads("\n".join(lines) + "\n")
    except Exception as exc:  # whatever rispy says of one record: that record only
        return f"{name}:{start}: broken entry skipped: {_clean(exc)[:200]}"
    title = item.get("title") or item.get("primary_title") or item.get("secondary_title") or ""
    abstract = item.get("abstract") or item.get("notes_abstract") or ""
    year = _year(item.get("year"), item.get("publication_year"), item.get("date"))
    urls = item.get("urls") or []
    ref = " ".join([*(str(u) for u in urls), str(item.get("doi", "")), str(item.get("url", ""))])
    return _Entry(start, _clean(title), _clean(abstract), year, ref)


# --------------------------------------------------------------------------- entries -> papers


def _format(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".bib", ".bibtex"):
        return "bibtex"
    if suffix in (".json", ".csljson"):
        return "csl-json"
    if suffix == ".ris":
        return "ris"
    head = text.lstrip()[:1]
    return "csl-json" if head in "[{" and head else "ris" if _RIS_TAG.match(text.lstrip()) else "bibtex"


def _arxiv_of(ref: str) -> str | None:
    for m in _ARXIV_IN.finditer(ref):
        found = arxiv_id(m.group(1) or m.group(2))
        if found:
            return found
    return arxiv_id(ref.split()[0]) if ref.split() else None


def _weights(years: list[int | None]) -> list[float]:
    known = sorted(y for y in years if y is not None)
    if len(years) <= LARGE or not known:
        return [1.0] * len(years)
    newest, median = known[-1], known[len(known) // 2]
    return [max(FLOOR, 0.5 ** ((newest - (y if y is not None else median)) / HALF_LIFE)) for y in years]


def parse_library(text: str, path: Path) -> Library:
    """The library in ``text`` (the content of ``path``; its name tells the format)."""
    name = str(path)
    reader = {"bibtex": _bibtex, "csl-json": _csl_json, "ris": _ris}[_format(path, text)]
    entries: list[_Entry] = []
    warnings: list[str] = []
    try:
        for item in reader(text, name):
            if isinstance(item, str):
                warnings.append(item)
            elif not item.title:
                warnings.append(f"{name}:{item.line}: broken entry skipped: no title")
            else:
                entries.append(item)
    except Exception as exc:  # a file no parser makes sense of: one warning, no likes from it
        line = getattr(exc, "lineno", None)
        return Library(path, warnings=(f"{name}{f':{line}' if line else ''}: cannot read the library: {exc}",))
    if len(warnings) > MAX_WARNINGS:  # a wrong file (100,000 broken entries): not 100,000 lines a pass
        more = len(warnings) - MAX_WARNINGS
        warnings[MAX_WARNINGS:] = [f"{name}: {more} more broken entries skipped (the first {MAX_WARNINGS} are named)"]
    if not entries and not warnings:  # nothing read, nothing broken: not a library, say so
        warnings.append(f"{name}: no entry found: not a BibTeX, RIS or CSL-JSON library, or an empty one")
    papers = []
    for e in entries:
        found = _arxiv_of(e.ref)
        published = date(e.year, 1, 1) if e.year else None
        papers.append(Paper(e.title, e.abstract, found or paper_id(e.title), name, published=published, arxiv_id=found))
    years = [e.year for e in entries]
    return Library(path, tuple(papers), tuple(_weights(years)), tuple(warnings), tuple(years))


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DECLARED = re.compile(rb"^%\s*Encoding:\s*([A-Za-z0-9_.:-]+)", re.MULTILINE)


def decode(data: bytes) -> str:
    """The text of a library file: UTF-8 (with or without a BOM) or UTF-16/32 with a BOM;
    else the encoding a JabRef file declares (``% Encoding: ISO8859_1``), else Windows-1252
    (what old exports on Windows are, Latin-1 included): never U+FFFD for every accent.
    A file of valid UTF-8 but for a stray byte stays UTF-8 (that byte is U+FFFD)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    text = data.decode("utf-8-sig", errors="replace")
    declared = _DECLARED.search(data[:4096])
    if "\ufffd" not in text or (not declared and any(ord(c) > 127 and c != "\ufffd" for c in text)):
        return text  # UTF-8; or UTF-8 with a stray byte (a merged export): its other accents kept
    encoding = declared.group(1).decode("ascii") if declared else "cp1252"
    try:
        return data.decode(encoding, errors="replace")
    except LookupError:  # an encoding Python does not know: the usual one
        return data.decode("cp1252", errors="replace")


_CACHE: dict[Path, tuple[tuple[int, int, int], Library]] = {}
_LOCK = threading.Lock()


def _payload(library: Library) -> dict[str, Any]:
    """What the disk cache keeps of a parse (:mod:`newsletter.matching.librarycache`)."""
    rows = zip(library.papers, library.years, strict=True)
    return {
        "papers": [[p.title, p.abstract, p.id, p.arxiv_id, y] for p, y in rows],
        "warnings": list(library.warnings),
    }


def _is_row(row: Any) -> bool:
    return (
        isinstance(row, list)
        and len(row) == 5
        and all(isinstance(v, str) for v in row[:3])
        and (row[3] is None or isinstance(row[3], str))
        and (row[4] is None or (type(row[4]) is int and 1 <= row[4] <= 9999))
    )


def _from_payload(payload: dict[str, Any], path: Path) -> Library | None:
    """The inverse of :func:`_payload`; None for anything of another shape."""
    rows, warnings = payload.get("papers"), payload.get("warnings")
    if not isinstance(rows, list) or not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        return None
    if not all(_is_row(row) for row in rows):
        return None
    name = str(path)
    dates: dict[int, date] = {}
    papers = tuple(
        Paper(t, a, i, name, published=dates.setdefault(y, date(y, 1, 1)) if y else None, arxiv_id=x)
        for t, a, i, x, y in rows
    )
    years: list[int | None] = [row[4] for row in rows]
    return Library(path, papers, tuple(_weights(years)), tuple(warnings), tuple(years))


def _cached(path: Path, stamp: tuple[int, int, int], cache: Path | None) -> Library | None:
    with _LOCK:
        found = _CACHE.get(path)
    if found is not None and found[0] == stamp:
        return found[1]
    if cache is None:
        return None
    from newsletter.matching import librarycache

    payload = librarycache.load(cache, path, stamp)
    return _from_payload(payload, path) if payload is not None else None


def _remember(path: Path, stamp: tuple[int, int, int], library: Library) -> Library:
    with _LOCK:
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[path] = (stamp, library)
    return library


def read_library(path: Path, cache: Path | None = None) -> Library:
    """:func:`parse_library` of the file (kept while it is unchanged: in memory, and with
    ``cache``, a directory, on disk for the next process); a file that cannot be read is a
    library with one warning."""
    try:
        st = path.stat()
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block the pass, /dev/zero never end
            return Library(path, warnings=(f"{path}: cannot read the library: not a regular file",))
        if st.st_size > MAX_BYTES:  # a 200 MB export would take minutes and gigabytes each pass
            mb = st.st_size // 2**20
            return Library(
                path, warnings=(f"{path}: cannot read the library: {mb} MiB, at most {MAX_BYTES // 2**20} MiB",)
            )
        found = _cached(path, stamp, cache)
        if found is not None:
            return _remember(path, stamp, found)
        text = decode(path.read_bytes())
    except OSError as exc:
        return Library(path, warnings=(f"{path}: cannot read the library: {exc.strerror or exc}",))
    found = parse_library(text, path)
    if cache is not None:
        from newsletter.matching import librarycache

        librarycache.store(cache, path, stamp, _payload(found))
    return _remember(path, stamp, found)
