"""The first day: `send --to` (a test send), why a subscriber gets nothing
(`send --dry-run`, `status`), and `send --backfill`. Real aiosmtpd, real SQLite, real files."""

from __future__ import annotations

import email
import hashlib
import json
import shutil
import sqlite3
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from newsletter.config import load_config
from newsletter.digest.scan import load_digests
from newsletter.matching.matcher import plan
from tests.conftest import newsletter
from tests.smtpd import EXAMPLE_SUBSCRIBERS, free_port, smtp_server, write_config


def ledger_state(path: Path) -> tuple[dict[str, str], list[Any]]:
    """Bytes of the ledger files and every row of every table."""
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (path, path.with_name(path.name + ".lock"))}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        rows = [(t, conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()) for t in tables]
    finally:
        conn.close()
    return digests, rows


def test_send_to_delivers_subscribers_email_and_changes_no_state(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS)
        shutil.copy2(seeds["001"], tmp_path / "digests")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0  # a ledger with history
        before = ledger_state(tmp_path / "ledger.sqlite3")
        count = len(server.received)
        result = newsletter("send", "-c", str(cfg), "--to", "me@example.net", "--subscriber", "Bob@example.org")
        assert result.exit_code == 0, result.output
        assert "nothing recorded" in result.output
        assert len(server.received) == count + 1
        msg = server.received[-1]
    assert msg.rcpt_tos == ["me@example.net"]
    assert "me@example.net" in str(msg.message["To"])
    config = load_config(cfg)
    [(_, expected)] = plan([config.subscriber("bob@example.org")], load_digests([seeds["001"]]).papers)
    assert expected and f"{len(expected)} new paper" in str(msg.message["Subject"])
    body = msg.data.decode("utf-8", "replace")
    assert "diffusion" in body  # Bob's keywords are in the footer
    assert ledger_state(tmp_path / "ledger.sqlite3") == before


def test_send_to_has_no_view_in_browser_link_to_a_page_never_written(tmp_path: Path, seeds: dict[str, Path]) -> None:
    archive = {"directory": "archive", "url": "https://digest.example.org/archive"}
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, EXAMPLE_SUBSCRIBERS, archive=archive)
        shutil.copy2(seeds["001"], tmp_path / "digests")
        result = newsletter("send", "-c", str(cfg), "--to", "me@example.net", "--subscriber", "bob@example.org")
        assert result.exit_code == 0, result.output
        (msg,) = server.received
    parsed = email.message_from_bytes(msg.data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    text_part, html_part = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    assert "Bob" in text and "unsubscribe" in text.lower()
    assert "View in browser" not in text and "View this email in your browser" not in html
    assert "digest.example.org/archive" not in msg.data.decode("utf-8", "replace")
    assert not (tmp_path / "archive").exists()


def test_send_to_without_subscribers_sends_a_sample(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, [])
        shutil.copy2(seeds["002"], tmp_path / "digests")
        result = newsletter("send", "-c", str(cfg), "--to", "me@example.net")
        assert result.exit_code == 0, result.output
        assert "sample profile" in result.output
        assert [m.rcpt_tos for m in server.received] == [["me@example.net"]]
    assert not (tmp_path / "ledger.sqlite3").exists()  # no ledger was even created


def test_send_to_server_down_is_one_line(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, free_port(), EXAMPLE_SUBSCRIBERS[:1])
    result = newsletter("send", "-c", str(cfg), "--to", "me@example.net")  # one attempt, no retries (testsend)
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "me@example.net" in lines[0] and "connect" in lines[0], result.output
    bad = newsletter("send", "-c", str(cfg), "--to", "not an address")
    assert bad.exit_code == 2 and "--to" in bad.output


def test_send_dry_run_says_why_each_subscriber_gets_nothing(tmp_path: Path, seeds: dict[str, Path]) -> None:
    subs = [
        EXAMPLE_SUBSCRIBERS[0],
        {"email": "zed@example.org", "keywords": ["zymurgy of quasars"]},
    ]
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, subs)
        newsletter("send", "-c", str(cfg))  # both registered: they start with the next digest
        shutil.copy2(seeds["001"], tmp_path / "digests")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        assert server.by_recipient().keys() == {"alice@example.org"}
        shutil.copy2(seeds["002"], tmp_path / "digests")
        (tmp_path / "digests" / "002_copy.txt").write_bytes(seeds["001"].read_bytes() + b"\n")  # same papers again
        cfg_new = write_config(tmp_path, server.port, [*subs, {"email": "new@example.org", "keywords": ["x"]}])
        assert newsletter("send", "-c", str(cfg_new)).exit_code == 0
        assert newsletter("unsubscribe", "-c", str(cfg_new), "alice@example.org").exit_code == 0
        cfg_late = write_config(
            tmp_path, server.port, [*subs, {"email": "new@example.org", "keywords": ["x"]}, EXAMPLE_SUBSCRIBERS[1]]
        )
        result = newsletter("send", "-c", str(cfg_late), "--dry-run")
    assert result.exit_code == 0, result.output
    said = {ln.split(":", 1)[0]: ln for ln in result.output.splitlines() if "@" in ln.split(":", 1)[0]}
    assert "unsubscribed" in said["alice@example.org"]
    assert "no new digest" in said["zed@example.org"]
    assert "new" in said["bob@example.org"] and "--backfill" in said["bob@example.org"]


