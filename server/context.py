"""What a procedure receives: who is calling, and the services built at start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.auth import Principal
from server.db.engine import Database
from server.events import EventHub
from server.services.audit import Actor
from server.services.tasks import TaskService
from server.settings import Settings


@dataclass
class Services:
    """Built once in the app's lifespan; ``extra`` holds services added by other areas."""

    settings: Settings
    db: Database
    tasks: TaskService
    hub: EventHub
    started_monotonic: float
    version: str
    scheduler_running: Any = None  # () -> bool
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    principal: Principal
    services: Services
    request_id: str | None = None  # X-Request-ID of the HTTP request (server/operations.py)

    @property
    def actor(self) -> Actor:
        """Who the audit log names for this call."""
        return Actor(self.principal.name, self.principal.role, self.request_id)
