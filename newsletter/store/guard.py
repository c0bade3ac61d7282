"""Wrapping every public method of a ledger class once (each backend's error
translation: the one place where a driver's errors become a
:class:`~newsletter.base.errors.LedgerError`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection
from typing import Any, TypeVar

C = TypeVar("C", bound=type)


def wrap_public_methods(
    cls: C, wrap: Callable[[Callable[..., Any]], Callable[..., Any]], *, skip: Collection[str] = (), stop: type = object
) -> C:
    """``wrap`` every public function of ``cls`` and of its bases below ``stop``, each
    once, where the class finds it (a method overridden further down is wrapped there)."""
    for klass in cls.__mro__:
        if klass is stop or klass is object:
            continue
        for name, value in list(vars(klass).items()):
            if name.startswith("_") or name in skip or not inspect.isfunction(value):
                continue
            if getattr(cls, name) is value:
                setattr(cls, name, wrap(value))
    return cls
