"""The message spool of a large pass (issue 26, newsletter/store/spool.py): bytes written
by a render worker, read back whole or refused with the file named; a SQLite ledger that
records the reference instead of the bytes and settles the spool (bytes of deliveries
still pending into the ledger, the spool deleted). Real files, a real SQLite ledger."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.store import NewDelivery, Outcome, SqliteLedger
from newsletter.store.spool import SpoolError, SpoolWriter, read_spooled, remove_spool, spool_dir_for


def test_spool_dir_for_is_beside_the_ledger(tmp_path: Path) -> None:
    assert spool_dir_for(tmp_path / "ledger.sqlite3") == tmp_path / "ledger.sqlite3-spool"


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(st.lists(st.binary(max_size=3000), max_size=6), min_size=1, max_size=5))
def test_spool_writer_batches_read_back_byte_for_byte(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[bytes]]
) -> None:
    directory = tmp_path_factory.mktemp("spool")
    writer = SpoolWriter(directory)
    refs = [ref for batch in batches for ref in writer.append(batch)]
    writer.close()
    assert read_spooled(directory, refs) == [data for batch in batches for data in batch]


def test_spool_reading_a_missing_or_cut_file_names_it(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    ref = writer.append([b"x" * 100])[0]
    writer.close()
    os.truncate(tmp_path / ref.file, 50)
    with pytest.raises(SpoolError, match=f"{ref.file}: cut short"):
        read_spooled(tmp_path, [ref])
    os.unlink(tmp_path / ref.file)
    with pytest.raises(SpoolError, match=ref.file):
        read_spooled(tmp_path, [ref])


def test_spool_remove_keeps_what_is_not_a_spool_file(tmp_path: Path) -> None:
    spool = tmp_path / "s"
    spool.mkdir()
    SpoolWriter(spool).append([b"a"])
    (spool / "notes.txt").write_text("mine")
    remove_spool(spool)
    assert [p.name for p in spool.iterdir()] == ["notes.txt"]  # a file of the user's: the folder stays
    (spool / "notes.txt").unlink()
    remove_spool(spool)
    assert not spool.exists()
    (tmp_path / "f").write_text("a file where the spool would be")
    remove_spool(tmp_path / "f")  # not a folder: left alone, no error
    assert (tmp_path / "f").exists()


def _spooled(ledger: SqliteLedger, emails: list[str]) -> tuple[list[int], list[bytes], str]:
    """Deliveries recorded pending with their bytes in the spool, as a render worker leaves them."""
    spool = ledger.spool_dir()
    assert spool is not None
    spool.mkdir()
    messages = [f"Subject: for {e}\r\n\r\nbody {i}\r\n".encode() for i, e in enumerate(emails)]
    refs = SpoolWriter(spool).append(messages)
    batch = [
        NewDelivery(e, f"<{i}@x>", (f"p{i}",), "d@example.org", m, spooled=r)
        for i, (e, m, r) in enumerate(zip(emails, messages, refs, strict=True))
    ]
    ids = ledger.record([(batch, 0)])[0]
    return ids, messages, refs[0].file


def test_spool_ledger_records_the_reference_not_the_bytes(tmp_path: Path) -> None:
    with SqliteLedger.open(tmp_path / "ledger.sqlite3") as ledger:
        ids, _, name = _spooled(ledger, ["a@example.org"])
        row = ledger.conn.execute("SELECT message, spool, size FROM deliveries WHERE id = ?", (ids[0],)).fetchone()
    assert row[0] is None and row[1] == name and row[2] > 0


def test_spool_settle_moves_pending_bytes_into_the_ledger_and_deletes_the_spool(tmp_path: Path) -> None:
    with SqliteLedger.open(tmp_path / "ledger.sqlite3") as ledger:
        ids, messages, _ = _spooled(ledger, ["a@example.org", "b@example.org", "c@example.org"])
        ledger.record([], [Outcome(ids[1], "sent", 1)])  # b was sent: its bytes are not kept
        assert ledger.settle_spool() == []
        spool = ledger.spool_dir()
        assert spool is not None and not spool.exists()
        pending = ledger.pendings(ledger.pending_ids())
        assert [(p.email, p.message) for p in pending] == [
            ("a@example.org", messages[0]),
            ("c@example.org", messages[2]),
        ]
        assert ledger.conn.execute("SELECT COUNT(*) FROM deliveries WHERE spool IS NOT NULL").fetchone()[0] == 0
        assert ledger.settle_spool() == []  # nothing left: a no-op


def test_spool_settle_fails_a_delivery_whose_bytes_are_gone_and_names_the_file(tmp_path: Path) -> None:
    with SqliteLedger.open(tmp_path / "ledger.sqlite3") as ledger:
        _, _, name = _spooled(ledger, ["a@example.org", "b@example.org"])
        spool = ledger.spool_dir()
        assert spool is not None
        (spool / name).unlink()  # deleted by hand after a killed pass
        lost = ledger.settle_spool()
        assert [f.email for f in lost] == ["a@example.org", "b@example.org"]
        assert all(name in f.error and "lost before it was sent" in f.error for f in lost)
        assert ledger.delivery_counts() == {"sent": 0, "pending": 0, "failed": 2}  # never re-sent with other bytes
        assert {f.email for f in ledger.failed()} == {"a@example.org", "b@example.org"}


def test_spool_settle_keeps_what_is_readable_when_one_file_is_gone(tmp_path: Path) -> None:
    with SqliteLedger.open(tmp_path / "ledger.sqlite3") as ledger:
        spool = ledger.spool_dir()
        assert spool is not None
        spool.mkdir()
        kept, gone = SpoolWriter(spool), SpoolWriter(spool)  # two workers, two files
        a = kept.append([b"Subject: a\r\n\r\na\r\n"])[0]
        b = gone.append([b"Subject: b\r\n\r\nb\r\n"])[0]
        assert a.file != b.file
        batch = [
            NewDelivery("a@example.org", "<a@x>", ("pa",), "d@example.org", b"Subject: a\r\n\r\na\r\n", spooled=a),
            NewDelivery("b@example.org", "<b@x>", ("pb",), "d@example.org", b"Subject: b\r\n\r\nb\r\n", spooled=b),
        ]
        ledger.record([(batch, 0)])
        (spool / b.file).unlink()
        lost = ledger.settle_spool()
        assert [f.email for f in lost] == ["b@example.org"] and b.file in lost[0].error
        assert [(p.email, p.message) for p in ledger.pendings(ledger.pending_ids())] == [
            ("a@example.org", b"Subject: a\r\n\r\na\r\n")
        ]
