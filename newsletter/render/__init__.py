"""Rendering emails (SPEC 5): templates, view model, MIME message.

Build one :class:`Renderer` per run from the configuration and call
:meth:`Renderer.render` for each subscriber; preview, send and the daemon share
this path.

Modules: :mod:`~newsletter.render.templates` (loading, MJML compiled once),
:mod:`~newsletter.render.content` (the pure view model),
:mod:`~newsletter.render.message` (MIME), :mod:`~newsletter.render.renderer`.

The names below are imported on first use (PEP 562): ``newsletter.render.templates``
or ``newsletter.render.dkim`` alone (what ``check`` needs) does not import the
renderer, the matching engine's planner and the ledger behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newsletter.base.lazy import lazy_exports

if TYPE_CHECKING:
    from newsletter.render.message import boundary_for, message_id_for
    from newsletter.render.renderer import RenderedEmail, Renderer, View
    from newsletter.render.templates import load_templates

_WHERE = {
    "RenderedEmail": "newsletter.render.renderer",
    "Renderer": "newsletter.render.renderer",
    "View": "newsletter.render.renderer",
    "boundary_for": "newsletter.render.message",
    "load_templates": "newsletter.render.templates",
    "message_id_for": "newsletter.render.message",
}

__all__ = ["RenderedEmail", "Renderer", "View", "boundary_for", "load_templates", "message_id_for"]


__getattr__ = lazy_exports(__name__, _WHERE)
