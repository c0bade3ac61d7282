"""The tool's web layer, on aiohttp.web: the one-click unsubscribe endpoint and the
local email preview.

- :mod:`newsletter.web.app`: what every app shares (the Jinja environment over the
  page templates in ``newsletter/render/pages/``, the security-headers and
  error-page middleware, the access log, and :class:`~newsletter.web.app.Server`,
  which binds a socket and runs an app in the caller's loop or in a thread).
- :mod:`newsletter.web.unsubscribe`: ``GET/POST /unsubscribe/{token}``, ``GET /healthz``.
- :mod:`newsletter.web.preview`: ``/``, ``/s/{slug}``, ``/raw/{slug}.{kind}``.
"""

from __future__ import annotations
