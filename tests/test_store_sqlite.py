"""The SQLite ledger: schema, migrations, durability settings and bookkeeping."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from newsletter.digest import Paper, paper_id
from newsletter.store import SCHEMA_VERSION, LedgerError, NewDelivery, SqliteLedger
from newsletter.store.sqlite.migrate import migrations
from tests.ledgerhelp import add_pending, mark_sent, mark_unsent, pending


def paper(title: str, upvotes: int | None = None) -> Paper:
    return Paper(
        title=title,
        abstract=f"About {title}. See https://example.org/{len(title)}",
        id=paper_id(title),
        source="x.txt",
        upvotes=upvotes,
        links=(f"https://example.org/{len(title)}",),
    )


def test_fresh_ledger_is_wal_full_and_versioned(tmp_path: Path) -> None:
    with SqliteLedger.open(tmp_path / "sub" / "ledger.sqlite3") as ledger:
        conn = ledger.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"digests", "digest_papers", "subscribers", "deliveries", "sent_papers", "runs"} <= tables
    # reopening migrates nothing and keeps data
    with SqliteLedger.open(tmp_path / "sub" / "ledger.sqlite3") as ledger:
        assert ledger.digests() == []


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    SqliteLedger.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(LedgerError, match="newer"):
        SqliteLedger.open(path)


def test_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(LedgerError, match="not a paper-digest ledger"):
        SqliteLedger.open(path)


def test_digests_papers_roundtrip_and_horizons(tmp_path: Path) -> None:
    with SqliteLedger.open(tmp_path / "l.sqlite3") as ledger:
        assert ledger.register_subscribers(["a@x.org"]) == 1
        a, b, c = paper("Alpha", 3), paper("Beta"), paper("Gamma")
        d1 = ledger.record_digest(path="1.txt", sha256="s1", papers=[a, b])
        bad = ledger.record_digest(path="bad.txt", sha256="s2", error="bad.txt:1: empty file")
        d2 = ledger.record_digest(path="2.txt", sha256="s3", papers=[b, c])
        assert ledger.has_digest("s2") and not ledger.has_digest("nope")
        assert [r.status for r in ledger.digests()] == ["ok", "failed", "ok"]
        assert ledger.digests()[1].error == "bad.txt:1: empty file"
        assert ledger.papers_after(0) == [a, b, c]  # each id once, records rebuilt exactly
        assert ledger.papers_after(d1) == [b, c]
        assert ledger.papers_after(0, upto=bad) == [a, b]
        # a subscriber appearing now starts after the digests already picked up
        assert ledger.register_subscribers(["a@x.org", "b@x.org"]) == 1
        assert ledger.horizons(["a@x.org", "b@x.org"]) == {"a@x.org": 0, "b@x.org": d2}


def test_pending_sent_failed_bookkeeping(tmp_path: Path) -> None:
    with SqliteLedger.open(tmp_path / "l.sqlite3") as ledger:
        ledger.register_subscribers(["a@x.org", "b@x.org"])
        ledger.record_digest(path="1.txt", sha256="s1", papers=[paper("Alpha"), paper("Beta")])
        ids = add_pending(
            ledger,
            [
                NewDelivery("a@x.org", "<1@x>", ("alpha",), "d@x.org", b"msg-a"),
                NewDelivery("b@x.org", "<2@x>", ("alpha", "beta"), "d@x.org", b"msg-b"),
            ],
            horizon=1,
        )
        assert ledger.horizons(["a@x.org"]) == {"a@x.org": 1}
        assert ledger.pending_ids() == ids
        pend = pending(ledger, ids[1])
        assert pend is not None and pend.message == b"msg-b" and pend.message_id == "<2@x>"
        # pending papers are excluded from new deliveries too
        assert ledger.excluded_papers(["b@x.org"]) == {"b@x.org": {"alpha", "beta"}}
        mark_sent(ledger, [(ids[0], 2)])
        mark_unsent(ledger, [(ids[1], "failed", 1, "550 5.1.1 unknown")])
        assert ledger.delivery_counts() == {"sent": 1, "pending": 0, "failed": 1}
        assert ledger.failed() == [("b@x.org", "550 5.1.1 unknown")]
        assert ledger.sent_papers("a@x.org") == {"alpha"}
        assert ledger.sent_papers("b@x.org") == set()
        rows = ledger.deliveries("a@x.org")
        assert rows[0]["attempts"] == 2 and rows[0]["status"] == "sent"
        assert pending(ledger, ids[0]) is None  # bytes dropped once accepted
        run = ledger.start_run()
        ledger.finish_run(run, sent=1, failed=1, pending=0)
        assert ledger.last_run() is not None


def test_commits_are_visible_to_another_connection_at_once(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    with SqliteLedger.open(path) as ledger:
        ledger.register_subscribers(["a@x.org"])
        add_pending(ledger, [NewDelivery("a@x.org", "<1@x>", (), "d@x.org", b"m")], horizon=0)
        other = sqlite3.connect(path)
        assert other.execute("SELECT status FROM deliveries").fetchall() == [("pending",)]
        other.close()


def test_migration_3_pass_state_closes_runs_of_older_versions(tmp_path: Path) -> None:
    from newsletter.store.sqlite.migrate import migrations

    path = tmp_path / "v2.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(migrations()[1] + migrations()[2])
    conn.execute("INSERT INTO runs(started_at) VALUES (1)")  # a v2 run left unfinished: says nothing of whom
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()
    with SqliteLedger.open(path) as ledger:
        assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 3
        assert ledger.unfinished_runs() == []
        run = ledger.start_run(["a@x.org"])
        ledger.plan_run(run, 7)
        ledger.finish_run(run, 1, 0, 0, finished=False)
        (left,) = ledger.unfinished_runs()
        assert (left.id, left.serving, left.upto) == (run, ("a@x.org",), 7)
        later = ledger.start_run(None, [run])
        assert [r.id for r in ledger.unfinished_runs()] == [later]  # taken over


def test_ledger_v2_migrates_sent_papers_to_every_identity(tmp_path: Path) -> None:
    """A paper sent under its arXiv id before identities existed is recorded under its
    normalised title too, so a text dump of it (a title-derived id) is not sent again."""
    path = tmp_path / "old.sqlite3"
    api = Paper(title="Retrieval Heads: A Study", abstract="x", id="2611.00002", source="api.json")
    # a ledger as version 2 wrote it: only the migrations up to 2, one paper sent by id
    old = sqlite3.connect(path)
    for version in (1, 2):
        old.executescript(migrations()[version])
    old.executescript(
        f"""
        INSERT INTO digests(path, sha256, status, papers, seen_at) VALUES ('api.json', 's1', 'ok', 1, 0);
        INSERT INTO digest_papers VALUES (1, 0, '2611.00002', '{json.dumps(api.to_json())}');
        INSERT INTO subscribers VALUES ('a@x.org', 0, 1);
        INSERT INTO deliveries(email, message_id, status, created_at, updated_at, horizon, papers, sender)
            VALUES ('a@x.org', '<m1@x>', 'sent', 0, 0, 1, '["2611.00002"]', 'd@x.org');
        INSERT INTO sent_papers VALUES ('a@x.org', '2611.00002', 1);
        PRAGMA user_version=2;
        """
    )
    old.close()
    with SqliteLedger.open(path) as ledger:
        assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert ledger.sent_papers("a@x.org") == {"2611.00002", "retrieval-heads-a-study"}
        dump = Paper(title="Retrieval Heads — a study", abstract="y", id="retrieval-heads-a-study", source="d.txt")
        assert ledger.excluded_papers(["a@x.org"])["a@x.org"] >= set(dump.keys)


def test_ledger_migration_11_records_the_ids_a_partial_digest_missed(tmp_path: Path) -> None:
    """Schema 11 (issue 21): ``digests.missing``. A version-7 ledger reads as before (read
    only, not migrated) and, once opened, keeps its digests ok and records partial ones."""
    path = tmp_path / "v7.sqlite3"
    old = sqlite3.connect(path)
    for version in range(1, 8):
        old.executescript(migrations()[version] if version != 4 else "")
    old.executescript(
        "INSERT INTO digests(path, sha256, status, papers, seen_at) VALUES ('a.md', 's1', 'ok', 3, 0);"
        "PRAGMA user_version=7;"
    )
    old.close()
    readonly = SqliteLedger.open_readonly(path)
    assert readonly is not None
    with readonly:
        (row,) = readonly.digests()
        assert (row.shown_status, row.missing) == ("ok", ())
    with SqliteLedger.open(path) as ledger:
        paper = Paper(title="Read", abstract="x", id="2610.00001", source="b.md")
        ledger.record_digest(path="b.md", sha256="s2", papers=[paper], missing=["2610.00002", "2610.00003"])
        ledger.record_digest(path="c.md", sha256="s3", error="c.md:1: empty file")
        rows = ledger.digests()
        assert [(r.path, r.status, r.shown_status, r.missing) for r in rows] == [
            ("a.md", "ok", "ok", ()),
            ("b.md", "ok", "partial", ("2610.00002", "2610.00003")),
            ("c.md", "failed", "failed", ()),
        ]
        assert [p.id for p in ledger.papers_after(0)] == ["2610.00001"]  # a partial digest is delivered


def test_ledger_address_key_migration_keeps_one_row_per_address_and_looks_up_by_key(tmp_path: Path) -> None:
    """Migration 12: a ledger of version 11 holding two spellings of one subscriber keeps
    the row furthest along; deliveries gain their key, and a bounce report naming the
    address in another case finds its delivery (by the key's index, not lower(email))."""
    import sqlite3

    from newsletter.store.sqlite.migrate import migrations

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.create_function("paper_key", 1, lambda title: title, deterministic=True)
    for version, script in migrations().items():
        if version <= 11:
            conn.executescript(script)
    conn.executescript(
        "INSERT INTO subscribers(email, first_seen, horizon)"
        " VALUES ('Ana@Example.org', 1, 3), ('ana@example.org', 2, 5);"
        "INSERT INTO deliveries(email, message_id, status, attempts, created_at, updated_at, horizon, papers, sender)"
        " VALUES ('Ana@Example.org', '<1@x>', 'sent', 1, 1, 1, 3, '[]', 'digest@example.org');"
        "PRAGMA user_version = 11;"
    )
    conn.close()
    with SqliteLedger.open(path) as ledger:
        rows = ledger.conn.execute("SELECT email, email_key, horizon FROM subscribers").fetchall()
        assert rows == [("ana@example.org", "ana@example.org", 5)]
        assert ledger.last_delivery_to("ANA@EXAMPLE.ORG") is not None
        assert ledger.register_subscribers(["ANA@example.org"]) == 0  # one address, whatever its case
        [[new]] = ledger.record([([NewDelivery("Bo@Example.org", "<2@x>", ("p",), "d@example.org", b"m")], 5)])
        key = ledger.conn.execute("SELECT email_key FROM deliveries WHERE id = ?", (new,)).fetchone()[0]
        assert key == "bo@example.org"


def test_ledger_sent_papers_migration_13_keys_rows_by_the_address_key(tmp_path: Path) -> None:
    """Migration 13: ``sent_papers`` rows recorded under two spellings of one address
    become one set under its key (the earliest delivery's row kept); a version-12 ledger
    opened read-only (never migrated) still answers by spelling."""
    path = tmp_path / "v12.sqlite3"
    conn = sqlite3.connect(path)
    conn.create_function("paper_key", 1, lambda title: title, deterministic=True)
    conn.create_function("address_key", 1, lambda email: email.strip().lower(), deterministic=True)
    for version, script in migrations().items():
        if version <= 12:
            conn.executescript(script)
    conn.executescript(
        "INSERT INTO deliveries(email, email_key, message_id, status, attempts, created_at, updated_at, horizon,"
        " papers, sender) VALUES"
        " ('Ana@Example.org', 'ana@example.org', '<1@x>', 'sent', 1, 1, 1, 3, '[\"p1\", \"p2\"]', 'd@example.org'),"
        " ('ana@example.org', 'ana@example.org', '<2@x>', 'sent', 1, 2, 2, 5, '[\"p2\", \"p3\"]', 'd@example.org');"
        "INSERT INTO sent_papers VALUES ('Ana@Example.org', 'p1', 1), ('Ana@Example.org', 'p2', 1),"
        " ('ana@example.org', 'p2', 2), ('ana@example.org', 'p3', 2);"
        "PRAGMA user_version = 12;"
    )
    conn.close()
    readonly = SqliteLedger.open_readonly(path)
    assert readonly is not None
    with readonly:
        assert readonly.sent_papers("Ana@Example.org") == {"p1", "p2"}  # as version 12 keyed it
    with SqliteLedger.open(path) as ledger:
        rows = ledger.conn.execute("SELECT email_key, paper_id, delivery_id FROM sent_papers").fetchall()
        assert sorted(rows) == [
            ("ana@example.org", "p1", 1),
            ("ana@example.org", "p2", 1),
            ("ana@example.org", "p3", 2),
        ]
        for spelling in ("Ana@Example.org", "ana@example.org", " ANA@example.ORG "):
            assert ledger.sent_papers(spelling) == {"p1", "p2", "p3"}
        assert ledger.excluded_papers(["Ana@Example.org"]) == {"Ana@Example.org": {"p1", "p2", "p3"}}
