"""The procedures of the Errands router, one module per area; :func:`build_router` joins them.

The app (server/app.py) serves this router; the client generators (server/typegen.py) read it.
"""

from __future__ import annotations

from server.procedures import (
    audit,
    clients,
    messages,
    schedules,
    system,
    tasks,
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
    return router