def test_send_dry_run_nothing_matched_and_already_sent(tmp_path: Path, seeds: dict[str, Path]) -> None:
    subs = [
        {"email": "alice@example.org", "keywords": ["self-supervised"], "max_papers": 100},
        {"email": "zed@example.org", "keywords": ["zymurgy of quasars"]},
    ]
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, subs)
        newsletter("send", "-c", str(cfg))
        shutil.copy2(seeds["001"], tmp_path / "digests")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        # the same papers again in a new file: nothing new for alice; zed still matches nothing
        (tmp_path / "digests" / "001_again.txt").write_bytes(seeds["001"].read_bytes() + b"\n")
        shutil.copystat(seeds["001"], tmp_path / "digests" / "001_again.txt")
        result = newsletter("send", "-c", str(cfg), "--dry-run")
    said = {ln.split(":", 1)[0]: ln for ln in result.output.splitlines() if "@" in ln.split(":", 1)[0]}
    assert "already sent" in said["alice@example.org"], result.output
    assert "nothing matched in 62 new papers" in said["zed@example.org"], result.output


def test_send_backfill_gives_a_new_subscriber_the_latest_digest(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, [EXAMPLE_SUBSCRIBERS[0]])
        shutil.copy2(seeds["000"], tmp_path / "digests")
        newsletter("send", "-c", str(cfg))
        shutil.copy2(seeds["001"], tmp_path / "digests")
        newsletter("send", "-c", str(cfg))
        alice_got = len(server.received)
        cfg2 = write_config(tmp_path, server.port, [EXAMPLE_SUBSCRIBERS[0], EXAMPLE_SUBSCRIBERS[1]])
        plain = newsletter("send", "-c", str(cfg2), "--dry-run")
        assert "bob@example.org: nothing: new" in plain.output, plain.output
        dry = newsletter("send", "-c", str(cfg2), "--dry-run", "--backfill")
        assert "backfill: bob@example.org would get the latest digest" in dry.output, dry.output
        assert "bob@example.org: " in dry.output and "bob@example.org: nothing" not in dry.output
        result = newsletter("send", "-c", str(cfg2), "--backfill")
        assert result.exit_code == 0, result.output
        assert "backfill: bob@example.org" in result.output
        assert "alice@example.org" not in result.output.split("backfill:")[-1].splitlines()[0]
        got = server.by_recipient()
    assert len(got["alice@example.org"]) == alice_got  # alice had hers: nothing twice
    [bob] = got["bob@example.org"]
    config = load_config(cfg2)
    [(_, expected)] = plan([config.subscriber("bob@example.org")], load_digests([seeds["001"]]).papers)
    assert f"{len(expected)} new paper" in str(bob.message["Subject"])  # the latest digest: 001, not 000


def test_status_says_why_subscribers_get_nothing(tmp_path: Path, seeds: dict[str, Path]) -> None:
    subs = [
        EXAMPLE_SUBSCRIBERS[0],
        {"email": "zed@example.org", "keywords": ["zymurgy of quasars"]},
        EXAMPLE_SUBSCRIBERS[2],  # chen: own weekly schedule
    ]
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, subs)
        newsletter("send", "-c", str(cfg))
        shutil.copy2(seeds["001"], tmp_path / "digests")
        newsletter("send", "-c", str(cfg))
        cfg2 = write_config(tmp_path, server.port, [*subs, EXAMPLE_SUBSCRIBERS[1]])
        newsletter("unsubscribe", "-c", str(cfg2), "alice@example.org")
        result = newsletter("status", "-c", str(cfg2), "--json")
        text = newsletter("status", "-c", str(cfg2))
    data = json.loads(result.output)
    codes = {n["email"]: n["code"] for n in data["nothing"]}
    assert codes == {
        "alice@example.org": "suppressed",
        "zed@example.org": "no-match",
        "chen@example.org": "schedule",
        "bob@example.org": "new",
    }
    assert "only on Monday" in text.output and "not due" in text.output
    assert "zed@example.org: nothing matched in the latest digest (001_" in text.output


