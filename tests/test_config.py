"""Configuration loading and validation (SPEC 3), through load_config and `newsletter check`."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.base.errors import ConfigError
from newsletter.config import load_config, parse_mailbox

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, body: str, name: str = "config.yaml") -> Path:
    (tmp_path / "digests").mkdir(exist_ok=True)
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


MINIMAL = """\
digests: {directory: digests}
subscribers:
  - email: alice@example.org
    keywords: [contrastive learning]
"""


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return str(err.value).splitlines()


def test_config_example_loads() -> None:
    config = load_config(ROOT / "config.example.yaml")
    assert len(config.subscribers) >= 3
    assert config.digests.directory == ROOT / "seeds"
    assert config.ledger_path == ROOT / "newsletter.sqlite3"
    alice = config.subscriber("alice@example.org")
    assert alice.max_papers == 10
    assert alice.abstract_chars == 500  # from defaults
    assert config.sender.mailbox.address == "digest@example.org"


def test_config_minimal_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.digests.directory == tmp_path / "digests"
    assert config.ledger_path == tmp_path / "newsletter.sqlite3"
    (sub,) = config.subscribers
    assert (sub.max_papers, sub.abstract_chars, sub.send_empty, sub.stemming) == (20, 500, False, True)
    assert config.smtp.effective_port == 25
    assert config.schedule.cron == "0 7 * * *"


def test_config_subscriber_overrides_defaults(tmp_path: Path) -> None:
    body = MINIMAL + "    stemming: false\n    send_empty: true\ndefaults: {max_papers: 5}\n"
    (sub,) = load_config(write(tmp_path, body)).subscribers
    assert (sub.max_papers, sub.stemming, sub.send_empty) == (5, False, True)


def test_config_unknown_key_names_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "    keywrods: [typo]\n")
    assert problems(path) == [f"{path}:5: subscribers[0].keywrods: unknown key (did you mean `keywords`?)"]


def test_config_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "smtp:\n  port: many\n")
    (line,) = problems(path)
    assert line.startswith(f"{path}:6: smtp.port: ")
    assert "integer" in line


def test_config_errors_listed_in_line_order(tmp_path: Path) -> None:
    # the keys in an order unlike the model's: errors come out as the file reads, top to bottom
    path = write(
        tmp_path,
        """\
        subscribers:
          - email: not-an-address
            keywords: [x]
        smtp:
          port: many
        digests: {directory: digests, settle_seconds: soon}
        schedule: {cron: "0 25 * * *"}
        sender: {from: "no address here"}
        defaults: {max_papers: lots}
        """,
    )
    lines = problems(path)
    numbers = [int(line.removeprefix(f"{path}:").split(":", 1)[0]) for line in lines]
    assert len(lines) == 6, lines
    assert numbers == sorted(numbers) == [2, 5, 6, 7, 8, 9], lines
    result = run_cli("check", "-c", str(path))
    assert [ln.removeprefix("error: ") for ln in result.stderr.splitlines()] == lines


def test_config_missing_email(tmp_path: Path) -> None:
    path = write(tmp_path, "digests: {directory: digests}\nsubscribers:\n  - keywords: [x]\n")
    assert problems(path) == [f"{path}:3: subscribers[0].email: required key is missing"]


def test_config_invalid_address_and_injection(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        digests: {directory: digests}
        subscribers:
          - email: "alice@example.org)<bob@example.org>"
            keywords: [x]
          - email: bob@example.org
            name: "Bob\\r\\nBcc: eve@example.org"
            keywords: [x]
        """,
    )
    lines = problems(path)
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:3: subscribers[0].email: not a valid email address")
    assert lines[1] == f"{path}:6: subscribers[1].name: must not contain line breaks or NUL"


def test_config_invalid_cron_and_timezone(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "    schedule: '0 7 * *'\nschedule: {cron: '0 25 * * *', timezone: Mars/Base}\n")
    lines = problems(path)
    assert any(line.startswith(f"{path}:5: subscribers[0].schedule: invalid cron expression") for line in lines)
    assert any(line.startswith(f"{path}:6: schedule.cron: invalid cron expression") for line in lines)
    assert any(line.startswith(f"{path}:6: schedule.timezone: unknown time zone") for line in lines)


