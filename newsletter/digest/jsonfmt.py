"""The ``json`` format (SPEC 2.2): a plain array of paper objects, or the Hugging
Face daily-papers API shape (``[{"paper": {...}, "numComments": ..., ...}, ...]``).

Every field of the API is read where it maps onto the paper record (SPEC 2.4);
fields we do not know are ignored (the API grows); withdrawn papers are skipped.
A plain array accepts the keys of ``parse --json`` too, so its output reads back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from newsletter.base.errors import DigestParseError
from newsletter.digest.guard import one_line
from newsletter.digest.hfshared import page_abstract, paper_ref
from newsletter.digest.jsonentries import Entry, entries
from newsletter.digest.model import ARXIV_PDF_URL, HF_PAPER_URL, Paper, arxiv_id, doi_of, extract_links, paper_id

_SOFT_BREAK = re.compile(r"(?<!\n)[ \t]*\n[ \t]*(?!\n)")


def _date(value: Any, *, source: str, where: str, key: str = "published") -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise DigestParseError(f"{where}: {key!r} must be a date string", path=source)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        raise DigestParseError(f"{where}: {key!r} is not an ISO date: {value!r}", path=source) from None


def _int(value: Any, *, source: str, where: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise DigestParseError(f"{where}: {key!r} must be a whole number", path=source)
    return value


def _str(value: Any, *, source: str, where: str, key: str, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise DigestParseError(f"{where}: {key!r} must be a non-empty string", path=source)
    return value.strip() or None


def _url(value: Any, *, source: str, where: str, key: str) -> str | None:
    """An http(s) URL, or None: a link of another scheme (``javascript:``) is dropped."""
    text = _str(value, source=source, where=where, key=key)
    if text is not None and not text.lower().startswith(("https://", "http://")):
        return None
    return text


def _urls(value: Any, *, source: str, where: str) -> tuple[str, ...]:
    """The http(s) URLs of a record's ``links`` (others, ``javascript:``, dropped)."""
    found = (
        _url(u, source=source, where=where, key="links")
        for u in _strings(value, source=source, where=where, key="links")
    )
    return tuple(u for u in found if u)


def unwrap_text(text: str) -> str:
    """arXiv abstracts break lines mid-sentence: single line breaks become spaces,
    blank lines stay paragraph breaks."""
    text = text.strip()
    return _SOFT_BREAK.sub(" ", text) if "\n" in text else text


def _org(value: Any, *, source: str, where: str) -> str | None:
    """``"ByteDance"`` or the API's ``{"name": handle, "fullname": display name}``."""
    if isinstance(value, dict):
        for key in ("fullname", "name"):
            name = value.get(key)
            if isinstance(name, str) and name.strip():
                return " ".join(name.split())
        return None
    return _str(value, source=source, where=where, key="organization")


def _authors(value: Any, *, source: str, where: str) -> tuple[int | None, tuple[str, ...]]:
    """A count, a list of names, or the API's ``[{"name", "hidden", ...}]``."""
    if type(value) is list:
        names: list[str] = []
        for author in value:
            if type(author) is dict:
                if author.get("hidden") is True:
                    continue
                name = author.get("name")
            elif type(author) is str:
                name = author
            else:
                raise DigestParseError(f"{where}: 'authors' must hold names or objects", path=source)
            if type(name) is str:
                name = " ".join(name.split())
                if name:
                    names.append(name)
        return len(value), tuple(names)
    return _int(value, source=source, where=where, key="authors"), ()


