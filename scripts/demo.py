"""`make demo`: parse the sample digests and print a summary table."""

from __future__ import annotations

import sys
from pathlib import Path

from newsletter.digest import read_digest

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    print(f"{'DIGEST':<28} {'DATE':<10} {'PAPERS':>6} {'WITH META':>9} {'LINKS':>5}")
    ids: set[str] = set()
    total = 0
    for path in seeds:
        digest = read_digest(path)
        with_meta = sum(1 for p in digest.papers if p.published is not None)
        links = sum(len(p.links) for p in digest.papers)
        when = digest.date.isoformat() if digest.date else "-"
        print(f"{path.name:<28} {when:<10} {len(digest.papers):>6} {with_meta:>9} {links:>5}")
        ids.update(p.id for p in digest.papers)
        total += len(digest.papers)
    print(f"{len(seeds)} digests, {total} entries, {len(ids)} distinct papers")
    print("Try: .venv/bin/newsletter parse seeds/000_02853de1cf9e25ee.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
