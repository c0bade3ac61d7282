"""A throwaway PostgreSQL server for the tests (and ``make bench``): Debian's own
``initdb`` and ``pg_ctl`` in a temporary directory, listening on a unix socket in that
directory and on 127.0.0.1 (plus any address asked for, such as a test bridge) on a
free port, with ``fsync`` on (the ledger's durability is part of what is tested).

Run as the ``postgres`` user when the tests run as root (PostgreSQL refuses to run as
root), through ``runuser`` or ``setpriv``. Missing binaries are an error, never a
skip: ``scripts/system-deps`` installs Debian's ``postgresql``.

Databases: :meth:`PgServer.create_database` makes a fresh one, by default a copy of a
template that already holds the migrated ledger schema (``CREATE DATABASE ... TEMPLATE``
copies files: much quicker than migrating each test's database).

Roles: the superuser ``postgres`` connects without a password (``trust``, this is a
throwaway server); the role ``digest_pw`` (:data:`PASSWORD_ROLE`) must give
:data:`PASSWORD` over TCP (``scram-sha-256``), for the tests of ``state_password_env``.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import count
from pathlib import Path

import psycopg

SUPERUSER = "postgres"
PASSWORD_ROLE = "digest_pw"
PASSWORD = "s3cret-pw-for-tests"
TEMPLATE = "ledger_template"


class PgServerError(RuntimeError):
    """The test server could not be found, made or started (with its log)."""


def pg_bin(name: str) -> str:
    """The path of a PostgreSQL server program: Debian keeps them off PATH, in
    ``/usr/lib/postgresql/<version>/bin`` (the newest version wins)."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.split("/")[4])],
    )
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise PgServerError(
        f"PostgreSQL's {name} not found (looked in /usr/lib/postgresql/*/bin and on PATH): "
        "run scripts/system-deps (Debian package postgresql)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` user when we are root (else as is)."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", SUPERUSER, "--", *command]
    return ["setpriv", f"--reuid={SUPERUSER}", f"--regid={SUPERUSER}", "--init-groups", *command]


class PgServer:
    """One PostgreSQL cluster in a temporary directory. :meth:`start`, :meth:`stop`
    (which also removes the directory); or ``with PgServer() as pg:``."""

    def __init__(self, *, listen: Sequence[str] = ("127.0.0.1",), port: int | None = None) -> None:
        self.listen = tuple(listen)
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pgtest-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.log = self.root / "server.log"
        self._names = count(1)
        self._running = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> PgServer:
        initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
        if os.geteuid() == 0:
            user = pwd.getpwnam(SUPERUSER)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run(
            [initdb, "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"]
        )
        self._configure()
        self._run([pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"])
        self._running = True
        self._setup_roles()
        return self

    def _configure(self) -> None:
        conf = self.data / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as out:
            out.write(
                f"\nport = {self.port}\n"
                f"listen_addresses = '{','.join(self.listen)}'\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "fsync = on\n"
                "synchronous_commit = on\n"
                "max_connections = 200\n"
                "shared_buffers = 32MB\n"
                "log_min_messages = warning\n"
            )
        (self.data / "pg_hba.conf").write_text(
            f"local all all trust\nhost all {PASSWORD_ROLE} 0.0.0.0/0 scram-sha-256\nhost all all 0.0.0.0/0 trust\n",
            encoding="utf-8",
        )

    def _setup_roles(self) -> None:
        with self.admin() as conn:
            conn.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}' CREATEDB")

    def stop(self) -> None:
        """Stop the server (fast: connections are cut) and remove its directory."""
        try:
            if self._running:
                subprocess.run(
                    _as_postgres([pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
                    capture_output=True,
                    timeout=60,
                    check=False,
                )
                self._running = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(_as_postgres(command), capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise PgServerError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}{log}")

    # ------------------------------------------------------------------ connections and databases

    def url(self, database: str, *, host: str = "127.0.0.1", user: str = SUPERUSER) -> str:
        """A libpq URL of ``database`` over TCP (the form ``state:`` takes)."""
        return f"postgresql://{user}@{host}:{self.port}/{database}"

    def socket_url(self, database: str) -> str:
        """A libpq URL of ``database`` over the server's unix socket."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    @contextmanager
    def admin(self, database: str = "postgres") -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """An autocommit superuser connection over the unix socket."""
        conn = psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname=database, autocommit=True
        )
        try:
            yield conn
        finally:
            conn.close()

    def create_database(self, *, template: str | None = None, prefix: str = "t") -> str:
        """A new empty database (or a copy of ``template``); returns its name."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            source = f" TEMPLATE {template}" if template else ""
            conn.execute(f"CREATE DATABASE {name}{source}")
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def make_template(self, name: str = TEMPLATE) -> str:
        """A database holding the migrated ledger schema, to copy per test."""
        from newsletter.store.postgres import PostgresLedger

        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name}")
        PostgresLedger.open(self.socket_url(name)).close()
        with self.admin() as conn:  # no connection may stay on a template being copied
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        return name


def wait_listening(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