def test_config_broken_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "digests:\n  directory: digests\nsubscribers: [\n  - email: a\n")
    (line,) = problems(path)
    assert line.startswith(f"{path}:4: invalid YAML")


def test_config_missing_file_says_how_to_get_one(tmp_path: Path) -> None:
    (line,) = problems(tmp_path / "nope.yaml")
    assert line.startswith(f"{tmp_path / 'nope.yaml'}: configuration file not found: ")
    assert "`newsletter init`" in line and "-c FILE" in line


def test_config_password_in_file_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "smtp:\n  password: hunter2\n")
    (line,) = problems(path)
    assert line.startswith(f"{path}:6: smtp.password: unknown key: secrets never live in the file")


def test_config_duplicate_and_empty_profile(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "  - email: Alice@Example.org\n    keywords: [y]\n  - email: c@example.org\n")
    lines = problems(path)
    assert any("subscribers[1].email: duplicate subscriber" in line for line in lines)
    assert any(f"{path}:7: subscribers[2]: a subscriber needs at least one entry" in line for line in lines)


def test_config_subscribers_dir_merged(tmp_path: Path) -> None:
    subs = tmp_path / "people"
    subs.mkdir()
    (subs / "b.yaml").write_text("email: bob@example.org\nkeywords: [diffusion]\nmax_papers: 3\n")
    (subs / "c.yml").write_text("email: carol@example.org\nrequire: [reasoning]\n")
    config = load_config(write(tmp_path, MINIMAL + "subscribers_dir: people\n"))
    assert [s.email for s in config.subscribers] == ["alice@example.org", "bob@example.org", "carol@example.org"]
    assert config.subscriber("bob@example.org").max_papers == 3
    (subs / "d.yaml").write_text("email: dave@example.org\nkeywords: [x]\ncolour: blue\n")
    assert problems(tmp_path / "config.yaml") == [f"{subs / 'd.yaml'}:3: colour: unknown key"]


def test_config_bad_keyword_entry(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("[contrastive learning]", "['title:', ok]"))
    (line,) = problems(path)
    assert line.startswith(f"{path}:4: subscribers[0].keywords: 'title:'")


def test_config_missing_digest_directory(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("directory: digests", "directory: elsewhere"))
    (line,) = problems(path)
    assert line.startswith(f"{path}:1: digests.directory: digest directory")


def test_parse_mailbox_strict() -> None:
    assert str(parse_mailbox("Paper Digest <digest@example.org>")) == "Paper Digest <digest@example.org>"
    assert parse_mailbox("digest@example.org").name == ""
    for bad in ["alice@example.org)<bob@example.org>", "A <a@example.org> <b@example.org>", "Eve\n<eve@example.org>"]:
        with pytest.raises(ValueError):
            parse_mailbox(bad)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "newsletter", *args], capture_output=True, text=True, timeout=60)


def test_cli_check_example_ok() -> None:
    result = run_cli("check", "-c", str(ROOT / "config.example.yaml"))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
    assert "subscribers: 3" in result.stdout


def test_cli_check_lists_every_error_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "    keywrods: [x]\n  - email: not-an-address\n    keywords: [x]\n")
    result = run_cli("check", "-c", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"error: {path}:5: subscribers[0].keywrods: unknown key (did you mean `keywords`?)"
    assert lines[1].startswith(f"error: {path}:6: subscribers[1].email: not a valid email address")
    assert len(lines) == 2
    assert "Traceback" not in result.stderr


def test_cli_check_missing_config_exit_2(tmp_path: Path) -> None:
    result = run_cli("check", "-c", str(tmp_path / "absent.yaml"))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {tmp_path / 'absent.yaml'}: configuration file not found: ")
    assert "newsletter init" in line and "-c" in line


def test_cli_check_broken_template_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "templates: tpl\n")
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "digest.txt.j2").write_text("Hello\n{% for p in papers %}\n{{ p.title }\n", encoding="utf-8")
    result = run_cli("check", "-c", str(path))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "digest.txt.j2:3" in line


