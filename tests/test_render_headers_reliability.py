"""Header lines (SPEC 5, issue 11): every header line <= 998 octets for any configured
name, long names refused by ``check``; text that looks like an RFC 2047 encoded word
(in a name, a subject) is shown literally, never decoded by the reader's client."""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.config import MAX_NAME, Mailbox, check_display_name
from newsletter.render.message import MessageFactory, MessageParts
from tests.smtpd import smtp_server, write_config

ROOT = Path(__file__).resolve().parent.parent
FACTORY = MessageFactory(sender=Mailbox("Paper Digest", "digest@example.org"), list_id="<digest.example.org>")
WHEN = datetime(2026, 11, 17, 7, 0, tzinfo=UTC)


def lines_of(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def configured_name(text: str) -> str | None:
    try:
        return check_display_name(text) or None
    except ValueError:
        return None


_chars = st.characters(exclude_categories=("Cs",))  # YAML cannot hold lone surrogates
_names = st.one_of(
    st.text(_chars, min_size=1, max_size=MAX_NAME),
    st.text(st.sampled_from(' =?!"\\(),.:;<>@[]_-abcQBé日\t'), min_size=1, max_size=MAX_NAME),
    st.sampled_from(["=?utf-8?b?SGk=?= Bob", "=?iso-8859-1?q?J=F6rg?=", '"=?utf-8?q?x?="', "Zoë Ünïcode-Ñame"]),
).map(configured_name)
_subjects = st.one_of(
    st.text(_chars, min_size=1, max_size=3000),
    st.text(st.sampled_from(" =?_abcBQ-é"), min_size=1, max_size=400),
    st.sampled_from(["=?utf-8?b?SGk=?= 3 new papers", "x" * 5000, "a  b", "3 new papers for you"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(name=_names.filter(lambda n: n is not None), subject=_subjects)
def test_headers_property_any_name_and_subject_decode_literally_within_998_octets(
    name: str | None, subject: str
) -> None:
    assert name is not None
    to = Mailbox(name, "reader@example.org")
    parts = MessageParts(
        to=to,
        subject=subject,
        date=WHEN,
        message_id="<abc@example.org>",
        unsubscribe=["mailto:digest@example.org?subject=unsubscribe"],
        one_click=False,
        text="hello\n",
        html="<p>hello</p>\n",
    )
    data, _ = FACTORY.message_bytes(parts)
    assert data == FACTORY.build(parts).as_bytes()  # the fast writer = stdlib
    assert all(len(line) <= 998 for line in lines_of(data))
    assert all(line.isascii() for line in lines_of(data))
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    (addr,) = msg["To"].addresses
    assert (addr.display_name, addr.addr_spec) == (name, "reader@example.org")
    assert str(msg["Subject"]) == subject
    assert not msg.defects


def test_headers_check_refuses_a_5000_character_name_with_one_line(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, 2525, [{"email": "long@example.org", "name": "N" * 5000, "keywords": ["x"]}])
    run = subprocess.run(
        [sys.executable, "-m", "newsletter", "check", "-c", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    (line,) = [line for line in run.stderr.splitlines() if "subscribers[0].name" in line]
    assert f"{cfg}:" in line and "5,000 characters is too long for an email header (at most 150)" in line


def test_headers_check_refuses_a_bidi_override_in_a_name_a_hebrew_name_is_fine(tmp_path: Path) -> None:
    # an override (U+202E) in "Hi NAME," and the Subject would reverse what follows it;
    # a name written right to left needs no such character
    subs = [
        {"email": "rlo@example.org", "name": "Eve \u202egnp.exe", "keywords": ["x"]},
        {"email": "isolate@example.org", "name": "\u2067Dan", "keywords": ["x"]},
        {"email": "dana@example.org", "name": "דנה כהן", "keywords": ["x"]},
    ]
    cfg = write_config(tmp_path, 2525, subs)
    run = subprocess.run(
        [sys.executable, "-m", "newsletter", "check", "-c", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    named = [line for line in run.stderr.splitlines() if ".name" in line]
    assert [line.split(": ")[2] for line in named] == ["subscribers[0].name", "subscribers[1].name"]
    assert all("bidirectional overrides" in line for line in named)
    assert check_display_name("דנה כהן") == "דנה כהן"


def test_headers_look_alike_name_and_subject_arrive_literal(tmp_path: Path, seeds: dict[str, Path]) -> None:
    look_alike = "=?utf-8?b?SGk=?= Bob"
    subs = [
        {"email": "bob@example.org", "name": look_alike, "keywords": ["model*"]},
        {"email": "long@example.org", "name": "Ω" * MAX_NAME, "keywords": ["model*"]},
    ]
    with smtp_server() as server:
        cfg = write_config(
            tmp_path,
            server.port,
            subs,
            sender={"from": "=?utf-8?q?Totally_Legit?= <digest@example.org>", "subject": "=?utf-8?q?Win?= {{ count }}"},
        )
        shutil.copy2(seeds["000"], tmp_path / "digests")
        run = subprocess.run(
            [sys.executable, "-m", "newsletter", "send", "-c", str(cfg)], capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, run.stderr
        got = {m.rcpt_tos[0]: m for m in server.received}
    bob = email.message_from_bytes(got["bob@example.org"].data, policy=policy.default)
    assert bob["To"].addresses[0].display_name == look_alike  # not "Hi Bob"
    assert bob["From"].addresses[0].display_name == "=?utf-8?q?Totally_Legit?="
    assert str(bob["Subject"]).startswith("=?utf-8?q?Win?= ")
    long = got["long@example.org"].data
    assert all(len(line) <= 998 for line in lines_of(long))
    parsed = email.message_from_bytes(long, policy=policy.default)
    assert parsed["To"].addresses[0].display_name == "Ω" * MAX_NAME
