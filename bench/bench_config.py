"""Scale: 100,000 subscribers in one YAML file.

``load_config`` on the file (libyaml composes the node tree; line numbers are looked
up in it only when an error needs one), and ``newsletter match --json`` for all of
them against the 78-paper seed, written to a file (not a terminal: compact JSON,
streamed one subscriber at a time). ``BENCH_SUBSCRIBERS`` changes the count.
"""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COUNT = int(os.environ.get("BENCH_SUBSCRIBERS", "100000"))
_WORDS = ("diffusion", "contrastive learning", "title:transformer", "augment*", "graph", "robot*", "segmentation")


def write_config(directory: Path, count: int) -> Path:
    """A configuration of ``count`` subscribers (3 keywords each), written as text."""
    rng = random.Random(count)
    lines = [
        "digests:",
        f"  directory: {ROOT / 'seeds'}",
        "sender:",
        "  from: Paper Digest <digest@example.org>",
        "subscribers:",
    ]
    for i in range(count):
        keywords = ", ".join(f'"{w}"' for w in rng.sample(_WORDS, 3))
        lines += [f"  - email: reader{i}@example.org", f"    name: Reader {i}", f"    keywords: [{keywords}]"]
    path = directory / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run() -> None:
    from newsletter.config import load_config

    print(f"== scale: {COUNT:,} subscribers in one YAML file ==")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = write_config(Path(tmp), COUNT)
        size = cfg.stat().st_size
        started = time.perf_counter()
        config = load_config(cfg)
        took = time.perf_counter() - started
        assert len(config.subscribers) == COUNT
        print(f"  load_config: {took:.2f} s ({size / 2**20:.1f} MiB of YAML, {took / COUNT * 1e6:.0f} us a subscriber)")
        del config
        seed = next((ROOT / "seeds").glob("002_*.txt"))
        out = Path(tmp) / "match.json"
        started = time.perf_counter()
        with out.open("wb") as sink:
            done = subprocess.run(
                [sys.executable, "-m", "newsletter", "match", "-c", str(cfg), "--json", str(seed)],
                stdout=sink,
                stderr=subprocess.PIPE,
                check=False,
            )
        took = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(done.stderr.decode(errors="replace"))
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(
            f"  match --json > file: {took:.2f} s for {COUNT:,} subscribers, {out.stat().st_size / 2**20:.1f} MiB "
            f"of JSON (the whole command: load, match, write); max RSS {child / 1024:.0f} MiB"
        )


if __name__ == "__main__":
    run()