def test_cli_template_override_that_is_a_directory_is_one_line_exit_2(tmp_path: Path) -> None:
    """An override named like a template that is a directory (or a link to nowhere) was
    skipped by the template loader in silence: the shipped template went out instead."""
    path = write(tmp_path, MINIMAL + "sender: {from: 'D <d@example.org>'}\ntemplates: tpl\n")
    (tmp_path / "tpl" / "digest.txt.j2").mkdir(parents=True)
    (tmp_path / "tpl" / "_paper.html.j2").symlink_to(tmp_path / "tpl" / "gone.j2")
    (tmp_path / "tpl" / "digest.mjml.j2.bak").mkdir()  # not a template name: not ours to judge
    expected = [
        f"error: {path}:6: templates: template {tmp_path / 'tpl' / '_paper.html.j2'} is a symbolic link "
        "that leads nowhere, not a template file",
        f"error: {path}:6: templates: template {tmp_path / 'tpl' / 'digest.txt.j2'} is a directory, "
        "not a template file",
    ]
    for command in ("check", "send", "preview"):
        extra = ["--out", str(tmp_path / "out")] if command == "preview" else []
        result = run_cli(command, "-c", str(path), *extra)
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.strip().splitlines() == expected, command
    assert not (tmp_path / "out").exists() and not (tmp_path / "newsletter.sqlite3").exists()
    (tmp_path / "tpl" / "digest.txt.j2").rmdir()
    (tmp_path / "tpl" / "digest.txt.j2").write_text("Own text for {{ email }}\n", encoding="utf-8")
    (tmp_path / "tpl" / "_paper.html.j2").unlink()
    assert run_cli("check", "-c", str(path)).returncode == 0


def test_config_templates_that_is_a_file_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "templates: digest.mjml.j2\n")
    (tmp_path / "digest.mjml.j2").write_text("<mjml></mjml>\n", encoding="utf-8")
    (line,) = problems(path)
    assert line == f"{path}:5: templates: template directory {tmp_path / 'digest.mjml.j2'} is not a directory"


def test_config_author_and_org_qualifiers_validated(tmp_path: Path) -> None:
    good = write(tmp_path, MINIMAL.replace("[contrastive learning]", "['author:\"Yann LeCun\"', 'org: ByteDance']"))
    assert load_config(good).subscribers[0].keywords == ('author:"Yann LeCun"', "org: ByteDance")
    bad = write(tmp_path, MINIMAL.replace("[contrastive learning]", "[ok, 'author: \"\"']"), name="bad.yaml")
    (line,) = problems(bad)
    assert line.startswith(f"{bad}:4: subscribers[0].keywords: 'author: \"\"'")
    assert "no word after 'author:'" in line


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="abcXYZ019_+-.@!#$%&'*/=?^`{|}~\"()<> \u00e9\u00df", max_size=40),
        st.builds(
            "{}@{}.{}".format,
            st.text(alphabet="aZ09_+-.", min_size=0, max_size=70),
            st.text(alphabet="aZ09-.", min_size=0, max_size=20),
            st.sampled_from(["org", "ORG", "test", "local", "invalid", "localhost", "c", "internal", "xn--p1ai", "1"]),
        ),
        st.sampled_from(["Postmaster@example.org", "ABUSE@Example.Org", "a" * 64 + "@x.org", "a" * 65 + "@x.org"]),
    )
)
def test_config_address_quick_path_agrees_with_email_validator(text: str) -> None:
    """check_address checks plain addresses itself (and each domain once): the same
    answers as email-validator gives, accepted or refused, normalised alike."""
    from email_validator import EmailNotValidError, validate_email

    from newsletter.base.addresses import check_address

    try:
        expected: str | None = validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        got: str | None = check_address(text)
    except ValueError:
        got = None
    assert got == expected


