"""A plain (non-editable) install is a complete program from any working directory.

The wheel is built from the repository and installed with ``--no-deps`` into a fresh
virtual environment; the dependencies come from the test interpreter's site-packages
through a ``.pth`` line (appended after the new venv's own site-packages, so the
installed ``newsletter`` is the one imported, never the checkout). The program then
runs from an unrelated directory that holds nothing but a config and the digests.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import settled_copy
from tests.smtpd import EXAMPLE_SUBSCRIBERS, smtp_server, write_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (found,) = out.glob("paper_digest-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` directory of a fresh venv holding only the installed wheel."""
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # the dependencies, from the interpreter running the tests (not its editable checkout)
    (Path(purelib) / "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return env_dir / "bin"


def run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(bin_dir / "newsletter"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_packaging_wheel_ships_packages_and_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = sorted(p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "newsletter").rglob("__init__.py"))
    for package in packages:
        assert f"{package}/__init__.py" in names, f"{package} missing from the wheel (pyproject packages)"
    for template in sorted([*(ROOT / "templates").glob("*.j2"), *(ROOT / "templates").glob("*.yaml")]):
        assert f"newsletter/templates/{template.name}" in names
    assert "newsletter/py.typed" in names
    assert "newsletter/templates/starter-config.yaml" in names  # what `newsletter init` writes
    for seed in sorted((ROOT / "seeds").glob("*.txt")):  # what `newsletter init --example` writes
        assert f"newsletter/examples/{seed.name}" in names
    assert "newsletter/examples/config.example.yaml" in names
    for page in sorted((ROOT / "newsletter" / "web" / "templates").glob("*.html")):
        assert f"newsletter/render/pages/{page.name}" in names  # the web pages are package data too


def test_packaging_installed_copy_is_the_one_imported(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [str(installed / "python"), "-c", "import newsletter; print(newsletter.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed.parent), where
    assert not Path(where).is_relative_to(ROOT)


def test_packaging_installed_preview_writes_every_example_email(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    (work / "seeds").mkdir(parents=True)
    shutil.copy(ROOT / "config.example.yaml", work / "config.yaml")
    for seed in sorted((ROOT / "seeds").glob("*.txt")):
        settled_copy(seed, work / "seeds")
    result = run(installed, work, "preview", "-c", "config.yaml", "--out", "out")
    assert result.returncode == 0, result.stderr
    import yaml

    subscribers = yaml.safe_load((ROOT / "config.example.yaml").read_text())["subscribers"]
    written = sorted(p.name for p in (work / "out").glob("*.eml"))
    assert written == sorted(f"{s['email']}.eml" for s in subscribers)
    for name in written:
        message = email.message_from_bytes((work / "out" / name).read_bytes())
        html = next(p for p in message.walk() if p.get_content_type() == "text/html")
        assert "<html" in html.get_payload(decode=True).decode().lower()
    assert (work / "out" / "index.html").is_file()


def test_packaging_installed_send_delivers_through_smtp(installed: Path, tmp_path: Path) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS)
        for seed in sorted((ROOT / "seeds").glob("*.txt"))[:2]:
            settled_copy(seed, cfg.parent / "digests")
        result = run(installed, tmp_path, "send", "-c", str(cfg))
        assert result.returncode == 0, result.stderr
        assert sorted(m.rcpt_tos[0] for m in server.received) == sorted(s["email"] for s in EXAMPLE_SUBSCRIBERS)
        second = run(installed, tmp_path, "send", "-c", str(cfg))
        assert second.returncode == 0 and len(server.received) == len(EXAMPLE_SUBSCRIBERS)


def test_packaging_installed_quick_start_init_example_check_send(installed: Path, tmp_path: Path) -> None:
    """The README's quick start from a plain install, in a directory with nothing in it:
    init --example brings the sample digests and a subscriber from the package."""
    import yaml

    work = tmp_path / "elsewhere"
    work.mkdir()
    done = run(installed, work, "init", "team", "--example")
    assert done.returncode == 0, done.stderr
    team = work / "team"
    assert len(list((team / "digests").glob("*.txt"))) == len(list((ROOT / "seeds").glob("*.txt")))
    assert (team / "config.example.yaml").is_file()
    check = run(installed, team, "check")
    assert check.returncode == 0, check.stderr
    with smtp_server() as server:
        cfg = team / "config.yaml"
        cfg.write_text(cfg.read_text(encoding="utf-8").replace("port: 1025", f"port: {server.port}"), encoding="utf-8")
        sent = run(installed, team, "send")
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout == "" and sent.stderr == ""  # not a terminal: a good pass says nothing
        first = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))["subscribers"][0]
        assert [m.rcpt_tos for m in server.received] == [[first["email"]]]
