"""Rendering emails (SPEC 5): templates, view model, MIME message.

Build one :class:`Renderer` per run from the configuration and call
:meth:`Renderer.render` for each subscriber; preview, send and the daemon share
this path.

Modules: :mod:`~newsletter.render.templates` (loading, MJML compiled once),
:mod:`~newsletter.render.content` (the pure view model),
:mod:`~newsletter.render.message` (MIME), :mod:`~newsletter.render.renderer`.
"""

from __future__ import annotations

from newsletter.render.message import boundary_for, message_id_for
from newsletter.render.renderer import RenderedEmail, Renderer
from newsletter.render.templates import load_templates

__all__ = ["RenderedEmail", "Renderer", "boundary_for", "load_templates", "message_id_for"]
