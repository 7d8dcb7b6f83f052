"""API keys made at run time (CONTRACT §14 ``keys.*``), beside ERRANDS_API_KEYS.

- ``keys.create`` makes a key (``erk_`` + 43 random URL-safe characters) and shows it once;
  only its SHA-256 is stored. A key may carry a ``clientId`` (it then sees and acts on that
  client's work only) and an ``expiresAt`` (refused from then on).
- Every node keeps the keys not revoked in memory, read again from the database every
  ``refresh_seconds`` (1 s): a key revoked on one node is refused by every node within about a
  second (plus the read's time). A key this node does not know yet (made on another node in
  the last second) is looked up in the database once; unknown keys are remembered as unknown
  until the next refresh, so a stream of bad keys costs one query a second at most per key.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from schemas.clients import ApiKeyInfo, KeyCreate, KeyCreated
from schemas.system import Role
from server.core.auth import Principal
from server.core.background import BackgroundLoop
from server.core.errors import InvalidInput, NotFound, Unauthorized
from server.core.ids import new_id
from server.db import clients as rows
from server.db.engine import Database
from server.db.repositories import Row
from server.services.audit import SYSTEM, Actor, record

log = logging.getLogger("errands.keys")
KEY_PREFIX = "erk_"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class _Known:
    principal: Principal
    expires_at: datetime | None


def _known(row: Row) -> _Known:
    return _Known(Principal(row.name, row.role, row.client_id, row.key_hash), row.expires_at)


def key_view(row: Row) -> ApiKeyInfo:
    return ApiKeyInfo(id=row.id, name=row.name, role=cast(Role, row.role),
                      client_id=row.client_id, expires_at=row.expires_at,
                      created_at=row.created_at, revoked_at=row.revoked_at)


class KeyService(BackgroundLoop):
    task_name = "api-keys"

    def __init__(self, db: Database, clock: Callable[[], datetime], *,
                 refresh_seconds: float = 1.0) -> None:
        self.db = db
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self._live: dict[str, _Known] = {}
        self._unknown: set[str] = set()

    # --- the keys.* procedures ---------------------------------------------------------------

    async def create(self, data: KeyCreate, actor: Actor = SYSTEM) -> KeyCreated:
        now = self.clock()
        if data.expires_at is not None and data.expires_at <= now:
            raise InvalidInput.at(["expiresAt"], "is in the past")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = new_id("key")
        async with self.db.write() as conn:
            if data.client_id is not None and await rows.client_get(conn, data.client_id) is None:
                raise InvalidInput.at(["clientId"], f"no client with id {data.client_id!r}")
            row = await rows.key_insert(conn, {
                "id": key_id, "name": data.name, "role": data.role,
                "client_id": data.client_id, "key_hash": key_hash(key), "created_at": now,
                "expires_at": data.expires_at, "revoked_at": None})
            await record(conn, actor, "keys.create", "key", key_id,
                         {"name": data.name, "role": data.role, "clientId": data.client_id},
                         now)
        self._live[row.key_hash] = _known(row)
        return KeyCreated(id=row.id, name=row.name, role=data.role, client_id=row.client_id,
                          expires_at=row.expires_at, key=key)

    async def list(self) -> list[ApiKeyInfo]:
        async with self.db.read() as conn:
            return [key_view(r) for r in await rows.key_list(conn)]

    async def revoke(self, key_id: str, actor: Actor = SYSTEM) -> ApiKeyInfo:
        now = self.clock()
        async with self.db.write() as conn:
            row = await rows.key_revoke(conn, key_id, now)
            if row is None:
                raise NotFound(f"no key with id {key_id!r}")
            await record(conn, actor, "keys.revoke", "key", key_id, {"name": row.name}, now)
        self._live.pop(row.key_hash, None)
        return key_view(row)

    # --- authentication ----------------------------------------------------------------------

    async def principal(self, key: str) -> Principal:
        """Who ``key`` is; Unauthorized when unknown, revoked or expired."""
        return await self.principal_of_hash(key_hash(key))

    async def principal_of_hash(self, digest: str) -> Principal:
        """Who the key whose SHA-256 is ``digest`` is (a subscription token names it);
        Unauthorized when unknown, revoked or expired."""
        known = self._live.get(digest)
        if known is None and digest not in self._unknown:
            async with self.db.read() as conn:
                row = await rows.key_by_hash(conn, digest)
            if row is not None and row.revoked_at is None:
                known = self._live[digest] = _known(row)
            else:
                self._unknown.add(digest)
        if known is None:
            raise Unauthorized("unknown API key")
        if known.expires_at is not None and known.expires_at <= self.clock():
            raise Unauthorized("API key expired")
        return known.principal

    async def refresh(self) -> None:
        async with self.db.read() as conn:
            live = await rows.keys_live(conn)
        self._live = {r.key_hash: _known(r) for r in live}
        self._unknown = set()

    async def _run(self) -> None:
        failing = False  # one warning an outage, not one a second
        while True:
            try:
                await self.refresh()
                if failing:
                    log.info("reading API keys works again")
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("reading API keys failed (%s); trying again every %.0f s",
                                type(exc).__name__, self.refresh_seconds)
                failing = True
            await asyncio.sleep(self.refresh_seconds)
