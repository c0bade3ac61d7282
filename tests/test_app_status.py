"""``status``'s one core call (app/status.py): the SPEC 7 JSON shape from a ledger,
or all zeros before the first run, the ledger left as it was."""

from __future__ import annotations

from pathlib import Path

from newsletter.app.status import read_status
from newsletter.config import load_config
from newsletter.delivery.service import pick_up_digests
from newsletter.store import SqliteLedger
from tests.conftest import settled_copy
from tests.smtpd import EXAMPLE_SUBSCRIBERS, write_config


def test_status_before_the_first_run_is_all_zeros_and_creates_no_ledger(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, 1, EXAMPLE_SUBSCRIBERS[:1]))
    status = read_status(config)
    assert status.ran is False
    assert status.data["deliveries"] == {"sent": 0, "pending": 0, "failed": 0}
    assert status.data["digests"] == [] and status.data["last_run"] is None
    assert not config.ledger_path.exists()


def test_status_lists_the_digests_the_ledger_recorded(tmp_path: Path, seeds: dict[str, Path]) -> None:
    config = load_config(write_config(tmp_path, 1, EXAMPLE_SUBSCRIBERS[:1]))
    settled_copy(seeds["002"], tmp_path / "digests")
    (tmp_path / "digests" / "notes.pdf").write_bytes(b"%PDF-1.4\n")
    with SqliteLedger.open(config.ledger_path) as ledger:
        pick_up_digests(config, ledger)
    status = read_status(config)
    assert status.ran is True
    [digest] = status.data["digests"]
    assert (digest["status"], digest["papers"]) == ("ok", 78)
    assert status.data["ignored"] == [{"path": str(tmp_path / "digests" / "notes.pdf"), "kind": "a PDF"}]
    assert status.data["next_run"] is not None
