"""Clients and connections (CONTRACT §14): an agency's clients, each with its own HighLevel
location and named credentials.

- A client (``cli_…``) has a unique slug (from its name when not given) and may be archived:
  an archived client takes no new task (``CONFLICT``).
- A connection (``con_…``) holds the values of its kind (bearer, api_key, basic, headers, ghl)
  sealed at rest with the webhook secrets' box (AES-GCM under ERRANDS_SECRET_KEY, the
  connection id as associated data). Every answer shows each value as ``"********"``; an
  update whose values hold ``"********"`` keeps that value; ``version`` grows by one on every
  change of the values.
- :meth:`ConnectionService.resolve` is what an attempt start asks (server/node/runner.py): the
  credentials a task's config names (or, for HighLevel, its client's), read afresh each
  attempt so that a rotation applies to queued, scheduled and cron work from its next attempt.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import msgspec
from sqlalchemy.exc import IntegrityError

from executors.base import GhlAccess
from schemas.clients import (
    Client,
    ClientCreate,
    ClientList,
    ClientPage,
    ClientPatch,
    Connection,
    ConnectionCreate,
    ConnectionList,
    ConnectionPatch,
)
from schemas.configs import MASK
from schemas.secrets import MIN_SCRUB_LENGTH
from server.core.errors import Conflict, InvalidInput, NotFound
from server.core.ids import new_id
from server.core.lifecycle import TERMINAL, Status
from server.db import clients as rows
from server.db.engine import Database
from server.db.repositories import Row
from server.services.audit import SYSTEM, Actor, record
from server.services.pagination import decode_cursor, page_of
from server.services.secrets_box import SecretBox

# The values of each kind: (required, optional) names; ``headers`` takes any names (≤ 20).
KIND_VALUES: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "bearer": (("token",), ()),
    "api_key": (("key",), ("header",)),
    "basic": (("username", "password"), ()),
    "ghl": (("token",), ("locationId",)),
}
MAX_HEADERS: Final = 20
#: Headers an api_call may not set (CONTRACT §13), nor a connection of kind ``headers``.
_FORBIDDEN_HEADERS: Final = frozenset({"content-length", "transfer-encoding", "connection",
                                       "keep-alive", "te", "trailer", "upgrade", "host"})
_HEADER_NAME: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: Connection kinds an api_call may use (``authType: "connection"``).
API_CALL_KINDS: Final = frozenset({"bearer", "api_key", "basic", "headers"})
TOUCH_EVERY: Final = timedelta(seconds=60)
_WIRE: Final = {"ghl_location_id": "ghlLocationId"}
_OPEN_STATUSES: Final = tuple(s.value for s in Status if s not in TERMINAL)


def client_view(row: Row) -> Client:
    return Client(id=row.id, name=row.name, slug=row.slug, ghl_location_id=row.ghl_location_id,
                  metadata=row.meta, created_at=row.created_at, archived_at=row.archived_at)


def slug_of(name: str) -> str:
    """``name`` as a slug: ASCII lower case, runs of anything else as one ``-``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-")
    return slug or "client"


def connection_name_of(config: dict[str, Any]) -> str | None:
    """The connection an executionConfig names (``connection``), if any."""
    name = config.get("connection")
    return name if isinstance(name, str) and name else None


