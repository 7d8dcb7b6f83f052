"""clients.* and connections.* (CONTRACT §14) — thin: decode (done by the protocol layer), call
the service, return a schema."""

from __future__ import annotations

import msgspec

from schemas.base import IdInput, IdOutput
from schemas.clients import (
    ApiKeyInfo,
    Client,
    ClientCreate,
    ClientList,
    ClientPage,
    ClientUpdate,
    Connection,
    ConnectionCreate,
    ConnectionDelete,
    ConnectionList,
    ConnectionUpdate,
    KeyCreate,
    KeyCreated,
    KeyList,
)
from server.core.errors import Forbidden, NotFound
from server.procedures.context import Context
from server.rpc.registry import Router


def _own(ctx: Context, client_id: str) -> str:
    """``client_id``, if the caller may see it (a key scoped to a client sees that one only)."""
    scope = ctx.principal.client_id
    if scope is not None and scope != client_id:
        raise NotFound(f"no client with id {client_id!r}")
    return client_id


def register(router: Router) -> None:
    register_clients(router)
    register_connections(router)
    register_keys(router)


def _unscoped(ctx: Context) -> None:
    if ctx.principal.client_id is not None:
        raise Forbidden("a key scoped to a client cannot manage API keys")


def register_keys(router: Router) -> None:
    @router.mutation("keys.create", input=KeyCreate, output=KeyCreated, permission="admin")
    async def key_create(ctx: Context, data: KeyCreate) -> KeyCreated:
        """A new API key, shown this once (stored as a hash)."""
        _unscoped(ctx)
        return await ctx.services.keys.create(data, ctx.actor)

    @router.query("keys.list", input=KeyList, output=list[ApiKeyInfo], permission="admin")
    async def key_list(ctx: Context, _: KeyList) -> list[ApiKeyInfo]:
        """Every key made with keys.create, oldest first, never the key itself."""
        _unscoped(ctx)
        return await ctx.services.keys.list()

    @router.mutation("keys.revoke", input=IdInput, output=ApiKeyInfo, permission="admin")
    async def key_revoke(ctx: Context, data: IdInput) -> ApiKeyInfo:
        """Refused from now on, on every node within 2 s."""
        _unscoped(ctx)
        return await ctx.services.keys.revoke(data.id, ctx.actor)


def register_clients(router: Router) -> None:
    @router.mutation("clients.create", input=ClientCreate, output=Client, permission="create")
    async def create(ctx: Context, data: ClientCreate) -> Client:
        """A new client (``cli_…``); its slug from its name when not given."""
        if ctx.principal.client_id is not None:
            raise NotFound("a key scoped to a client cannot create clients")
        return await ctx.services.clients.create(data, ctx.actor)

    @router.mutation("clients.update", input=ClientUpdate, output=Client, permission="create")
    async def update(ctx: Context, data: ClientUpdate) -> Client:
        return await ctx.services.clients.update(_own(ctx, data.id), data.patch, ctx.actor)

    @router.mutation("clients.archive", input=IdInput, output=Client, permission="create")
    async def archive(ctx: Context, data: IdInput) -> Client:
        """No new tasks for this client from now on (CONFLICT on create)."""
        return await ctx.services.clients.archive(_own(ctx, data.id), ctx.actor)

    @router.query("clients.list", input=ClientList, output=ClientPage, permission="read")
    async def list_(ctx: Context, data: ClientList) -> ClientPage:
        """Newest first, paged by cursor."""
        return await ctx.services.clients.page(data, only=ctx.principal.client_id)

    @router.query("clients.get", input=IdInput, output=Client, permission="read")
    async def get(ctx: Context, data: IdInput) -> Client:
        return await ctx.services.clients.get(_own(ctx, data.id))


def register_connections(router: Router) -> None:
    @router.mutation("connections.create", input=ConnectionCreate, output=Connection,
                     permission="admin")
    async def connection_create(ctx: Context, data: ConnectionCreate) -> Connection:
        """Named credentials, sealed at rest; every value reads "********"."""
        scope = ctx.principal.client_id
        if scope is not None:  # what a scoped key makes belongs to its client
            data = msgspec.structs.replace(data, client_id=_own(ctx, data.client_id or scope))
        return await ctx.services.connections.create(data, ctx.actor)

    @router.mutation("connections.update", input=ConnectionUpdate, output=Connection,
                     permission="admin")
    async def connection_update(ctx: Context, data: ConnectionUpdate) -> Connection:
        """``values`` replaces them all ("********" keeps that one); version +1 when they change."""
        await _own_connection(ctx, data.id)
        if data.patch.client_id is not None:
            _own(ctx, data.patch.client_id)
        return await ctx.services.connections.update(data.id, data.patch, ctx.actor)

    @router.mutation("connections.delete", input=ConnectionDelete, output=IdOutput,
                     permission="admin")
    async def connection_delete(ctx: Context, data: ConnectionDelete) -> IdOutput:
        """CONFLICT naming the tasks and schedules that use it, unless ``force``."""
        await _own_connection(ctx, data.id)
        return IdOutput(id=await ctx.services.connections.delete(data.id, force=data.force,
                                                                 actor=ctx.actor))

    @router.query("connections.list", input=ConnectionList, output=list[Connection],
                  permission="read")
    async def connection_list(ctx: Context, data: ConnectionList) -> list[Connection]:
        """By name; values masked."""
        scope = ctx.principal.client_id
        if scope is not None:
            data = ConnectionList(client_id=_own(ctx, data.client_id or scope), kind=data.kind)
        return await ctx.services.connections.list(data)

    @router.query("connections.get", input=IdInput, output=Connection, permission="read")
    async def connection_get(ctx: Context, data: IdInput) -> Connection:
        return await _own_connection(ctx, data.id)


async def _own_connection(ctx: Context, connection_id: str) -> Connection:
    found = await ctx.services.connections.get(connection_id)
    scope = ctx.principal.client_id
    if scope is not None and found.client_id != scope:
        raise NotFound(f"no connection with id {connection_id!r}")
    return found
