"""Where the shipped resources live, in every install mode.

The default email templates sit in ``templates/`` at the top of the repository
and are installed as the regular package ``newsletter.templates`` (it has an
``__init__.py``; pyproject maps the directory). They are read only through
:mod:`importlib.resources` (``files()`` and ``Traversable.read_text``), never
through a guessed filesystem path, so a wheel, an sdist, an editable install
and a zipped application all find the same files from any working directory.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

TEMPLATE_PACKAGE = "newsletter.templates"
# the repository's sample digests (seeds/*.txt) and config.example.yaml, shipped for
# `newsletter init --example`
EXAMPLES_PACKAGE = "newsletter.examples"


def shipped(package: str = TEMPLATE_PACKAGE) -> Traversable:
    """The root of a shipped resource package (a directory, or a folder inside a zip)."""
    return resources.files(package)


def shipped_file(name: str, package: str = TEMPLATE_PACKAGE) -> Traversable | None:
    """The shipped resource ``name`` (``/``-separated, no ``..``), or None when absent."""
    node = shipped(package)
    for part in name.split("/"):
        if part in ("", ".", ".."):
            return None
        node = node.joinpath(part)
    return node if node.is_file() else None
