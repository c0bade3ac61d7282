"""``newsletter init``: a commented starter configuration and the folders it names.

The starter text is the shipped resource ``starter-config.yaml`` (see
:mod:`newsletter.resources`), not a Python string: it is what a first user reads
and edits. Only what a first user needs is set; every other key is one comment
away. ``check`` passes on it as written (no subscribers yet is a warning).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.config import DEFAULT_CONFIG
from newsletter.errors import ConfigError
from newsletter.fsutil import atomic_write
from newsletter.resources import shipped_file

STARTER = "starter-config.yaml"
FOLDERS = ("digests", "subscribers")  # the directories the starter config names


@dataclass(frozen=True, slots=True)
class Initialised:
    """What :func:`init_project` wrote."""

    config: Path
    folders: tuple[Path, ...]  # created now (existing ones are left alone)
    replaced: bool  # an existing config was overwritten (``force``)


def starter_text() -> str:
    """The starter configuration, as shipped."""
    resource = shipped_file(STARTER)
    if resource is None:  # a broken install: say so rather than write nothing
        raise ConfigError(f"the shipped starter configuration {STARTER} is missing; reinstall paper-digest")
    return resource.read_text(encoding="utf-8")


def init_project(directory: str | Path = ".", *, force: bool = False) -> Initialised:
    """Write ``DIRECTORY/config.yaml`` and create its digests and subscribers folders.

    An existing config is never overwritten unless ``force`` (ConfigError, exit 2).
    """
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise ConfigError("not a directory", path=str(root))
    config = root / DEFAULT_CONFIG
    existed = config.exists()
    if existed and not force:
        raise ConfigError("a configuration already exists here; use --force to replace it", path=str(config))
    text = starter_text()
    created = []
    for name in FOLDERS:
        folder = root / name
        if folder.exists() and not folder.is_dir():
            raise ConfigError("is in the way: the starter configuration needs a folder here", path=str(folder))
        if not folder.is_dir():
            folder.mkdir(parents=True)
            created.append(folder)
    atomic_write(config, text)
    return Initialised(config=config, folders=tuple(created), replaced=existed)
