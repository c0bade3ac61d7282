"""The bounce mailbox is untrusted input (SPEC 6c): whatever a message holds, it never
stops a pass. A message that cannot be read (malformed headers or MIME, nested too
deep, too large, not a regular file) is moved into the quarantine with one line and
never read again; memory stays bounded whatever the message size; a mailbox that
cannot be reached or drops in the middle of a FETCH is one line and `send` delivers
all the same. Forged reports suppress nobody, and `status` shows why they were
ignored. A real Maildir, a real Dovecot, a misbehaving IMAP server of our own
(tests/imapfaulty.py), real aiosmtpd; the report reader fuzzed with hypothesis."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.bounces.dsn import MAX_REPORT_BYTES, Report, Unreadable, UnsubscribeRequest, read_message
from tests.conftest import newsletter, settled_copy
from tests.imapfaulty import ImapFaults, faulty_imap
from tests.smtpd import EXAMPLE_SUBSCRIBERS, Received, SmtpServer, smtp_server, write_config
from tests.test_bounces_process import HUMAN, bounce_setup, drop, dsn

EVERYONE = ["alice@example.org", "bob@example.org", "chen@example.org"]
REPORT_HEAD = (
    b"From: MAILER-DAEMON@mx.example.net\r\nTo: digest@example.org\r\nSubject: Undelivered Mail\r\n"
    b"Message-ID: <poison-%d@mx.example.net>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="b0"\r\n\r\n'
)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args], capture_output=True, text=True, timeout=120, env=env
    )


MEASURED = """
import re, sys
from pathlib import Path
from newsletter.cli import main
sys.argv = ["newsletter", *sys.argv[1:]]
try:
    main()
finally:
    status = Path("/proc/self/status").read_text()
    print("peak-rss-kb", re.search(r"VmHWM:\\s*(\\d+)", status).group(1), file=sys.stderr)
