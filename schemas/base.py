"""The base of every wire schema: camelCase names, unknown fields refused."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Final

import msgspec

# An ISO 8601 timestamp with a time zone ("2026-11-21T09:00:00Z"); naive times are refused.
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]
NonEmptyStr = Annotated[str, msgspec.Meta(min_length=1)]


_AT: Final = " - at `"
_STEP: Final = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[([^\]]*)\]")
_FIELD: Final = re.compile(r"^Object (?:contains unknown|missing required) field `(.+)`$")


def validation_issue(exc: msgspec.ValidationError) -> tuple[list[str | int], str]:
    """``(path, message)`` of a decoding error, from msgspec's ``"... - at `$.a.b[0]`"``.

    The path ends with the field an unknown- or missing-field message names.
    """
    message, sep, where = str(exc).partition(_AT)
    path: list[str | int] = []
    if sep:
        for key, index, other in _STEP.findall(where.rstrip("`")[1:]):
            path.append(key or (int(index) if index else other))
    field = _FIELD.match(message)
    if field:
        path.append(field.group(1))
    return path, message


class Input(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """Base of every input: camelCase, unknown fields are an error naming the field."""


class Output(msgspec.Struct, rename="camel", kw_only=True):
    """Base of every output: camelCase; fields without a value are sent as null."""


class IdInput(Input):
    id: NonEmptyStr


class IdOutput(Output):
    id: str