def test_config_paths_through_symlink_loops_are_one_line(tmp_path: Path) -> None:
    """A digests directory or subscribers_dir that is a symbolic link loop, or a file
    where a directory belongs, is one line naming the key and what the path is (a loop
    once crashed the loader with a RuntimeError out of Path.resolve)."""
    path = write(tmp_path, MINIMAL.replace("directory: digests", "directory: loop") + "subscribers_dir: people\n")
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "people").symlink_to("people")
    nowhere = "is a symbolic link that leads nowhere (a loop, or a missing target)"
    assert sorted(problems(path)) == [
        f"{path}:1: digests.directory: digest directory {tmp_path / 'loop'} {nowhere}",
        f"{tmp_path / 'people'}: subscribers_dir {nowhere}",
    ]
    (tmp_path / "loop").unlink()
    (tmp_path / "loop").write_text("a file\n")
    assert f"{path}:1: digests.directory: digest directory {tmp_path / 'loop'} is not a directory" in problems(path)


def test_config_duplicate_key_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    """A key written twice in one mapping (two `smtp:` sections pasted in) is an error
    naming the line of the second and of the first: YAML parsers keep the later one and
    drop the earlier in silence. YAML merge keys (`<<: *base`) still override freely."""
    pasted = "smtp: {host: relay.example.org, port: 587}\nstate: a.sqlite3\nsmtp:\n  port: 25\n"
    path = write(tmp_path, MINIMAL + pasted)
    assert problems(path) == [f"{path}:7: smtp: this key is written twice in one mapping (first at line 5)"]
    merged = write(
        tmp_path,
        "digests: {directory: digests}\nsubscribers:\n  - &a {email: a@example.org, keywords: [x]}\n"
        "  - {<<: *a, email: b@example.org, keywords: [y]}\n",
    )
    assert [s.email for s in load_config(merged).subscribers] == ["a@example.org", "b@example.org"]


def test_config_keyword_with_a_line_break_or_escape_is_refused_at_its_line(tmp_path: Path) -> None:
    # keywords are shown in the email's footer and by `subscribers list`, and come from CSV
    # imports (a signup form): a line break or ESC in one could forge a line there; a tab
    # is only a space
    body = MINIMAL.replace("[contrastive learning]", '["ok", "a\\nforged line", "b\\x1b[31m", "tab\\tbed"]')
    bad = write(tmp_path, body)
    (line,) = problems(bad)  # the key's first problem, on one line
    assert line.startswith(f"{bad}:4: subscribers[0].keywords: 'a\\nforged line'") and "control characters" in line
    escape = write(tmp_path, MINIMAL.replace("[contrastive learning]", '["b\\x1b[31m"]'), name="esc.yaml")
    (line,) = problems(escape)
    assert "\x1b" not in line and "'b\\x1b[31m': a keyword must not contain control characters" in line
    good = write(tmp_path, MINIMAL.replace("[contrastive learning]", '["tab\\tbed"]'), name="good.yaml")
    assert load_config(good).subscribers[0].keywords == ("tab\tbed",)


@pytest.mark.parametrize("value", [".inf", ".nan", "-.inf"])
def test_config_infinite_number_is_refused_at_its_line(tmp_path: Path, value: str) -> None:
    # `settle_seconds: .inf` would never pick a digest up, `smtp.timeout: .inf` wait forever
    path = write(tmp_path, MINIMAL.replace("{directory: digests}", f"{{directory: digests, settle_seconds: {value}}}"))
    assert problems(path) == [f"{path}:1: digests.settle_seconds: Input should be a finite number"]
    path = write(tmp_path, MINIMAL + f"smtp: {{host: 127.0.0.1, timeout: {value}}}\n", name="smtp.yaml")
    assert problems(path) == [f"{path}:5: smtp.timeout: Input should be a finite number"]


# --------------------------------------------------------------------------- numbers within bounds

