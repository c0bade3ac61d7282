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

:class:`Handled` remembers the files a pick-up already read, by the same signature: the
daemon polls every second, and reading and hashing every settled file each time (a year
of fetched digests is hundreds of megabytes) kept an idle daemon at a quarter of a core.
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

    def signature(self, path: Path) -> tuple[int, int] | None:
        """The (size, mtime) ``path`` had when :meth:`ready` last looked (None: not seen)."""
        seen = self._seen.get(path)
        return seen[0] if seen else None


@dataclass
class Handled:
    """Settled files a pick-up has read (recorded, failed, or already in the ledger), by
    the signature they had then: they are not read again until they change. A file the
    pick-up could not read, or found unsettled, is not remembered, so it is tried again."""

    _done: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def fresh(self, tracker: SettleTracker, paths: Iterable[Path]) -> list[Path]:
        """Those of ``paths`` not read since they last changed; forgets files gone."""
        self._done = {p: sig for p, sig in self._done.items() if tracker.signature(p) is not None}
        return [p for p in paths if self._done.get(p) != tracker.signature(p)]

    def read(self, tracker: SettleTracker, paths: Iterable[Path], *, retry: Iterable[str] = ()) -> None:
        """``paths`` were read by a pick-up, but for those named in ``retry``."""
        again = set(retry)
        for path in paths:
            signature = tracker.signature(path)
            if signature is not None and str(path) not in again:
                self._done[path] = signature
