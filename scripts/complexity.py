"""The complexity limit of ``make lint``: no function longer than 60 lines or more complex
than 15 (radon's cyclomatic complexity, which counts ``and``/``or`` and comprehensions,
unlike ruff's C901). Prints each offender as ``path:line name: cc N, L lines`` and exits 1.

A function may exceed the limit only when it is a documented speed fence (README, "The
speed fences") and is listed in FENCED with the reason; nothing else is exempt.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from radon.complexity import cc_visit
from radon.visitors import Class, Function

MAX_CC = 15
MAX_LINES = 60

# path:function -> why it may be long: the hot loops the README fences, each with its proof.
FENCED: dict[str, str] = {
    "newsletter/matching/engine.py:match_papers": "the matching hot loop (speed fence 1, tests/test_matching.py)",
}


def _functions(blocks: list[Function | Class]) -> Iterator[Function]:
    """Every function, method and closure once (radon lists methods both inside their
    class and on their own)."""
    seen: set[tuple[int, str]] = set()
    stack = list(blocks)
    while stack:
        block = stack.pop()
        if isinstance(block, Class):
            stack.extend(block.methods)
            continue
        if (block.lineno, block.fullname) not in seen:
            seen.add((block.lineno, block.fullname))
            yield block
        stack.extend(block.closures)


def offenders(root: Path) -> list[str]:
    out: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.as_posix()
        for fn in sorted(_functions(cc_visit(path.read_text(encoding="utf-8"))), key=lambda f: f.lineno):
            lines = fn.endline - fn.lineno + 1
            if (fn.complexity > MAX_CC or lines > MAX_LINES) and f"{rel}:{fn.name}" not in FENCED:
                out.append(f"{rel}:{fn.lineno} {fn.fullname}: cc {fn.complexity}, {lines} lines")
    return out


def main(argv: list[str]) -> int:
    found = offenders(Path(argv[0] if argv else "newsletter"))
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} function(s) over the limit (cc > {MAX_CC} or > {MAX_LINES} lines)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
