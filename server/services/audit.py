"""The audit log (CONTRACT §10): who did what, written in the transaction of the change.

Services receive an :class:`Actor` (the key's name and role, and the request id) and call
``cs.audit(actor, action, target_type, target_id, detail)`` on their :class:`ChangeSet`; the
writer inserts the entries with the change, so a failed mutation writes none. Details are
masked like every answer (no secret leaves through the log).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from schemas.secrets import mask_value
from schemas.workflows import AuditEntry, AuditList, AuditPage
from server.core.ids import new_id
from server.db import audit as audit_db
from server.db.engine import Database
from server.db.repositories import Row
from server.services.pagination import decode_cursor, encode_key, page_of


@dataclass(frozen=True)
class Actor:
    name: str
    role: str | None
    request_id: str | None = None


SYSTEM = Actor("system", None)


def entry_values(actor: Actor, action: str, target_type: str, target_id: str | None,
                 detail: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {"id": new_id("aud"), "at": at, "actor": actor.name, "role": actor.role,
            "action": action, "target_type": target_type, "target_id": target_id,
            "detail": mask_value(detail), "request_id": actor.request_id}


def audit_view(row: Row) -> AuditEntry:
    return AuditEntry(id=row.id, at=row.at, actor=row.actor, role=row.role, action=row.action,
                      target_type=row.target_type, target_id=row.target_id,
                      detail=row.detail or {}, request_id=row.request_id)


class AuditService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def page(self, query: AuditList, scope: str | None = None) -> AuditPage:
        after = decode_cursor(query.cursor, procedure="audit.list") if query.cursor else None
        async with self.db.read() as conn:
            rows = await audit_db.audit_list(conn, target_id=query.target_id, actor=query.actor,
                                             action=query.action, since=query.since,
                                             limit=query.limit + 1, after=after,
                                             client_id=scope)
        kept, cursor = page_of(rows, query.limit, key=lambda row: encode_key(row.at, row.id))
        return AuditPage(items=[audit_view(r) for r in kept], next_cursor=cursor)


async def record(conn: AsyncConnection, actor: Actor, action: str, target_type: str,
                 target_id: str | None, detail: dict[str, Any], at: datetime) -> None:
    """One entry on ``conn`` — for services that write without a ChangeSet."""
    await audit_db.audit_insert(conn, [entry_values(actor, action, target_type, target_id,
                                                    detail, at)])
