"""The direct MIME writer (newsletter/render/fastmime.py) against its references: the
standard library's message for the same parts, and binascii for quoted-printable."""

from __future__ import annotations

import binascii
import email
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.config import MAX_NAME, Mailbox, check_display_name
from newsletter.render.fastmime import MessageParts, quoted_printable
from newsletter.render.message import MessageFactory

FACTORY = MessageFactory(sender=Mailbox("Paper Digest", "digest@example.org"), list_id="<digest.example.org>")
REPLYING = MessageFactory(
    sender=Mailbox("", "digest@example.org"),
    list_id="Papers <papers.example.org>",
    reply_to=Mailbox("Ana Pérez, editor", "ana@example.org"),
)

_chars = st.characters(exclude_categories=("Cs",))


def _configured(text: str) -> str | None:
    try:
        return check_display_name(text)
    except ValueError:
        return None


_names = st.one_of(
    st.just(""),
    st.text(_chars, min_size=1, max_size=MAX_NAME),
    st.text(st.sampled_from(' =?!"\\(),.:;<>@[]_-abcQé日'), min_size=1, max_size=MAX_NAME),
).map(_configured)
_subjects = st.one_of(
    st.text(_chars, max_size=300),
    st.text(st.sampled_from(" =?_abcBQ-é\t"), min_size=1, max_size=200),
    st.lists(st.text("abcdefghij", min_size=1, max_size=12), max_size=30).map(" ".join),
)
# Bodies that reach every branch of the encoder: long lines, "=", whitespace before a line
# break or at the end, a lone ".", tabs, CR and CRLF, non-ASCII, control characters.
_body_pieces = st.sampled_from(
    ["a", "=", " ", "\t", "\n", "\r\n", "\r", ".", "é", "日", "\x0c", "\x7f", "<p>", "x" * 80]
)
_bodies = st.one_of(
    st.text(_chars, max_size=400),
    st.lists(_body_pieces, max_size=120).map("".join),
)
_addresses = st.sampled_from(["reader@example.org", "a.b+c@mail.example.org", "jörg@exämple.org"])
_message_ids = st.one_of(
    st.just("<0123456789abcdef0123456789abcdef01234567@example.org>"),
    st.text("abcxyz0123.-", min_size=1, max_size=80).map(lambda s: f"<{s}@example.org>"),
)
_dates = st.builds(
    lambda seconds, offset: (
        datetime(2026, 1, 1, tzinfo=UTC).astimezone(timezone(timedelta(minutes=offset))) + timedelta(seconds=seconds)
    ),
    st.integers(0, 10**8),
    st.integers(-720, 720),
)
_uris = st.lists(
    st.sampled_from(
        [
            "mailto:digest@example.org?subject=unsubscribe",
            "https://news.example.org/unsubscribe/" + "t" * 60,
            "https://news.example.org/u/abc",
        ]
    ),
    max_size=2,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    name=_names.filter(lambda n: n is not None),
    address=_addresses,
    subject=_subjects,
    text=_bodies,
    html=_bodies,
    message_id=_message_ids,
    date=_dates,
    unsubscribe=_uris,
    one_click=st.booleans(),
    replying=st.booleans(),
)
def test_fastmime_property_bytes_equal_the_standard_library(
    name: str | None,
    address: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: datetime,
    unsubscribe: list[str],
    one_click: bool,
    replying: bool,
) -> None:
    assert name is not None
    factory = REPLYING if replying else FACTORY
    parts = MessageParts(
        to=Mailbox(name, address),
        subject=subject,
        date=date,
        message_id=message_id,
        unsubscribe=unsubscribe,
        one_click=one_click,
        text=text,
        html=html,
    )
    data, header_id = factory.message_bytes(parts)
    built = factory.build(parts)
    assert data == built.as_bytes()
    assert header_id == str(built["Message-ID"])
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    plain, rich = (part.get_content() for part in msg.iter_parts())
    normal = {"\r\n": "\n", "\r": "\n"}
    for got, sent in ((plain, text), (rich, html)):
        for old, new in normal.items():
            sent = sent.replace(old, new)
        assert got.replace("\r\n", "\n") == sent.replace("\r\n", "\n")  # what the reader gets


@settings(max_examples=2000, deadline=None)
@given(text=st.one_of(_bodies, st.text(_chars, max_size=3000)))
def test_fastmime_property_quoted_printable_equals_binascii(text: str) -> None:
    reference = binascii.b2a_qp(text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8"), istext=True)
    assert quoted_printable(text) == reference
    assert quoted_printable(text, b"\r\n") == reference.replace(b"\n", b"\r\n")


def test_fastmime_message_with_a_long_html_line_is_cut_within_76_characters() -> None:
    html = "<p>" + "word= " * 400 + "</p>\n"
    data, _ = FACTORY.message_bytes(
        MessageParts(
            to=Mailbox("Ana", "ana@example.org"),
            subject="3 new papers",
            date=datetime(2026, 11, 17, 7, 0, tzinfo=UTC),
            message_id="<x@example.org>",
            unsubscribe=(),
            one_click=False,
            text="hi\n",
            html=html,
        )
    )
    body = data.split(b"\r\n\r\n", 3)[-1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    assert [p.get_content() for p in msg.iter_parts()][1].replace("\r\n", "\n") == html


def _subject_parts(subject: str) -> MessageParts:
    return MessageParts(
        to=Mailbox("Ana", "ana@example.org"),
        subject=subject,
        date=datetime(2026, 11, 17, 7, 0, tzinfo=UTC),
        message_id="<x@example.org>",
        unsubscribe=(),
        one_click=False,
        text="hi\n",
        html="<p>hi</p>\n",
    )


def test_fastmime_plain_subject_of_any_length_reads_back_without_a_leading_space() -> None:
    """A plain ASCII subject too long for the "Subject:" line but short enough for the
    next one (70 to 77 characters: "3 new papers for <a long name>") was folded right
    after the colon, and a reader (Python's parser) got it back with a leading space;
    so did one whose first word does not fit beside "Subject:"."""
    subjects = [f"3 new papers for {'N' * n}" for n in range(40, 80)]
    subjects += [f"{'W' * n} papers" for n in range(66, 77)] + ["x " * 60 + "end"]
    for subject in subjects:
        parts = _subject_parts(subject)
        data, _ = FACTORY.message_bytes(parts)
        assert data == FACTORY.build(parts).as_bytes()
        head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        assert all(len(line) <= 78 for line in head), subject
        assert not any(line.rstrip() == b"Subject:" for line in head), subject
        msg = email.message_from_bytes(data, policy=policy.default)
        assert str(msg["Subject"]) == subject