def test_subject_singular_for_one_paper(tmp_path: Path, seeds: dict[str, Path]) -> None:
    from newsletter.render import Renderer

    cfg = write_config(tmp_path, 2525, [{"email": "one@example.org", "keywords": ["title:ProDepth"]}])
    config = load_config(cfg)
    [(sub, matches)] = plan(config.subscribers, load_digests([seeds["001"]]).papers)
    assert len(matches) == 1
    renderer = Renderer(config)
    email = renderer.render(sub, matches, message_id=renderer.message_id(sub, matches))
    assert email.subject == "1 new paper for you"
    assert renderer.subject(sub, 2, datetime.now(UTC)) == "2 new papers for you"


def test_status_after_a_pass_without_new_digest_agrees_with_dry_run(tmp_path: Path, seeds: dict[str, Path]) -> None:
    subs = [s for s in EXAMPLE_SUBSCRIBERS if not s.get("schedule")]
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, subs)
        shutil.copy2(seeds["001"], tmp_path / "digests")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        assert {m.rcpt_tos[0] for m in server.received} == {s["email"] for s in subs}
        assert newsletter("send", "-c", str(cfg)).exit_code == 0  # a pass with no new digest
        dry = newsletter("send", "-c", str(cfg), "--dry-run")
        status = newsletter("status", "-c", str(cfg), "--json")
        text = newsletter("status", "-c", str(cfg))
    said = {
        ln.split(": nothing: ", 1)[0]: ln.split(": nothing: ", 1)[1]
        for ln in dry.output.splitlines()
        if ": nothing: " in ln
    }
    assert set(said) == {s["email"] for s in subs}, dry.output
    nothing = {n["email"]: n for n in json.loads(status.output)["nothing"]}
    assert set(nothing) == set(said)  # the same people, for the same reason
    assert all(n["code"] == "no-digest" and n["reason"] == said[e] for e, n in nothing.items())
    assert f"getting nothing now: {len(subs)}" in text.output


def test_status_shows_since_and_unsubscribed_dates_in_the_schedules_zone(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    """Every date the tool shows is in ``schedule.timezone`` (UTC beside it): "new (since
    ...)" and "unsubscribed ... on ..." said UTC alone while the next run said IST."""
    import re

    subs = [EXAMPLE_SUBSCRIBERS[0]]
    schedule = {"cron": "0 7 * * *", "timezone": "Asia/Kolkata"}
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, subs, schedule=schedule)
        newsletter("send", "-c", str(cfg))
        shutil.copy2(seeds["001"], tmp_path / "digests")
        newsletter("send", "-c", str(cfg))
        newsletter("unsubscribe", "-c", str(cfg), "alice@example.org")
        cfg2 = write_config(tmp_path, server.port, [*subs, EXAMPLE_SUBSCRIBERS[1]], schedule=schedule)
        newsletter("send", "-c", str(cfg2))  # bob registered: new, starts with the next digest
        text = newsletter("status", "-c", str(cfg2)).output
        dry = newsletter("send", "-c", str(cfg2), "--dry-run").output
    shown = re.compile(r"(\d{4}-\d\d-\d\d) (\d\d):(\d\d) IST \((\d\d):(\d\d) UTC\)")
    for output in (text, dry):
        said = {ln.split(":", 1)[0].strip(): ln for ln in output.splitlines() if "@example.org:" in ln}
        for address, words in (("bob@example.org", "new (since "), ("alice@example.org", "unsubscribed, skipped")):
            line = said[address]
            assert words in line, output
            found = shown.search(line)
            assert found is not None, line
            local = int(found[2]) * 60 + int(found[3])
            utc = int(found[4]) * 60 + int(found[5])
            assert (local - utc) % (24 * 60) == 5 * 60 + 30, line  # the same moment, 5:30 apart


def test_status_gives_a_reason_shared_by_many_one_line(tmp_path: Path, seeds: dict[str, Path]) -> None:
    """After a morning's pass nearly everybody has "no new digest since its last email":
    with 20,000 subscribers `status` gave 20,000 such lines (50 shown). A reason shared by
    more than three is one line naming the first three and how many more; the others
    keep their own line, and `--json` still lists everyone."""
    subs = [{"email": f"reader{i}@example.org", "keywords": ["self-supervised"]} for i in range(6)]
    subs.append({"email": "zed@example.org", "keywords": ["zymurgy of quasars"]})
    with smtp_server() as server:
        cfg = write_config(tmp_path, server.port, subs)
        newsletter("send", "-c", str(cfg))  # registered: they start with the next digest
        shutil.copy2(seeds["001"], tmp_path / "digests")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0
        text = newsletter("status", "-c", str(cfg)).output
        data = json.loads(newsletter("status", "-c", str(cfg), "--json").output)
    assert len(data["nothing"]) == 7
    block = text[text.index("getting nothing now: 7") :].splitlines()[1:3]
    assert block[0].strip() == (
        "reader0@example.org, reader1@example.org, reader2@example.org and 3 more: no new digest since its last email"
    )
    assert block[1].strip().startswith("zed@example.org: nothing matched in the latest digest (001_")
    assert "reader4@example.org" not in text
