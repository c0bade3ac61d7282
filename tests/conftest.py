"""Shared fixtures: paths to the sample digests and helpers to build variants."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def seeds() -> dict[str, Path]:
    """The four sample digests by their number prefix: seeds['002'] -> Path."""
    return {p.name[:3]: p for p in sorted(SEEDS.glob("*.txt"))}
