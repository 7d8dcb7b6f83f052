"""audit.* — the audit log, newest first (CONTRACT §10)."""

from __future__ import annotations

from schemas.workflows import AuditList, AuditPage
from server.procedures.context import Context
from server.rpc.registry import Router


def register(router: Router) -> None:
    @router.query("audit.list", input=AuditList, output=AuditPage, permission="read")
    async def list_(ctx: Context, data: AuditList) -> AuditPage:
        """Audit entries filtered by targetId, actor, action and since; paged by cursor."""
        return await ctx.services.audit.page(data, scope=ctx.principal.client_id)
