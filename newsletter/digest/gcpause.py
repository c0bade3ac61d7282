"""The cyclic garbage collector paused while a digest is parsed (the speed fence).

A text dump of 2,000 papers makes some 100,000 container objects (items, links, cards,
papers) that live until the parse ends and form no reference cycles; the collector walks
them again each time they move up a generation, and now and then all of them in a full
collection: 3-6% of a parse's fastest round, up to 12% of the mean one (measured on the
text dumps of ``bench/textdumps.py``). :func:`collector_paused` pauses it meanwhile, as
the configuration loader does (:func:`newsletter.config.load.load_config`): reference
counting frees everything as before, and the collector's next pass finds any cycle made
meanwhile. The papers are the same with it and without it (``tests/test_digest_gcpause.py``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off inside, on again after (also after an exception) when it
    was on before: a pause inside a pause leaves it off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