def _strings(value: Any, *, source: str, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DigestParseError(f"{where}: {key!r} must be a list of strings", path=source)
    return tuple(v.strip() for v in value if v.strip())


def _either(rec: dict[str, Any], obj: dict[str, Any], key: str) -> Any:
    """A field of the API's paper record, else of the entry around it."""
    return rec.get(key) or obj.get(key)


def _api_paper(obj: dict[str, Any], *, source: str, where: str) -> Paper | None:
    rec: dict[str, Any] = obj["paper"]
    if _either(rec, obj, "withdrawnAt"):
        return None
    title = _str(_either(rec, obj, "title"), source=source, where=where, key="title", required=True)
    assert title is not None
    title = " ".join(title.split())
    abstract = unwrap_text(_str(_either(rec, obj, "summary"), source=source, where=where, key="summary") or "")
    given = rec.get("id")
    if given is not None and not isinstance(given, str):
        raise DigestParseError(f"{where}: 'paper.id' must be a string", path=source)
    hf_id = given.strip() if given else ""
    axid = arxiv_id(given)
    authors, names = _authors(rec.get("authors"), source=source, where=where)
    links = extract_links(abstract)
    code = _url(rec.get("githubRepo"), source=source, where=where, key="githubRepo")
    return Paper(
        title=title,
        abstract=abstract,
        id=axid or hf_id or paper_id(title),
        source=source,
        authors=authors,
        author_names=names,
        organization=_org(_either(rec, obj, "organization"), source=source, where=where),
        published=_date(_either(rec, obj, "publishedAt"), source=source, where=where, key="publishedAt"),
        upvotes=_int(rec.get("upvotes"), source=source, where=where, key="upvotes"),
        comments=_int(obj.get("numComments"), source=source, where=where, key="numComments"),
        url=HF_PAPER_URL.format(id=hf_id) if hf_id else None,
        pdf_url=ARXIV_PDF_URL.format(id=axid) if axid else None,
        code_url=code or next((u for u in links if "github.com/" in u), None),
        code_stars=_int(rec.get("githubStars"), source=source, where=where, key="githubStars") if code else None,
        project_url=_url(rec.get("projectPage"), source=source, where=where, key="projectPage"),
        summary=_str(rec.get("ai_summary"), source=source, where=where, key="ai_summary"),
        thumbnail=_url(obj.get("thumbnail"), source=source, where=where, key="thumbnail"),
        links=links,
        arxiv_id=axid,
    )


def _plain_paper(rec: dict[str, Any], *, source: str, where: str) -> Paper:
    title = _str(rec.get("title"), source=source, where=where, key="title", required=True)
    assert title is not None
    title = " ".join(title.split())
    abstract = _str(rec.get("abstract", rec.get("summary")), source=source, where=where, key="abstract") or ""
    given = rec.get("id")
    if given is not None and not isinstance(given, (str, int)):
        raise DigestParseError(f"{where}: 'id' must be a string", path=source)
    given_text = str(given).strip() if given is not None else ""
    axid = arxiv_id(_str(rec.get("arxiv_id"), source=source, where=where, key="arxiv_id")) or arxiv_id(given_text)
    authors, names = _authors(rec.get("authors"), source=source, where=where)
    if not names:
        names = _strings(rec.get("author_names"), source=source, where=where, key="author_names")
    links = extract_links(abstract)
    return Paper(
        title=title,
        abstract=abstract,
        id=axid or given_text or paper_id(title),
        source=source,
        authors=authors,
        author_names=names,
        organization=_org(rec.get("organization"), source=source, where=where),
        published=_date(rec.get("published"), source=source, where=where),
        upvotes=_int(rec.get("upvotes"), source=source, where=where, key="upvotes"),
        comments=_int(rec.get("comments"), source=source, where=where, key="comments"),
        url=_url(rec.get("url"), source=source, where=where, key="url"),
        pdf_url=_url(rec.get("pdf_url"), source=source, where=where, key="pdf_url"),
        code_url=_url(rec.get("code_url"), source=source, where=where, key="code_url")
        or next((u for u in links if "github.com/" in u), None),
        code_stars=_int(rec.get("code_stars"), source=source, where=where, key="code_stars"),
        project_url=_url(rec.get("project_url"), source=source, where=where, key="project_url"),
        summary=_str(rec.get("summary") if "abstract" in rec else None, source=source, where=where, key="summary"),
        thumbnail=_url(rec.get("thumbnail"), source=source, where=where, key="thumbnail"),
        categories=_strings(rec.get("categories"), source=source, where=where, key="categories"),
        links=links or _urls(rec.get("links"), source=source, where=where),
        arxiv_id=axid,
        doi=doi_of(_str(rec.get("doi"), source=source, where=where, key="doi")),
        published_doi=doi_of(_str(rec.get("published_doi"), source=source, where=where, key="published_doi")),
        journal=_str(rec.get("journal"), source=source, where=where, key="journal"),
    )


class Read(NamedTuple):
    """The papers of a JSON digest and its entries that could not be read, each named
    ``entry N (line L, id X): why`` (SPEC 6c: the digest is then partial)."""

    papers: tuple[Paper, ...]
    bad: tuple[str, ...]


_ENTRY_FAULTS = (DigestParseError, TypeError, ValueError, AttributeError)


def _entry_id(obj: Any) -> str | None:
    """The id an entry gives, to name it when it cannot be read."""
    if not isinstance(obj, dict):
        return None
    rec = obj.get("paper") if isinstance(obj.get("paper"), dict) else obj
    given = rec.get("id") if isinstance(rec, dict) else None
    return one_line(str(given), 80) if isinstance(given, (str, int)) and not isinstance(given, bool) else None


def _where(index: int, line: int | None, given: str | None) -> str:
    notes = [f"line {line}"] if line is not None else []
    if given:
        notes.append(f"id {given}")
    return f"entry {index}" + (f" ({', '.join(notes)})" if notes else "")


def _entry(obj: Any, *, source: str, where: str) -> Paper | None:
    if not isinstance(obj, dict):
        raise DigestParseError(f"{where}: expected an object, not {type(obj).__name__}", path=source)
    if isinstance(obj.get("paper"), dict):
        return _api_paper(obj, source=source, where=where)
    return _plain_paper(obj, source=source, where=where)


def read_entries(data: Sequence[Entry], *, source: str) -> Read:
    """The papers of the entries (plain records or API items), in order; an entry that
    cannot be read is set aside, named, and never stops the others. Withdrawn papers are
    skipped without a word (SPEC 2.2)."""
    out: list[Paper] = []
    bad: list[str] = []
    for index, entry in enumerate(data):
        where = _where(index, entry.line, _entry_id(entry.value))
        if entry.error is not None:
            bad.append(f"{where}: {entry.error}")
            continue
        try:
            paper = _entry(entry.value, source=source, where=where)
        except _ENTRY_FAULTS as exc:
            bad.append(exc.message if isinstance(exc, DigestParseError) else f"{where}: {exc}")
            continue
        if paper is not None:
            out.append(paper)
    if bad and not out:  # nothing read, and not because every paper was withdrawn
        more = f" (and {len(bad) - 1} more entries)" if len(bad) > 1 else ""
        line = data[0].line
        raise DigestParseError(f"no entry could be read: {one_line(bad[0], 300)}{more}", path=source, line=line)
    return Read(tuple(out), tuple(one_line(b, 300) for b in bad))


def papers_of(data: Sequence[Any], *, source: str) -> Read:
    """The papers of a decoded array (lines unknown: the data of a saved page)."""
    return read_entries([Entry(obj, None) for obj in data], source=source)


def load_json(text: str, *, source: str) -> Any:
    """``json.loads``, its errors one DigestParseError naming the line (every JSON reader)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DigestParseError(f"invalid JSON: {exc.msg}", path=source, line=exc.lineno) from None
    except RecursionError:
        raise DigestParseError("JSON nested too deeply; not a digest", path=source, line=1) from None


def _unwrapped(found: list[Entry], single: bool, *, source: str) -> list[Entry]:
    """``{"papers": [...]}`` / ``{"dailyPapers": [...]}`` opened (lines not known); a lone
    value that is no array nor object of papers refused."""
    if single and len(found) == 1 and isinstance(found[0].value, dict):
        obj = found[0].value
        for key in ("papers", "dailyPapers"):
            if isinstance(obj.get(key), list):
                return [Entry(item, None) for item in obj[key]]
        if str(obj.get("version", "")).startswith(_JSON_FEED) and isinstance(obj.get("items"), list):
            return [Entry(_feed_record(item), None) for item in obj["items"]]
    if single and len(found) == 1 and not isinstance(found[0].value, (dict, list)) and found[0].error is None:
        raise DigestParseError("expected a JSON array of papers", path=source, line=1)
    return found


_JSON_FEED = "https://jsonfeed.org/version/"
_TAG = re.compile(r"<[^>]*>")


def _feed_text(item: dict[str, Any]) -> str | None:
    """A JSON Feed item's text: ``content_text``, else ``content_html`` made text."""
    text = item.get("content_text")
    if isinstance(text, str) and text.strip():
        return text
    markup = item.get("content_html")
    return _TAG.sub(" ", markup) if isinstance(markup, str) else None


def _feed_names(item: dict[str, Any]) -> list[str] | None:
    """The names of a JSON Feed item's ``authors`` (version 1.1) or ``author`` (1.0)."""
    people = item.get("authors")
    if not isinstance(people, list):
        people = [item.get("author")]
    return [a["name"] for a in people if isinstance(a, dict) and isinstance(a.get("name"), str)] or None


def _feed_record(item: Any) -> Any:
    """A JSON Feed item (jsonfeed.org: ``title``, ``content_text``/``content_html``/``summary``,
    ``url``, ``id``, ``date_published``, ``authors``) as a plain record; the paper its link
    names (``huggingface.co/papers/<id>``, an arXiv page) gives the id. Never the feed's
    own title taken for one paper."""
    if not isinstance(item, dict):
        return item
    link = next((v for v in (item.get("url"), item.get("external_url"), item.get("id")) if isinstance(v, str)), None)
    ref = paper_ref(link)
    axid = arxiv_id(ref[0]) if ref else None
    text = _feed_text(item)
    summary, abstract = page_abstract(text) if text is not None else (None, item.get("summary"))
    return {
        "title": item.get("title"),
        "abstract": abstract,
        "summary": summary or (item.get("summary") if text is not None else None),
        "url": link,
        "published": item.get("date_published"),
        "authors": _feed_names(item),
        "id": axid or item.get("id"),
        "arxiv_id": axid,
    }


def _whole(text: str) -> tuple[list[Entry], bool] | None:
    """The entries of a file that is one JSON document (``json.loads``, in C: the common
    case, read at once; lines not known) and whether it is an array; None when it is not
    one document."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    if isinstance(data, list):
        return [Entry(item, None) for item in data], True
    return [Entry(data, None)], False


def parse(text: str, *, source: str) -> Read:
    """The papers of a JSON digest and the entries set aside (:class:`Read`). One document
    is decoded at once; its entries are located line by line only when one is bad (to
    name its line), or when the file is JSON Lines or several documents."""
    whole = _whole(text)
    if whole is None:
        found, single = entries(text, source=source)
        return _read(found, single, source=source)
    try:
        read = _read(whole[0], True, source=source)
    except DigestParseError:
        if not whole[1]:
            raise
        read = Read((), ("",))
    if read.bad and whole[1]:  # an array with a bad entry: again, naming the lines
        return _read(entries(text, source=source)[0], True, source=source)
    return read


def _read(found: list[Entry], single: bool, *, source: str) -> Read:
    opened = _unwrapped(found, single, source=source)
    if not opened:
        raise DigestParseError("the JSON array holds no papers; not a digest", path=source, line=1)
    return read_entries(opened, source=source)
