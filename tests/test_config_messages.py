"""Configuration errors a first user meets, in plain words with the right line."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.base.cron import cron_trigger, describe_cron, timezone
from newsletter.base.errors import ConfigError
from newsletter.config import load_config


def problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "digests").mkdir(exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value).splitlines()


def test_config_unknown_key_suggests_the_known_one(tmp_path: Path) -> None:
    lines = problems(
        tmp_path,
        "digests: {directory: digests}\nschedul: {cron: '0 7 * * *'}\nsmtp: {hots: 127.0.0.1}\n"
        "subscribers:\n  - email: a@example.org\n    keyword: [x]\n    keywords: [y]\n",
    )
    assert any(":2: schedul: unknown key (did you mean `schedule`?)" in ln for ln in lines), lines
    assert any(":3: smtp.hots: unknown key (did you mean `host`?)" in ln for ln in lines), lines
    assert any(":6: subscribers[0].keyword: unknown key (did you mean `keywords`?)" in ln for ln in lines), lines
    far = problems(tmp_path, "digests: {directory: digests}\nzzzqqq: 1\n")
    assert far[0].endswith("zzzqqq: unknown key")  # nothing close: no guess


def test_config_subscriber_file_unknown_key_suggests(tmp_path: Path) -> None:
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "a.yaml").write_text("email: a@example.org\nkeywrds: [x]\n", encoding="utf-8")
    lines = problems(tmp_path, "digests: {directory: digests}\nsubscribers_dir: subs\n")
    assert any("a.yaml" in ln and "keywrds: unknown key (did you mean `keywords`?)" in ln for ln in lines), lines


def test_config_yaml_indentation_error_says_indentation(tmp_path: Path) -> None:
    [line] = problems(tmp_path, "digests:\n  directory: digests\n pattern: '*.txt'\n")
    assert ":3: invalid YAML: wrong indentation" in line and "block end" not in line
    [line] = problems(tmp_path, "smtp:\n  host: x\n    port: 25\n")
    assert ":3: invalid YAML: wrong indentation" in line


def test_config_yaml_tab_error_says_tab(tmp_path: Path) -> None:
    [line] = problems(tmp_path, "digests:\n\tdirectory: digests\n")
    assert ":2: invalid YAML: a tab character in the indentation" in line and "spaces" in line
    [line] = problems(tmp_path, "digests:\n  directory: digests\n\tpattern: x\n")
    assert ":3: invalid YAML: a tab character" in line


def test_config_yaml_unclosed_list_and_quote(tmp_path: Path) -> None:
    [line] = problems(tmp_path, "subscribers: [\n  {email: a@example.org\nstate: x\n")
    assert "invalid YAML" in line and "not closed" in line
    [line] = problems(tmp_path, 'state: "ledger\n')
    assert "quote opened at line 1 is never closed" in line


def test_config_cron_extra_field_points_at_cron_line(tmp_path: Path) -> None:
    lines = problems(
        tmp_path,
        "digests: {directory: digests}\nschedule:\n  timezone: UTC\n  cron: '0 7 * * mon,tue,wed mon'\n",
    )
    [line] = lines
    assert ":4: schedule.cron: invalid cron expression '0 7 * * mon,tue,wed mon'" in line
    assert "one field too many" in line and "month" in line
    assert "Invalid month name" not in line and "Error validating" not in line


def test_cron_weekday_numbers_are_crontab_ones() -> None:
    from datetime import datetime

    utc = timezone("UTC")
    tuesday = datetime(2026, 12, 1, 12, tzinfo=utc)
    fire = cron_trigger("0 7 * * 1", utc).get_next_fire_time(None, tuesday)
    assert fire is not None and fire.strftime("%A %d") == "Monday 07"  # crontab 1 is Monday
    for sunday in ("0 7 * * 0", "0 7 * * 7", "0 7 * * sun"):
        fire = cron_trigger(sunday, utc).get_next_fire_time(None, tuesday)
        assert fire is not None and fire.strftime("%A") == "Sunday"
    fire = cron_trigger("0 7 * * 1-5", utc).get_next_fire_time(None, tuesday)
    assert fire is not None and fire.strftime("%A") == "Wednesday"


def test_cron_described_in_plain_words() -> None:
    assert describe_cron("0 7 * * *", "UTC") == "at 07:00 every day (UTC)"
    assert describe_cron("0 7 * * 1", "Europe/Paris") == "at 07:00, only on Monday (Europe/Paris)"
    assert describe_cron("*/5 * * * * *", "UTC") == "every 5 seconds (UTC)"
    for bad, words in (("61 7 * * *", "minute field '61'"), ("0 7 * *", "4 fields"), ("0 7 * 13 *", "month")):
        with pytest.raises(ValueError, match=words):
            cron_trigger(bad, timezone("UTC"))


def test_config_yaml_control_character_named_with_its_line(tmp_path: Path) -> None:
    """A byte YAML cannot hold (a NUL, a control character: a binary file or a file in
    another encoding) is named as such, at its line: not mistaken for a tab."""
    [line] = problems(tmp_path, "digests:\n  directory: digests\nstate: led\x01ger\n")
    assert ":3: invalid YAML: a control character (U+0001)" in line, line
    assert "tab" not in line
    [line] = problems(tmp_path, "\x00\x01\x02binary")
    assert ":1: invalid YAML: a control character (U+0000)" in line, line


def test_config_file_in_another_encoding(tmp_path: Path) -> None:
    """A configuration saved as UTF-16 with its byte-order mark (Windows PowerShell's
    `>` does that) loads as YAML allows; one in Latin-1 is one line naming the byte and
    what to do, without Python's codec wording."""
    (tmp_path / "digests").mkdir()
    path = tmp_path / "config.yaml"
    text = "digests: {directory: digests}\r\nsubscribers:\r\n  - {email: zoe@example.org, name: Zoë, keywords: [x]}\r\n"
    path.write_bytes(text.encode("utf-16"))
    assert [s.name for s in load_config(path).subscribers] == ["Zoë"]
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}:3: not UTF-8 text (byte 0xeb in line 3): save the file as UTF-8"