"""


def run_measured(*args: str) -> subprocess.CompletedProcess[str]:
    """:func:`run`, with the process's own peak memory as a last stderr line
    ``peak-rss-kb N``: VmHWM, the high-water mark of its own address space (getrusage's
    ru_maxrss would keep what the forking test process held before the exec)."""
    return subprocess.run([sys.executable, "-c", MEASURED, *args], capture_output=True, text=True, timeout=120)


def nested(depth: int) -> bytes:
    """A report whose parts are nested ``depth`` multiparts deep (the stdlib parser
    recurses once per level: RecursionError at ~1,000)."""
    parts = b"".join(
        b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i, i + 1) for i in range(depth)
    )
    return (REPORT_HEAD % 1) + parts


def huge_report(path: Path, megabytes: int) -> None:
    """A report of ``megabytes`` MB (a "returned message" of junk), written in chunks."""
    with path.open("wb") as out:
        out.write(REPORT_HEAD % 2 + b"--b0\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\n")
        line = b"x" * 1022 + b"\r\n"
        for _ in range(megabytes * 1024):
            out.write(line)
        out.write(b"--b0--\r\n")


def poison(maildir: Path) -> dict[str, str]:
    """Messages that cannot be read, by file name, with the reason each is quarantined for."""
    new = maildir / "new"
    drop(maildir, "1.nested", nested(5000))
    huge_report(new / "2.huge", 50)
    os.mkfifo(new / "3.fifo")  # a reader that opened it plainly would wait forever
    (new / "4.dir").mkdir()
    os.symlink("/dev/zero", new / "5.link")
    drop(maildir, "6.noheaders", b"\x00\x01\x02 not mail at all\r\n\r\nbody")
    drop(maildir, "7.noboundary", (REPORT_HEAD % 7).replace(b'; boundary="b0"', b"") + b"text\r\n")
    report_without_status = REPORT_HEAD % 8 + b"--b0\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b0--\r\n"
    drop(maildir, "8.nostatus", report_without_status)
    return {
        "1.nested": "without a message/delivery-status part",
        "2.huge": "larger than 4 MiB",
        "3.fifo": "not a regular file (a FIFO)",
        "4.dir": "not a regular file (a directory)",
        "5.link": "cannot be opened: a symbolic link",
        "6.noheaders": "no header fields",
        "7.noboundary": "without a usable MIME boundary",
        "8.nostatus": "without a message/delivery-status part",
    }


def mailed_once(
    tmp_path: Path, server: SmtpServer, seeds: dict[str, Path], **bounces: Any
) -> tuple[Path, Path, dict[str, list[Received]]]:
    """A Maildir bounce set-up whose subscribers got one email each: (config, Maildir, mail by recipient)."""
    cfg = bounce_setup(tmp_path, server.port, **bounces)
    settled_copy(seeds["000"], tmp_path / "digests")
    assert newsletter("send", "-c", str(cfg)).exit_code == 0  # the set-up, in this process
    return cfg, tmp_path / "bounces", server.by_recipient()


# --------------------------------------------------------------------------- a real Maildir


def test_bounce_maildir_io_error_in_one_message_body_quarantines_it_and_reads_on(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fails under one message's body (EIO past its headers) costs that message,
    not the mailbox pass: it is quarantined with one line, the report after it counts.
    (The I/O error is injected: a failing block device is not something a test can make.)"""
    from newsletter.bounces import mailbox

    with smtp_server() as server:
        cfg, maildir, got = mailed_once(tmp_path, server, seeds)
        bob = got["bob@example.org"][0]
        drop(maildir, "1.bad-sector", dsn(got["alice@example.org"][0].data, "alice@example.org"))
        drop(maildir, "2.report", dsn(bob.data, "bob@example.org"))
        plain_read = mailbox._read

        def failing_read(fd: int, limit: int) -> bytes:
            if os.readlink(f"/proc/self/fd/{fd}").endswith("1.bad-sector"):
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return plain_read(fd, limit)

        monkeypatch.setattr(mailbox, "_read", failing_read)
        result = newsletter("bounces", "-c", str(cfg))

        assert result.exit_code == 0, result.output
        assert "suppressed bob@example.org: 1 hard bounce" in result.stdout
        assert "1 quarantined (cannot be read)" in result.stdout
        assert [p.name.partition(":2,")[0] for p in (maildir / ".quarantine" / "cur").iterdir()] == ["1.bad-sector"]
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").stdout)
        (q,) = status["quarantined"]
        assert Path(q["message"]).name == "1.bad-sector" and "Input/output error" in q["reason"]
        assert status["suppressed"] == 1


def test_bounce_mailbox_poison_is_quarantined_once_and_the_morning_goes_out(
    tmp_path: Path, seeds: dict[str, Path]
) -> None:
    with smtp_server() as server:
        cfg, maildir, got = mailed_once(tmp_path, server, seeds)
        bob = got["bob@example.org"][0]
        expected = poison(maildir)
        angle = b"From: x@example.net\r\nTo: unsubscribe@example.org, <\r\nSubject: hi\r\n\r\nhi\r\n"
        drop(maildir, "9.angle", angle)  # a traceback in the stdlib's strict header parser before
        big_reply = maildir / "new" / "10.big-reply"
        with big_reply.open("wb") as out:  # 50 MB of a reader's reply: not ours, only its headers are read
            out.write(HUMAN.split(b"\r\n\r\n")[0] + b"\r\n\r\n")
            for _ in range(50):
                out.write(b"y" * (1024 * 1024))
        drop(maildir, "11.report", dsn(bob.data, "bob@example.org"))  # a genuine report, after all of them

        result = run_measured("bounces", "-c", str(cfg))

        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert "suppressed bob@example.org: 1 hard bounce" in result.stdout
        assert f"{len(expected)} quarantined (cannot be read)" in result.stdout
        assert "2 left alone" in result.stdout  # the odd To: line and the big reply, both untouched
        for name, reason in expected.items():
            (line,) = [x for x in result.stderr.splitlines() if f"/new/{name}: quarantined" in x]
            assert reason in line, (name, line)
        quarantined = {p.name.partition(":2,")[0] for p in (maildir / ".quarantine" / "cur").iterdir()}
        assert quarantined == set(expected)
        assert sorted(p.name for p in (maildir / "new").iterdir()) == ["10.big-reply", "9.angle"]
        # memory stays bounded: the 50 MB report and the 50 MB reply are never read whole
        # (before: a 52 MB report took 515 MB, now ~64 MB); a resource, not a clock
        (peak,) = [int(x.split()[-1]) for x in result.stderr.splitlines() if x.startswith("peak-rss-kb ")]
        assert peak < 150 * 1024, peak

        status = json.loads(newsletter("status", "-c", str(cfg), "--json").stdout)
        reasons = {Path(q["message"]).name: q["reason"] for q in status["quarantined"]}
        assert set(reasons) == set(expected) and all(expected[n] in reasons[n] for n in expected)
        assert "quarantined (cannot be read): 8" in newsletter("status", "-c", str(cfg)).stdout

        # never read again; the next pass delivers to everyone who is still mailed
        again = run("bounces", "-c", str(cfg))
        assert "0 messages, 0 bounce reports" in again.stdout and "quarantined" not in again.stdout
        assert "(2 more from earlier passes, not read again)" in again.stdout  # the two left alone
        settled_copy(seeds["001"], tmp_path / "digests")
        before_send = len(server.received)
        sent = run("send", "-c", str(cfg))
        assert sent.returncode == 0, sent.stderr
        new = sorted(r for m in server.received[before_send:] for r in m.rcpt_tos)
        assert new == ["alice@example.org", "chen@example.org"]  # bob bounced for real


