"""A CSV file as spreadsheet programs write it (``subscribers import`` and ``export``).

Reading (:func:`read_sheet`) takes what Excel, LibreOffice and Google Sheets save:

- the encoding: a byte order mark says it (Excel's "CSV UTF-8", and its "Unicode text",
  which is UTF-16); UTF-16 without a mark when every other byte of the text is NUL (what
  some exporters write); else UTF-8; else Windows-1252 (Excel's plain "CSV" on Windows
  in western Europe) or Mac Roman (Excel for Mac's "CSV (Macintosh)"), whichever reads
  more of the bytes beside letters as letters (:func:`_single_byte`), but never UTF-8 and
  another in one file: a file of UTF-8 accents with one byte that is not UTF-8 is refused
  naming its line (a spreadsheet re-saving mojibake would write it into the names for
  good). A workbook (.xlsx, .ods, .xls) or a binary file is one line saying so.
- the delimiter, by an explicit rule rather than ``csv.Sniffer`` (which guesses from
  character counts: on a one-column file of addresses it picks ``m``): Excel's ``sep=;``
  first line says it; else the one of ``,``, ``;`` and tab that splits the header line
  into the most known column names (ties: ``,``).
- the header: column names in any order, case and spacing (``" Email "``); ``e-mail``,
  ``mail`` and ``email address`` name the email column. A column the header does not know is
  ignored and named in one notice (``created_at``, ``First Name``), unless it is a near
  miss of a known one (``keyword``: refused, so a typo never drops a profile's keywords);
  a column named twice is refused. Empty header cells and cells past the header (what
  spreadsheets write for columns once touched) are ignored while empty; a value there is
  refused on its line (an unquoted delimiter inside a cell shifts the row).
- blank lines (a last empty line, lines before the header) are skipped; quoted cells may
  hold the delimiter, quotes and line breaks; CRLF, LF or CR line ends.
- bounds: a file over :data:`MAX_BYTES` is refused before it is read; a cell over
  :data:`MAX_CELL` characters is refused on its line (the ``csv`` module's field limit).

Writing cells (:func:`for_spreadsheet`, :func:`join_list`) is the inverse of reading them
(:func:`from_spreadsheet`, :func:`split_list`), so an export imports to the same profiles.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.base.errors import ConfigError

if TYPE_CHECKING:
    from _csv import Reader

MAX_BYTES = 32 * 2**20  # about 150,000 subscribers; read, checked and held at once
MAX_CELL = 131_072  # the csv module's field limit: no name, address or keyword list is near it
ALIASES = {"e-mail": "email", "email address": "email", "e-mail address": "email", "mail": "email"}
_DELIMITERS = (",", ";", "\t")
_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_WORKBOOKS = (
    (b"PK\x03\x04", "a workbook (.xlsx or .ods), not CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls), not CSV"),
)
_BOMS = (  # UTF-32 first: its little-endian mark starts like UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_UTF8_ACCENT = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_BINARY = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")  # control bytes no text file has (ESC aside)
_FIRST_LINE = re.compile(r"[^\r\n]*\S[^\r\n]*")
_SEP_LINE = re.compile(r"\A[ \t]*sep=(.)[ \t]*(?:\r\n|\r|\n)", re.IGNORECASE)
SAVE_AS = 'save it as "CSV UTF-8" and import that'


@dataclass(frozen=True, slots=True)
class Sheet:
    """The rows of a CSV file: ``(line, {column: cell})`` for the known columns it has
    (a cell already freed of :func:`for_spreadsheet`'s guard), and the header names it
    ignored."""

    rows: Iterator[tuple[int, dict[str, str]]]
    ignored: tuple[str, ...]


def read_sheet(path: Path, columns: Sequence[str]) -> Sheet:
    """The CSV file at ``path`` under the header's ``columns`` (those of ``columns`` it
    names; ``email`` is required): the header is read now, the rows as they are iterated
    (never all held at once). ConfigError: one line naming the file and, where there is
    one, the line."""
    text = _decode(_read_bytes(path), path)
    delimiter, text = _dialect(text, columns)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    with _csv_errors(reader, path):
        header, line = _first_row(reader)
    if header is None:
        raise ConfigError(f"the CSV file is empty (expected a header line: {','.join(columns)})", path=str(path))
    names, ignored = _header(header, columns, path, line)
    return Sheet(_rows(reader, names, delimiter, path), ignored)


def _rows(reader: Reader, names: list[str | None], delimiter: str, path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with _csv_errors(reader, path):
        start = reader.line_num + 1
        for row in reader:
            if any(cell.strip() for cell in row):
                yield start, _cells(row, names, delimiter, path, start)
            start = reader.line_num + 1


@contextmanager
def _csv_errors(reader: Reader, path: Path) -> Iterator[None]:
    """``csv.Error`` as a ConfigError naming the line."""
    try:
        yield
    except csv.Error as exc:
        where = reader.line_num
        if "field larger than field limit" in str(exc):
            message = f"a cell of more than {MAX_CELL:,} characters (no address, name or keyword list is that long)"
            raise ConfigError(message, path=str(path), line=where) from None
        raise ConfigError(f"not valid CSV: {exc}", path=str(path), line=where) from None


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:  # a subscriber list is a few MB; 200 MB would take minutes and gigabytes
            raise ConfigError(
                f"the CSV file is {size / 2**20:,.0f} MiB; at most {MAX_BYTES // 2**20} MiB (about 150,000 "
                "subscribers) is imported at once: split it",
                path=str(path),
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("CSV file not found", path=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the CSV file: {exc.strerror or exc}", path=str(path)) from None


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def _decode(data: bytes, path: Path) -> str:
    """The text of a CSV file (see the module's docstring)."""
    for magic, what in _WORKBOOKS:
        if data.startswith(magic):
            raise ConfigError(f"{what}: {SAVE_AS}", path=str(path))
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                message = f"not {encoding.removesuffix('-sig').upper()} text as its byte order mark says: {SAVE_AS}"
                raise ConfigError(message, path=str(path), line=_line_of(data, exc.start)) from None
    wide = _utf16_without_bom(data)
    if wide is not None:
        return wide
    binary = _BINARY.search(data, 0, 65536)
    if binary is not None and (data.count(b"\x00", 0, 65536) > 16 or _line_of(data, binary.start()) == 1):
        message = f"binary data (byte 0x{data[binary.start()]:02X}), not a CSV file: {SAVE_AS}"
        raise ConfigError(message, path=str(path), line=_line_of(data, binary.start()))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.start
    if _UTF8_ACCENT.search(data):  # UTF-8 accents elsewhere: two encodings in one file
        message = f"byte 0x{data[bad]:02X} is not UTF-8 while the rest of the file is: {SAVE_AS}"
        raise ConfigError(message, path=str(path), line=_line_of(data, bad))
    return _single_byte(data, path)


def _utf16_without_bom(data: bytes) -> str | None:
    """The text of UTF-16 without a byte order mark (little- or big-endian), judged on
    its start: a header of ASCII names has a NUL in every other byte, which no other
    text has. None: not such a file."""
    head = data[:4096]
    if len(head) < 8 or len(data) % 2:
        return None
    pairs = len(head) // 2
    for encoding, ascii_at, nul_at in (("utf-16-le", 0, 1), ("utf-16-be", 1, 0)):
        if head[nul_at::2].count(0) >= 0.9 * pairs and head[ascii_at::2].count(0) == 0:
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                return None
    return None


_BESIDE_LETTER = re.compile(rb"([A-Za-z]?)([\x80-\xff])([A-Za-z]?)")


def _single_byte(data: bytes, path: Path) -> str:
    """Text in a single-byte encoding: Windows-1252, or Mac Roman when it reads more of
    the high bytes that stand beside a letter as letters (``M\\x9fller`` is "Müller" in
    Mac Roman, "MŸller" in Windows-1252; ``Ren\\xe9`` is "René" in Windows-1252, "Ren√"
    in Mac Roman). Inside a word the letter must have the case of the letter after it
    (else before it); at a word's start any case will do. Ties, and files with no such
    byte, are Windows-1252, unless it holds a byte Windows-1252 has no character for."""
    votes = {"cp1252": 0, "mac_roman": 0}
    for found in _BESIDE_LETTER.finditer(data, 0, 1 << 20):
        before, byte, after = found[1].decode(), found[2], found[3].decode()
        if not (before or after):
            continue
        for name in votes:
            char = byte.decode(name, "replace")
            case = after or before if before else ""  # a word's first letter: any case
            votes[name] += char.isalpha() and (not case or char.islower() == case.islower())
    if votes["mac_roman"] <= votes["cp1252"]:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: no character in Windows-1252
            pass
    return data.decode("mac_roman")  # every byte is a character in Mac Roman


def normal(name: str) -> str:
    """A header cell as a column name: case, spacing and a stray byte order mark aside."""
    name = " ".join(name.replace("\ufeff", "").split()).casefold()
    return ALIASES.get(name, name)


def _dialect(text: str, columns: Sequence[str]) -> tuple[str, str]:
    """The delimiter and the text to read: Excel's ``sep=X`` first line (kept as a blank
    line, so that line numbers stay the file's), else the delimiter splitting the header
    line into the most known column names."""
    sep = _SEP_LINE.match(text)
    if sep is not None and sep.group(1) in _DELIMITERS:
        return sep.group(1), "\n" + text[sep.end() :]
    first = _FIRST_LINE.search(text)  # the first line that is not blank (CR, LF or CRLF line ends)
    header = first.group() if first else ""
    known = set(columns) | set(ALIASES)

    def score(delimiter: str) -> int:
        cells = next(csv.reader([header], delimiter=delimiter), [])
        return sum(normal(cell) in known for cell in cells)

    return max(_DELIMITERS, key=score), text  # max keeps the first of a tie: the comma


def _first_row(reader: Reader) -> tuple[list[str] | None, int]:
    """The header row (blank lines before it skipped) and its line."""
    for row in reader:
        if any(cell.strip() for cell in row):
            return row, reader.line_num
    return None, reader.line_num


def _header(
    header: list[str], columns: Sequence[str], path: Path, line: int
) -> tuple[list[str | None], tuple[str, ...]]:
    """The column of each header cell (None: a name not ours, ignored; ``""``: no name,
    its cells must be empty) and the names ignored."""
    names: list[str | None] = []
    ignored: list[str] = []
    where: dict[str, int] = {}
    for i, cell in enumerate(header, 1):
        name = normal(cell)
        if name in columns:
            if name in where:
                message = f"column {name!r} twice (columns {where[name]} and {i})"
                raise ConfigError(message, path=str(path), line=line)
            where[name] = i
        elif name:
            near = difflib.get_close_matches(name, columns, n=1, cutoff=0.8) if len(name) < 40 else []
            if near:
                message = (
                    f"unknown column {cell.strip()!r} (did you mean {near[0]!r}?): "
                    f"the header names columns among {','.join(columns)}"
                )
                raise ConfigError(message, path=str(path), line=line)
            ignored.append(cell.strip())
            names.append(None)
            continue
        names.append(name)
    if "email" not in where:
        message = f"no email column: the header must name columns among {','.join(columns)}"
        raise ConfigError(message, path=str(path), line=line)
    return names, tuple(ignored)


def _cells(row: list[str], names: list[str | None], delimiter: str, path: Path, line: int) -> dict[str, str]:
    """The known columns of one row; a value under no header name is refused on its line."""
    out: dict[str, str] = {}
    for i, cell in enumerate(row):
        name = names[i] if i < len(names) else ""
        if name:
            out[name] = from_spreadsheet(cell)
        elif name == "" and cell.strip():
            message = (
                f"a value in column {i + 1}, which the header does not name "
                f"(a {_NAMES[delimiter]} inside a cell that is not quoted?)"
            )
            raise ConfigError(message, path=str(path), line=line)
    return out


# --------------------------------------------------------------------------- cells

FORMULA = tuple("=+-@\t\r")  # a cell a spreadsheet would run as a formula when it starts so (OWASP)


def for_spreadsheet(cell: str) -> str:
    """A cell of the export, neutralised (OWASP "CSV injection"): ``=cmd|...``, ``+``,
    ``-``, ``@``, a tab or a CR in front get a ``'`` in front, which spreadsheets show as
    text; so does a cell that already starts with a ``'`` which :func:`from_spreadsheet`
    would take off (``'=x``, ``''x``), so that import gives back exactly the cell."""
    guarded = cell.startswith(FORMULA) or (cell.startswith("'") and cell[1:].startswith((*FORMULA, "'")))
    return f"'{cell}" if guarded else cell


def from_spreadsheet(cell: str) -> str:
    """The inverse of :func:`for_spreadsheet`: one ``'`` taken off a cell whose rest
    starts like a formula or with another ``'``; any other cell as it is."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith((*FORMULA, "'")) else cell


def join_list(items: Sequence[str]) -> str:
    """List items in one cell, ``;`` between them; a ``;`` inside an item is written
    ``\\;``, and a backslash that would otherwise be read as such an escape (before ``;``,
    another backslash or the item's end) ``\\\\``."""
    out = []
    for item in items:
        chars = []
        for i, ch in enumerate(item):
            if ch == ";" or (ch == "\\" and (i + 1 == len(item) or item[i + 1] in "\\;")):
                chars.append("\\")
            chars.append(ch)
        out.append("".join(chars))
    return ";".join(out)


def split_list(cell: str | None) -> list[str]:
    """The items of a list cell (:func:`join_list`'s inverse): split at each ``;`` not
    written ``\\;``, each item stripped, empty ones dropped. ``\\;`` is a ``;`` and ``\\\\``
    a backslash; any other backslash is itself (``C:\\data``)."""
    items: list[str] = []
    current: list[str] = []
    text = cell or ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and text[i + 1 : i + 2] in ("\\", ";"):
            current.append(text[i + 1])
            i += 2
            continue
        if ch == ";":
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]
