"""Clients, connections and API keys on the wire (docs/CONTRACT.md §14)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from schemas.base import Input, NonEmptyStr, Output, Timestamp
from schemas.system import Role

ClientName = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9-]{1,60}$")]
ConnectionName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_.-]{1,60}$")]
ConnectionKind = Literal["bearer", "api_key", "basic", "headers", "ghl"]


class Client(Output):
    id: str
    name: str
    slug: str
    ghl_location_id: str | None
    metadata: dict[str, Any] | None
    created_at: Timestamp
    archived_at: Timestamp | None


class ClientCreate(Input):
    name: ClientName
    slug: Slug | None = None
    ghl_location_id: NonEmptyStr | None = None
    metadata: dict[str, Any] | None = None


class ClientPatch(Input):
    name: ClientName | None = None
    ghl_location_id: NonEmptyStr | None = None
    metadata: dict[str, Any] | None = None


class ClientUpdate(Input):
    id: NonEmptyStr
    patch: ClientPatch


class ClientList(Input):
    archived: bool | None = None
    search: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    cursor: str | None = None


class ClientPage(Output):
    items: list[Client]
    next_cursor: str | None


class Connection(Output):
    id: str
    name: str
    kind: ConnectionKind
    client_id: str | None
    description: str | None
    values: dict[str, str]  # every value reads "********"
    version: int
    created_at: Timestamp
    updated_at: Timestamp
    last_used_at: Timestamp | None


class ConnectionCreate(Input):
    name: ConnectionName
    kind: ConnectionKind
    values: dict[str, str]
    client_id: NonEmptyStr | None = None
    description: str | None = None


class ConnectionPatch(Input):
    description: str | None = None
    client_id: NonEmptyStr | None = None
    values: dict[str, str] | None = None


class ConnectionUpdate(Input):
    id: NonEmptyStr
    patch: ConnectionPatch


class ConnectionDelete(Input):
    id: NonEmptyStr
    force: bool = False


class ConnectionList(Input):
    client_id: str | None = None
    kind: ConnectionKind | None = None


class KeyCreate(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    role: Role
    client_id: NonEmptyStr | None = None
    expires_at: Timestamp | None = None


class KeyList(Input):
    pass


class ApiKeyInfo(Output):
    id: str
    name: str
    role: Role
    client_id: str | None
    expires_at: Timestamp | None
    created_at: Timestamp
    revoked_at: Timestamp | None


class KeyCreated(Output):
    id: str
    name: str
    role: Role
    client_id: str | None
    expires_at: Timestamp | None
    key: str  # shown this once
