"""Names of a package imported on first use (PEP 562), so that importing one small module
of a package does not load the rest: ``newsletter.render`` (``check`` needs the templates,
not the renderer) and ``newsletter.bounces`` (``send`` needs VERP addresses, not the
mailbox readers, until a mailbox is configured)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name of ``where`` is imported from
    its module on first use, then kept in the package (the next use is a plain lookup)."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