class ClientService:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock

    async def create(self, data: ClientCreate, actor: Actor = SYSTEM) -> Client:
        async with self.db.write() as conn:
            slug = data.slug
            if slug is None:
                base = slug = slug_of(data.name)
                n = 1
                while await rows.client_slug_taken(conn, slug):
                    n += 1
                    slug = f"{base[:60 - len(str(n)) - 1]}-{n}"
            elif await rows.client_slug_taken(conn, slug):
                raise InvalidInput.at(["slug"], f"{slug!r} is taken by another client")
            client_id = new_id("cli")
            row = await rows.client_insert(conn, {
                "id": client_id, "name": data.name, "slug": slug,
                "ghl_location_id": data.ghl_location_id, "meta": data.metadata,
                "created_at": self.clock(), "archived_at": None})
            await record(conn, actor, "clients.create", "client", client_id,
                         {"name": data.name, "slug": slug}, row.created_at)
        return client_view(row)

    async def update(self, client_id: str, patch: ClientPatch, actor: Actor = SYSTEM) -> Client:
        given = {f: getattr(patch, f) for f in patch.__struct_fields__
                 if getattr(patch, f) is not None}
        if not given:
            raise InvalidInput.at(["patch"], "names no field to change")
        values = {("meta" if k == "metadata" else k): v for k, v in given.items()}
        async with self.db.write() as conn:
            row = await rows.client_update(conn, client_id, values)
            if row is None:
                raise NotFound(f"no client with id {client_id!r}")
            await record(conn, actor, "clients.update", "client", client_id,
                         {"changed": sorted(_WIRE.get(k, k) for k in given)}, self.clock())
        return client_view(row)

    async def archive(self, client_id: str, actor: Actor = SYSTEM) -> Client:
        async with self.db.write() as conn:
            row = await rows.client_get(conn, client_id)
            if row is None:
                raise NotFound(f"no client with id {client_id!r}")
            if row.archived_at is None:
                row = await rows.client_update(conn, client_id, {"archived_at": self.clock()})
                assert row is not None
                await record(conn, actor, "clients.archive", "client", client_id, {},
                             self.clock())
        return client_view(row)

    async def get(self, client_id: str) -> Client:
        async with self.db.read() as conn:
            row = await rows.client_get(conn, client_id)
        if row is None:
            raise NotFound(f"no client with id {client_id!r}")
        return client_view(row)

    async def page(self, query: ClientList, only: str | None = None) -> ClientPage:
        after = decode_cursor(query.cursor, procedure="clients.list") if query.cursor else None
        async with self.db.read() as conn:
            found = await rows.client_list(conn, archived=query.archived, search=query.search,
                                           limit=query.limit + 1, after=after, only=only)
        kept, cursor = page_of(found, query.limit)
        return ClientPage(items=[client_view(r) for r in kept], next_cursor=cursor)

    async def get_for(self, client_id: str, path: list[str | int]) -> Row:
        """The client ``client_id``; BAD_REQUEST naming ``path`` when unknown."""
        async with self.db.read() as conn:
            row = await rows.client_get(conn, client_id)
        if row is None:
            raise InvalidInput.at(path, f"no client with id {client_id!r}")
        return row

    async def check_open(self, client_id: str, path: list[str | int]) -> Row:
        """The client a new task is for: BAD_REQUEST naming ``path`` when unknown, CONFLICT
        when archived."""
        async with self.db.read() as conn:
            row = await rows.client_get(conn, client_id)
        if row is None:
            raise InvalidInput.at(path, f"no client with id {client_id!r}")
        if row.archived_at is not None:
            raise Conflict(f"client {client_id} is archived: it takes no new tasks")
        return row


# --- connections -------------------------------------------------------------------------------


def _check_headers(values: dict[str, str]) -> dict[str, str]:
    if not values:
        raise InvalidInput.at(["values"], "a headers connection needs at least one header")
    if len(values) > MAX_HEADERS:
        raise InvalidInput.at(["values"], f"at most {MAX_HEADERS} headers")
    for name, value in values.items():
        if not _HEADER_NAME.match(name):
            raise InvalidInput.at(["values", name], "is not a valid header name")
        low = name.lower()
        if low in _FORBIDDEN_HEADERS or low.startswith("proxy-"):
            raise InvalidInput.at(["values", name], "may not be set by a connection")
        if not value or "\r" in value or "\n" in value:
            raise InvalidInput.at(["values", name], "must be a non-empty single line")
    return dict(values)


