"""TriggerService: triggers.* and the calls to ``POST /hooks/<triggerId>`` (CONTRACT §16).

A trigger holds a TaskCreate template whose strings may hold ``{{event.path}}`` placeholders
(server/core/placeholders.py) and a Standard Webhooks secret, sealed at rest like webhook secrets
(server/services/secrets_box.py). A received call is checked (size, rate, signature), the
template filled from the JSON body, and a task created with the idempotency key
``trigger:<triggerId>:<webhook-id>`` — so a replayed ``webhook-id`` answers the first task
and creates nothing. Every call to a known trigger is recorded (``triggers.deliveries``).
Nothing here logs a secret or a received body.
"""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from executors.base import Issue
from executors.registry import ExecutorRegistry
from schemas.base import IdOutput, validation_issue
from schemas.tasks import TaskCreate
from schemas.triggers import (
    Trigger,
    TriggerCreate,
    TriggerCreated,
    TriggerDelivery,
    TriggerPatch,
    Verify,
)
from server.core import placeholders
from server.core.errors import ErrandsError, InvalidInput, NotFound
from server.core.ids import new_id
from server.db import triggers as trigger_rows
from server.db.engine import Database
from server.db.repositories import Row
from server.db.rows import TaskRow
from server.services import signing
from server.services.audit import SYSTEM, Actor, record
from server.services.changes import ChangeSet
from server.services.secrets_box import SecretBox
from server.services.tasks import TRIGGER_KEY_PREFIX as KEY_PREFIX
from server.services.tasks import TaskService, decode_config, keep_secrets
from server.services.views import mask_config

log = logging.getLogger("errands.triggers")
#: Calls kept per trigger for ``triggers.deliveries`` (older ones are pruned).
KEEP_DELIVERIES = 1000


