"""``newsletter init``: a commented starter configuration and the folders it names.

The starter text is the shipped resource ``starter-config.yaml`` (see
:mod:`newsletter.base.resources`), not a Python string: it is what a first user reads
and edits. Only what a first user needs is set; every other key is one comment
away. ``check`` passes on it as written (no subscribers yet is a warning).

``init --example`` also writes what the quick start and the ``--help`` examples use,
all from the installed package (``newsletter.examples``: the repository's ``seeds/*.txt``
and ``config.example.yaml``, shipped as package data): the sample digests into the
digests folder (dated an hour back, so they count as settled at once), the first
subscriber of ``config.example.yaml`` as a profile in the subscribers folder, and
``config.example.yaml`` itself beside the config, the reference of every key. Files
already there are left as they are.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from newsletter.base.addresses import address_key
from newsletter.base.errors import ConfigError
from newsletter.base.fsutil import atomic_write, writing
from newsletter.base.resources import EXAMPLES_PACKAGE, shipped, shipped_file
from newsletter.config import DEFAULT_CONFIG

STARTER = "starter-config.yaml"
FOLDERS = ("digests", "subscribers")  # the directories the starter config names
REFERENCE = "config.example.yaml"  # every key with a comment (shipped in newsletter.examples)
SETTLED_BACK = 3600  # seconds: sample digests are dated this far back (settled at once)


@dataclass(frozen=True, slots=True)
class Initialised:
    """What :func:`init_project` wrote."""

    config: Path
    folders: tuple[Path, ...]  # created now (existing ones are left alone)
    replaced: bool  # an existing config was overwritten (``force``)
    digests: tuple[Path, ...] = ()  # sample digests written (``example``)
    profiles: tuple[Path, ...] = ()  # example subscriber files written (``example``)
    reference: Path | None = None  # config.example.yaml written (``example``)


def starter_text() -> str:
    """The starter configuration, as shipped."""
    resource = shipped_file(STARTER)
    if resource is None:  # a broken install: say so rather than write nothing
        raise ConfigError(f"the shipped starter configuration {STARTER} is missing; reinstall paper-digest")
    return resource.read_text(encoding="utf-8")


def _example(name: str) -> Traversable:
    found = shipped_file(name, EXAMPLES_PACKAGE)
    if found is None:
        raise ConfigError(f"the shipped example {name} is missing; reinstall paper-digest")
    return found


def sample_digests() -> list[Traversable]:
    """The shipped sample digests (the repository's ``seeds/*.txt``), in name order."""
    folder = shipped(EXAMPLES_PACKAGE)
    found = sorted((f for f in folder.iterdir() if f.name.endswith(".txt") and f.is_file()), key=lambda f: f.name)
    if not found:
        raise ConfigError("the shipped sample digests are missing; reinstall paper-digest")
    return found


def example_profile() -> dict[str, Any]:
    """The first subscriber of the shipped ``config.example.yaml`` (its keys ``subscribers add`` takes)."""
    import yaml

    data = yaml.safe_load(_example(REFERENCE).read_text(encoding="utf-8"))
    first = data["subscribers"][0]
    keys = ("name", "keywords", "require", "exclude", "schedule", "like")
    return {"email": first["email"], **{k: first[k] for k in keys if first.get(k)}}


def _write_examples(root: Path) -> tuple[tuple[Path, ...], tuple[Path, ...], Path | None]:
    """Sample digests, the example profile and the reference config, where not there yet."""
    digests = []
    stamp = time.time() - SETTLED_BACK
    for sample in sample_digests():
        target = root / "digests" / sample.name
        if not target.exists():
            atomic_write(target, sample.read_bytes())
            os.utime(target, (stamp, stamp))
            digests.append(target)
    reference = root / REFERENCE
    if reference.exists():
        written_reference = None
    else:
        atomic_write(reference, _example(REFERENCE).read_text(encoding="utf-8"))
        written_reference = reference
    from newsletter.app.roster import add_subscriber, load_for_edit

    config = load_for_edit(root / DEFAULT_CONFIG)
    profile = example_profile()
    profiles: tuple[Path, ...] = ()
    if not any(address_key(s.email) == address_key(profile["email"]) for s in config.subscribers):
        email = profile.pop("email")
        profiles = (add_subscriber(config, email, **profile),)
    return tuple(digests), profiles, written_reference


def init_project(directory: str | Path = ".", *, force: bool = False, example: bool = False) -> Initialised:
    """Write ``DIRECTORY/config.yaml`` and create its digests and subscribers folders;
    ``example``: the sample digests, an example profile and ``config.example.yaml`` too.

    An existing config is never overwritten unless ``force`` (ConfigError, exit 2).
    """
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise ConfigError("not a directory", path=str(root))
    config = root / DEFAULT_CONFIG
    existed = config.exists()
    if existed and not force:
        raise ConfigError("a configuration already exists here; use --force to replace it", path=str(config))
    created = []
    with writing("the starter configuration", root):
        for name in FOLDERS:
            folder = root / name
            if folder.exists() and not folder.is_dir():
                raise ConfigError("is in the way: the starter configuration needs a folder here", path=str(folder))
            if not folder.is_dir():
                folder.mkdir(parents=True)
                created.append(folder)
        atomic_write(config, starter_text())
    done = Initialised(config=config, folders=tuple(created), replaced=existed)
    if not example:
        return done
    digests, profiles, reference = _write_examples(root)
    return Initialised(config, tuple(created), existed, digests, profiles, reference)
