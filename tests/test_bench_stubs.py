"""`make bench`'s stand-ins stay in step with what they stand in for: the delivery bench
replaces the renderer with prebuilt bytes, and the one render path must accept it (it
stopped `make bench` once, when rendered emails gained their Gmail-clip fit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from bench.bench_delivery import _PrebuiltRenderer
from newsletter.config import load_config
from newsletter.render.pool import Job, render_job
from tests.smtpd import EXAMPLE_SUBSCRIBERS, write_config


def test_bench_delivery_stub_renders_through_the_one_render_path(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, 2525, [EXAMPLE_SUBSCRIBERS[0]]))
    renderer = _PrebuiltRenderer([4096, 8192], config)
    rendered = [render_job(cast(Any, renderer), Job(config.subscribers[0], [], f"1:{n}")) for n in range(2)]
    assert [len(r.data) // 1000 for r in rendered] == [8, 4]  # the prebuilt sizes, in turn
    assert all(r.crlf and r.fitted is None for r in rendered)
