"""Sources -> digest files: ``newsletter fetch`` (SPEC 2.5).

Upstream of :mod:`newsletter.digest` in the one-way data flow: it brings digest
files into ``digests.directory``; the pick-up reads them like any other file.
"""

from newsletter.fetch.fetcher import FetchReport, SourceResult, fetch_sources, today

__all__ = ["FetchReport", "SourceResult", "fetch_sources", "today"]
