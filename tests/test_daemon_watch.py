"""SettleTracker on real files: growing files wait, settled ones and atomic renames go."""

from __future__ import annotations

import os
from pathlib import Path

from newsletter.daemon.watch import SettleTracker


def test_watch_growing_file_waits_until_stable(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_text("first half")
    now = path.stat().st_mtime
    tracker = SettleTracker(settle_seconds=2)
    assert tracker.ready([path], now=now) == []
    assert tracker.ready([path], now=now + 1) == []
    with path.open("a") as out:
        out.write(" and more")
    os.utime(path, (now + 1.5, now + 1.5))
    assert tracker.ready([path], now=now + 2.5) == []  # changed: the clock starts again, when seen
    assert tracker.ready([path], now=now + 4.4) == []
    assert tracker.ready([path], now=now + 4.6) == [path]


def test_watch_wall_clock_step_never_settles_a_file_being_written(tmp_path: Path) -> None:
    # NTP steps a wrong clock an hour forward (or a virtual machine resumes) while a
    # digest is half-copied: what counts is how long the file was seen unchanged on
    # the monotonic clock, not how old the wall clock now says its mtime is
    path = tmp_path / "d.txt"
    path.write_text("first half")
    wall = path.stat().st_mtime
    tracker = SettleTracker(settle_seconds=5)
    # (wall clock, monotonic clock) of four looks: injected readings, not a measured time
    looks = [(wall, 100.0), (wall + 3600, 101.0), (wall + 3603, 104.0), (wall + 3604.5, 105.5)]
    ready = [tracker.ready([path], now=now, monotonic=mono) for now, mono in looks]
    assert ready == [[], [], [], [path]]  # the step (2nd look) settles nothing; 5.5 s seen unchanged does


def test_watch_old_file_and_atomic_rename_ready_at_once(tmp_path: Path) -> None:
    staging = tmp_path / ".incoming.tmp"
    staging.write_text("complete digest")
    old = staging.stat().st_mtime - 60
    os.utime(staging, (old, old))
    final = tmp_path / "d.txt"
    staging.rename(final)
    assert SettleTracker(settle_seconds=5).ready([final], now=old + 60) == [final]


def test_watch_vanished_file_is_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_text("x")
    tracker = SettleTracker(settle_seconds=0)
    assert tracker.ready([path]) == [path]
    path.unlink()
    assert tracker.ready([path]) == []
