"""A bad subscriber never stops the morning (SPEC 6c): an entry with an unknown key or a
wrong type, a subscribers_dir file that is broken YAML, not a mapping or holds an
invalid address is left out of the pass with one line naming the file and line;
everybody else is delivered; the pass exits 1; `status` and `send --dry-run` say who
and why; `check` still exits 2. The daemon keeps serving the others after a SIGHUP
reload that finds one. Real aiosmtpd, real files, real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import NEVER_SOON, newsletter, settled_copy
from tests.indaemon import in_daemon
from tests.memsender import MemoryTransport
from tests.smtpd import EXAMPLE_SUBSCRIBERS, smtp_server, write_config

GOOD = ["alice@example.org", "bob@example.org", "chen@example.org"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "newsletter", *args], capture_output=True, text=True, timeout=120)


def with_bad_subscribers(tmp_path: Path, port: int) -> Path:
    """The example subscribers, one inline entry with an unknown key, and four bad files."""
    subs = [*EXAMPLE_SUBSCRIBERS, {"email": "dora@example.org", "keywords": ["diffusion"], "keywrds": ["x"]}]
    cfg = write_config(tmp_path, port, subs, subscribers_dir="people")
    people = tmp_path / "people"
    people.mkdir()
    (people / "carol.yaml").write_text("email: carol@example\nkeywords: [learning]\n")  # invalid address
    (people / "erin.yaml").write_text("email: erin@example.org\nkeywords: [learning\n")  # broken YAML
    (people / "frank.yaml").write_text("- frank@example.org\n")  # not a mapping
    (people / "gus.yaml").write_text("email: gus@example.org\nkeywords: [learning]\nmax_papers: many\n")  # wrong type
    return cfg


def test_subscriber_bad_entries_left_out_everyone_else_delivered_exit_1(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = with_bad_subscribers(tmp_path, server.port)
        for name in ("000", "001"):
            settled_copy(seeds[name], tmp_path / "digests")
        people = tmp_path / "people"

        result = run("send", "-c", str(cfg))

        assert result.returncode == 1, result.stderr
        assert sorted(server.by_recipient()) == GOOD  # everybody else got their email
        assert "Traceback" not in result.stderr
        left = [line for line in result.stderr.splitlines() if "left out:" in line]
        assert len(left) == 5, result.stderr  # one line each
        expected = {
            f"{cfg}:": "subscriber (dora@example.org) left out: subscribers[3].keywrds: unknown key",
            f"{people / 'carol.yaml'}:1:": "(carol@example) left out: email: not a valid email address",
            f"{people / 'erin.yaml'}:3:": "left out: invalid YAML: a [list] or {mapping} opened at line 2",
            f"{people / 'frank.yaml'}:1:": "left out: a subscriber file must be a mapping of keys",
            f"{people / 'gus.yaml'}:3:": "(gus@example.org) left out: max_papers:",
        }
        for where, what in expected.items():
            assert any(line.startswith(f"error: {where}") and what in line for line in left), (where, left)
        assert "1 subscriber" not in result.stdout and "5 subscribers left out" in result.stdout

        # status (text and JSON) says who and why; it changes nothing and exits 0
        status = newsletter("status", "-c", str(cfg), "--json")
        assert status.exit_code == 0
        rows = json.loads(status.stdout)["left_out"]
        keywrds = next(i for i, text in enumerate(cfg.read_text().splitlines(), 1) if "keywrds" in text)
        assert {(r["email"], Path(r["file"]).name, r["line"]) for r in rows} == {
            ("dora@example.org", "config.yaml", keywrds),
            ("carol@example", "carol.yaml", 1),
            (None, "erin.yaml", 3),
            (None, "frank.yaml", 1),
            ("gus@example.org", "gus.yaml", 3),
        }
        assert all(r["error"] for r in rows)
        text = newsletter("status", "-c", str(cfg)).stdout
        assert "left out: 5 subscribers" in text and "carol@example) left out: email: not a valid" in text

        # the dry run lists them too, and exits 1 like the pass it shows
        dry = run("send", "-c", str(cfg), "--dry-run")
        assert dry.returncode == 1
        assert (
            dry.stdout.count(" left out: ") == 5 and "gus.yaml:3: subscriber (gus@example.org) left out" in dry.stdout
        )
        assert "dry run: nothing recorded, nothing sent" in dry.stdout

        # check still refuses the configuration, listing every problem
        check = run("check", "-c", str(cfg))
        assert check.returncode == 2
        assert "carol.yaml:1: email: not a valid email address" in check.stderr
        assert "subscribers[3].keywrds: unknown key" in check.stderr

        # fixed: the subscriber is served from its next pass on, nobody else gets anything twice
        (people / "carol.yaml").write_text("email: carol@example.org\nkeywords: [learning]\n")
        for name in ("erin", "frank", "gus"):
            (people / f"{name}.yaml").unlink()
        data = yaml.safe_load(cfg.read_text())
        del data["subscribers"][3]["keywrds"]
        cfg.write_text(yaml.safe_dump(data, sort_keys=False))
        settled_copy(seeds["002"], tmp_path / "digests")
        before = len(server.received)
        again = run("send", "-c", str(cfg))
        assert again.returncode == 0, again.stderr
        new = [r for m in server.received[before:] for r in m.rcpt_tos]
        assert "carol@example.org" in new and "dora@example.org" in new
        assert len(new) == len(set(new))


def test_subscriber_problems_of_the_whole_config_still_exit_2(tmp_path: Path) -> None:
    # `subscribers` that is not a list, and a broken main file: nobody can be served
    cfg = write_config(tmp_path, 2525, [])
    data = yaml.safe_load(cfg.read_text())
    data["subscribers"] = "alice@example.org"
    cfg.write_text(yaml.safe_dump(data))
    result = run("send", "-c", str(cfg))
    assert result.returncode == 2 and "subscribers" in result.stderr and "Traceback" not in result.stderr
    cfg.write_text(cfg.read_text() + "smtp: [unclosed\n")
    result = run("send", "-c", str(cfg))
    assert result.returncode == 2 and "invalid YAML" in result.stderr


def test_subscriber_duplicate_is_left_out_the_first_definition_served(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        twice = [EXAMPLE_SUBSCRIBERS[0], {"email": "Alice@Example.org", "keywords": ["diffusion"]}]
        cfg = write_config(tmp_path, server.port, twice)
        settled_copy(seeds["001"], tmp_path / "digests")
        result = run("send", "-c", str(cfg))
        assert result.returncode == 1
        (line,) = [x for x in result.stderr.splitlines() if "left out" in x]
        assert f"{cfg}:" in line and "duplicate subscriber Alice@example.org (first defined at config.yaml:" in line
        (msg,) = server.received  # the first definition is served, once
        assert msg.rcpt_tos == ["alice@example.org"]


@pytest.mark.asyncio
async def test_subscriber_daemon_reload_with_one_bad_subscriber_keeps_serving_the_others(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    cfg = write_config(
        tmp_path,
        1,
        EXAMPLE_SUBSCRIBERS[:2],
        subscribers_dir="people",
        schedule={"cron": NEVER_SOON, "timezone": "UTC", "on_arrival": True},
    )
    people = tmp_path / "people"
    people.mkdir()
    transport = MemoryTransport()
    async with in_daemon(cfg, transport=transport) as rig:
        (people / "carol.yaml").write_text("email: carol@example\nkeywords: [learning]\n")
        (people / "dan.yaml").write_text("email: dan@example.org\nkeywords: [learning]\n")
        await rig.daemon.reload_config()  # what SIGHUP runs
        assert "configuration reloaded: 3 subscribers" in rig.text()
        assert "reload refused" not in rig.text()
        assert f"{people / 'carol.yaml'}:1: subscriber (carol@example) left out: email:" in rig.text()
        settled_copy(seeds["001"], tmp_path / "digests")
        await rig.poll()
    assert rig.passes("on-arrival") == 1
    assert sorted(m.recipient for m in transport.outbox) == ["alice@example.org", "bob@example.org", "dan@example.org"]


@pytest.mark.asyncio
async def test_subscriber_daemon_starts_with_a_bad_subscriber(tmp_path: Path, seeds: dict[str, Path]) -> None:
    subs = [*EXAMPLE_SUBSCRIBERS[:1], {"email": "not an address", "keywords": ["learning"]}]
    cfg = write_config(tmp_path, 1, subs, schedule={"cron": NEVER_SOON, "on_arrival": True})
    transport = MemoryTransport()
    async with in_daemon(cfg, transport=transport) as rig:
        assert f"{cfg}:" in rig.text() and "(not an address) left out: subscribers[1].email:" in rig.text()
        settled_copy(seeds["001"], tmp_path / "digests")
        await rig.poll()
    assert rig.passes("on-arrival") == 1
    assert [m.recipient for m in transport.outbox] == ["alice@example.org"]


def test_subscriber_with_chat_channels_kept_on_a_postgresql_ledger(tmp_path: Path) -> None:
    """The claim path of several senders posts chat channels too (issue 27, second
    pass): a subscriber with channels is served on a PostgreSQL ledger as on SQLite."""
    from newsletter.config import load_config

    chat = {"email": "lab@example.org", "keywords": ["agents"], "channels": [{"type": "slack", "url_env": "LAB"}]}
    for state in ("postgresql://news@127.0.0.1:1/news", None):
        cfg = write_config(tmp_path, 2525, [EXAMPLE_SUBSCRIBERS[0], chat], **({"state": state} if state else {}))
        config = load_config(cfg, strict=False)
        assert [s.email for s in config.subscribers] == ["alice@example.org", "lab@example.org"]
        assert config.left_out == ()


def test_subscriber_file_that_is_no_regular_file_is_left_out_not_skipped(tmp_path: Path) -> None:
    """A `*.yaml` in subscribers_dir that is a broken symbolic link, a link loop or a
    directory is a subscriber who would be lost in silence: one line each, the others
    kept; `check` lists them (exit 2)."""
    from newsletter.base.errors import ConfigError
    from newsletter.config import load_config

    cfg = write_config(tmp_path, 1025, EXAMPLE_SUBSCRIBERS[:1], subscribers_dir="people")
    people = tmp_path / "people"
    people.mkdir()
    (people / "bob.yaml").write_text("email: bob@example.org\nkeywords: [diffusion]\n")
    (people / "gone.yaml").symlink_to("moved-away.yaml")
    (people / "loop.yml").symlink_to("loop.yml")
    (people / "dir.yaml").mkdir()
    (people / "notes.txt").write_text("not a subscriber file: ignored\n")
    config = load_config(cfg, strict=False)
    assert [s.email for s in config.subscribers] == [EXAMPLE_SUBSCRIBERS[0]["email"], "bob@example.org"]
    nowhere = "a symbolic link that leads nowhere (a loop, or a missing target)"
    assert sorted(str(lo) for lo in config.left_out) == [
        f"{people / 'dir.yaml'}: subscriber left out: not a regular file (a directory)",
        f"{people / 'gone.yaml'}: subscriber left out: {nowhere}",
        f"{people / 'loop.yml'}: subscriber left out: {nowhere}",
    ]
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert len(str(err.value).splitlines()) == 3


def test_subscriber_with_a_key_written_twice_is_left_out(tmp_path: Path) -> None:
    """`keywords:` written twice in one subscriber (a file of subscribers_dir, or an inline
    entry) would silently keep only the second list: that subscriber is left out with one
    line naming both lines; everybody else is kept."""
    from newsletter.config import load_config

    cfg = write_config(tmp_path, 1025, EXAMPLE_SUBSCRIBERS[:2], subscribers_dir="people")
    text = cfg.read_text(encoding="utf-8")
    first = EXAMPLE_SUBSCRIBERS[1]["email"]
    cfg.write_text(text.replace("  name: Bob Okafor\n", "  name: Bob Okafor\n  name: Bee\n"), encoding="utf-8")
    people = tmp_path / "people"
    people.mkdir()
    (people / "dan.yaml").write_text("email: dan@example.org\nkeywords: [diffusion]\nkeywords: [llm]\n")
    (people / "eve.yaml").write_text("email: eve@example.org\nkeywords: [llm]\n")
    config = load_config(cfg, strict=False)
    assert [s.email for s in config.subscribers] == [EXAMPLE_SUBSCRIBERS[0]["email"], "eve@example.org"]
    name_line = cfg.read_text(encoding="utf-8").splitlines().index("  name: Bee") + 1
    assert sorted(str(lo) for lo in config.left_out) == [
        f"{cfg}:{name_line}: subscriber ({first}) left out: subscribers[1].name: this key is written twice "
        f"in one mapping (first at line {name_line - 1})",
        f"{people / 'dan.yaml'}:3: subscriber (dan@example.org) left out: keywords: this key is written twice "
        "in one mapping (first at line 2)",
    ]


def test_subscriber_file_name_cannot_forge_a_line(tmp_path: Path) -> None:
    """A file name in subscribers_dir (or a key) holding a line break or an escape
    sequence is shown escaped: it cannot forge an `error:` line or drive the terminal."""
    from newsletter.base.errors import ConfigError
    from newsletter.config import load_config

    cfg = write_config(tmp_path, 1025, EXAMPLE_SUBSCRIBERS[:1], subscribers_dir="people")
    people = tmp_path / "people"
    people.mkdir()
    (people / "evil\nerror: forged\x1b[2J.yaml").write_text('email: x@example.org\nkeywords: [x]\n"a\\nb": 1\n')
    [left] = load_config(cfg, strict=False).left_out
    assert str(left) == (
        f"{people}/evil\\nerror: forged\\x1b[2J.yaml:3: subscriber (x@example.org) left out: a\\nb: unknown key"
    )
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert str(err.value) == f"{people}/evil\\nerror: forged\\x1b[2J.yaml:3: a\\nb: unknown key"


def test_subscriber_with_a_non_ascii_local_part_is_left_out_an_idn_domain_kept(tmp_path: Path) -> None:
    # `jörg@` can only travel with SMTPUTF8, which we do not speak: every send would fail
    # for it; `ana@bücher.de` goes out as its A-labels
    from newsletter.config import load_config

    subs = [
        {"email": "jörg@example.org", "keywords": ["x"]},
        {"email": "ana@bücher.de", "keywords": ["x"]},
    ]
    config = load_config(write_config(tmp_path, 2525, subs), strict=False)
    assert [s.email for s in config.subscribers] == ["ana@bücher.de"]
    (left,) = config.left_out
    assert left.email == "jörg@example.org" and "characters before the @-sign are not supported" in left.error
