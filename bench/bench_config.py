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


BARE = "import sys, yaml; yaml.load(open(sys.argv[1], encoding='utf-8').read(), Loader=yaml.CSafeLoader)"


def _timed(argv: list[str], out: Path | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of a child process (stdout into ``out``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with out.open("wb") if out is not None else open(os.devnull, "wb") as sink:
        done = subprocess.run(argv, stdout=sink, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode(errors="replace"))
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def run() -> None:
    from newsletter.config import load_config

    print(f"== scale: {COUNT:,} subscribers in one YAML file ==")
    print(f"  load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
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
        match = [sys.executable, "-m", "newsletter", "match", "-c", str(cfg), "--json", str(seed)]
        # side by side: the bare parse (a plain yaml.load with libyaml, as any program would
        # do it) before and after the whole command, in fresh interpreters alike
        bare1 = _timed([sys.executable, "-c", BARE, str(cfg)])
        whole = _timed(match, out)
        bare2 = _timed([sys.executable, "-c", BARE, str(cfg)])
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        bare = ((bare1[0] + bare2[0]) / 2, (bare1[1] + bare2[1]) / 2)
        print(f"  bare libyaml parse (yaml.load, CSafeLoader): {bare[0]:.2f} s wall, {bare[1]:.2f} s CPU")
        print(
            f"  match --json > file: {whole[0]:.2f} s wall, {whole[1]:.2f} s CPU for {COUNT:,} subscribers, "
            f"{out.stat().st_size / 2**20:.1f} MiB of JSON (load, match, write); max RSS {child / 1024:.0f} MiB"
        )
        target = 1.3 * bare[0] + 3
        print(f"  target 1.3 x parse + 3 s = {target:.2f} s: match is {whole[0] / target:.0%} of it (wall)")


if __name__ == "__main__":
    run()