def _check_values(kind: str, values: dict[str, str]) -> dict[str, str]:
    """The values of ``kind`` (api_key's header defaulted); BAD_REQUEST naming each bad one."""
    if kind == "headers":
        return _check_headers(values)
    path = "values"
    required, optional = KIND_VALUES[kind]
    for name in values:
        if name not in required and name not in optional:
            raise InvalidInput.at([path, name], f"is not a value of a {kind} connection "
                                  f"(it takes {', '.join(required + optional)})")
    for name in required:
        if not values.get(name):
            raise InvalidInput.at([path, name], f"is required for a {kind} connection")
    out = dict(values)
    if kind == "api_key":
        out.setdefault("header", "X-API-Key")
        if not _HEADER_NAME.match(out["header"]):
            raise InvalidInput.at([path, "header"], "is not a valid header name")
    return out


def connection_view(row: Row, values: dict[str, str]) -> Connection:
    return Connection(id=row.id, name=row.name, kind=row.kind, client_id=row.client_id,
                      description=row.description, values={k: MASK for k in values},
                      version=row.version, created_at=row.created_at,
                      updated_at=row.updated_at, last_used_at=row.last_used_at)


@dataclass(frozen=True)
class Resolved:
    """A connection (or a client's HighLevel defaults) resolved for one attempt."""

    label: str | None  # "<name>@v<version>", the attempt input's ``connection``
    kind: str | None
    values: dict[str, str]
    ghl: GhlAccess | None
    secrets: tuple[str, ...]


def _secrets_of(kind: str | None, values: dict[str, str]) -> tuple[str, ...]:
    """The values to scrub by value: each secret value, and Basic's base64 credential."""
    found = {v for k, v in values.items() if k not in ("header", "locationId", "username")}
    if kind == "basic" and "username" in values and "password" in values:
        found.add(base64.b64encode(
            f"{values['username']}:{values['password']}".encode()).decode())
    return tuple(s for s in found if len(s) >= MIN_SCRUB_LENGTH)


def apply_to_api_call(config: dict[str, Any], kind: str, values: dict[str, str]
                      ) -> dict[str, Any]:
    """An api_call config with ``authType: "connection"`` as the executor takes it: the
    connection's credentials in the config's own auth fields (headers merged, the config's
    own winning for other names)."""
    out = {k: v for k, v in config.items() if k != "connection"}
    if kind == "bearer":
        out.update(authType="bearer", bearerToken=values["token"])
    elif kind == "api_key":
        out.update(authType="api_key", apiKeyHeader=values.get("header", "X-API-Key"),
                   apiKey=values["key"])
    elif kind == "basic":
        out.update(authType="basic", basicUsername=values["username"],
                   basicPassword=values["password"])
    else:
        out["authType"] = "none"
        merged = {k: v for k, v in (config.get("headers") or {}).items()
                  if k.lower() not in {n.lower() for n in values}}
        out["headers"] = {**merged, **values}
    return out