@dataclass(frozen=True)
class Answer:
    """What ``POST /hooks/<id>`` answers: an HTTP status and a JSON body."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] | None = None


class RateLimit:
    """A token bucket per trigger: ``rate`` calls a second, bursts of ``rate`` (at least
    one; 0: no limit)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """0 when a call may pass now, else the seconds until one may."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        size = max(1.0, self.rate)
        tokens, at = self._buckets.get(key, (size, now))
        tokens = min(size, tokens + (now - at) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1, now)
        return 0.0


class TriggerService:
    def __init__(self, db: Database, box: SecretBox, tasks: TaskService,
                 executors: ExecutorRegistry, clock: Callable[[], datetime], *,
                 base_url: str, rate_per_second: float,
                 counted: Callable[[str, str], None] = lambda _trigger, _outcome: None) -> None:
        self.db = db
        self.box = box
        self.tasks = tasks
        self.executors = executors
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self.limits = RateLimit(rate_per_second)
        self.counted = counted  # (trigger id, received | accepted | refused): metrics
        self._keys: dict[tuple[str, bytes], bytes] = {}  # opened secrets, by sealed value
        self._calls: dict[str, int] = {}

    # --- views and checks ------------------------------------------------------------------

    def view(self, row: Row) -> Trigger:
        return Trigger(id=row.id, name=row.name, url=f"{self.base_url}/hooks/{row.id}",
                       verify=row.verify, client_id=row.client_id, enabled=row.enabled,
                       template=_masked_template(row.template), created_at=row.created_at,
                       last_received_at=row.last_received_at)

    def _created(self, row: Row, secret: str) -> TriggerCreated:
        view = self.view(row)
        return TriggerCreated(**{f: getattr(view, f) for f in view.__struct_fields__},
                              secret=secret)

    def _check_template(self, template: TaskCreate, prefix: tuple[str, ...]) -> None:
        """Placeholder syntax anywhere; the executionConfig checked as on create when no
        placeholder in it waits for an event; no idempotencyKey (each call sets one)."""
        if template.idempotency_key is not None:
            raise InvalidInput.at([*prefix, "idempotencyKey"],
                                  "is set per call by the trigger; leave it out")
        wire = msgspec.to_builtins(template)
        problems = placeholders.check_event(wire)
        if problems:
            raise _issues([Issue(p.path, p.message) for p in problems], prefix)
        config = template.execution_config
        if placeholders.has_event_placeholders(config):
            return
        try:
            typed = decode_config(template.task_type, config, (*prefix, "executionConfig"))
        except InvalidInput:
            raise
        executor = self.executors.get(template.task_type)
        found = [] if executor is None else executor.check(
            typed, source_webhook_id=template.source_webhook_id)
        if found:
            raise _issues(found, (*prefix, "executionConfig"))

    # --- procedures ------------------------------------------------------------------------

    async def create(self, data: TriggerCreate, actor: Actor = SYSTEM) -> TriggerCreated:
        self._check_template(data.template, ("template",))
        secret = signing.new_secret()
        trigger_id = new_id("trg")
        async with self.db.write() as conn:
            row = await trigger_rows.trigger_insert(conn, {
                "id": trigger_id, "name": data.name, "verify": data.verify,
                "client_id": data.client_id, "enabled": True,
                "template": msgspec.to_builtins(data.template),
                "secret_sealed": self.box.seal(secret, context=trigger_id),
                "created_at": self.clock(), "last_received_at": None})
            await record(conn, actor, "triggers.create", "trigger", trigger_id,
                         {"name": data.name, "verify": data.verify}, row.created_at)
        return self._created(row, secret)

    async def list(self) -> builtins.list[Trigger]:
        async with self.db.read() as conn:
            return [self.view(r) for r in await trigger_rows.trigger_list(conn)]

    async def _row(self, trigger_id: str) -> Row:
        async with self.db.read() as conn:
            row = await trigger_rows.trigger_get(conn, trigger_id)
        if row is None:
            raise NotFound(f"no trigger with id {trigger_id!r}")
        return row

    async def get(self, trigger_id: str) -> Trigger:
        return self.view(await self._row(trigger_id))

    async def update(self, trigger_id: str, patch: TriggerPatch, actor: Actor = SYSTEM
                     ) -> Trigger:
        row = await self._row(trigger_id)
        values: dict[str, Any] = {}
        if patch.name is not None:
            values["name"] = patch.name
        if patch.enabled is not None:
            values["enabled"] = patch.enabled
        if patch.template is not None:
            template = msgspec.convert(
                keep_secrets(msgspec.to_builtins(patch.template), row.template), TaskCreate)
            self._check_template(template, ("patch", "template"))
            values["template"] = msgspec.to_builtins(template)
        if not values:
            raise InvalidInput.at(["patch"], "names no field to change")
        async with self.db.write() as conn:
            new = await trigger_rows.trigger_update(conn, trigger_id, values)
            if new is None:
                raise NotFound(f"no trigger with id {trigger_id!r}")
            await record(conn, actor, "triggers.update", "trigger", trigger_id,
                         {"changed": sorted(_WIRE.get(k, k) for k in values)}, self.clock())
        return self.view(new)

    async def rotate_secret(self, trigger_id: str, actor: Actor = SYSTEM) -> TriggerCreated:
        await self._row(trigger_id)
        secret = signing.new_secret()
        async with self.db.write() as conn:
            new = await trigger_rows.trigger_update(
                conn, trigger_id, {"secret_sealed": self.box.seal(secret, context=trigger_id)})
            if new is None:
                raise NotFound(f"no trigger with id {trigger_id!r}")
            await record(conn, actor, "triggers.rotateSecret", "trigger", trigger_id, {},
                         self.clock())
        return self._created(new, secret)

    async def delete(self, trigger_id: str, actor: Actor = SYSTEM) -> IdOutput:
        async with self.db.write() as conn:
            if not await trigger_rows.trigger_delete(conn, trigger_id):
                raise NotFound(f"no trigger with id {trigger_id!r}")
            await record(conn, actor, "triggers.delete", "trigger", trigger_id, {},
                         self.clock())
        return IdOutput(id=trigger_id)

    async def deliveries(self, trigger_id: str, limit: int
                         ) -> builtins.list[TriggerDelivery]:
        await self._row(trigger_id)
        async with self.db.read() as conn:
            rows = await trigger_rows.deliveries_last(conn, trigger_id, limit)
        return [TriggerDelivery(at=r.at, status=r.status, task_id=r.task_id, error=r.error)
                for r in rows]

    # --- a received call -------------------------------------------------------------------

    async def receive(self, trigger_id: str, headers: dict[str, str], body: bytes | None
                      ) -> Answer:
        """The answer to ``POST /hooks/<trigger_id>``; ``body`` None: it was over
        MAX_BODY_BYTES."""
        async with self.db.read() as conn:
            row = await trigger_rows.trigger_get(conn, trigger_id)
        if row is None or not row.enabled:
            return Answer(404, {"error": f"no enabled trigger with id {trigger_id!r}"})
        self.counted(row.id, "received")
        recorded: builtins.list[bool] = []
        answer = await self._answer(row, headers, body, recorded)
        self.counted(row.id, "accepted" if answer.status == 202 else "refused")
        if not recorded:  # refused, or a replay: recorded apart
            await self.tasks.writer.run(lambda cs: self._record(cs, row.id, answer))
        return answer

    async def _answer(self, row: Row, headers: dict[str, str], body: bytes | None,
                      recorded: builtins.list[bool]) -> Answer:
        wait = self.limits.take(row.id)
        if wait > 0:
            return Answer(429, {"error": "too many calls to this trigger; try again later"},
                          {"retry-after": str(max(1, round(wait)))})
        if body is None:
            return Answer(413, {"error": "the body is larger than MAX_BODY_BYTES"})
        message_id = headers.get("webhook-id")
        if row.verify == "standard_webhooks":
            wrong = signing.verify(self._key(row), message_id, headers.get("webhook-timestamp"),
                                   headers.get("webhook-signature"), body,
                                   self.clock().timestamp())
            if wrong is not None:
                return Answer(401, {"error": f"signature refused: {wrong}"})
        try:
            event = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return Answer(422, {"error": "the body is not JSON"})
        try:
            filled = placeholders.fill_event(row.template, event)
        except placeholders.Unresolved as exc:
            return Answer(422, {"error": f"the template cannot be filled: {exc}"})
        key = f"{KEY_PREFIX}{row.id}:{message_id or new_id('evt')}"
        if isinstance(filled, dict):
            filled["idempotencyKey"] = key[:200]
        try:
            data = msgspec.convert(filled, TaskCreate)
        except msgspec.ValidationError as exc:
            path, message = validation_issue(exc)
            where = ".".join(map(str, path))
            return Answer(422, {"error": f"the filled template is not a valid task: "
                                         f"{where + ': ' if where else ''}{message}"})
        async def record(cs: ChangeSet, task: TaskRow) -> None:
            await self._record(cs, row.id, Answer(202, {"taskId": task.id}))
            recorded.append(True)

        try:
            task = await self.tasks.create(data, actor=Actor(f"trigger:{row.name}", None),
                                           action="trigger", also=record)
        except ErrandsError as exc:
            if exc.code == "SERVICE_UNAVAILABLE" or exc.code == "INTERNAL_SERVER_ERROR":
                raise
            return Answer(422, {"error": f"the filled template is not a valid task: "
                                         f"{exc.message}"})
        return Answer(202, {"taskId": task.id})

    def _key(self, row: Row) -> bytes:
        cached = self._keys.get((row.id, row.secret_sealed))
        if cached is None:
            cached = signing.secret_key(self.box.open(row.secret_sealed, context=row.id))
            self._keys = {k: v for k, v in self._keys.items() if k[0] != row.id}
            self._keys[(row.id, row.secret_sealed)] = cached
        return cached

    async def _record(self, cs: ChangeSet, trigger_id: str, answer: Answer) -> None:
        """One call in ``triggers.deliveries`` (in the transaction that creates its task)."""
        calls = self._calls[trigger_id] = self._calls.get(trigger_id, 0) + 1
        await trigger_rows.delivery_insert(cs.conn, trigger_id, cs.now, answer.status,
                                           answer.body.get("taskId"), answer.body.get("error"))
        if calls % 100 == 0:
            await trigger_rows.deliveries_prune(cs.conn, trigger_id, KEEP_DELIVERIES)


_WIRE = {"client_id": "clientId"}


def _masked_template(template: dict[str, Any]) -> TaskCreate:
    shown = dict(template)
    shown["executionConfig"] = mask_config(shown["taskType"], shown.get("executionConfig") or {})
    return msgspec.convert(shown, TaskCreate)


def _issues(issues: list[Issue], prefix: tuple[str, ...]) -> InvalidInput:
    items = [{"path": [*prefix, *i.path], "message": i.message} for i in issues]
    return InvalidInput("; ".join(f"{'.'.join(map(str, i['path']))}: {i['message']}"
                                  for i in items), items)


__all__ = ["Answer", "RateLimit", "TriggerService", "Verify"]
