"""The PostgreSQL ledger beyond the shared contract (test_store_contract.py): opening,
migrating, refusing what is not a ledger, errors in plain words that name the database
but never the password, a connection lost mid-pass, ``state:`` as a URL in the
configuration, and opening whichever backend it names."""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Any

import psycopg
import pytest

from newsletter.base.errors import ConfigError, LedgerConnectionLost, LedgerError
from newsletter.base.urls import is_database_url
from newsletter.config import load_config, require_secrets
from newsletter.store import SqliteLedger
from newsletter.store.choose import open_ledger, open_ledger_readonly
from newsletter.store.postgres import SCHEMA_VERSION, PostgresLedger
from tests.claimworkers import migrate_worker
from tests.conftest import newsletter
from tests.pgserver import PASSWORD, PASSWORD_ROLE, PgServer, free_port
from tests.test_store_postgres_claims import run_processes


@pytest.fixture
def empty_db(pg_server: PgServer) -> Any:
    """A URL of a new, empty database (no ledger in it yet)."""
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


# --------------------------------------------------------------------------- opening and migrating


def test_postgres_empty_database_becomes_a_ledger(empty_db: str) -> None:
    with PostgresLedger.open(empty_db) as ledger:
        assert ledger.version == SCHEMA_VERSION
        assert ledger.path == empty_db  # shown as given: no password in it
    assert {"deliveries", "passes", "digests", "claim_events", "schema_version"} <= tables(empty_db)
    with PostgresLedger.open(empty_db) as again:  # opening again migrates nothing
        assert again.last_digest_id() == 0


@pytest.mark.slow
def test_postgres_hosts_migrating_at_once_do_not_collide(empty_db: str) -> None:
    reports = run_processes(migrate_worker, [(empty_db,) for _ in range(4)])
    assert reports == [("ok", SCHEMA_VERSION)] * 4
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (SCHEMA_VERSION,)


def test_postgres_another_programs_database_is_refused(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int)")
    with pytest.raises(LedgerError) as err:
        PostgresLedger.open(empty_db)
    assert "not a paper-digest ledger (a database with 1 other table)" in str(err.value)
    assert str(err.value).startswith(f"{empty_db}: ") and err.value.exit_code == 2
    assert tables(empty_db) == {"orders"}  # nothing written


