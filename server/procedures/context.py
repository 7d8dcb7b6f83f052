"""What a procedure receives: who is calling, and the services built at start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import msgspec

from schemas.tasks import GroupCreate, TaskCreate
from server.core.auth import KeyRing, Principal
from server.core.errors import NotFound
from server.core.events import EventHub
from server.core.settings import Settings
from server.db.engine import Database
from server.services.approval_links import ApprovalLinkService
from server.services.audit import Actor, AuditService
from server.services.automations import Automations
from server.services.autorun import AutorunService
from server.services.callbacks import CallbackService
from server.services.clients import ClientService, ConnectionService
from server.services.insights import Insights
from server.services.keys import KeyService
from server.services.live import LiveBoard
from server.services.rate_limits import RateLimitService
from server.services.tasks import TaskService
from server.services.triggers import TriggerService


@dataclass(frozen=True)
class Services:
    """What procedures use, built once by the wiring point (server/node/app.py)."""

    settings: Settings
    db: Database
    tasks: TaskService
    hub: EventHub
    automations: Automations  # webhooks, messages, reports, schedules
    audit: AuditService
    insights: Insights
    autorun: AutorunService
    triggers: TriggerService
    callbacks: CallbackService
    approval_links: ApprovalLinkService
    started_monotonic: float
    version: str
    scheduler_running: Callable[[], bool]
    keyring: KeyRing  # subscription tokens (system.subscriptionToken)
    clients: ClientService
    connections: ConnectionService
    keys: KeyService
    rate_limits: RateLimitService
    live: LiveBoard  # the attempts running on this node: progress, live view


@dataclass(frozen=True)
class Context:
    principal: Principal
    services: Services
    request_id: str | None = None  # X-Request-ID of the HTTP request (server/node/operations.py)

    @property
    def actor(self) -> Actor:
        """Who the audit log names for this call."""
        return Actor(self.principal.name, self.principal.role, self.request_id)


Owned = TypeVar("Owned", TaskCreate, GroupCreate)


def owned(ctx: Context, data: Owned) -> Owned:
    """A task a key scoped to a client creates belongs to that client (CONTRACT §14); naming
    another client is NOT_FOUND, as that client is to the key."""
    scope = ctx.principal.client_id
    if scope is None:
        return data
    if data.client_id is not None and data.client_id != scope:
        raise NotFound(f"no client with id {data.client_id!r}")
    return msgspec.structs.replace(data, client_id=scope)


async def check_task_scope(ctx: Context, task_id: str) -> None:
    """NOT_FOUND when a key scoped to a client names a task of another (or none)."""
    scope = ctx.principal.client_id
    if scope is not None and (await ctx.services.tasks.get(task_id)).client_id != scope:
        raise NotFound(f"no task with id {task_id!r}")
