"""Where the shipped resources live.

The default templates are in ``templates/`` at the top of the repository and are
installed as the package ``newsletter.templates`` (see pyproject.toml). An
installed copy is found through :mod:`importlib.resources`; a source checkout
(or an editable install whose finder does not map the directory) falls back to
the repository's ``templates/``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_REPO_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def default_template_dir() -> Path:
    """The directory holding the shipped ``digest.mjml.j2`` and ``digest.txt.j2``."""
    try:
        found = Path(str(resources.files("newsletter.templates")))
    except (ModuleNotFoundError, TypeError):
        found = None
    if found is not None and (found / "digest.mjml.j2").is_file():
        return found
    return _REPO_TEMPLATES
