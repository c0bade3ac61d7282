"""Which arithmetic "more like these" runs on: :mod:`newsletter.matching.kernels_numpy`
where numpy is installed, else the plain Python of :mod:`newsletter.matching.kernels`
(the same functions, the same matches). Its own module so that both the similarity
model and the learner (:mod:`newsletter.matching.learn`) choose it without importing
each other."""

from __future__ import annotations

from types import ModuleType


def kernels(plain: bool = False) -> ModuleType:
    """The arithmetic: numpy's where it is installed (and not ``plain``), else plain Python."""
    if not plain:
        try:
            from newsletter.matching import kernels_numpy

            return kernels_numpy
        except ImportError:  # the base install: no numpy
            pass
    from newsletter.matching import kernels as plain_kernels

    return plain_kernels
