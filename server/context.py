"""What a procedure receives: who is calling, and the services built at start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from server.auth import Principal
from server.db.engine import Database
from server.events import EventHub
from server.services.audit import Actor, AuditService
from server.services.automations import Automations
from server.services.autorun import AutorunService
from server.services.insights import Insights
from server.services.tasks import TaskService
from server.settings import Settings


@dataclass(frozen=True)
class Services:
    """What procedures use, built once by the wiring point (server/app.py)."""

    settings: Settings
    db: Database
    tasks: TaskService
    hub: EventHub
    automations: Automations  # webhooks, messages, reports, schedules
    audit: AuditService
    insights: Insights
    autorun: AutorunService
    started_monotonic: float
    version: str
    scheduler_running: Callable[[], bool]


@dataclass(frozen=True)
class Context:
    principal: Principal
    services: Services
    request_id: str | None = None  # X-Request-ID of the HTTP request (server/operations.py)

    @property
    def actor(self) -> Actor:
        """Who the audit log names for this call."""
        return Actor(self.principal.name, self.principal.role, self.request_id)
