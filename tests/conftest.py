"""Shared fixtures: paths to the sample digests and helpers to build variants."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def seeds() -> dict[str, Path]:
    """The four sample digests by their number prefix: seeds['002'] -> Path."""
    return {p.name[:3]: p for p in sorted(SEEDS.glob("*.txt"))}


SETTLED_AGE = 3600.0  # seconds: older than any settle_seconds a test configures


def settled_copy(src: Path, directory: Path, name: str | None = None) -> Path:
    """Copy a digest into ``directory`` with an mtime an hour before the source's.

    A fresh clone's files are seconds old, so a copy that kept the checkout mtime would
    still be "being written" under ``settle_seconds``; the test must not depend on how
    old the clone is. An hour back keeps the year that yearless dates resolve against.
    """
    dest = directory / (name or src.name)
    shutil.copyfile(src, dest)
    stamp = min(src.stat().st_mtime, time.time()) - SETTLED_AGE
    os.utime(dest, (stamp, stamp))
    return dest
