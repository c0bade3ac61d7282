"""The secret a PostgreSQL ledger keeps when no NEWSLETTER_UNSUBSCRIBE_SECRET is set
(:mod:`newsletter.store.postgres.secret`): made once with the schema by whichever host
migrates, read by every host of the ledger whatever its config path; path-derived links
refused on a new ledger and accepted a while on an upgraded one; carried by ``ledger copy``
both ways. A real PostgreSQL, real processes, real SMTP, real HTTP."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from email.message import Message
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from newsletter.config import Config, load_config
from newsletter.delivery.service import PassOptions, run_send
from newsletter.render.links.tokens import TokenIndex, accepted_secrets, fallback_reason, secret_for, unsubscribe_token
from newsletter.store import SqliteLedger
from newsletter.store.keyfile import LEGACY_DAYS, kept_secret, secret_path
from newsletter.store.postgres import SCHEMA_VERSION, PostgresLedger, ledger_secret
from newsletter.store.postgres.connection import migrations
from tests.claimworkers import secret_worker
from tests.conftest import newsletter, settled_copy
from tests.memsender import MemoryTransport
from tests.pgserver import PgServer
from tests.smtpd import EXAMPLE_SUBSCRIBERS, free_port, smtp_server, write_config
from tests.test_store_postgres_claims import run_processes
from tests.test_web_unsubscribe import ONE_CLICK, add_seeds, http, make_config, serve_process, unsubscribe_url_of

ALICE = "alice@example.org"
UNSUB = {"from": "Digest <digest@example.org>", "unsubscribe": {"url": "https://example.org/u/{{ token }}"}}


@pytest.fixture(autouse=True)
def _no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_UNSUBSCRIBE_SECRET", raising=False)


@pytest.fixture
def empty_db(pg_server: PgServer) -> Any:
    """A URL of a new, empty database (no ledger in it yet)."""
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


def path_derived(config: Config) -> str:
    return hashlib.sha256(f"paper-digest unsubscribe:{config.path}".encode()).hexdigest()


def set_state(cfg: Path, state: str) -> Config:
    data: dict[str, Any] = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    data["state"] = state
    cfg.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_config(cfg)


def resolves(config: Config, token: str) -> str | None:
    """What the endpoint of ``config`` (``serve``, the bounce reader) makes of ``token``."""
    return TokenIndex(config, *accepted_secrets(config)).resolve(token)


def token_of(message: Message) -> str:
    header = str(message["List-Unsubscribe"])
    start = header.index("https://example.org/u/") + len("https://example.org/u/")
    return header[start : header.index(">", start)]


def row(url: str) -> tuple[Any, ...] | None:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT secret, created, path_secret_until FROM ledger_secret").fetchone()


def ledger_before_secrets(url: str) -> None:
    """The ledger an older paper-digest made: every version before the secret's."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, sql in sorted(migrations().items()):
            if version < 6:
                conn.execute(sql.encode())
                conn.execute("INSERT INTO schema_version(version) VALUES (%s)", (version,))


# --------------------------------------------------------------------------- made once


def test_postgres_secret_new_ledger_keeps_one_and_accepts_no_path_links(tmp_path: Path, empty_db: str) -> None:
    config = load_config(write_config(tmp_path, 9, EXAMPLE_SUBSCRIBERS[:1], sender=UNSUB, state=empty_db))
    assert secret_for(config) == (path_derived(config), True)  # no ledger yet: nothing written
    assert row_count(empty_db) is None
    with PostgresLedger.open(empty_db) as ledger:
        assert ledger.version == SCHEMA_VERSION
    stored = row(empty_db)
    assert stored is not None and stored[2] is None  # a new install: no path-derived link, ever
    secret, insecure = secret_for(config)
    assert (secret, insecure) == (stored[0], False) and len(secret) == 64 and secret != path_derived(config)
    assert accepted_secrets(config) == (secret,) and fallback_reason(config) is None
    assert resolves(config, unsubscribe_token(ALICE, path_derived(config))) is None  # a forgery
    assert resolves(config, unsubscribe_token(ALICE, secret)) == ALICE


