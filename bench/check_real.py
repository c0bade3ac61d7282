"""``make check-real``: the ``hf-text`` reader against real pages saved by real tools.

Every file of the folder (default ``../shared/real``, kept outside the repository) that
has a ``NAME.expected.json`` beside it (the distinct papers of the page in page order:
``{"id": arXiv id or null, "title": ...}``) is parsed and compared:

* found / expected: the distinct papers read, the papers the page holds;
* missing / extra: expected titles not read, titles read that the page does not hold
  (titles compared with whitespace collapsed, Markdown escapes removed, casefolded);
* wrong ids: papers read whose arXiv id is not the expected one (where one is given);
* polluted: papers whose title or abstract holds link, avatar, count or heading text
  (Markdown link or image syntax, a paper or login link, ``\\\\`` line ends, heading
  marks, an HTML anchor, an author count, an abstract that starts with ``[``);
* partial: the paper ids the file links to that the reader did not read (SPEC 2.1).

A file is exact with 0 missing, 0 extra, 0 wrong ids and 0 polluted. Prints a table
and asserts nothing in the test suite; exits 1 when a file is not exact, 0 otherwise
(also when the folder does not exist: one line says so).

    python -m bench.check_real [DIR]
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsletter.base.errors import DigestParseError
from newsletter.digest import Paper
from newsletter.digest.mdlinks import unescape
from newsletter.digest.scan import read_digest

DEFAULT = Path("../shared/real")
_POLLUTION = re.compile(
    r"\]\(|\]\[\d|!\[|huggingface\.co/(?:papers/|login)|\\\\|(?:^|\n|\s)#{1,6}\s|<a\s|"
    r"(?:^|[\s\-•*])\d+\s+authors?\s*(?:\]|$)",
    re.IGNORECASE,
)


def _key(title: str) -> str:
    return unescape(title).casefold()


def polluted(paper: Paper) -> str | None:
    """The first link, avatar, count or heading text in the paper's title or abstract."""
    for text in (paper.title, paper.abstract):
        m = _POLLUTION.search(text)
        if m is not None:
            return text[max(0, m.start() - 30) : m.end() + 30]
    if paper.abstract.startswith("["):  # a link's label taken for text (a title may start so: "[Re] ...")
        return paper.abstract[:60]
    return None


@dataclass
class Result:
    name: str
    expected: int
    found: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    dirty: list[str] = field(default_factory=list)
    unread: tuple[str, ...] = ()
    error: str | None = None

    @property
    def exact(self) -> bool:
        return self.error is None and not (self.missing or self.extra or self.wrong or self.dirty)


def check(path: Path, expected: list[dict[str, Any]]) -> Result:
    """One file against its expected papers."""
    result = Result(path.name, len(expected))
    try:
        digest = read_digest(path)
    except DigestParseError as exc:
        result.error = str(exc)
        return result
    read = {_key(p.title): p for p in digest.papers}
    want = {_key(e["title"]): e for e in expected}
    result.found = len(digest.papers)
    result.unread = digest.missing
    result.missing = [e["title"] for k, e in want.items() if k not in read]
    result.extra = [p.title for k, p in read.items() if k not in want]
    for k, e in want.items():
        paper = read.get(k)
        if paper is not None and e.get("id") and paper.arxiv_id != e["id"]:
            result.wrong.append(f"{e['title'][:50]}: {paper.arxiv_id} (expected {e['id']})")
    for paper in digest.papers:
        where = polluted(paper)
        if where is not None:
            result.dirty.append(f"{paper.title[:50]}: …{where}…")
    return result


def table(results: list[Result]) -> list[str]:
    head = f"{'file':<40} {'expected':>8} {'found':>6} {'missing':>7} {'extra':>6} {'wrong ids':>9} "
    head += f"{'polluted':>8} {'partial':>7}  verdict"
    rows = [head, "-" * len(head)]
    for r in results:
        verdict = "exact" if r.exact else ("ERROR" if r.error else "NOT EXACT")
        rows.append(
            f"{r.name[:40]:<40} {r.expected:>8} {r.found:>6} {len(r.missing):>7} {len(r.extra):>6} "
            f"{len(r.wrong):>9} {len(r.dirty):>8} {len(r.unread):>7}  {verdict}"
        )
    return rows


def details(r: Result, limit: int = 10) -> list[str]:
    out = [f"{r.name}: {r.error}"] if r.error else []
    for label, items in (
        ("missing", r.missing),
        ("extra", r.extra),
        ("wrong id", r.wrong),
        ("polluted", r.dirty),
        ("linked, not read", list(r.unread)),
    ):
        out += [f"{r.name}: {label}: {item}" for item in items[:limit]]
        if len(items) > limit:
            out.append(f"{r.name}: ... {len(items) - limit} more {label}")
    return out


def check_folder(folder: Path) -> tuple[list[Result], list[str]]:
    """Every file of ``folder`` with an expected.json checked; the names of those without."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".expected.json"))
    pairs = [(p, p.with_name(p.name + ".expected.json")) for p in files]
    results = [check(p, json.loads(e.read_text(encoding="utf-8"))) for p, e in pairs if e.is_file()]
    return results, [p.name for p, e in pairs if not e.is_file()]


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else DEFAULT
    if not folder.is_dir():
        print(f"check-real: {folder} does not exist; nothing to check")
        return 0
    results, skipped = check_folder(folder)
    print(f"== check-real: {folder} ==")
    print("\n".join(table(results)))
    for r in results:
        for line in details(r):
            print(line)
    if skipped:
        print(f"(no expected.json, not checked: {', '.join(skipped)})")
    exact = sum(r.exact for r in results)
    print(f"{exact} of {len(results)} file{'s' if len(results) != 1 else ''} exact")
    return 0 if exact == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
