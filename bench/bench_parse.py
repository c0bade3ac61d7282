"""Digest parsing throughput on the seeds."""

from __future__ import annotations

import time
from pathlib import Path

from newsletter.digest import parse_digest

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def run() -> None:
    blobs = [(p.name, p.read_bytes()) for p in sorted(SEEDS.glob("*.txt"))]
    size = sum(len(b) for _, b in blobs)
    rounds = 50
    started = time.perf_counter()
    papers = 0
    for _ in range(rounds):
        for name, data in blobs:
            papers += len(parse_digest(data, source=name).papers)
    elapsed = time.perf_counter() - started
    print("== parse: hf-text seeds ==")
    print(
        f"  {papers / elapsed:,.0f} papers/s, {size * rounds / elapsed / 1e6:.1f} MB/s "
        f"({rounds} rounds of {len(blobs)} files)"
    )
