"""Render worker processes started early (issue 26): how many, the command, and
:class:`EarlyWorkers`, for ``newsletter send`` to start them before it reads a big
configuration, so that their own start-up (an interpreter importing the renderer,
about 0.3 s) overlaps reading it instead of following it.

Standard library only: this module is imported before anything else of a pass.
The workers themselves are :mod:`newsletter.render.pool`'s; a worker nobody takes
ends quietly when its standard input closes (:meth:`EarlyWorkers.close`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType

__all__ = ["EARLY_CONFIG_BYTES", "MAX_RENDER_WORKERS", "EarlyWorkers", "early_workers", "render_workers"]

MAX_RENDER_WORKERS = 4
# A configuration file this big holds several hundred subscribers: the pass will render
# in workers (POOL_MIN deliveries), so they are started before the file is read.
EARLY_CONFIG_BYTES = 32 * 1024


def render_workers() -> int:
    """Render worker processes for a large pass: the CPUs this process may use, less
    the one the SMTP sessions and the ledger need, at least one."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus - 1, MAX_RENDER_WORKERS))


def worker_command() -> list[str]:
    return [sys.executable, "-m", "newsletter.render.pool"]


def worker_env() -> dict[str, str]:
    """This process's environment, with its import path (a worker imports what we import)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [*sys.path, env.get("PYTHONPATH", "")] if p)
    return env


class EarlyWorkers:
    """Render workers started now, before the pass knows whether it needs them: a
    :class:`~newsletter.render.pool.RenderPool` :meth:`take` s them, or :meth:`close`
    ends them (as a context manager: on the way out, whatever happened)."""

    def __init__(self, count: int) -> None:
        env = worker_env()
        self._procs: list[subprocess.Popen[bytes]] = []
        for _ in range(count):
            try:
                proc = subprocess.Popen(worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
            except OSError:
                break  # the pool starts its own when it needs them
            self._procs.append(proc)

    def take(self) -> list[subprocess.Popen[bytes]]:
        """The workers, handed over once (the taker ends them)."""
        taken, self._procs = self._procs, []
        return taken

    def close(self) -> None:
        """End the workers nobody took: end of input, then wait (killed after 5 s)."""
        for proc in self._procs:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        for proc in self._procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self._procs = []

    def __enter__(self) -> EarlyWorkers:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def early_workers(config_path: str | Path, *, wanted: bool = True) -> EarlyWorkers:
    """Workers started now when ``wanted`` (a pass that sends) and the configuration at
    ``config_path`` is big enough for a pass that renders in workers
    (:data:`EARLY_CONFIG_BYTES`); none otherwise."""
    try:
        big = wanted and os.stat(config_path).st_size >= EARLY_CONFIG_BYTES
    except OSError:
        big = False  # (reading it says what is wrong)
    return EarlyWorkers(render_workers() if big else 0)
