"""HTML pages (the unsubscribe and feedback endpoints, the local preview): the page
templates beside this module, rendered through one Jinja environment.

:data:`PAGES` has autoescape on and undefined names as errors; it reads the templates
shipped as ``newsletter.render.pages`` through :mod:`importlib.resources`, so every
install mode finds them. Each template is compiled once per process (Jinja's cache),
not per request. Both the web layer and ``preview --out`` (which writes the same
pages as files) render through :func:`render_page`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jinja2

from newsletter.base.resources import shipped_file
from newsletter.base.wording import plural
from newsletter.render.latex import readable

PAGES_PACKAGE = "newsletter.render.pages"


class _PageLoader(jinja2.BaseLoader):
    """The page templates from the installed package, through importlib.resources."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        found = shipped_file(template, PAGES_PACKAGE)
        if found is None:
            raise jinja2.TemplateNotFound(template)
        return found.read_text(encoding="utf-8"), str(found), lambda: True


#: The one Jinja environment of the web pages: everything escaped, undefined names are errors.
PAGES = jinja2.Environment(
    loader=_PageLoader(),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
PAGES.filters["plural"] = plural
PAGES.filters["readable"] = readable  # TeX in titles as text (the why-matched table)


def render_page(name: str, **context: Any) -> str:
    """The page template ``name`` (e.g. ``confirm.html``) rendered with ``context``."""
    return PAGES.get_template(name).render(**context)


__all__ = ["PAGES", "PAGES_PACKAGE", "render_page"]
