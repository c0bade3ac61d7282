"""The SQL of the SQLite ledger, one file per repository (``digests.sql`` for
:mod:`newsletter.store.sqlite.digests`, ...), each query named by a ``-- name: x``
line above it (listmonk's convention). :func:`load` reads a file once and hands out
its queries by name; an unknown name is a KeyError at import of the repository."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType

_NAME = re.compile(r"^-- name: ([a-z0-9-]+)\s*$", re.MULTILINE)


@cache
def load(family: str) -> Mapping[str, str]:
    """The named queries of ``queries/<family>.sql``."""
    text = resources.files(__name__).joinpath(f"{family}.sql").read_text(encoding="utf-8")
    parts = _NAME.split(text)
    found: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in found:
            raise ValueError(f"{family}.sql: the query {name!r} is named twice")
        sql = "\n".join(line for line in body.strip().splitlines() if not line.startswith("--"))
        found[name] = sql
    return MappingProxyType(found)
