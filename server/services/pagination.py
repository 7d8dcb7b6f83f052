"""Keyset cursors for newest-first lists: opaque to clients, (createdAt, id) inside.

A list asks its repository for ``limit + 1`` rows; :func:`page_of` keeps ``limit`` of them and
gives the next cursor only when the extra row came (there is more).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from server.core.errors import InvalidInput


class Keyed(Protocol):
    """A row a newest-first list is ordered by."""

    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=Keyed)


def encode_cursor(row: Keyed) -> str:
    return encode_key(row.created_at, row.id)


def encode_key(at: datetime, row_id: str) -> str:
    """A cursor for lists ordered by another time than createdAt (audit entries' ``at``)."""
    raw = f"{at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_of(rows: Sequence[R], limit: int,
            key: Callable[[R], str] | None = None) -> tuple[Sequence[R], str | None]:
    """The first ``limit`` of ``rows`` (fetched with ``limit + 1``) and the next page's cursor.

    ``key`` makes the cursor of the last row kept (default :func:`encode_cursor`); None when
    ``rows`` held no more than ``limit``.
    """
    kept = rows[:limit]
    more = len(rows) > limit
    if not (more and kept):
        return kept, None
    last = kept[-1]
    return kept, key(last) if key is not None else encode_cursor(last)


def decode_cursor(cursor: str, *, procedure: str) -> tuple[datetime, str]:
    """The (createdAt, id) inside; BAD_REQUEST naming ``procedure`` if it is not a cursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, row_id = raw.split("|", 1)
        return datetime.fromisoformat(created), row_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput.at(["cursor"], f"is not a cursor returned by {procedure}") from None
