"""`newsletter init`: a starter configuration that `check` accepts (SPEC 7)."""

from __future__ import annotations

from pathlib import Path

from newsletter.config import load_config
from tests.conftest import newsletter


def test_init_writes_config_and_folders_that_check_accepts(tmp_path: Path) -> None:
    target = tmp_path / "team"
    result = newsletter("init", str(target))
    assert result.exit_code == 0, result.output
    assert (target / "digests").is_dir() and (target / "subscribers").is_dir()
    text = (target / "config.yaml").read_text(encoding="utf-8")
    assert "# " in text and "subscribers_dir: subscribers" in text
    check = newsletter("check", "-c", str(target / "config.yaml"))
    assert check.exit_code == 0, check.output
    assert "no subscribers yet" in check.output  # a warning, not an error
    assert "at 07:00 every day (UTC)" in check.output
    config = load_config(target / "config.yaml")
    assert config.digests.directory == (target / "digests").resolve()
    assert config.subscribers_dir == (target / "subscribers").resolve()


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("state: mine.sqlite3\n", encoding="utf-8")
    result = newsletter("init", str(tmp_path))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "already exists" in lines[0] and "--force" in lines[0]
    assert (tmp_path / "config.yaml").read_text(encoding="utf-8") == "state: mine.sqlite3\n"
    forced = newsletter("init", str(tmp_path), "--force")
    assert forced.exit_code == 0, forced.output
    assert "subscribers_dir: subscribers" in (tmp_path / "config.yaml").read_text(encoding="utf-8")


def test_init_starter_text_is_the_shipped_resource(tmp_path: Path) -> None:
    from newsletter.app.starter import starter_text

    newsletter("init", str(tmp_path))
    assert (tmp_path / "config.yaml").read_text(encoding="utf-8") == starter_text()
    # only what a first user needs is set; the rest is one comment away
    active = [ln for ln in starter_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(active) <= 20
    assert "# password_env:" in starter_text() and "# subject:" in starter_text()


def test_init_folder_in_the_way_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "digests").write_text("not a folder", encoding="utf-8")
    result = newsletter("init", str(tmp_path))
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "digests" in result.output
    assert not (tmp_path / "config.yaml").exists()


def test_init_below_a_file_is_one_line_exit_2(tmp_path: Path) -> None:
    """`init DIR` where a file stands in DIR's path: one line naming the path (it was a
    NotADirectoryError traceback)."""
    (tmp_path / "notes.txt").write_text("a file", encoding="utf-8")
    target = tmp_path / "notes.txt" / "team"
    result = newsletter("init", str(target))
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"error: {target}") and line.endswith(
        ": cannot write the starter configuration there (Not a directory)"
    )


def test_init_five_minute_path_init_add_preview_send(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """What the README walks through: init -> subscribers add -> preview -> send --to -> send."""
    import shutil

    import yaml

    from tests.smtpd import smtp_server

    with smtp_server() as server:
        assert newsletter("init", str(tmp_path)).exit_code == 0
        cfg = tmp_path / "config.yaml"
        text = cfg.read_text(encoding="utf-8").replace("port: 1025", f"port: {server.port}")
        cfg.write_text(text, encoding="utf-8")
        yaml.safe_load(text)
        added = newsletter("subscribers", "-c", str(cfg), "add", "ana@example.org", "--name", "Ana",
                           "--keyword", "self-supervised", "--keyword", "contrastive learning")  # fmt: skip
        assert added.exit_code == 0, added.output
        shutil.copy2(seeds["002"], tmp_path / "digests")
        preview = newsletter("preview", "-c", str(cfg), "--out", str(tmp_path / "previews"))
        assert preview.exit_code == 0, preview.output
        assert (tmp_path / "previews" / "ana@example.org.html").is_file()
        trial = newsletter("send", "-c", str(cfg), "--to", "me@example.net")
        assert trial.exit_code == 0, trial.output
        dry = newsletter("send", "-c", str(cfg), "--dry-run")
        assert "ana@example.org: " in dry.output, dry.output
        first = newsletter("send", "-c", str(cfg))
        assert first.exit_code == 0, first.output
        got = server.by_recipient()
    assert list(got) == ["me@example.net", "ana@example.org"]
    subject = str(got["ana@example.org"][0].message["Subject"])
    assert subject.endswith("new papers for you") or subject == "1 new paper for you"


def test_init_example_writes_sample_digests_profile_and_reference(tmp_path: Path) -> None:
    import yaml

    from newsletter.digest import parse_digest

    target = tmp_path / "team"
    result = newsletter("init", str(target), "--example")
    assert result.exit_code == 0, result.output
    seeds = sorted((Path(__file__).resolve().parent.parent / "seeds").glob("*.txt"))
    written = sorted((target / "digests").iterdir())
    assert [p.name for p in written] == [p.name for p in seeds]
    assert all(p.read_bytes() == s.read_bytes() for p, s in zip(written, seeds, strict=True))
    assert all(parse_digest(p.read_bytes(), source=str(p)).papers for p in written)
    reference = (Path(__file__).resolve().parent.parent / "config.example.yaml").read_text(encoding="utf-8")
    assert (target / "config.example.yaml").read_text(encoding="utf-8") == reference
    first = yaml.safe_load(reference)["subscribers"][0]
    config = load_config(target / "config.yaml")
    (sub,) = config.subscribers
    assert sub.email == first["email"] and list(sub.keywords) == first["keywords"]
    assert Path(sub.source).parent == target / "subscribers"
    check = newsletter("check", "-c", str(target / "config.yaml"))
    assert check.exit_code == 0 and "no subscribers yet" not in check.output, check.output
    match = newsletter("match", "-c", str(target / "config.yaml"), "--json")
    assert match.exit_code == 0
    assert __import__("json").loads(match.output)["subscribers"][0]["papers"]  # something to show at once
    dry = newsletter("send", "-c", str(target / "config.yaml"), "--dry-run")
    assert "not settled yet" not in dry.output and f"would pick up {target / 'digests'}" in dry.output
    # run again (with --force for the config): what is there stays, nothing is doubled
    (written[0]).write_text("my own edit", encoding="utf-8")
    again = newsletter("init", str(target), "--example", "--force")
    assert again.exit_code == 0, again.output
    assert written[0].read_text(encoding="utf-8") == "my own edit"
    assert len(load_config(target / "config.yaml").subscribers) == 1