def test_bounce_mailbox_poison_before_send_never_stops_delivery(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg = bounce_setup(tmp_path, server.port)
        maildir = tmp_path / "bounces"
        poison(maildir)
        settled_copy(seeds["001"], tmp_path / "digests")
        result = run("send", "-c", str(cfg))
        assert result.returncode == 0, result.stderr
        assert sorted(server.by_recipient()) == EVERYONE
        assert result.stderr.count("quarantined, never read again") == 8  # one warning each, quiet otherwise
        assert not list((maildir / "new").iterdir())


# --------------------------------------------------------------------------- forged reports


def test_bounce_forged_reports_suppress_nobody_and_status_says_why(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg, maildir, got = mailed_once(tmp_path, server, seeds, verp=True)
        alice, bob = got["alice@example.org"][0], got["bob@example.org"][0]
        # to the plain From address, no VERP tag, even with alice's real Message-ID
        drop(maildir, "1.plain", dsn(alice.data, "alice@example.org", report_id="<forged-1@evil>"))
        # to bob's VERP address, naming bob and chen
        two = dsn(bob.data, "bob@example.org", report_id="<forged-2@evil>").replace(
            b"To: digest@example.org\r\n", f"To: {bob.mail_from}\r\n".encode()
        )
        two = two.replace(
            b"Final-Recipient: rfc822; bob@example.org",
            b"Final-Recipient: rfc822; chen@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
            b"Final-Recipient: rfc822; bob@example.org",
        )
        drop(maildir, "2.two", two)
        # to bob's VERP address, but naming alice
        other = dsn(None, "alice@example.org", report_id="<forged-3@evil>").replace(
            b"To: digest@example.org\r\n", f"To: {bob.mail_from}\r\n".encode()
        )
        drop(maildir, "3.other", other)

        result = run("bounces", "-c", str(cfg))

        assert result.returncode == 0, result.stderr
        assert "0 bounces recorded, 3 ignored" in result.stdout
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").stdout)
        assert status["bounced"] == [] and status["suppressed"] == 0
        why = {r["report_id"]: r for r in status["ignored_reports"]}
        assert "did not come back to the VERP address" in why["<forged-1@evil>"]["reason"]
        assert "several of our subscribers (bob@example.org, chen@example.org)" in why["<forged-2@evil>"]["reason"]
        assert why["<forged-2@evil>"]["names"] == ["chen@example.org", "bob@example.org"]
        assert (
            "names alice@example.org, but came back to the VERP address of our delivery to bob@example.org"
            in (why["<forged-3@evil>"]["reason"])
        )
        text = newsletter("status", "-c", str(cfg)).stdout
        assert "bounce reports ignored: 3" in text and "<forged-2@evil>" in text
        # every report is moved aside all the same, and read once
        assert not list((maildir / "new").iterdir())
        assert "0 messages" in run("bounces", "-c", str(cfg)).stdout

        # the genuine one still counts: bob's VERP address, bob named
        real = dsn(None, "bob@example.org", report_id="<real@mx>").replace(
            b"To: digest@example.org\r\n", f"To: {bob.mail_from}\r\n".encode()
        )
        drop(maildir, "4.real", real)
        assert "suppressed bob@example.org: 1 hard bounce" in run("bounces", "-c", str(cfg)).stdout


def test_bounce_without_verp_needs_our_message_id_to_that_very_address(tmp_path: Path, seeds: dict[str, Path]) -> None:
    with smtp_server() as server:
        cfg, maildir, got = mailed_once(tmp_path, server, seeds)
        bob = got["bob@example.org"][0]
        drop(maildir, "1.noid", dsn(None, "alice@example.org", report_id="<a@evil>"))  # no returned headers
        drop(maildir, "2.bobs-id", dsn(bob.data, "alice@example.org", report_id="<b@evil>"))  # bob's id, alice named
        foreign = b"Message-ID: <not-ours@example.net>\r\nFrom: x@example.net\r\n\r\nhi"
        drop(maildir, "3.foreign", dsn(foreign, "alice@example.org", report_id="<c@evil>"))
        drop(maildir, "4.real", dsn(bob.data, "bob@example.org", report_id="<d@mx>"))

        result = run("bounces", "-c", str(cfg))

        assert "1 bounce recorded, 3 ignored" in result.stdout
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").stdout)
        assert [b["email"] for b in status["bounced"]] == ["bob@example.org"]
        why = {r["report_id"]: r["reason"] for r in status["ignored_reports"]}
        assert "no Message-ID of ours" in why["<a@evil>"]
        assert "our delivery to bob@example.org, but it names alice@example.org" in why["<b@evil>"]
        assert "<not-ours@example.net> is no delivery of ours" in why["<c@evil>"]


def test_bounce_message_id_cannot_be_computed_from_public_facts_to_forge_a_report(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # without VERP a report counts when it returns the Message-ID of our delivery to the
    # address it names. Everything else about a delivery is public or guessable: the
    # address, the day's digest, the papers a known profile matches (`newsletter
    # match`), the delivery's number. So the Message-ID must carry something secret,
    # else anyone who can work those out suppresses the subscriber with one forged mail.
    from datetime import date

    from newsletter.render import message_id_for

    monkeypatch.setenv("TEST_UNSUB_SECRET", "a-secret-nobody-outside-has")
    with smtp_server() as server:
        cfg, maildir, got = mailed_once(tmp_path, server, seeds)
        bob = got["bob@example.org"][0]
        matched = json.loads(newsletter("match", "-c", str(cfg), "--subscriber", "bob@example.org", "--json").stdout)
        ids = [p["id"] for p in matched["subscribers"][0]["papers"]]
        for seq in range(1, 4):  # the attacker's guesses at the unkeyed id: delivery 1, 2, 3 of today
            guess = message_id_for("bob@example.org", ids, domain="example.org", salt=f"{seq}:{date.today()}")
            head = f"Message-ID: {guess}\r\nFrom: Paper Digest <digest@example.org>\r\nTo: bob@example.org\r\n\r\n"
            drop(maildir, f"{seq}.forged", dsn(head.encode(), "bob@example.org", report_id=f"<forged-{seq}@evil>"))

        result = run("bounces", "-c", str(cfg))

        assert "0 bounces recorded, 3 ignored" in result.stdout, result.stdout
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").stdout)
        assert status["bounced"] == []
        # the real report (the relay returns the real headers) still counts
        drop(maildir, "9.real", dsn(bob.data, "bob@example.org", report_id="<real@mx>"))
        assert "1 bounce recorded" in run("bounces", "-c", str(cfg)).stdout


# --------------------------------------------------------------------------- IMAP: real Dovecot, a misbehaving server


def imap_config(tmp_path: Path, smtp_port: int, imap_port: int, **imap: Any) -> Path:
    settings = {
        "host": "127.0.0.1",
        "port": imap_port,
        "security": "none",
        "username": "bounces",
        "password_env": "TEST_IMAP_PASSWORD",
        "timeout": 5,
        **imap,
    }
    return write_config(tmp_path, smtp_port, EXAMPLE_SUBSCRIBERS, bounces={"imap": settings})


@pytest.mark.slow
def test_bounce_imap_poison_quarantined_in_a_folder_of_real_dovecot(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import imaplib
    import ssl

    from tests.imapd import dovecot

    with dovecot() as imapd, smtp_server() as server:
        monkeypatch.setenv("TEST_IMAP_PASSWORD", imapd.password)
        imap = {"host": imapd.host, "port": imapd.port, "security": "tls", "ca_file": str(imapd.cert)}
        cfg = write_config(
            tmp_path,
            server.port,
            EXAMPLE_SUBSCRIBERS,
            bounces={"imap": {**imap, "username": imapd.user, "password_env": "TEST_IMAP_PASSWORD"}},
        )
        settled_copy(seeds["000"], tmp_path / "digests")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0  # the set-up, in this process
        bob = server.by_recipient()["bob@example.org"][0]
        client = imaplib.IMAP4_SSL(
            imapd.host, imapd.port, ssl_context=ssl.create_default_context(cafile=str(imapd.cert))
        )
        client.login(imapd.user, imapd.password)
        for message in (nested(3000), dsn(bob.data, "bob@example.org"), HUMAN, REPORT_HEAD % 5 + b"no parts\r\n"):
            assert client.append("INBOX", None, None, message)[0] == "OK"

        result = run("bounces", "-c", str(cfg))

        assert result.returncode == 0, result.stderr
        assert "suppressed bob@example.org: 1 hard bounce" in result.stdout
        assert "2 quarantined" in result.stdout and "1 left alone" in result.stdout

        def count(folder: str) -> int:
            status, data = client.select(f'"{folder}"', readonly=True)
            assert status == "OK", data
            return int(data[0] or 0)

        assert (count("INBOX"), count("Processed"), count("Quarantine")) == (1, 1, 2)
        _, flags = client.fetch("1", "(FLAGS)")
        assert b"\\Seen" not in flags[0]  # the reader's mail stays unread (headers peeked only)
        client.logout()
        again = run("bounces", "-c", str(cfg))
        assert "0 messages, 0 bounce reports" in again.stdout and "quarantined" not in again.stdout
        assert "(1 more from earlier passes, not read again)" in again.stdout


@pytest.mark.parametrize("cut", [1, 2], ids=["fetching-headers", "fetching-the-report"])
def test_bounce_imap_server_dropping_mid_fetch_is_one_line_and_send_delivers(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch, cut: int
) -> None:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "whatever")
    with smtp_server() as server:
        # the first message is a report (two FETCHes: headers, then the report), the next one a reply
        messages = [dsn(None, "bob@example.org"), HUMAN]
        with faulty_imap(messages, ImapFaults(drop_fetch=cut)) as imap:
            cfg = imap_config(tmp_path, server.port, imap.port)
            settled_copy(seeds["001"], tmp_path / "digests")
            result = run("bounces", "-c", str(cfg))
            assert result.returncode == 1
            (line,) = result.stderr.splitlines()
            assert line.startswith("error: IMAP 127.0.0.1:") and "connection lost during FETCH" in line

            imap.faults.drop_fetch = imap.fetches + cut  # the same cut, in send's own session
            sent = run("send", "-c", str(cfg))
        assert sent.returncode == 0, sent.stderr
        assert "bounce mailbox not read: IMAP 127.0.0.1:" in sent.stderr and "Traceback" not in sent.stderr
        assert sorted(server.by_recipient()) == EVERYONE  # the new digest went out


def test_bounce_imap_drop_after_a_report_keeps_what_was_recorded(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "whatever")
    with smtp_server() as server, faulty_imap([]) as imap:
        cfg = imap_config(tmp_path, server.port, imap.port)
        settled_copy(seeds["000"], tmp_path / "digests")
        assert newsletter("send", "-c", str(cfg)).exit_code == 0  # the set-up, in this process
        bob = server.by_recipient()["bob@example.org"][0]
        imap.add(dsn(bob.data, "bob@example.org"))
        imap.add(HUMAN)
        imap.faults.drop_fetch = imap.fetches + 3  # the report's headers, the report, then the reply's headers: cut

        result = run("bounces", "-c", str(cfg))

        assert result.returncode == 1 and "connection lost during FETCH" in result.stderr
        assert "Traceback" not in result.stderr
        status = json.loads(newsletter("status", "-c", str(cfg), "--json").stdout)
        assert [b["email"] for b in status["bounced"]] == ["bob@example.org"]  # recorded before the drop
        assert imap.uids("Processed") and status["quarantined"] == []  # a dropped connection quarantines nothing


def test_bounce_imap_server_that_never_answers_times_out_with_one_line(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "whatever")
    with smtp_server() as server, faulty_imap([HUMAN], ImapFaults(hang_fetch=1)) as imap:
        cfg = imap_config(tmp_path, server.port, imap.port, timeout=1)
        settled_copy(seeds["001"], tmp_path / "digests")
        sent = run("send", "-c", str(cfg))
        assert sent.returncode == 0, sent.stderr
        assert "no answer to FETCH within 1 s (bounces.imap.timeout)" in sent.stderr
        assert sorted(server.by_recipient()) == EVERYONE


def test_bounce_imap_server_dripping_its_answer_is_cut_off_and_send_delivers(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # each byte of the FETCH answer comes within bounces.imap.timeout (1 s), the whole
    # answer would take minutes: the command has 1 s as a whole, the pass goes on
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "whatever")
    with smtp_server() as server, faulty_imap([HUMAN], ImapFaults(drip_fetch=1)) as imap:
        cfg = imap_config(tmp_path, server.port, imap.port, timeout=1)
        settled_copy(seeds["001"], tmp_path / "digests")
        sent = run("send", "-c", str(cfg))
        assert sent.returncode == 0, sent.stderr
        assert "no answer to FETCH within 1 s (bounces.imap.timeout)" in sent.stderr
        assert sorted(server.by_recipient()) == EVERYONE
        assert 0 < imap.dripped < imap.drip_total // 2  # cut off, not waited out


def test_bounce_imap_server_announcing_a_huge_literal_is_refused_before_it_is_read(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the header fetch asks for at most 256 KiB; a server that answers with a 1 GiB
    # literal would have imaplib read it all into memory: refused at its announcement
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "whatever")
    with smtp_server() as server, faulty_imap([HUMAN], ImapFaults(huge_literal=1)) as imap:
        cfg = imap_config(tmp_path, server.port, imap.port, timeout=5)
        settled_copy(seeds["001"], tmp_path / "digests")
        result = run("bounces", "-c", str(cfg))
        assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr
        assert "the server sent a literal of 1,073,741,824 bytes" in result.stderr
        sent = run("send", "-c", str(cfg))
        assert sent.returncode == 0 and "bounce mailbox not read" in sent.stderr
        assert sorted(server.by_recipient()) == EVERYONE


@pytest.mark.parametrize("trouble", ["refused", "tls-to-plaintext"])
def test_bounce_imap_unreachable_or_tls_failure_is_one_line_and_send_delivers(
    tmp_path: Path, seeds: dict[str, Path], monkeypatch: pytest.MonkeyPatch, trouble: str
) -> None:
    from tests.smtpd import free_port

    monkeypatch.setenv("TEST_IMAP_PASSWORD", "whatever")
    with smtp_server() as server, faulty_imap([HUMAN]) as imap:
        if trouble == "refused":
            cfg = imap_config(tmp_path, server.port, free_port())
        else:  # implicit TLS against a plaintext server: the handshake fails
            cfg = imap_config(tmp_path, server.port, imap.port, security="tls")
        settled_copy(seeds["001"], tmp_path / "digests")
        result = run("bounces", "-c", str(cfg))
        assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr
        sent = run("send", "-c", str(cfg))
        assert sent.returncode == 0 and "bounce mailbox not read" in sent.stderr
        assert sorted(server.by_recipient()) == EVERYONE


# --------------------------------------------------------------------------- the reader, fuzzed

ADDRESS = "unsubscribe@example.org"
KINDS = (Report, UnsubscribeRequest, Unreadable, type(None))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_bounce_reader_fuzz_any_bytes_never_raise(data: bytes) -> None:
    assert isinstance(read_message(data, ADDRESS), KINDS)


def _mutations() -> st.SearchStrategy[bytes]:
    """A real report, cut, spliced and sprinkled with hostile bytes: what a broken or
    malicious MTA sends."""
    base = dsn(b"Message-ID: <x@example.org>\r\nFrom: a@b\r\n\r\nhi", "bob@example.org", headers_only=False)
    hostile = st.sampled_from(
        [b"\x00", b"\r\n", b"\n\n", b"--B0UND", b"--B0UND--", b"<", b">", b"=?", b"?=", b";", b'"', b"\xff\xfe", b"\t"]
    )
    edits = st.lists(
        st.tuples(st.integers(0, len(base)), st.integers(0, 40), hostile | st.binary(max_size=20)), max_size=8
    )

    def apply(changes: list[tuple[int, int, bytes]]) -> bytes:
        out = base
        for at, cut, insert in changes:
            out = out[:at] + insert + out[at + cut :]
        return out

    return edits.map(apply)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_bounce_reader_fuzz_mutated_reports_never_raise(data: bytes) -> None:
    found = read_message(data, ADDRESS)
    assert isinstance(found, KINDS)
    if isinstance(found, Report):  # whatever survives is one line of plain text
        for bounce in found.bounces:
            assert "\n" not in (bounce.diagnostic or "") and "\r" not in (bounce.diagnostic or "")
        assert "\n" not in found.report_id


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[a-z]{1,12}@[a-z]{1,10}\.(org|net|test)", fullmatch=True),
    st.sampled_from([("failed", "5.1.1", "hard"), ("failed", "4.2.2", "soft"), ("delayed", "4.4.7", "soft")]),
    st.booleans(),
)
def test_bounce_reader_reads_every_well_formed_report(
    recipient: str, outcome: tuple[str, str, str], whole: bool
) -> None:
    action, status, kind = outcome
    original = b"From: digest@example.org\r\nMessage-ID: <id-1@example.org>\r\n\r\nbody\r\n"
    found = read_message(dsn(original, recipient, action=action, status=status, headers_only=not whole), ADDRESS)
    assert isinstance(found, Report)
    assert found.message_id == "<id-1@example.org>" and found.named == (recipient,)
    assert [(b.recipient, b.kind, b.status) for b in found.bounces] == [(recipient, kind, status)]


def test_bounce_reader_limits_hold_for_deep_wide_and_large_reports() -> None:
    assert isinstance(read_message(nested(100_000), ADDRESS), Unreadable)
    wide = REPORT_HEAD % 3 + b"".join(b"--b0\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(500))
    found = read_message(wide, ADDRESS)
    assert isinstance(found, Unreadable) and "more than 64 MIME parts" in found.reason
    big = REPORT_HEAD % 4 + b"--b0\r\nContent-Type: text/plain\r\n\r\n" + b"z" * MAX_REPORT_BYTES
    found = read_message(big, ADDRESS)
    assert isinstance(found, Unreadable) and "larger than 4 MiB" in found.reason
    long_head = b"X-Junk: " + b"a" * (300 * 1024) + b"\r\n\r\nbody"
    found = read_message(long_head, ADDRESS)
    assert isinstance(found, Unreadable) and "header block larger than 256 KiB" in found.reason
