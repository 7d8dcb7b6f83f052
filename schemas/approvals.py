"""Approval links on the wire (docs/CONTRACT.md §16)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from schemas.base import Input, NonEmptyStr, Output, Timestamp


class ApprovalLinkInput(Input):
    id: NonEmptyStr
    # The name recorded as reviewedBy (audit actor "link:<reviewer>").
    reviewer: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    expires_in_seconds: Annotated[int, msgspec.Meta(ge=60, le=604_800)] = 86_400


class ApprovalLink(Output):
    url: str
    expires_at: Timestamp
