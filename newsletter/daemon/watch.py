"""Which digest files have settled: unchanged in size and mtime for ``settle_seconds``.

A digest appears before it is completely written (SPEC 6b). The tracker remembers
each file's (size, mtime) and since when it has been seen so; a file is ready once
that signature has held for the settle time. An atomic rename into the directory
gives a file whose mtime is already old enough, so it is ready at once.

"Since when" is measured on the monotonic clock: a step of the wall clock (NTP
correcting a wrong clock, a resumed virtual machine) never makes a file that is still
being written look settled. The mtime shortcut (wall clock against the file's
mtime) is taken only for a file seen for the first time: one already tracked has its
own stable time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SettleTracker:
    settle_seconds: float
    _seen: dict[Path, tuple[tuple[int, int], float]] = field(default_factory=dict)

    def ready(self, paths: Iterable[Path], *, now: float | None = None, monotonic: float | None = None) -> list[Path]:
        """The paths whose size and mtime have been stable for the settle time. ``now``
        is the wall clock, ``monotonic`` a clock that never jumps (``now`` when not given)."""
        wall = time.time() if now is None else now
        ticks = (time.monotonic() if now is None else now) if monotonic is None else monotonic
        out: list[Path] = []
        current: dict[Path, tuple[tuple[int, int], float]] = {}
        for path in paths:
            try:
                st = path.stat()
            except OSError:
                continue
            signature = (st.st_size, st.st_mtime_ns)
            previous = self._seen.get(path)
            since = previous[1] if previous and previous[0] == signature else ticks
            current[path] = (signature, since)
            stable_for = ticks - since
            if previous is None:  # new here: untouched on disk for long enough (an atomic rename)
                stable_for = max(stable_for, wall - st.st_mtime_ns / 1e9)
            if stable_for >= self.settle_seconds:
                out.append(path)
        self._seen = current
        return out