def test_postgres_newer_schema_is_refused(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version(version) VALUES (%s)", (SCHEMA_VERSION + 5,))
    for opener in (PostgresLedger.open, PostgresLedger.open_readonly):
        with pytest.raises(LedgerError, match=r"ledger schema \d+ is newer than this program .*upgrade paper-digest"):
            opener(pg_url)


def test_postgres_readonly_never_creates_nor_writes(empty_db: str, pg_url: str) -> None:
    assert PostgresLedger.open_readonly(empty_db) is None
    assert tables(empty_db) == set()
    reader = PostgresLedger.open_readonly(pg_url)
    assert reader is not None
    with reader, pytest.raises(LedgerError, match="read-only"):
        reader.register_subscribers(["ana@example.org"])


def test_postgres_same_digest_from_two_hosts_is_one_digest(pg_url: str) -> None:
    with PostgresLedger.open(pg_url) as one, PostgresLedger.open(pg_url) as two:
        first = one.record_digest(path="/host1/d.txt", sha256="f" * 64)
        assert two.record_digest(path="/host2/d.txt", sha256="f" * 64) == first
        assert [d.path for d in two.digests()] == ["/host1/d.txt"]


# --------------------------------------------------------------------------- errors in plain words


def test_postgres_no_server_there(tmp_path: Path) -> None:
    url = f"postgresql://digest@127.0.0.1:{free_port()}/news"
    with pytest.raises(LedgerError) as err:
        PostgresLedger.open(url)
    text = str(err.value)
    assert text.startswith(f"{url}: cannot connect to the ledger database")
    assert "\n" not in text and err.value.exit_code == 2


def test_postgres_missing_database_says_create_it(pg_server: PgServer) -> None:
    with pytest.raises(LedgerError, match=r'database "nosuch" does not exist: create it'):
        PostgresLedger.open(pg_server.url("nosuch"))


def test_postgres_password_from_the_environment_never_shown(pg_server: PgServer, tmp_path: Path) -> None:
    name = pg_server.create_database(prefix="pw")
    with pg_server.admin() as conn:
        conn.execute(f"ALTER DATABASE {name} OWNER TO {PASSWORD_ROLE}")
    url = pg_server.url(name, user=PASSWORD_ROLE)
    with pytest.raises(LedgerError, match="asks for a password and none was given"):
        PostgresLedger.open(url)
    with pytest.raises(LedgerError) as err:
        PostgresLedger.open(url, password="wrong-" + PASSWORD)
    assert "refused the password" in str(err.value) and PASSWORD not in str(err.value)
    with PostgresLedger.open(url, password=PASSWORD) as ledger:
        assert ledger.register_subscribers(["ana@example.org"]) == 1


def test_postgres_connection_lost_mid_pass_then_back(pg_url: str, pg_server: PgServer) -> None:
    with PostgresLedger.open(pg_url) as ledger:
        ledger.register_subscribers(["ana@example.org"])
        pid = ledger.conn.info.backend_pid
        with pg_server.admin() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(LedgerConnectionLost) as err:
            ledger.horizons(["ana@example.org"])
        assert err.value.exit_code == 1 and "lost the connection to the ledger database" in str(err.value)
        assert ledger.horizons(["ana@example.org"]) == {"ana@example.org": 0}  # the next call connects again


def test_postgres_connection_lost_and_not_back_is_still_lost_exit_1(pg_url: str, pg_server: PgServer) -> None:
    """A broken connection that cannot be made again is the ledger lost while work was
    under way (exit 1), not a configuration to fix (exit 2): it connected before."""
    name = pg_url.rsplit("/", 1)[1]
    with PostgresLedger.open(pg_url) as ledger:
        ledger.register_subscribers(["ana@example.org"])
        pid = ledger.conn.info.backend_pid
        with pg_server.admin() as admin:
            admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        try:
            with pytest.raises(LedgerConnectionLost):
                ledger.horizons(["ana@example.org"])  # the break itself
            with pytest.raises(LedgerConnectionLost) as err:
                ledger.horizons(["ana@example.org"])  # connecting again is refused
            assert err.value.exit_code == 1
            assert "lost the connection to the ledger database, and connecting again failed" in str(err.value)
        finally:
            with pg_server.admin() as admin:
                admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")
        assert ledger.horizons(["ana@example.org"]) == {"ana@example.org": 0}  # and back once it can


# --------------------------------------------------------------------------- state: in the configuration


def write_config(tmp_path: Path, extra: str) -> Path:
    (tmp_path / "digests").mkdir(exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(
        "digests: {directory: digests}\n"
        "sender: {from: 'Digest <digest@example.org>'}\n"
        f"{extra}"
        "subscribers:\n  - {email: ana@example.org, keywords: [diffusion]}\n",
        encoding="utf-8",
    )
    return path


def test_postgres_state_url_in_config(tmp_path: Path, pg_url: str) -> None:
    config = load_config(write_config(tmp_path, f"state: {pg_url}\nledger: {{lease_seconds: 90}}\n"))
    assert config.ledger_url == pg_url and config.ledger.lease_seconds == 90
    assert is_database_url(config.ledger_path)
    with open_ledger(config) as ledger:
        assert isinstance(ledger, PostgresLedger)
        ledger.register_subscribers(["ana@example.org"])
    reader = open_ledger_readonly(config)
    assert isinstance(reader, PostgresLedger)
    reader.close()
    plain = load_config(write_config(tmp_path, "state: ledger.sqlite3\nledger: {lease_seconds: 5}\n"))
    assert plain.ledger_url is None and plain.ledger_path == tmp_path / "ledger.sqlite3"
    assert open_ledger_readonly(plain) is None  # SQLite, not made yet


@pytest.mark.parametrize(
    ("extra", "line", "message"),
    [
        ("state: postgresql://digest:hunter2@db.example.org/news\n", 3, "state: a password in the URL"),
        ("state: postgresql:news\n", 3, "state: a PostgreSQL URL reads postgresql://"),
        ("state: ledger.sqlite3\nstate_password_env: PGPW\n", 4, "state_password_env: state_password_env is for"),
        ("state: postgresql://digest@db/news\nstate_password_env: 'not a name'\n", 4, "is not an environment"),
        ("state: postgresql://digest@db/news\nledger:\n  lease_seconds: 20\n", 5, "not longer than smtp.timeout"),
        ("ledger: {lease_seconds: 0}\n", 3, "ledger.lease_seconds: 0 is out of range: from 1 to 3600 (seconds)"),
        ("ledger: {lease: 5}\n", 3, "ledger.lease: unknown key"),
    ],
)
def test_postgres_state_config_errors(tmp_path: Path, extra: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, extra))
    text = str(err.value)
    assert f"config.yaml:{line}: " in text and message in text
    assert "hunter2" not in text


def test_postgres_state_password_env_unset_is_a_config_error(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("DIGEST_DB_PW", raising=False)
    config = load_config(
        write_config(tmp_path, "state: postgresql://digest@db/news\nstate_password_env: DIGEST_DB_PW\n")
    )
    with pytest.raises(ConfigError, match=r"config.yaml:4: state_password_env: the environment variable DIGEST_DB_PW"):
        require_secrets(config)
    with pytest.raises(ConfigError, match="DIGEST_DB_PW"):
        open_ledger(config)


def test_postgres_state_password_env_opens(tmp_path: Path, pg_server: PgServer, monkeypatch: Any) -> None:
    name = pg_server.create_database(prefix="pwenv")
    with pg_server.admin() as conn:
        conn.execute(f"ALTER DATABASE {name} OWNER TO {PASSWORD_ROLE}")
    monkeypatch.setenv("DIGEST_DB_PW", PASSWORD)
    url = pg_server.url(name, user=PASSWORD_ROLE)
    config = load_config(write_config(tmp_path, f"state: {url}\nstate_password_env: DIGEST_DB_PW\n"))
    with open_ledger(config) as ledger:
        assert ledger.last_digest_id() == 0


def test_postgres_send_takes_no_lock_file_and_makes_no_file_of_the_url(tmp_path: Path, pg_url: str) -> None:
    """On PostgreSQL the single-instance lock is a no-op (several senders, SPEC 6d):
    ``send`` runs, and never makes a lock file, a file or a directory out of the URL."""
    config = write_config(tmp_path, f"state: {pg_url}\n")
    before = set(os.listdir(tmp_path))
    check = newsletter("check", "-c", str(config))
    assert check.exit_code == 0 and f"ledger:      PostgreSQL {pg_url}" in check.output
    sent = newsletter("send", "-c", str(config))
    assert sent.exit_code == 0, sent.output
    assert set(os.listdir(tmp_path)) == before
    assert not Path("postgresql:").exists()
    with pytest.raises(LedgerError, match="does not use yet"):
        SqliteLedger.open(Path(pg_url))  # the SQLite ledger itself still refuses a URL


def test_postgres_test_server_runs_as_postgres_user(pg_server: PgServer) -> None:
    with pg_server.admin() as conn:
        row = conn.execute("SELECT current_setting('fsync'), current_setting('data_directory')").fetchone()
    assert row is not None and row[0] == "on" and row[1] == str(pg_server.data)
    if os.geteuid() == 0:
        owner = Path(pg_server.data).stat().st_uid
        assert pwd.getpwuid(owner).pw_name == "postgres"
