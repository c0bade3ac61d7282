"""The deployment files the README shows (deploy/) stay true to the command line."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import click

from newsletter.base.cron import cron_trigger, timezone
from newsletter.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def parses(argv: list[str]) -> str:
    """The subcommand name, after click accepted every option of the command line."""
    assert Path(argv[0]).name == "newsletter"
    name = argv[1]
    command = cli.get_command(click.Context(cli), name)
    assert command is not None, name
    command.make_context(name, argv[2:])
    return name


def test_deploy_systemd_unit_runs_the_daemon() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(ROOT / "deploy" / "paper-digest.service")
    service = unit["Service"]
    assert parses(shlex.split(service["ExecStart"])) == "run"
    assert service["KillSignal"] == "SIGTERM"
    assert "-HUP" in service["ExecReload"]
    readme = (ROOT / "README.md").read_text()
    assert service["ExecStart"] in readme


def test_deploy_crontab_line_runs_send() -> None:
    lines = [
        line
        for line in (ROOT / "deploy" / "crontab").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    (line,) = lines
    fields = line.split(None, 5)
    cron_trigger(" ".join(fields[:5]), timezone("UTC"))
    command = fields[5].rsplit(";", 1)[1].split(">>", 1)[0]
    assert parses(shlex.split(command)) == "send"
    assert line in (ROOT / "README.md").read_text()


def test_deploy_parser_rejects_bad_option() -> None:
    try:
        parses(["newsletter", "run", "-c", "x.yaml", "--log-format", "xml"])
    except click.UsageError:
        return
    raise AssertionError("a bad option was accepted")


def test_deploy_crontab_line_delivers_as_cron_runs_it(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """The crontab line itself, run as cron runs it: `sh -c` from /, no terminal, no HOME,
    PATH=/usr/bin:/bin; the relay wants a login whose password lives in the environment
    file (KEY=value, as the systemd unit reads it). A good pass writes nothing to the log."""
    import subprocess
    import sys

    from tests.conftest import settled_copy
    from tests.smtpd import EXAMPLE_SUBSCRIBERS, Authenticator, self_signed, server_tls, smtp_server, write_config

    (line,) = [ln for ln in (ROOT / "deploy" / "crontab").read_text().splitlines() if ln and not ln.startswith("#")]
    command = line.split(None, 5)[5]
    env_file = tmp_path / "env"
    env_file.write_text("NEWSLETTER_SMTP_PASSWORD='s3cret word'\n")  # quoted: as sh and systemd read it
    env_file.chmod(0o600)
    shim = tmp_path / "bin" / "newsletter"  # what /opt/paper-digest/.venv/bin/newsletter is: this program
    shim.parent.mkdir()
    shim.write_text(
        f'#!/bin/sh\nPYTHONPATH={shlex.quote(str(ROOT))} exec {shlex.quote(sys.executable)} -m newsletter "$@"\n'
    )
    shim.chmod(0o755)
    log = tmp_path / "paper-digest.log"
    auth = Authenticator("digest", "s3cret word")
    (tmp_path / "etc" / "pki").mkdir(parents=True)
    tls = server_tls(*self_signed(tmp_path / "etc" / "pki"))
    with smtp_server(authenticator=auth, auth_required=True, tls_context=tls) as server:
        smtp = {"username": "digest", "password_env": "NEWSLETTER_SMTP_PASSWORD", "security": "starttls"}
        smtp["ca_file"] = "pki/cert.pem"  # relative: against the config's directory, whatever the cwd
        cfg = write_config(tmp_path / "etc", server.port, EXAMPLE_SUBSCRIBERS, smtp=smtp)
        settled_copy(seeds["001"], cfg.parent / "digests")
        for old, new in [
            ("/etc/paper-digest/env", env_file),
            ("/opt/paper-digest/.venv/bin/newsletter", shim),
            ("/etc/paper-digest/config.yaml", cfg),
            ("/var/log/paper-digest.log", log),
        ]:
            assert old in command
            command = command.replace(old, shlex.quote(str(new)))
        env = {"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "LOGNAME": "digest"}  # no HOME, no terminal
        for _ in range(2):  # the second morning: nothing new, still nothing to say
            done = subprocess.run(
                ["/bin/sh", "-c", command], cwd="/", env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=300
            )
            assert done.returncode == 0, log.read_text()
            assert log.read_text() == ""  # cron mails nobody, the log stays empty
        assert len(server.received) == 3
        assert auth.logins and set(auth.logins) == {"digest"}  # logged in with the file's password
