"""The base of every configuration model (unknown keys refused, frozen) and the field
checks several sections share."""

from __future__ import annotations

import re

from pydantic import (
    BaseModel,
    ConfigDict,
)

CONTROL_CHARS = re.compile(r"[\r\n\x00]")

Loc = tuple[str | int, ...]


def check_env_name(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


class Model(BaseModel):
    # allow_inf_nan: `.inf` or `.nan` for a number of seconds or a rate is a mistake, never "forever"
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)
