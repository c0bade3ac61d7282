"""Imports every command module so that each registers itself on the group."""

from newsletter.cli import parse_cmd  # noqa: F401