# key path, a value too small, a value too large, the bounds themselves (accepted)
BOUNDS: list[tuple[str, object, object, object, object]] = [
    ("digests.settle_seconds", -1, 1.0e9, 0, 3600),
    ("ledger.lease_seconds", 0.5, 1.0e6, 1, 3600),
    ("smtp.port", 0, 70000, 1, 65535),
    ("smtp.timeout", 1.0e-300, 1.0e300, 0.1, 3600),
    ("smtp.connections", 0, 1000, 1, 64),
    ("smtp.max_per_second", 1.0e-300, 1.0e300, 0.001, 10000),
    ("smtp.retries", -1, 1000, 0, 20),
    ("smtp.queue_lifetime_hours", -1, 10**6, 0, 8760),
    ("defaults.max_papers", 0, 10**6, 1, 500),
    ("defaults.abstract_chars", -1, 10**9, 0, 100000),
    ("defaults.like_top", -1, 1000, 0, 100),
    ("fetch.timeout", 0.01, 1.0e9, 0.1, 600),
    ("fetch.retries", -1, 1000, 0, 10),
    ("fetch.max_bytes", 10, 10**15, 1024, 1024**3),
    ("bounces.hard", 0, 10**6, 1, 100),
    ("bounces.soft", 0, 10**6, 1, 100),
    ("bounces.every_minutes", 1.0e-300, 1.0e300, 0.1, 1440),
    ("bounces.imap.timeout", 1.0e-300, 1.0e300, 0.1, 3600),
]


def _with(tmp_path: Path, key: str, value: object) -> Path:
    import yaml

    data: dict[str, Any] = yaml.safe_load(MINIMAL)
    if key.startswith("bounces.imap."):
        data["bounces"] = {"imap": {"host": "imap.example.org", "username": "u"}}
    node = data
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return write(tmp_path, yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize(("key", "low", "high", "lowest", "highest"), BOUNDS, ids=[b[0] for b in BOUNDS])
def test_config_absurd_numbers_are_one_line_naming_the_key(
    tmp_path: Path, key: str, low: object, high: object, lowest: object, highest: object
) -> None:
    """A rate of 1e-300 a second (one mail in 1e292 years), a timeout of 1e300 s: finite,
    and meaningless. Every number of the configuration has bounds a user could mean."""
    for value in (low, high):
        path = _with(tmp_path, key, value)
        (line,) = problems(path)
        assert re.fullmatch(
            rf"{re.escape(str(path))}:\d+: {re.escape(key)}: \S+ is out of range: from \S+ to \S+ \(.+\)", line
        ), line
    for value in (lowest, highest):
        load_config(_with(tmp_path, key, value))


def test_config_similarity_threshold_says_its_open_bound(tmp_path: Path) -> None:
    path = _with(tmp_path, "defaults.like_threshold", 0)
    assert problems(path) == [
        f"{path}:8: defaults.like_threshold: 0 is out of range: more than 0 and at most 1 (a similarity)"
    ]


def test_cli_check_rate_of_1e_300_is_one_line_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "sender: {from: 'D <d@example.org>'}\nsmtp: {max_per_second: 1e-300}\n")
    for command in ("check", "send"):
        result = run_cli(command, "-c", str(path))
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"error: {path}:6: smtp.max_per_second: 1e-300 is out of range: from 0.001 to 10000 "
            "(messages a second; null: no limit)"
        ]


def test_cli_check_subscriber_numbers_are_bounded_too(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "    abstract_chars: 1000000000\n")
    result = run_cli("check", "-c", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {path}:5: subscribers[0].abstract_chars: 1000000000 is out of range: from 0 to 100000 (characters)"
    ]


@pytest.mark.parametrize(
    ("zone", "hint"),
    [
        ("UTC+5", "for UTC+05:00 write Etc/GMT-5: the Etc names invert the sign"),
        ("GMT-3", "for UTC-03:00 write Etc/GMT+3: the Etc names invert the sign"),
        ("europe/berlin", "did you mean Europe/Berlin?"),
        ("utc", "did you mean UTC?"),
        ("local", "use an IANA name such as UTC or Europe/Paris"),
    ],
)
def test_config_timezone_refused_says_what_was_meant(tmp_path: Path, zone: str, hint: str) -> None:
    """A fixed offset written as UTC+5 (whose Etc zone is Etc/GMT-5, POSIX's inverted
    sign), a name in the wrong case: the line says what to write instead."""
    path = write(tmp_path, MINIMAL + f"schedule: {{cron: '0 7 * * *', timezone: '{zone}'}}\n")
    (line,) = problems(path)
    assert line == f"{path}:5: schedule.timezone: unknown time zone '{zone}' ({hint})"
