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
    command = fields[5].split(";", 1)[1].split(">>", 1)[0]
    assert parses(shlex.split(command)) == "send"
    assert line in (ROOT / "README.md").read_text()


def test_deploy_parser_rejects_bad_option() -> None:
    try:
        parses(["newsletter", "run", "-c", "x.yaml", "--log-format", "xml"])
    except click.UsageError:
        return
    raise AssertionError("a bad option was accepted")
