"""The matching engine (SPEC 4): keyword profiles against an index of papers.

Pure: no I/O. Build a :class:`PaperIndex` once per digest set, then call
:func:`match_papers` for each subscriber's :class:`Profile` (or its
:func:`compile_profile` result, to parse the entries once).
"""

from __future__ import annotations

from newsletter.matching.engine import (
    Hit,
    Match,
    clear_caches,
    highlight_spans,
    keyword_stats,
    match_papers,
)
from newsletter.matching.index import PaperIndex
from newsletter.matching.profile import (
    FIELDS,
    CompiledEntry,
    CompiledProfile,
    Profile,
    Term,
    compile_entry,
    compile_profile,
    validate_keyword,
)

__all__ = [
    "FIELDS",
    "CompiledEntry",
    "CompiledProfile",
    "Hit",
    "Match",
    "PaperIndex",
    "Profile",
    "Term",
    "clear_caches",
    "compile_entry",
    "compile_profile",
    "highlight_spans",
    "keyword_stats",
    "match_papers",
    "validate_keyword",
]
