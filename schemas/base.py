"""The base of every wire schema: camelCase names, unknown fields refused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

# An ISO 8601 timestamp with a time zone ("2026-11-21T09:00:00Z"); naive times are refused.
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]
NonEmptyStr = Annotated[str, msgspec.Meta(min_length=1)]


class Input(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """Base of every input: camelCase, unknown fields are an error naming the field."""


class Output(msgspec.Struct, rename="camel", kw_only=True):
    """Base of every output: camelCase; fields without a value are sent as null."""


class IdInput(Input):
    id: NonEmptyStr


class IdOutput(Output):
    id: str
