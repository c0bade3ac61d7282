"""HTML pages (the unsubscribe and feedback endpoints, the local preview): the page
templates beside this module, rendered through one Jinja environment.

:data:`PAGES` has autoescape on and undefined names as errors; it reads the templates
shipped as ``newsletter.render.pages`` with :class:`jinja2.PackageLoader` (a directory
or a zip: every install mode finds them). Each template is compiled once per process (Jinja's cache),
not per request. Both the web layer and ``preview --out`` (which writes the same
pages as files) render through :func:`render_page`.
"""

from __future__ import annotations

from typing import Any

import jinja2

from newsletter.base.wording import plural
from newsletter.render.latex import readable

PAGES_PACKAGE = "newsletter.render.pages"


#: The one Jinja environment of the web pages: everything escaped, undefined names are errors.
PAGES = jinja2.Environment(
    loader=jinja2.PackageLoader(PAGES_PACKAGE, "."),  # the installed package's files (zip-safe)
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