class ConnectionService:
    def __init__(self, db: Database, box: SecretBox, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.box = box
        self.clock = clock

    def _open(self, row: Row) -> dict[str, str]:
        values: dict[str, str] = msgspec.json.decode(
            self.box.open(bytes(row.values_sealed), context=row.id))
        return values

    def _seal(self, connection_id: str, values: dict[str, str]) -> bytes:
        return self.box.seal(msgspec.json.encode(values).decode(), context=connection_id)

    async def _client_exists(self, conn: Any, client_id: str | None, path: list[str | int]
                             ) -> None:
        if client_id is not None and await rows.client_get(conn, client_id) is None:
            raise InvalidInput.at(path, f"no client with id {client_id!r}")

    async def create(self, data: ConnectionCreate, actor: Actor = SYSTEM) -> Connection:
        values = _check_values(data.kind, data.values)
        if any(v == MASK for v in values.values()):
            raise InvalidInput.at(["values"], f"{MASK!r} is not a value")
        connection_id = new_id("con")
        now = self.clock()
        try:
            async with self.db.write() as conn:
                await self._client_exists(conn, data.client_id, ["clientId"])
                if await rows.connection_by_name(conn, data.name) is not None:
                    raise InvalidInput.at(["name"], f"a connection named {data.name!r} exists")
                row = await rows.connection_insert(conn, {
                    "id": connection_id, "name": data.name, "kind": data.kind,
                    "client_id": data.client_id, "description": data.description,
                    "values_sealed": self._seal(connection_id, values), "version": 1,
                    "created_at": now, "updated_at": now, "last_used_at": None})
                await record(conn, actor, "connections.create", "connection", connection_id,
                             {"name": data.name, "kind": data.kind,
                              "clientId": data.client_id}, now)
        except IntegrityError:
            raise InvalidInput.at(["name"], f"a connection named {data.name!r} exists") from None
        return connection_view(row, values)

    async def update(self, connection_id: str, patch: ConnectionPatch,
                     actor: Actor = SYSTEM) -> Connection:
        now = self.clock()
        async with self.db.write() as conn:
            row = await rows.connection_get(conn, connection_id)
            if row is None:
                raise NotFound(f"no connection with id {connection_id!r}")
            old = self._open(row)
            update: dict[str, Any] = {}
            changed: list[str] = []
            values = old
            if patch.values is not None:
                kept = {k: (old.get(k, MASK) if v == MASK else v) for k, v in patch.values.items()}
                for name, value in kept.items():
                    if value == MASK:
                        raise InvalidInput.at(["patch", "values", name],
                                              f"{MASK!r} keeps a value, and this one has none")
                try:
                    values = _check_values(row.kind, kept)
                except InvalidInput as exc:
                    raise InvalidInput(exc.message, [{**i, "path": ["patch", *i["path"]]}
                                                     for i in exc.issues]) from None
                if values != old:
                    update.update(values_sealed=self._seal(row.id, values),
                                  version=row.version + 1)
                    changed.append("values")
            if patch.description is not None and patch.description != row.description:
                update["description"] = patch.description
                changed.append("description")
            if patch.client_id is not None and patch.client_id != row.client_id:
                await self._client_exists(conn, patch.client_id, ["patch", "clientId"])
                update["client_id"] = patch.client_id
                changed.append("clientId")
            if not update:
                return connection_view(row, values)
            update["updated_at"] = now
            new = await rows.connection_update_if(conn, row.id, row.version, update)
            if new is None:
                raise Conflict("connection changed concurrently; read it again")
            await record(conn, actor, "connections.update", "connection", row.id,
                         {"changed": changed, "version": new.version}, now)
        return connection_view(new, values)

    async def delete(self, connection_id: str, *, force: bool, actor: Actor = SYSTEM) -> str:
        async with self.db.write() as conn:
            row = await rows.connection_get(conn, connection_id)
            if row is None:
                raise NotFound(f"no connection with id {connection_id!r}")
            if not force:
                users = await self._users(conn, row.name)
                if users:
                    raise Conflict(f"connection {row.name} is in use by "
                                   f"{', '.join(users[:20])}"
                                   f"{f' and {len(users) - 20} more' if len(users) > 20 else ''}"
                                   "; delete with force to remove it anyway")
            await rows.connection_delete(conn, row.id)
            await record(conn, actor, "connections.delete", "connection", row.id,
                         {"name": row.name, "force": force}, self.clock())
        deleted: str = row.id
        return deleted

    @staticmethod
    async def _users(conn: Any, name: str) -> list[str]:
        """The open tasks and the schedules whose config names connection ``name``."""
        found = [f"task {r.id}" for r in await rows.tasks_open_with_configs(
            conn, ["api_call", "ghl_action"], _OPEN_STATUSES)
            if isinstance(r.execution_config, dict)
            and connection_name_of(r.execution_config) == name]
        for r in await rows.schedule_templates(conn):
            config = r.task.get("executionConfig") if isinstance(r.task, dict) else None
            if isinstance(config, dict) and connection_name_of(config) == name:
                found.append(f"schedule {r.id}")
        return found

    async def get(self, connection_id: str) -> Connection:
        async with self.db.read() as conn:
            row = await rows.connection_get(conn, connection_id)
        if row is None:
            raise NotFound(f"no connection with id {connection_id!r}")
        return connection_view(row, self._open(row))

    async def list(self, query: ConnectionList) -> list[Connection]:
        async with self.db.read() as conn:
            found = await rows.connection_list(conn, client_id=query.client_id, kind=query.kind)
        return [connection_view(r, self._open(r)) for r in found]

    # --- use ---------------------------------------------------------------------------------

    async def _touch(self, row: Row) -> None:
        """``lastUsedAt``, written at most once a minute per connection (not every attempt)."""
        now = self.clock()
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
            async with self.db.write() as conn:
                await rows.connection_touch(conn, row.id, now)

    async def check_use(self, task_type: str, config: dict[str, Any], client_id: str | None,
                        path: tuple[str | int, ...]) -> str | None:
        """At create/update: the connection ``config`` names exists, is of a kind the task type
        takes, and belongs to no other client than the task's (BAD_REQUEST naming
        ``connection``). Returns the HighLevel location the task would get from its connection
        or client (None when none)."""
        name = connection_name_of(config)
        if name is None and (client_id is None or task_type != "ghl_action"):
            return None  # nothing to check: no read (the create path of most tasks)
        where: list[str | int] = [*path, "connection"]
        row = client = None
        async with self.db.read() as conn:
            if name is not None:
                row = await rows.connection_by_name(conn, name)
            if client_id is not None:
                client = await rows.client_get(conn, client_id)
                if row is None and name is None and task_type == "ghl_action":
                    row = await rows.connection_ghl_of_client(conn, client_id)
        if name is not None:
            if row is None:
                raise InvalidInput.at(where, f"no connection named {name!r}")
            if row.client_id is not None and row.client_id != client_id:
                raise InvalidInput.at(where, f"connection {name!r} belongs to another client "
                                      "than the task's")
            wanted = API_CALL_KINDS if task_type == "api_call" else frozenset({"ghl"})
            if row.kind not in wanted:
                raise InvalidInput.at(where, f"connection {name!r} is of kind {row.kind}; "
                                      f"{task_type} takes {', '.join(sorted(wanted))}")
        if task_type != "ghl_action":
            return None
        location = self._open(row).get("locationId") if row is not None else None
        return location or (client.ghl_location_id if client is not None else None)

    async def resolve(self, task_type: str, config: dict[str, Any], client_id: str | None
                      ) -> Resolved | None:
        """What an attempt of this task uses, read now (a rotation applies at once); None
        when it uses no connection and no client (the server's own settings apply)."""
        name = connection_name_of(config)
        if task_type == "api_call":
            if name is None or config.get("authType") != "connection":
                return None
        elif task_type != "ghl_action" or (name is None and client_id is None):
            return None
        location: str | None = None
        async with self.db.read() as conn:
            if task_type == "ghl_action" and client_id is not None:
                found = await rows.connection_for_ghl(conn, client_id, name)
                location = found.ghl_location_id if found is not None else None
                row = found if found is not None and found.id is not None else None
            else:
                row = await rows.connection_by_name(conn, name) if name is not None else None
        if name is not None and row is None:
            raise LookupError(f"connection {name!r} no longer exists")
        values = self._open(row) if row is not None else {}
        label = f"{row.name}@v{row.version}" if row is not None else None
        if row is not None:
            await self._touch(row)
        ghl = None
        if task_type == "ghl_action":
            ghl = GhlAccess(token=values.get("token"),
                            location_id=values.get("locationId") or location)
        kind = row.kind if row is not None else None
        return Resolved(label=label, kind=kind, values=values, ghl=ghl,
                        secrets=_secrets_of(kind, values))
