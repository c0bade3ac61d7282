"""Imports every command module so that each registers itself on the group."""

from newsletter.cli import (
    bounces_cmd,  # noqa: F401
    check_cmd,  # noqa: F401
    fetch_cmd,  # noqa: F401
    init_cmd,  # noqa: F401
    match_cmd,  # noqa: F401
    parse_cmd,  # noqa: F401
    preview_cmd,  # noqa: F401
    run_cmd,  # noqa: F401
    send_cmd,  # noqa: F401
    serve_cmd,  # noqa: F401
    sink_cmd,  # noqa: F401
    status_cmd,  # noqa: F401
    subscribers_cmd,  # noqa: F401
    subscription_cmd,  # noqa: F401
)
