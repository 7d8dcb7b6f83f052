"""The procedures of the Errands router, one module per area; :func:`build_router` joins them.

The app (server/node/app.py) serves this router; the client generators
(server/codegen/typegen.py) read it.
"""

from __future__ import annotations

from server.procedures import (
    approvals,
    audit,
    clients,
    flow,
    messages,
    schedules,
    system,
    tasks,
    triggers,
    webhooks,
    workflows,
)
from server.rpc.registry import Router


def build_router() -> Router:
    """Every procedure Errands serves."""
    router = Router()
    tasks.register(router)
    system.register(router)
    webhooks.register(router)
    messages.register(router)
    schedules.register(router)
    workflows.register(router)
    audit.register(router)
    clients.register(router)
    triggers.register(router)
    approvals.register(router)
    flow.register(router)
    return router
