"""The first minutes of a user (SPEC 9, issue 26): a plain ``pip install .`` into a
fresh virtual environment, its size, and how quickly the installed program starts.

- ``pip install .`` (not editable) into a temporary venv, timed: pip's cache is warm
  after ``make venv`` (the dependencies are not downloaded again), so this is the
  time of building our wheel and unpacking everything. Target <= 40 s.
- the venv's size on disk, and its largest packages. Target <= 150 MB. Then what the
  ``semantic`` extra adds to it (target < 150 MB, SPEC 9).
- ``newsletter --version`` and ``newsletter check`` on the starter config that
  ``newsletter init`` writes, run from the installed program (not this checkout),
  median of several runs: wall time and CPU time (the CPU time says more on a
  shared, loaded machine). Targets 0.15 s and 0.5 s.

``BENCH_INSTALL=0`` skips it (it takes a minute or two). Prints; asserts nothing.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7


def _size(path: Path) -> int:
    """Bytes on disk under ``path`` (as ``du`` counts them: blocks, each inode once)."""
    seen: set[int] = set()
    total = 0
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


def _largest(site: Path, count: int = 6) -> list[tuple[str, int]]:
    skip = (".dist-info", "__pycache__")
    sizes = [(p.name, _size(p)) for p in site.iterdir() if p.is_dir() and not p.name.endswith(skip)]
    return sorted(sizes, key=lambda item: -item[1])[:count]


def timed(argv: list[str], *, cwd: Path, runs: int = RUNS) -> tuple[float, float, str]:
    """Median wall and CPU seconds of ``argv`` over ``runs`` runs, and its last output."""
    walls: list[float] = []
    cpus: list[float] = []
    out = ""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        out = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            return float("nan"), float("nan"), out
    return statistics.median(walls), statistics.median(cpus), out


def startup(bin_dir: Path, work: Path) -> None:
    """--version and check (on the starter config) of the program in ``bin_dir``."""
    program = str(bin_dir / "newsletter")
    wall, cpu, _ = timed([str(bin_dir / "python"), "-c", "pass"], cwd=work)
    print(f"  python -c pass:        {wall:.3f} s wall, {cpu:.3f} s CPU (the interpreter alone)")
    wall, cpu, out = timed([program, "--version"], cwd=work)
    print(f"  newsletter --version:  {wall:.3f} s wall, {cpu:.3f} s CPU  (target <= 0.15 s)  [{out}]")
    subprocess.run([program, "init", str(work / "starter")], cwd=work, capture_output=True, check=True)
    cfg = str(work / "starter" / "config.yaml")
    wall, cpu, out = timed([program, "check", "-c", cfg], cwd=work)
    print(f"  newsletter check:      {wall:.3f} s wall, {cpu:.3f} s CPU  (starter config; target <= 0.5 s)")


def run() -> None:
    print("== install: a plain `pip install .` into a fresh venv, and how fast it starts ==")
    print(f"  source: {ROOT}")
    if os.environ.get("BENCH_INSTALL", "1") == "0":
        print("  skipped (BENCH_INSTALL=0)")
        return
    print(f"  load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        python = env_dir / "bin" / "python"
        base = _size(env_dir)
        started = time.perf_counter()
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
            capture_output=True,
            text=True,
            check=False,
        )
        took = time.perf_counter() - started
        if done.returncode != 0:
            print(f"  pip install failed: {done.stderr.strip()[-800:]}")
            return
        total = _size(env_dir)
        print(f"  pip install .:         {took:.1f} s (warm pip cache; target <= 40 s)")
        print(
            f"  venv size:             {total / 1e6:.0f} MB ({(total - base) / 1e6:.0f} MB installed over an empty "
            f"venv of {base / 1e6:.0f} MB with pip; target <= 150 MB)"
        )
        site = next((env_dir / "lib").glob("python*/site-packages"))
        print("  largest packages:      " + ", ".join(f"{n} {s / 1e6:.0f} MB" for n, s in _largest(site)))
        work = Path(tmp) / "elsewhere"
        work.mkdir()
        startup(env_dir / "bin", work)
        semantic_extra(python, env_dir, total)


def semantic_extra(python: Path, env_dir: Path, base: int) -> None:
    """What ``pip install '.[semantic]'`` adds to the plain install (issue 24)."""
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{ROOT}[semantic]"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"  pip install '.[semantic]' failed: {done.stderr.strip()[-800:]}")
        return
    total = _size(env_dir)
    print(f"  semantic extra adds:   {(total - base) / 1e6:.0f} MB (venv {total / 1e6:.0f} MB; target < 150 MB)")


if __name__ == "__main__":
    if len(sys.argv) > 1:  # another source tree (e.g. an older commit, for a before/after)
        ROOT = Path(sys.argv[1]).resolve()
    run()