def row_count(url: str) -> int | None:
    """How many secrets the database keeps (None: no ledger_secret table)."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('ledger_secret')").fetchone() == (None,):
            return None
        found = conn.execute("SELECT count(*) FROM ledger_secret").fetchone()
        return int(found[0]) if found else 0


@pytest.mark.slow
def test_postgres_secret_processes_starting_together_share_one(empty_db: str) -> None:
    reports = run_processes(secret_worker, [(empty_db,) for _ in range(8)])
    values = {value for status, value in reports if status == "ok"}
    assert len(reports) == 8 and [r for r in reports if r[0] != "ok"] == []
    assert len(values) == 1 and len(values.pop()) == 64
    assert row_count(empty_db) == 1


def test_postgres_secret_lost_row_made_again_once_by_threads_at_once(pg_url: str) -> None:
    """A secret row gone (deleted by hand): the first processes to need it make one,
    INSERT ... ON CONFLICT DO NOTHING then SELECT: eight connections at once, one secret."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM ledger_secret")
    barrier, got, errors = threading.Barrier(8), [], []

    def one() -> None:
        barrier.wait()
        try:
            kept = ledger_secret(pg_url)
            got.append(kept.value if kept else None)
        except Exception as exc:  # shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(got) == 8 and len(set(got)) == 1 and got[0] is not None
    assert row_count(pg_url) == 1
    stored = row(pg_url)
    assert stored is not None and stored[2] is not None  # the ledger was there: old links accepted a while


# --------------------------------------------------------------------------- upgraded


def test_postgres_secret_upgraded_ledger_accepts_path_links_for_a_while(tmp_path: Path, empty_db: str) -> None:
    ledger_before_secrets(empty_db)
    config = load_config(write_config(tmp_path, 9, EXAMPLE_SUBSCRIBERS[:1], sender=UNSUB, state=empty_db))
    old = unsubscribe_token(ALICE, path_derived(config))  # in mail sent by the older version
    with PostgresLedger.open(empty_db) as ledger:
        assert ledger.version == SCHEMA_VERSION
    kept = ledger_secret(empty_db)
    assert kept is not None
    assert kept.legacy_until == kept.created + dt.timedelta(days=LEGACY_DAYS)
    assert secret_for(config) == (kept.value, False)
    assert resolves(config, old) == ALICE
    assert accepted_secrets(config, today=kept.legacy_until) == (kept.value, path_derived(config))
    assert accepted_secrets(config, today=kept.legacy_until + dt.timedelta(days=1)) == (kept.value,)


def test_postgres_secret_upgraded_by_serve_before_send(tmp_path: Path, empty_db: str) -> None:
    """The first process of the new version to need the secret may be `serve`: reading
    it brings the older ledger up to date (an upgrade: its path links still accepted)."""
    ledger_before_secrets(empty_db)
    config = load_config(write_config(tmp_path, 9, EXAMPLE_SUBSCRIBERS[:1], sender=UNSUB, state=empty_db))
    assert resolves(config, unsubscribe_token(ALICE, path_derived(config))) == ALICE
    stored = row(empty_db)
    assert stored is not None and stored[2] is not None
    assert resolves(config, unsubscribe_token(ALICE, stored[0])) == ALICE


# --------------------------------------------------------------------------- two hosts


def test_postgres_secret_send_on_one_host_serve_on_another_accepts_the_link(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str
) -> None:
    """Two hosts of one PostgreSQL ledger, each with its own config path and no
    variable: the link `send` wrote on host A unsubscribes through `serve` on host B,
    and a token of either config path (what anyone guessing it can compute) unsubscribes
    nobody."""
    port = free_port()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with smtp_server() as smtp:
        cfg_a = make_config(tmp_path / "a", smtp.port, port, state=pg_url)
        cfg_b = make_config(tmp_path / "b", smtp.port, port, state=pg_url)
        add_seeds(cfg_a, seeds, "000", "001")
        sent = newsletter("send", "-c", str(cfg_a))
        assert sent.exit_code == 0, sent.output
        url = unsubscribe_url_of(smtp.by_recipient()[ALICE][0].message)
    forged = [
        f"http://127.0.0.1:{port}/unsubscribe/{unsubscribe_token('bob@example.org', path_derived(load_config(c)))}"
        for c in (cfg_a, cfg_b)
    ]
    with serve_process(cfg_b, port) as proc:
        assert [http(f, data=ONE_CLICK)[0] for f in forged] == [404, 404]
        status, page, _ = http(url, data=ONE_CLICK)
        assert status == 200, page
    with PostgresLedger.open(pg_url) as ledger:
        assert ledger.suppressed() == {ALICE}
    assert proc.stdout is not None and "fallback secret" not in proc.stdout.read()
    check = newsletter("check", "-c", str(cfg_b))
    assert check.exit_code == 0 and "fallback secret" not in check.output
    assert "secret:      kept in the ledger database (table ledger_secret" in check.output


