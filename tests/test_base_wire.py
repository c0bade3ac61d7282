"""The line-break check made where a message is rendered (newsletter/base/wire.py)
against the plain way: the same verdict as a regular expression, and the same DATA
bytes from the SMTP session whether it is told or checks itself."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.base.wire import crlf_lines
from newsletter.delivery.smtp import wire_data
from newsletter.digest.scan import load_digests
from newsletter.matching.matcher import plan
from newsletter.render import Renderer
from newsletter.render.pool import Job, render_job
from tests.test_render import SEEDS, make_config

LONE = re.compile(rb"\r(?!\n)|(?<!\r)\n")  # a CR not before LF, an LF not after CR

_messages = st.lists(
    st.sampled_from([b"a", b"Subject: x", b".", b"..", b"\r\n", b"\r", b"\n", b" ", b"=2E", b"\xe2", b"\r\n."])
).map(b"".join)


@settings(max_examples=3000, deadline=None)
@given(_messages)
def test_crlf_lines_is_no_lone_cr_or_lf(message: bytes) -> None:
    assert crlf_lines(message) == (LONE.search(message) is None)


@settings(max_examples=3000, deadline=None)
@given(_messages)
def test_wire_data_told_crlf_is_the_checked_bytes(message: bytes) -> None:
    """Told what crlf_lines says, the session prepares the very bytes it prepares when
    it checks the message itself (a message with a lone CR or LF is not told)."""
    told = wire_data(message, crlf=crlf_lines(message))
    assert told == wire_data(message)
    assert (told is None) == (LONE.search(message) is not None)


def test_render_job_rendered_emails_are_said_crlf(tmp_path: Path) -> None:
    """The emails a pass renders come with the check made, and the DATA bytes the
    session prepares from them are those of the unchecked path."""
    config = make_config(tmp_path)
    renderer = Renderer(config)
    planned = list(plan(config.subscribers, load_digests(SEEDS).papers))
    assert planned
    for sub, matches in planned:
        rendered = render_job(renderer, Job(sub, matches, "1:2025-09-15"))
        message_id, data, crlf = rendered.message_id, rendered.data, rendered.crlf
        assert message_id and crlf and crlf_lines(data)
        assert wire_data(data, crlf=crlf) == wire_data(data)
