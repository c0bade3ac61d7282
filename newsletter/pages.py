"""What the tool's own small web pages share (the preview and the unsubscribe pages)."""

from __future__ import annotations

import jinja2

#: Jinja environment for the pages: everything escaped, undefined names are errors.
PAGE_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)

#: The base style of every page; each page adds its own rules after it.
BASE_STYLE = """
:root { color-scheme: light; }
body { font: 16px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #1f2937; background: #f1f5f9; margin: 0; }
"""