# --------------------------------------------------------------------------- ledger copy


def sent_token(config: Config, seeds: dict[str, Path]) -> str:
    """Send the first digests under ``config``; the token of Alice's link."""
    settled_copy(seeds["000"], config.path.parent / "digests")
    transport = MemoryTransport()
    done = run_send(config, PassOptions(sender=transport))
    assert done.sent >= 1
    return token_of(transport.to(ALICE)[0].message)


def test_postgres_secret_copy_sqlite_to_postgres_keeps_links_valid(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str
) -> None:
    cfg = write_config(tmp_path, 9, EXAMPLE_SUBSCRIBERS, sender=UNSUB)
    config = load_config(cfg)
    token = sent_token(config, seeds)
    kept = kept_secret(config.ledger_path)
    assert kept is not None and resolves(config, token) == ALICE
    moved = newsletter("ledger", "copy", "-c", str(cfg), "--to", pg_url)
    assert moved.exit_code == 0, moved.output
    on_pg = set_state(cfg, pg_url)
    assert resolves(on_pg, token) == ALICE  # the link in Alice's mailbox still unsubscribes her
    assert "secret: 1 of 1 rows (the kept secret: links in mail already sent stay valid)" in moved.output
    assert secret_for(on_pg) == (kept.value, False)  # and new mail is signed as before
    assert row(pg_url) == (kept.value, kept.created, None)


def test_postgres_secret_copy_carries_the_days_path_links_are_accepted(
    tmp_path: Path, seeds: dict[str, Path], pg_url: str
) -> None:
    """An upgraded SQLite install (its kept secret accepts path links until a day) moved
    to PostgreSQL accepts them until the same day, and no longer."""
    cfg = write_config(tmp_path, 9, EXAMPLE_SUBSCRIBERS, sender=UNSUB)
    config = load_config(cfg)
    SqliteLedger.open(config.ledger_path).close()
    secret_path(config.ledger_path).unlink()  # as before kept secrets
    made = dt.date(2026, 12, 1)
    kept = kept_secret(config.ledger_path, today=made)
    assert kept is not None and kept.legacy_until == made + dt.timedelta(days=LEGACY_DAYS)
    assert newsletter("ledger", "copy", "-c", str(cfg), "--to", pg_url).exit_code == 0
    on_pg = set_state(cfg, pg_url)
    assert row(pg_url) == (kept.value, made, kept.legacy_until)
    assert accepted_secrets(on_pg, today=kept.legacy_until) == (kept.value, path_derived(on_pg))
    assert accepted_secrets(on_pg, today=kept.legacy_until + dt.timedelta(days=1)) == (kept.value,)


def test_postgres_secret_copy_postgres_to_sqlite_keeps_links_valid(
    tmp_path: Path, seeds: dict[str, Path], empty_db: str
) -> None:
    cfg = write_config(tmp_path, 9, EXAMPLE_SUBSCRIBERS, sender=UNSUB, state=empty_db)
    config = load_config(cfg)
    PostgresLedger.open(empty_db).close()
    token = sent_token(config, seeds)
    stored = row(empty_db)
    assert stored is not None and resolves(config, token) == ALICE
    back = tmp_path / "back.sqlite3"
    returned = newsletter("ledger", "copy", "-c", str(cfg), "--to", str(back))
    assert returned.exit_code == 0, returned.output
    on_lite = set_state(cfg, str(back))
    assert resolves(on_lite, token) == ALICE
    assert secret_for(on_lite) == (stored[0], False)
    text = secret_path(back).read_text()
    assert (
        text.endswith(f"path-secret-until none\n{stored[0]}\n") and oct(secret_path(back).stat().st_mode)[-3:] == "600"
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".back")] == []  # no temporary file left
