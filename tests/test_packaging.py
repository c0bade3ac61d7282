"""A plain (non-editable) install ships every subpackage and the default templates."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_packaging_wheel_ships_packages_and_templates(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("paper_digest-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = sorted(p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "newsletter").rglob("__init__.py"))
    for package in packages:
        assert f"{package}/__init__.py" in names, f"{package} missing from the wheel (pyproject packages)"
    for template in sorted([*(ROOT / "templates").glob("*.j2"), *(ROOT / "templates").glob("*.yaml")]):
        assert f"newsletter/templates/{template.name}" in names
    assert "newsletter/py.typed" in names
    assert "newsletter/templates/starter-config.yaml" in names  # what `newsletter init` writes
