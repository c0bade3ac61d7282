"""The one reader of digest files (delivery/pickup.py) and one spelling of an address
(newsletter/base/addresses.py), on real files and a real ledger."""

from __future__ import annotations

import os
import time
from pathlib import Path

from newsletter.base.addresses import Suppressions, address_key
from newsletter.digest.scan import load_digests, scan_digests
from newsletter.store import SqliteLedger
from tests.conftest import settled_copy


def test_scan_digests_reports_ok_failed_unsettled_and_skips_known(tmp_path: Path, seeds: dict[str, Path]) -> None:
    good = settled_copy(seeds["000"], tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    os.utime(bad, (time.time() - 3600, time.time() - 3600))
    fresh = tmp_path / "fresh.txt"
    fresh.write_bytes(seeds["001"].read_bytes())  # modified just now
    missing = tmp_path / "gone.txt"
    found = {f.path.name: f for f in scan_digests([good, bad, fresh, missing], settle=60)}
    assert found[good.name].status == "ok" and found[good.name].digest is not None
    assert len(found[good.name].digest.papers) > 0  # type: ignore[union-attr]
    assert found["bad.json"].status == "failed" and "bad.json" in str(found["bad.json"].error)
    assert found["fresh.txt"].status == "unsettled"
    assert found["gone.txt"].status == "unreadable"
    with SqliteLedger.open(tmp_path / "l.sqlite3") as ledger:
        ledger.record_digest(path=str(good), sha256=found[good.name].sha256, papers=())
        again = [f.path.name for f in scan_digests([good, bad], known=ledger.has_digest)]
    assert again == ["bad.json"]  # the recorded content is skipped, whatever its name


def test_load_digests_reads_through_the_same_reader(tmp_path: Path, seeds: dict[str, Path]) -> None:
    good = settled_copy(seeds["002"], tmp_path)
    loaded = load_digests([good, tmp_path / "gone.txt"])
    [scanned] = [f for f in scan_digests([good]) if f.digest is not None]
    assert loaded.papers == scanned.digest.papers  # type: ignore[union-attr]
    assert [str(e.path) for e in loaded.errors] == [str(tmp_path / "gone.txt")]


def test_address_key_and_suppressions_treat_case_and_spaces_as_one_address() -> None:
    assert address_key("  Ana@Example.ORG ") == address_key("ana@example.org") == "ana@example.org"
    suppressions = Suppressions(frozenset({address_key("Bob@Example.org")}))
    assert suppressions.active("bob@EXAMPLE.org") and not suppressions.active("ana@example.org")

    class Sub:
        def __init__(self, email: str) -> None:
            self.email = email

    subs = [Sub("c@x.org"), Sub("BOB@example.org"), Sub("a@x.org")]
    assert [s.email for s in suppressions.filter(subs)] == ["c@x.org", "a@x.org"]
