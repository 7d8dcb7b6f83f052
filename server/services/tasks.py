"""TaskService: create, read and the people's actions on tasks — repositories + lifecycle.

Every status change is a compare-and-set inside one write transaction; when the CAS loses
(someone else changed the task in between), the caller gets CONFLICT naming the status the
task is in now.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from executors.base import Issue
from executors.registry import ExecutorRegistry
from schemas.base import validation_issue
from schemas.configs import CONFIG_TYPES, DEFAULT_TIMEOUT_SECONDS, MASK, CreatableTaskType
from schemas.tasks import (
    GroupCreate,
    RetryPolicyInput,
    Task,
    TaskCreate,
    TaskExecution,
    TaskList,
    TaskPage,
)
from schemas.workflows import BulkError, BulkItem, BulkResult, TaskPatch
from server.core import lifecycle, placeholders
from server.core.claims import dest_host, lane_of
from server.core.errors import (
    Conflict,
    ErrandsError,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from server.core.ids import new_id
from server.core.lifecycle import Status
from server.db import repositories as repo
from server.db import webhooks as webhook_db
from server.db import workflows as wf
from server.db.engine import Database
from server.db.rows import TaskRow
from server.db.shared_reads import KeyedReads
from server.db.tables import NO_DEADLINE
from server.services import groups
from server.services.audit import SYSTEM, Actor
from server.services.changes import ChangeSet, Writer
from server.services.clients import ClientService, ConnectionService
from server.services.insights import group_members
from server.services.pagination import decode_cursor, page_of
from server.services.task_events import STORED_TASK_FIELDS, compact_events
from server.services.views import execution_view, mask_config, task_view

_encoder = msgspec.json.Encoder()
PRIORITY_RANK: Final[dict[str, int]] = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
#: Task types no bot runs: they wait ``pending`` for something else (a callback, §16).
NO_BOT_TYPES: Final = frozenset({"callback", groups.GROUP})


def decode_config(task_type: str, raw: dict[str, Any],
                  prefix: tuple[str | int, ...] = ("executionConfig",)) -> Any:
    """The typed config Struct; raises InvalidInput naming each bad field."""
    try:
        return msgspec.convert(raw, CONFIG_TYPES[task_type])
    except msgspec.ValidationError as exc:
        path, message = validation_issue(exc)
        raise _issues_error([Issue(tuple(path), message)], prefix) from None


def _issues_error(issues: list[Issue],
                  prefix: tuple[str | int, ...] = ("executionConfig",)) -> InvalidInput:
    """BAD_REQUEST naming each field of executionConfig that is wrong."""
    items = [{"path": [*prefix, *i.path], "message": i.message} for i in issues]
    return InvalidInput("; ".join(f"{'.'.join(map(str, i['path']))}: {i['message']}"
                                  for i in items), items)


SCHEDULE_KEY_PREFIX = "schedule:"
TRIGGER_KEY_PREFIX = "trigger:"


def _same_task_type(found: TaskRow, data: TaskCreate) -> TaskRow:
    """The task already holding the idempotency key, if it is the same kind of task."""
    if found.task_type != data.task_type:
        raise Conflict(f"idempotencyKey {data.idempotency_key!r} is already used by task "
                       f"{found.id} of taskType {found.task_type}, not {data.task_type}")
    return found


@dataclass(frozen=True)
class TaskRules:
    """Separation of duties and input limits (CONTRACT §13; server/core/settings.py)."""

    review_separation: lifecycle.ReviewSeparation = "editor"
    max_config_bytes: int = 65_536
    max_browser_steps: int = 200


class TaskService:
    def __init__(self, db: Database, writer: Writer, executors: ExecutorRegistry, *,
                 review_required_types: frozenset[str], clock: Callable[[], datetime],
                 webhook_exists: Callable[[str], Any] | None = None,
                 rules: TaskRules = TaskRules(),
                 clients: ClientService | None = None,
                 connections: ConnectionService | None = None) -> None:
        self.db = db
        self.rules = rules
        self.writer = writer
        self.executors = executors
        self.review_required_types = review_required_types
        self.clock = clock
        self.webhook_exists = webhook_exists
        self.clients = clients
        self.connections = connections
        self._by_id: KeyedReads[str, TaskRow] = KeyedReads(self._get_many)
        #: Called in the transaction that inserts a task (callbacks: its token's hash).
        self.inserted: list[Callable[[ChangeSet, TaskRow], Awaitable[None]]] = []
        #: Called in the transaction that sends a task back to review (approval withdrawn).
        self.review_entered: list[Callable[[ChangeSet, TaskRow], Awaitable[None]]] = []
        #: Review rules (server/services/reviews.py): called as an approval is recorded;
        #: answers the task still awaiting more approvals, or values the approval also writes.
        self.review_gate: Callable[[ChangeSet, TaskRow, str, str | None, Actor, str],
                                   Awaitable[TaskRow | dict[str, Any]]] | None = None

    async def promote_due(self) -> datetime | None:
        """The task timer's work: scheduled and retrying tasks whose time came become queued;
        returns when the next one comes due."""
        async with self.writer.transaction() as cs:
            # A burst of 10,000 is one statement that reads back only what the events store.
            rows = await repo.task_promote_due(cs.conn, cs.now, returning=STORED_TASK_FIELDS)
            cs.emit_queued("status", [row[0] for row in rows], compact_events("status", rows))
            return await repo.task_next_due_at(cs.conn)

    # --- create ----------------------------------------------------------------------------

    def check_limits(self, task_type: str, raw: dict[str, Any],
                     prefix: tuple[str | int, ...] = ("executionConfig",)) -> None:
        """MAX_CONFIG_BYTES and MAX_BROWSER_STEPS (CONTRACT §13), before any other check."""
        size = len(_encoder.encode(raw))
        if size > self.rules.max_config_bytes:
            raise InvalidInput.at(list(prefix), f"is {size} bytes encoded; at most "
                                  f"{self.rules.max_config_bytes} (MAX_CONFIG_BYTES)")
        steps = raw.get("steps")
        if task_type == "browser_automation" and isinstance(steps, list) \
                and len(steps) > self.rules.max_browser_steps:
            raise InvalidInput.at([*prefix, "steps"], f"has {len(steps)} steps; at most "
                                  f"{self.rules.max_browser_steps} (MAX_BROWSER_STEPS)")

    def _check_config(self, task_type: str, raw: dict[str, Any], *, dependencies: int,
                      source_webhook_id: str | None,
                      prefix: tuple[str | int, ...] = ("executionConfig",),
                      location_known: bool = False) -> None:
        """What create and update check: size, types, the executor's own rules, placeholders.
        ``location_known``: the task's connection or client gives a HighLevel location."""
        self.check_limits(task_type, raw, prefix)
        config = decode_config(task_type, raw, prefix)
        executor = self.executors.get(task_type)
        if executor is not None:
            problems = executor.check(config, source_webhook_id=source_webhook_id)
            if location_known and task_type == "ghl_action":
                problems = [p for p in problems if p.path != ("locationId",)]
            if problems:
                raise _issues_error(problems, prefix)
        found = placeholders.check(raw, dependencies)
        if found:
            raise _issues_error([Issue(p.path, p.message) for p in found], prefix)

    async def create(self, data: TaskCreate, *, triggered_by: str = "create",
                     actor: Actor = SYSTEM, action: str | None = None,
                     also: Callable[[ChangeSet, TaskRow], Awaitable[None]] | None = None
                     ) -> Task:
        """Create a task, or return the existing one with the same ``idempotencyKey`` (the
        same key with another taskType is ``CONFLICT``; ``schedule:`` keys are the
        scheduler's own). ``also`` runs in the transaction that inserts the task."""
        key = data.idempotency_key
        if key is not None and key.startswith(SCHEDULE_KEY_PREFIX) \
                and triggered_by != "automation":
            raise InvalidInput.at(["idempotencyKey"], f"the prefix {SCHEDULE_KEY_PREFIX!r} is "
                                  "reserved for tasks created by schedules")
        if key is not None and key.startswith(TRIGGER_KEY_PREFIX) and action != "trigger":
            raise InvalidInput.at(["idempotencyKey"], f"the prefix {TRIGGER_KEY_PREFIX!r} is "
                                  "reserved for tasks created by triggers")
        if key is not None:
            async with self.db.read() as conn:
                found = await repo.task_get_by_idempotency_key(conn, key)
            if found is not None:
                return task_view(_same_task_type(found, data))
        check_flow(data)
        location = await self.check_client(data.task_type, data.execution_config,
                                            data.client_id, ("executionConfig",), ["clientId"])
        self._check_config(data.task_type, data.execution_config,
                           dependencies=len(dict.fromkeys(data.depends_on or [])),
                           source_webhook_id=data.source_webhook_id,
                           location_known=location)
        await self._check_webhook(data.source_webhook_id)
        if data.debounce is not None:
            return task_view(await self._debounced(data, triggered_by, actor, action, also))
        try:
            row = await self.writer.run(
                lambda cs: self._insert(cs, data, triggered_by, actor, action, also))
        except IntegrityError:
            if data.idempotency_key is None:
                raise
            async with self.db.read() as conn:
                found = await repo.task_get_by_idempotency_key(conn, data.idempotency_key)
            if found is None:
                raise
            row = _same_task_type(found, data)
        return task_view(row)

    async def create_group(self, data: GroupCreate, *, actor: Actor = SYSTEM) -> Task:
        """CONTRACT §17 ``tasks.createGroup``: the group and its subtasks in one transaction,
        or the group already holding ``idempotencyKey``. Each subtask is checked as
        ``tasks.create`` checks a task (issues named under ``subtasks.<i>``) and placed by its
        own rules; it depends on its own ``dependsOn`` and then the group's."""
        key = data.idempotency_key
        if key is not None:
            if key.startswith((SCHEDULE_KEY_PREFIX, TRIGGER_KEY_PREFIX)):
                raise InvalidInput.at(["idempotencyKey"], "the prefixes 'schedule:' and "
                                      "'trigger:' are reserved")
            found = await self._by_key(key)
            if found is not None:
                return task_view(found)
        group_deps = list(dict.fromkeys(data.depends_on or []))
        children: list[TaskCreate] = []
        for i, sub in enumerate(data.subtasks):
            children.append(await self._check_subtask(i, sub, data, group_deps))
        if data.client_id is not None and self.clients is not None:
            await self.clients.check_open(data.client_id, ["clientId"])
        await self._check_webhook(data.source_webhook_id)
        try:
            row = await self.writer.run(
                lambda cs: self._insert_group(cs, data, children, group_deps, actor))
        except IntegrityError:
            found = await self._by_key(key) if key is not None else None
            if found is None:
                raise
            row = found
        return task_view(row)

    async def _by_key(self, key: str) -> TaskRow | None:
        """The group holding an idempotency key; CONFLICT when a task that is no group does."""
        async with self.db.read() as conn:
            found = await repo.task_get_by_idempotency_key(conn, key)
        if found is not None and found.task_type != groups.GROUP:
            raise Conflict(f"idempotencyKey {key!r} is already used by task {found.id} of "
                           f"taskType {found.task_type}, not group")
        return found

    async def _check_subtask(self, i: int, sub: TaskCreate, data: GroupCreate,
                             group_deps: list[str]) -> TaskCreate:
        """Subtask ``i`` checked as tasks.create would (issues under ``subtasks.<i>``), with
        the group's client and dependencies."""
        at: list[str | int] = ["subtasks", i]
        if sub.task_type == groups.GROUP:
            raise InvalidInput.at([*at, "taskType"], "a group cannot hold a group")
        if sub.idempotency_key is not None:
            raise InvalidInput.at([*at, "idempotencyKey"], "idempotency keys apply to the "
                                  "group: give the group one")
        client_id = sub.client_id or data.client_id
        depends_on = list(dict.fromkeys([*(sub.depends_on or []), *group_deps]))
        prefix = ("subtasks", i, "executionConfig")
        location = await self.check_client(sub.task_type, sub.execution_config, client_id,
                                            prefix, [*at, "clientId"])
        self._check_config(sub.task_type, sub.execution_config, dependencies=len(depends_on),
                           source_webhook_id=sub.source_webhook_id, prefix=prefix,
                           location_known=location)
        if sub.source_webhook_id is not None and self.webhook_exists is not None \
                and not await self.webhook_exists(sub.source_webhook_id):
            raise InvalidInput.at([*at, "sourceWebhookId"],
                                  f"no webhook with id {sub.source_webhook_id!r}")
        return msgspec.structs.replace(sub, client_id=client_id, depends_on=depends_on or None)

    async def _insert_group(self, cs: ChangeSet, data: GroupCreate, children: list[TaskCreate],
                            group_deps: list[str], actor: Actor) -> TaskRow:
        """The group row, then its subtasks (ids in their order), in ``cs``'s transaction."""
        broken, _ = await _dependencies_state(cs, group_deps)
        ids = sorted(new_id("tsk") for _ in range(len(children) + 1))
        now = cs.now
        status = Status.CANCELLED if broken else Status.SCHEDULED
        values: dict[str, Any] = {
            "id": ids[0], "title": data.title, "description": data.description,
            "task_type": groups.GROUP, "execution_type": "automatic", "assigned_to_bot": True,
            "requires_human_review": False, "execution_config": {}, "priority": "normal",
            "priority_rank": PRIORITY_RANK["normal"], "max_retries": 0,
            "timeout_seconds": DEFAULT_TIMEOUT_SECONDS[groups.GROUP],
            "notify_on_complete": data.notify_on_complete,
            "notify_on_failure": data.notify_on_failure,
            "source_webhook_id": data.source_webhook_id, "idempotency_key": data.idempotency_key,
            "depends_on": group_deps, "meta": data.metadata,
            "tags": list(dict.fromkeys(data.tags)) if data.tags else None,
            "status": status.value, "status_reason": broken or lifecycle.GROUP_WAITING,
            "error_count": 0, "created_at": now, "updated_at": now,
            "completed_at": now if broken else None, "attempts": 0, "next_trigger": "create",
            "created_by": actor.name if actor is not SYSTEM else None,
            "client_id": data.client_id, "group_policy": data.policy,
            "children": lifecycle.child_counts(len(children), {}),
        }
        group = await repo.task_insert(cs.conn, values, group_deps)
        if values["tags"]:
            await repo.task_tags_set(cs.conn, group.id, values["tags"], replace=False)
        cs.emit("created", group)
        cs.audit(actor, "tasks.createGroup", "task", group.id,
                 {"title": data.title, "taskType": groups.GROUP, "status": group.status,
                  "policy": data.policy, "subtasks": len(children)})
        ended = []
        for child, child_id in zip(children, ids[1:], strict=True):
            row = await self._insert(cs, child, "create", actor, action="tasks.createGroup",
                                     parent_id=group.id, task_id=child_id)
            if row.status in lifecycle.TERMINAL:
                ended.append(row)
        if ended:  # a dependency of a subtask had broken already: the group counts it
            await cs.flush_tasks()
            await _settle_group_of(cs, ended[-1], actor)
            group = await repo.task_get(cs.conn, group.id) or group
        return group

    async def check_client(self, task_type: str, config: dict[str, Any],
                            client_id: str | None, prefix: tuple[str | int, ...],
                            client_path: list[str | int]) -> bool:
        """The task's client takes new tasks, and the connection its config names exists, is
        of a kind it takes, and is the client's (or nobody's): CONTRACT §14. True when the
        connection or the client gives a HighLevel location."""
        if client_id is not None and self.clients is not None:
            await self.clients.check_open(client_id, client_path)
        covered = config.get("clientId") if task_type == "report_generation" else None
        if isinstance(covered, str) and self.clients is not None:
            if client_id is not None and covered != client_id:
                raise InvalidInput.at([*prefix, "clientId"], "a client's report covers that "
                                      "client only")
            await self.clients.get_for(covered, [*prefix, "clientId"])
        if self.connections is None:
            return False
        return await self.connections.check_use(task_type, config, client_id, prefix) \
            is not None

    async def _check_webhook(self, webhook_id: str | None) -> None:
        if webhook_id is None or self.webhook_exists is None:
            return
        if not await self.webhook_exists(webhook_id):
            raise InvalidInput.at(["sourceWebhookId"], f"no webhook with id {webhook_id!r}")

    async def _debounced(self, data: TaskCreate, triggered_by: str, actor: Actor,
                         action: str | None,
                         also: Callable[[ChangeSet, TaskRow], Awaitable[None]] | None
                         ) -> TaskRow:
        """CONTRACT §15 debounce: the task still waiting (``scheduled``) under this key takes
        the new input and starts ``seconds`` from now; else a new one waits that long. Two
        nodes creating the first at once: the unique index lets one insert, the other then
        finds it."""
        assert data.debounce is not None
        for attempt in range(3):
            try:
                return await self.writer.run(
                    lambda cs: self._debounce_in(cs, data, triggered_by, actor, action, also))
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _debounce_in(self, cs: ChangeSet, data: TaskCreate, triggered_by: str,
                           actor: Actor, action: str | None,
                           also: Callable[[ChangeSet, TaskRow], Awaitable[None]] | None
                           ) -> TaskRow:
        assert data.debounce is not None
        at = cs.now + timedelta(seconds=data.debounce.seconds)
        found = await repo.task_debounced(cs.conn, data.debounce.key)
        if found is None:
            return await self._insert(cs, data, triggered_by, actor, action, also,
                                      debounce_at=at)
        if found.task_type != data.task_type:
            raise Conflict(f"debounce key {data.debounce.key!r} is held by task {found.id} of "
                           f"taskType {found.task_type}, not {data.task_type}")
        host = await host_of(cs.conn, data.task_type, data.execution_config,
                             depends_on=list(found.depends_on or []),
                             source_webhook_id=data.source_webhook_id)
        values: dict[str, Any] = {
            "title": data.title, "description": data.description,
            "execution_config": data.execution_config, "priority": data.priority,
            "priority_rank": PRIORITY_RANK[data.priority], "max_retries": data.max_retries,
            "timeout_seconds": data.timeout_seconds or DEFAULT_TIMEOUT_SECONDS[data.task_type],
            "notify_on_complete": data.notify_on_complete,
            "notify_on_failure": data.notify_on_failure,
            "source_webhook_id": data.source_webhook_id, "meta": data.metadata,
            "tags": list(dict.fromkeys(data.tags)) if data.tags else None,
            "assignee": data.assignee, "deadline": data.deadline or NO_DEADLINE,
            "client_id": data.client_id, "scheduled_for": at, "due_at": at,
            "dest_host": host, "lane": lane_of(data.client_id, data.concurrency_key, host),
            "updated_at": cs.now, **flow_values(data),
        }
        if data.execution_config != found.execution_config:
            values["config_changed_by"] = actor.name if actor is not SYSTEM else None
        new = await repo.task_set_status_if(cs.conn, found.id, [Status.SCHEDULED], values)
        if new is None:  # started meanwhile: this create waits on its own
            return await self._insert(cs, data, triggered_by, actor, action, also,
                                      debounce_at=at)
        await repo.task_tags_set(cs.conn, new.id, values["tags"] or [], replace=True)
        cs.emit("status", new)
        cs.audit(actor, "tasks.debounce", "task", new.id,
                 {"key": data.debounce.key, "startsAt": at.isoformat()})
        return new

    async def _insert(self, cs: ChangeSet, data: TaskCreate, triggered_by: str,
                      actor: Actor, action: str | None = None,
                      also: Callable[[ChangeSet, TaskRow], Awaitable[None]] | None = None,
                      debounce_at: datetime | None = None,
                      *, parent_id: str | None = None, task_id: str | None = None
                      ) -> TaskRow:
        depends_on = list(dict.fromkeys(data.depends_on or []))
        broken, open_deps = await _dependencies_state(cs, depends_on)
        now = cs.now
        bot = data.assigned_to_bot and data.task_type not in NO_BOT_TYPES
        place = lifecycle.initial(
            needs_review=data.requires_human_review
            or data.task_type in self.review_required_types,
            automatic=data.execution_type == "automatic", assigned_to_bot=bot,
            scheduled_for=debounce_at or data.scheduled_for, dependencies_open=open_deps,
            now=now)
        status, reason = place.status, place.reason
        if broken is not None:
            status, reason = Status.CANCELLED, broken
        trigger = "schedule" if place.due_at is not None and triggered_by == "create" \
            else triggered_by
        values: dict[str, Any] = {
            "id": task_id or new_id("tsk"), "title": data.title,
            "description": data.description, "parent_id": parent_id,
            "task_type": data.task_type, "execution_type": data.execution_type,
            "assigned_to_bot": bot,
            # True as well when the taskType always needs review (REVIEW_REQUIRED_TYPES).
            "requires_human_review": data.requires_human_review
            or data.task_type in self.review_required_types,
            "execution_config": data.execution_config,
            "scheduled_for": debounce_at or data.scheduled_for, "priority": data.priority,
            "priority_rank": PRIORITY_RANK[data.priority],
            "max_retries": data.max_retries,
            "timeout_seconds": data.timeout_seconds or DEFAULT_TIMEOUT_SECONDS[data.task_type],
            "notify_on_complete": data.notify_on_complete,
            "notify_on_failure": data.notify_on_failure,
            "source_webhook_id": data.source_webhook_id, "idempotency_key": data.idempotency_key,
            "depends_on": depends_on, "meta": data.metadata,
            "tags": list(dict.fromkeys(data.tags)) if data.tags else None,
            "assignee": data.assignee, "deadline": data.deadline,
            "status": status.value,
            "status_reason": reason, "error_count": 0, "created_at": now, "updated_at": now,
            "queued_at": now if status == Status.QUEUED else None,
            "completed_at": now if status == Status.CANCELLED else None,
            "due_at": place.due_at if status == Status.SCHEDULED else None,
            "attempts": 0, "next_trigger": trigger,
            "dest_host": await host_of(cs.conn, data.task_type, data.execution_config,
                                       depends_on=[] if open_deps else depends_on,
                                       source_webhook_id=data.source_webhook_id),
            "created_by": actor.name if actor is not SYSTEM else None,
            # Review rules (CONTRACT §16); every create gives the same keys (one executemany).
            "review_expires_in": data.review_expires_in_seconds,
            "review_expires_at": now + timedelta(seconds=data.review_expires_in_seconds)
            if data.review_expires_in_seconds is not None and status == Status.AWAITING_REVIEW
            else None,
            "approvals_required": data.approvals_required,
            **flow_values(data),
        }
        values["lane"] = lane_of(data.client_id, data.concurrency_key, values["dest_host"])
        if data.client_id is not None:
            values["client_id"] = data.client_id
        if data.debounce is not None and status == Status.SCHEDULED:
            values["debounce_key"] = data.debounce.key
        row = await _store(cs, values, depends_on, debounced=debounce_at is not None)
        if values["tags"]:
            await cs.flush_tasks()  # task_tags rows refer to the task
            await repo.task_tags_set(cs.conn, row.id, values["tags"], replace=False)
        for hook in self.inserted:
            await hook(cs, row)
        if also is not None:
            await also(cs, row)
        cs.emit("created", row)
        action = action or ("automation" if triggered_by == "automation" else "tasks.create")
        detail: dict[str, Any] = {"title": data.title, "taskType": data.task_type,
                                  "status": row.status}
        if action == "tasks.duplicate" and data.metadata is not None:
            detail["duplicateOf"] = data.metadata.get("duplicateOf")
        if parent_id is not None:
            detail["parentId"] = parent_id
        cs.audit(actor, action, "task", row.id, detail)
        return row

    async def insert_escalation(self, cs: ChangeSet, row: TaskRow, why: str, *,
                                assignee: str | None, webhook_id: str | None) -> TaskRow:
        """CONTRACT §17 ``STALLED_ACTION=escalate``: a ``pending`` notification for a person
        about ``row`` (stalled or overdue), filed in the transaction that reported it — so
        once per stall. Manual: a person does it (tasks.complete), no executor sends it."""
        title = f"Escalation: {row.title}"
        config: dict[str, Any] = {"message": f"Task {row.title!r} ({row.id}) {why}",
                                  "subject": title[:200]}
        if row.source_webhook_id or webhook_id:
            config["webhookId"] = row.source_webhook_id or webhook_id
        data = TaskCreate(
            title=title[:200], task_type="notification", execution_config=config,
            execution_type="manual", assigned_to_bot=False, priority="urgent",
            tags=["escalation"], metadata={"relatedTaskId": row.id}, assignee=assignee)
        return await self._insert(cs, data, "create", SYSTEM, action="escalation")

    # --- reads -----------------------------------------------------------------------------

    async def get(self, task_id: str) -> Task:
        """One task; the gets asked in the same loop turn share one query (a tRPC batch of
        gets, concurrent requests: server/db/shared_reads.py)."""
        row = await self._by_id.get(task_id)
        if row is None:
            raise NotFound(f"no task with id {task_id!r}")
        return task_view(row)

    async def _get_many(self, ids: Sequence[str]) -> dict[str, TaskRow]:
        async with self.db.read() as conn:
            return await repo.tasks_by_ids(conn, ids)

    async def page(self, query: TaskList) -> TaskPage:
        statuses = [query.status] if isinstance(query.status, str) else query.status
        after = decode_cursor(query.cursor, procedure="tasks.list") if query.cursor else None
        async with self.db.read() as conn:
            errors = (await group_members(conn, query.error_group, query.client_id)
                      if query.error_group else None)
            rows = await repo.task_list(conn, statuses=statuses, task_type=query.task_type,
                                        search=query.search, limit=query.limit + 1, after=after,
                                        stalled=query.stalled, client_id=query.client_id,
                                        tags=query.tags or (), assignee=query.assignee,
                                        depends_on=query.depends_on, errors=errors,
                                        parent_id=query.parent_id,
                                        oldest_first=query.order == "oldest",
                                        created=(query.created_from, query.created_before))
        kept, cursor = page_of(rows, query.limit)
        return TaskPage(items=[task_view(r) for r in kept], next_cursor=cursor)

    async def executions(self, task_id: str) -> list[TaskExecution]:
        async with self.db.read() as conn:
            task = await repo.task_get(conn, task_id)
            if task is None:
                raise NotFound(f"no task with id {task_id!r}")
            rows = await repo.executions_for_task(conn, task_id)
        return [execution_view(r, task) for r in rows]

    # --- actions ---------------------------------------------------------------------------

    async def _current(self, cs: ChangeSet, task_id: str, action: lifecycle.Action
                       ) -> TaskRow:
        row = await repo.task_get(cs.conn, task_id)
        if row is None:
            raise NotFound(f"no task with id {task_id!r}")
        refused = lifecycle.refusal(action, Status(row.status))
        if refused is not None:
            code, message = refused
            raise (PreconditionFailed if code == "PRECONDITION_FAILED" else Conflict)(message)
        return row

    async def _cas(self, cs: ChangeSet, row: TaskRow, values: dict[str, Any]) -> TaskRow:
        new = await repo.task_set_status_if(cs.conn, row.id, [row.status],
                                            {"updated_at": cs.now, **values})
        if new is None:
            current = await repo.task_get(cs.conn, row.id)
            status = current.status if current is not None else "gone"
            raise Conflict(f"task changed concurrently; it is now {status}")
        return new

    async def _placement_values(self, cs: ChangeSet, row: TaskRow, *,
                                scheduled_for: datetime | None, trigger: str) -> dict[str, Any]:
        """Columns placing ``row`` for the bots: queued now, or scheduled for its time or its
        open dependencies."""
        open_deps = bool(await repo.task_open_dependencies(cs.conn, row.id))
        place = lifecycle.place(automatic=True, assigned_to_bot=True, scheduled_for=scheduled_for,
                                dependencies_open=open_deps, now=cs.now)
        return {"status": place.status.value, "status_reason": place.reason,
                "due_at": place.due_at,
                "queued_at": cs.now if place.status == Status.QUEUED else None,
                "next_trigger": trigger, "next_attempt_at": None}

    async def _refuse_broken(self, cs: ChangeSet, row: TaskRow) -> None:
        """PRECONDITION_FAILED naming a dependency that can no longer complete."""
        if not row.depends_on:
            return
        deps = await wf.task_dependency_statuses(cs.conn, row.id, lock=True)
        why = lifecycle.broken_dependency([(d, Status(s)) for d, s in deps])
        if why is not None:
            raise PreconditionFailed(why)

    async def execute(self, task_id: str, *, actor: Actor = SYSTEM) -> Task:
        """pending/scheduled → queued now (or waiting for dependencies)."""
        async with self.writer.transaction() as cs:
            row = await self._current(cs, task_id, "execute")
            _refuse_no_bot(row, "executed")
            await self._refuse_broken(cs, row)
            values = await self._placement_values(cs, row, scheduled_for=None, trigger="manual")
            new = await self._cas(cs, row, values)
            cs.emit("status", new)
            cs.audit(actor, "tasks.execute", "task", new.id,
                     {"from": row.status, "to": new.status})
        return task_view(new)

    async def reassign(self, task_id: str, *, to_bot: bool, assignee: str | None,
                       actor: Actor = SYSTEM) -> Task:
        """CONTRACT §17: to the bot, placed as on create (review first while it needs one
        and has no approval); to a person, ``pending`` with that assignee."""
        if not to_bot and assignee is None:
            raise InvalidInput.at(["assignee"], "is required when assignedToBot is false")
        async with self.writer.transaction() as cs:
            row = await self._current(cs, task_id, "reassign")
            _refuse_no_bot(row, "reassigned")
            values: dict[str, Any]
            if to_bot:
                needs_review = (row.requires_human_review
                                or row.task_type in self.review_required_types) \
                    and row.reviewed_at is None
                if needs_review:
                    place = lifecycle.initial(needs_review=True, automatic=True,
                                              assigned_to_bot=True, scheduled_for=None,
                                              dependencies_open=False, now=cs.now)
                    values = {"status": place.status.value, "status_reason": place.reason,
                              "due_at": None, "queued_at": None, "next_trigger": "approval"}
                else:
                    values = await self._placement_values(
                        cs, row, scheduled_for=row.scheduled_for, trigger="create")
                    if row.execution_type != "automatic":
                        values.update(status=Status.PENDING.value, status_reason=None,
                                      due_at=None, queued_at=None, next_trigger="manual")
            else:
                values = {"status": Status.PENDING.value,
                          "status_reason": f"assigned to {assignee}", "due_at": None,
                          "queued_at": None, "next_trigger": "manual", "next_attempt_at": None}
            values.update(assigned_to_bot=to_bot, assignee=None if to_bot else assignee)
            new = await self._cas(cs, row, values)
            cs.emit("status", new)
            cs.audit(actor, "tasks.reassign", "task", new.id,
                     {"from": {"status": row.status, "assignedToBot": row.assigned_to_bot,
                               "assignee": row.assignee},
                      "to": {"status": new.status, "assignedToBot": new.assigned_to_bot,
                             "assignee": new.assignee}})
        return task_view(new)

    async def approve(self, task_id: str, *, reviewer: str, notes: str | None,
                      actor: Actor = SYSTEM, action: str = "tasks.approve") -> Task:
        async with self.writer.transaction() as cs:
            row = await self._current(cs, task_id, "approve")
            barred = lifecycle.separation_refusal(
                rule=self.rules.review_separation, approver=reviewer,
                created_by=row.created_by, config_changed_by=row.config_changed_by)
            if barred is not None:
                raise Forbidden(barred)
            await self._refuse_broken(cs, row)
            also: dict[str, Any] = {}
            if self.review_gate is not None:
                gated = await self.review_gate(cs, row, reviewer, notes, actor, action)
                if not isinstance(gated, dict):  # more approvals needed: it stays
                    return task_view(gated)
                also = gated
            automatic = row.execution_type == "automatic" and row.assigned_to_bot
            if automatic:
                values = await self._placement_values(cs, row, scheduled_for=row.scheduled_for,
                                                      trigger="approval")
            else:
                values = {"status": Status.PENDING.value, "status_reason": None,
                          "next_trigger": "manual"}
            values.update(reviewed_by=reviewer, reviewed_at=cs.now, review_notes=notes, **also)
            new = await self._cas(cs, row, values)
            cs.emit("status", new)
            cs.audit(actor, action, "task", new.id, {"notes": notes, "to": new.status})
        return task_view(new)

    async def reject(self, task_id: str, *, reviewer: str, notes: str | None,
                     actor: Actor = SYSTEM) -> Task:
        async with self.writer.transaction() as cs:
            row = await self._current(cs, task_id, "reject")
            new = await self._cas(cs, row, {
                "status": Status.REJECTED.value, "status_reason": notes or "rejected",
                "reviewed_by": reviewer, "reviewed_at": cs.now, "review_notes": notes,
                "completed_at": cs.now})
            cs.emit("status", new)
            cs.audit(actor, "tasks.reject", "task", new.id, {"notes": notes})
            await settle_dependents(cs, new, actor)
        return task_view(new)

    async def cancel(self, task_id: str, *, by: str, reason: str | None,
                     actor: Actor = SYSTEM, action: str = "tasks.cancel") -> Task:
        """Ends any non-terminal task; a running attempt is stopped and recorded cancelled."""
        async with self.writer.transaction() as cs:
            row = await self._current(cs, task_id, "cancel")
            values: dict[str, Any] = {
                "status": Status.CANCELLED.value,
                "status_reason": reason or f"cancelled by {by}", "due_at": None,
                "completed_at": cs.now, "next_attempt_at": None}
            children: list[TaskRow] = []
            if row.task_type == groups.GROUP:  # its open subtasks first (lock order)
                children = await groups.cancel_children(
                    cs, row, actor, f"group {row.id} cancelled"
                    + (f": {reason}" if reason else f" by {by}"))
                values["children"] = await groups.counts_of(cs, row)
            new = await self._cas(cs, row, values)
            for child in children:
                await settle_dependents(cs, child, actor, group_settled=True)
            if row.status == Status.IN_PROGRESS:
                cs.cancels.append(row.id)
            cs.emit("status", new)
            cs.audit(actor, action, "task", new.id, {"reason": reason, "from": row.status})
            await settle_dependents(cs, new, actor)
        return task_view(new)

    async def retry(self, task_id: str, *, actor: Actor = SYSTEM,
                    action: str = "tasks.retry", patch: TaskPatch | None = None) -> Task:
        """failed → queued with a fresh retry budget; the dependents its failure cancelled are
        re-opened (CONTRACT §10). ``patch`` changes it first, as tasks.update would (§17);
        a change an approval covered sends a task that needs review back to review (§13)."""
        async with self.writer.transaction() as cs:
            row = await self._current(cs, task_id, "retry")
            if row.task_type == groups.GROUP:
                if patch is not None:
                    raise InvalidInput.at(["patch"], "a group is retried without changes; "
                                          "retry its subtasks to change them")
                return task_view(await self._retry_group(cs, row, actor, action))
            _refuse_no_bot(row, "retried")
            values: dict[str, Any] = {
                "status": Status.QUEUED.value, "status_reason": "retried by request",
                "error_count": 0, "queued_at": cs.now, "completed_at": None,
                "next_trigger": "retry", "next_attempt_at": None}
            detail: dict[str, Any] = {"lastError": row.last_error}
            withdrawn = False
            if patch is not None:
                edits = await self.patch_values(row, patch)
                if "depends_on" in edits:
                    raise InvalidInput.at(["patch", "dependsOn"], "cannot change on retry; "
                                          "tasks.update a task that has not started")
                changed = _changes(row, edits)
                detail["changed"] = changed
                if "executionConfig" in changed:
                    edits["config_changed_by"] = actor.name
                if "execution_config" in edits:
                    edits["dest_host"] = await host_of(
                        cs.conn, row.task_type, edits["execution_config"],
                        depends_on=list(row.depends_on or []),
                        source_webhook_id=row.source_webhook_id)
                    edits["lane"] = lane_of(edits.get("client_id", row.client_id),
                                            row.concurrency_key, edits["dest_host"])
                values.update(edits)
                if "deadline" in edits:
                    values["deadline_missed_at"] = None
                covered = [f for f in lifecycle.APPROVAL_COVERS if f in changed]
                if covered and (row.requires_human_review
                                or row.task_type in self.review_required_types):
                    withdrawn = True
                    values.update(status=Status.AWAITING_REVIEW.value, queued_at=None,
                                  status_reason=lifecycle.withdrawal_reason(covered),
                                  reviewed_by=None, reviewed_at=None, review_notes=None,
                                  approvals=None, next_trigger="approval")
                    detail.update(approvalWithdrawn=covered)
                elif edits.get("scheduled_for") is not None:
                    values.update(await self._placement_values(
                        cs, row, scheduled_for=edits["scheduled_for"], trigger="retry"))
            new = await self._cas(cs, row, values)
            cs.audit(actor, action, "task", new.id, detail)
            await self._edited(cs, new, values, back_to_review=withdrawn)
            await self._reopen_dependents(cs, new, actor, action)
            if new.parent_id is not None:
                await groups.refresh(cs, new.parent_id)
        return task_view(new)

    async def _retry_group(self, cs: ChangeSet, row: TaskRow, actor: Actor, action: str
                           ) -> TaskRow:
        """A failed group again (CONTRACT §17): its failed subtasks queued with a fresh retry
        budget, those its failure cancelled placed again as on create, each subtask's
        dependents its end cancelled re-opened; the group waits for its subtasks again."""
        retried = await repo.task_children_set_status(
            cs.conn, row.id, [Status.FAILED], {
                "status": Status.QUEUED.value, "status_reason": f"retried with group {row.id}",
                "error_count": 0, "queued_at": cs.now, "completed_at": None,
                "next_trigger": "retry", "next_attempt_at": None, "updated_at": cs.now},
            dialect=cs.conn.dialect.name)
        reopened = []
        for _, child in await repo.task_children_set_status(
                cs.conn, row.id, [Status.CANCELLED], {"updated_at": cs.now},
                dialect=cs.conn.dialect.name,
                reason_prefix=lifecycle.group_failed_reason(row.id)):
            reopened.append(await self._place_again(cs, child))
        for child in [r for _, r in retried] + [r for r in reopened if r is not None]:
            cs.emit("status", child)
            cs.audit(actor, action, "task", child.id, {"group": row.id, "to": child.status})
            await self._reopen_dependents(cs, child, actor, action)
        new = await self._cas(cs, row, {
            "status": Status.SCHEDULED.value, "status_reason": lifecycle.GROUP_WAITING,
            "completed_at": None, "result": None, "result_summary": None, "last_error": None,
            "attempts": row.attempts + 1, "children": await groups.counts_of(cs, row)})
        cs.emit("status", new)
        cs.audit(actor, action, "task", new.id, {"lastError": row.last_error,
                                                 "subtasks": len(retried) + len(reopened)})
        await self._reopen_dependents(cs, new, actor, action)
        return new

    async def _place_again(self, cs: ChangeSet, dep: TaskRow) -> TaskRow | None:
        """A cancelled task placed again as on create (review first where required)."""
        deps = [(d, Status(s)) for d, s in await wf.task_dependency_statuses(cs.conn, dep.id)]
        if lifecycle.broken_dependency(deps):
            return None  # another dependency broke too: it stays cancelled
        if dep.task_type == groups.GROUP:
            place = lifecycle.Placement(Status.SCHEDULED, lifecycle.GROUP_WAITING, None)
        else:
            place = lifecycle.initial(
                needs_review=dep.requires_human_review
                or dep.task_type in self.review_required_types,
                automatic=dep.execution_type == "automatic",
                assigned_to_bot=dep.assigned_to_bot, scheduled_for=dep.scheduled_for,
                dependencies_open=any(s != Status.COMPLETED for _, s in deps), now=cs.now)
        return await repo.task_set_status_if(cs.conn, dep.id, [Status.CANCELLED], {
            "status": place.status.value, "status_reason": place.reason,
            "due_at": place.due_at, "completed_at": None, "next_attempt_at": None,
            "queued_at": cs.now if place.status == Status.QUEUED else None,
            "error_count": 0, "next_trigger": "create", "updated_at": cs.now,
            "reviewed_by": None, "reviewed_at": None, "review_notes": None})

    async def duplicate(self, task_id: str, patch: TaskPatch | None, *,
                        actor: Actor = SYSTEM) -> Task:
        """A new task with the same fields as ``task_id`` (a new id, no idempotency key,
        ``metadata.duplicateOf``), changed by ``patch`` as tasks.update would, placed as on
        create (review included) (CONTRACT §17)."""
        row = await self._by_id.get(task_id)
        if row is None:
            raise NotFound(f"no task with id {task_id!r}")
        if row.task_type == groups.GROUP:
            raise PreconditionFailed("a group cannot be duplicated: create it again with "
                                     "tasks.createGroup")
        edits = await self.patch_values(row, patch) if patch is not None else {}
        meta = dict(edits.get("meta", row.meta) or {})
        meta["duplicateOf"] = row.id
        data = TaskCreate(
            # a group was refused above: what is left is a type tasks.create files
            title=edits.get("title", row.title),
            task_type=cast(CreatableTaskType, row.task_type),
            execution_config=edits.get("execution_config", row.execution_config),
            description=edits.get("description", row.description),
            execution_type=row.execution_type, assigned_to_bot=row.assigned_to_bot,
            requires_human_review=row.requires_human_review,
            scheduled_for=edits.get("scheduled_for", row.scheduled_for),
            priority=edits.get("priority", row.priority),
            max_retries=edits.get("max_retries", row.max_retries),
            timeout_seconds=edits.get("timeout_seconds", row.timeout_seconds),
            notify_on_complete=row.notify_on_complete, notify_on_failure=row.notify_on_failure,
            source_webhook_id=row.source_webhook_id,
            depends_on=list(row.depends_on or []) or None, metadata=meta,
            tags=edits.get("tags", row.tags) or None, assignee=row.assignee,
            deadline=edits.get("deadline", row.deadline if row.deadline < NO_DEADLINE
                               else None),
            client_id=edits.get("client_id", row.client_id),
            approvals_required=row.approvals_required or 1,
            review_expires_in_seconds=row.review_expires_in,
            concurrency_key=row.concurrency_key, concurrency_limit=row.concurrency_limit,
            rate_limit_key=row.rate_limit_key,
            retry_policy=msgspec.convert(row.retry_policy, RetryPolicyInput)
            if row.retry_policy else None)
        location = await self.check_client(data.task_type, data.execution_config,
                                            data.client_id, ("patch", "executionConfig"),
                                            ["patch", "clientId"])
        self._check_config(data.task_type, data.execution_config,
                           dependencies=len(data.depends_on or []),
                           source_webhook_id=data.source_webhook_id,
                           location_known=location)
        new = await self.writer.run(
            lambda cs: self._insert(cs, data, "create", actor, action="tasks.duplicate"))
        return task_view(new)

    async def _reopen_dependents(self, cs: ChangeSet, retried: TaskRow, actor: Actor,
                                 action: str) -> None:
        """Place again, as on create, every dependent the cascade cancelled because of
        ``retried`` (their reasons name it, however far down they are)."""
        todo = [retried.id]
        parents: set[str] = set()
        while todo:
            current = todo.pop()
            for dep in await repo.task_dependents(cs.conn, current):
                if not lifecycle.reopens_dependent(retried.id, Status(dep.status),
                                                   dep.status_reason):
                    continue
                new = await self._place_again(cs, dep)
                if new is not None:
                    cs.emit("status", new)
                    cs.audit(actor, action, "task", new.id,
                             {"reopened": True, "dependency": current, "to": new.status})
                    todo.append(new.id)
                    if new.parent_id is not None:
                        parents.add(new.parent_id)
        for parent in sorted(parents):  # subtasks re-opened: their groups counted again
            await groups.refresh(cs, parent)

    # --- edits, completion by a person, bulk actions (CONTRACT §10) -------------------------

    async def update(self, task_id: str, patch: TaskPatch, *, actor: Actor,
                     may_edit_any: bool) -> Task:
        """Edit a task that has not started (pending, awaiting_review, scheduled); validated
        as on create; a secret sent back as "********" keeps its stored value. An edit of what
        an approval covers withdraws it (CONTRACT §13)."""
        async with self.db.read() as conn:
            row = await repo.task_get(conn, task_id)
        if row is None:
            raise NotFound(f"no task with id {task_id!r}")
        refused = lifecycle.refusal("update", Status(row.status))
        if refused is not None:
            raise Conflict(refused[1])
        if not may_edit_any and row.status != Status.AWAITING_REVIEW:
            raise Forbidden(f"the {actor.role} role may update only a task awaiting_review "
                            f"(this one is {row.status})")
        _refuse_group_patch(row, patch)
        values = await self.patch_values(row, patch)
        changed = _changes(row, values)
        if "executionConfig" in changed:
            values["config_changed_by"] = actor.name
        if "deadline" in values:  # a new deadline is watched afresh
            values["deadline_missed_at"] = None
        withdrawn = lifecycle.withdrawn_approval(
            needs_review=row.requires_human_review or row.task_type in self.review_required_types,
            status=Status(row.status), reviewed_by=row.reviewed_by, changed=changed)
        detail: dict[str, Any] = {"changed": changed}
        async with self.writer.transaction() as cs:
            values["updated_at"] = cs.now
            if "dependsOn" in changed:
                await self._check_dependencies(cs, row.id, values["depends_on"])
                await wf.task_set_dependencies(cs.conn, row.id, values["depends_on"])
            if withdrawn:
                reason = lifecycle.withdrawal_reason(withdrawn)
                values.update(status=Status.AWAITING_REVIEW.value, status_reason=reason,
                              reviewed_by=None, reviewed_at=None, review_notes=None,
                              approvals=None, due_at=None, queued_at=None,
                              next_attempt_at=None)
                detail.update(approvalWithdrawn=list(withdrawn), reason=reason,
                              reviewedBy=row.reviewed_by, **{"from": row.status,
                                                             "to": Status.AWAITING_REVIEW.value})
            elif row.status == Status.SCHEDULED and row.next_attempt_at is None and (
                    ("scheduled_for" in values and row.due_at is not None)
                    or "dependsOn" in changed):
                values.update(await self._placement_values(
                    cs, row, scheduled_for=values.get("scheduled_for", row.scheduled_for),
                    trigger=row.next_trigger))
            if "execution_config" in values or "dependsOn" in changed:
                values["dest_host"] = await host_of(
                    cs.conn, row.task_type, values.get("execution_config", row.execution_config),
                    depends_on=list(values.get("depends_on", row.depends_on or [])),
                    source_webhook_id=row.source_webhook_id)
            if "dest_host" in values or "client_id" in values:
                values["lane"] = lane_of(values.get("client_id", row.client_id),
                                         row.concurrency_key,
                                         values.get("dest_host", row.dest_host))
            values = repo.with_fair_tag(values)
            new = await wf.task_update_if(cs.conn, row.id, row.status, values)
            if new is None:
                current = await repo.task_get(cs.conn, row.id)
                raise Conflict(f"task changed concurrently; it is now "
                               f"{current.status if current is not None else 'gone'}")
            cs.audit(actor, "tasks.update", "task", new.id, detail)
            await self._edited(cs, new, values, back_to_review=bool(withdrawn))
        return task_view(new)

    async def _edited(self, cs: ChangeSet, new: TaskRow, values: dict[str, Any], *,
                      back_to_review: bool) -> None:
        """After an edit's write (update, retry with a patch): its tags, its event, and the
        review hooks when it went back to review."""
        if "tags" in values:
            await repo.task_tags_set(cs.conn, new.id, values["tags"], replace=True)
        cs.emit("status", new)
        if back_to_review:
            for hook in self.review_entered:
                await hook(cs, new)

    async def patch_values(self, row: TaskRow, patch: TaskPatch) -> dict[str, Any]:
        """The columns ``patch`` sets on ``row``, validated as on create (issues under
        ``patch``); a secret sent back as "********" keeps its stored value. Shared by
        tasks.update, tasks.retry and tasks.duplicate (CONTRACT §17)."""
        given = {f: getattr(patch, f) for f in patch.__struct_fields__
                 if getattr(patch, f) is not None}
        if not given:
            raise InvalidInput.at(["patch"], "names no field to change")
        values: dict[str, Any] = {}
        if "depends_on" in given:
            values["depends_on"] = list(dict.fromkeys(given["depends_on"]))
        dependencies = len(values.get("depends_on", row.depends_on or []))
        location = False
        if "client_id" in given or "execution_config" in given:
            config = keep_secrets(given["execution_config"], row.execution_config) \
                if "execution_config" in given else row.execution_config
            client_id = given.get("client_id", row.client_id)
            location = await self.check_client(row.task_type, config, client_id,
                                                ("patch", "executionConfig"),
                                                ["patch", "clientId"])
            if "client_id" in given:
                values["client_id"] = client_id
        if "execution_config" in given:
            self._check_config(row.task_type, config, dependencies=dependencies,
                               source_webhook_id=row.source_webhook_id,
                               prefix=("patch", "executionConfig"), location_known=location)
            values["execution_config"] = config
        elif "depends_on" in given:  # the placeholders kept must fit the new dependencies
            found = placeholders.check(row.execution_config, dependencies)
            if found:
                raise _issues_error([Issue(p.path, p.message) for p in found],
                                    ("patch", "executionConfig"))
        for name in ("title", "description", "scheduled_for", "max_retries",
                     "timeout_seconds", "deadline"):
            if name in given:
                values[name] = given[name]
        if "metadata" in given:
            values["meta"] = given["metadata"]
        if "tags" in given:
            values["tags"] = list(dict.fromkeys(given["tags"]))
        if "priority" in given:
            values.update(priority=given["priority"],
                          priority_rank=PRIORITY_RANK[given["priority"]])
        return values

    async def _check_dependencies(self, cs: ChangeSet, task_id: str, depends_on: list[str]
                                  ) -> None:
        """New dependencies of ``task_id``: tasks that exist, can still complete, and do not
        depend on it (no cycle); BAD_REQUEST naming the item of ``patch.dependsOn``."""
        await cs.flush_tasks()
        statuses = await wf.task_statuses_locked(cs.conn, depends_on)
        for i, dep in enumerate(depends_on):
            status = statuses.get(dep)
            where: list[str | int] = ["patch", "dependsOn", i]
            if dep == task_id:
                raise InvalidInput.at(where, "a task cannot depend on itself")
            if status is None:
                raise InvalidInput.at(where, f"no task with id {dep!r}")
            if status in lifecycle.BREAKS_DEPENDENTS:
                raise InvalidInput.at(where, f"task {dep} is {status}: it can no longer "
                                      "complete")
        seen: set[str] = set()
        todo = list(depends_on)
        while todo:  # walk up from the new dependencies: meeting task_id is a cycle
            found = await repo.tasks_by_ids(cs.conn, [t for t in todo if t not in seen])
            seen.update(todo)
            todo = []
            for dep_row in found.values():
                for up in dep_row.depends_on or []:
                    if up == task_id:
                        raise InvalidInput.at(["patch", "dependsOn"], f"task {dep_row.id} "
                                              f"depends on {task_id}: that would be a cycle")
                    if up not in seen:
                        todo.append(up)

    async def complete(self, task_id: str, *, result: Any, notes: str | None,
                       actor: Actor) -> Task:
        """A person did a pending task: completed, with one manual attempt recorded."""
        async with self.writer.transaction() as cs:
            row = await self._current(cs, task_id, "complete")
            attempt = row.attempts + 1
            new = await self._cas(cs, row, {
                "status": Status.COMPLETED.value,
                "status_reason": notes or f"completed by {actor.name}", "result": result,
                "completed_at": cs.now, "attempts": attempt, "due_at": None,
                "next_attempt_at": None, "next_trigger": "manual"})
            (ex,) = await repo.execution_insert(cs.conn, [{
                "id": new_id("exe"), "task_id": row.id, "attempt_number": attempt,
                "triggered_by": "manual", "status": "success", "started_at": cs.now,
                "completed_at": cs.now, "duration_ms": 0, "worker_id": f"person:{actor.name}",
                "output": None, "output_is_result": True, "steps": [], "artifacts": []}])
            cs.emit("execution", new, ex)
            cs.audit(actor, "tasks.complete", "task", new.id, {"notes": notes})
            await settle_dependents(cs, new, actor)
        return task_view(new)

    async def many(self, ids: list[str], action: Callable[[str], Awaitable[Task]]
                   ) -> BulkResult:
        """``action`` on each id in order; one failing does not stop the others."""
        results: list[BulkItem] = []
        for task_id in ids:
            try:
                results.append(BulkItem(id=task_id, ok=True, task=await action(task_id)))
            except ErrandsError as exc:
                results.append(BulkItem(id=task_id, ok=False,
                                        error=BulkError(code=exc.code, message=exc.message)))
        return BulkResult(results=results)


def _refuse_no_bot(row: TaskRow, done: str) -> None:
    if row.task_type in NO_BOT_TYPES:
        waits = "its subtasks" if row.task_type == groups.GROUP else "its callback"
        raise PreconditionFailed(f"a {row.task_type} task is not run by a bot and cannot be "
                                 f"{done}: it waits for {waits}")


def _refuse_group_patch(row: TaskRow, patch: TaskPatch) -> None:
    """A group's time, config and dependencies are its subtasks': BAD_REQUEST naming them."""
    if row.task_type != groups.GROUP:
        return
    for field in ("execution_config", "scheduled_for", "depends_on", "client_id",
                  "max_retries", "timeout_seconds"):
        if getattr(patch, field) is not None:
            name = _WIRE_NAMES.get(field, field)
            raise InvalidInput.at(["patch", name], "cannot change on a group (change its "
                                  "subtasks)")


def keep_secrets(new: Any, old: Any) -> Any:
    """An edited config where each ``"********"`` sent back keeps the stored value."""
    if new == MASK and isinstance(old, str):
        return old
    if isinstance(new, dict) and isinstance(old, dict):
        return {k: keep_secrets(v, old.get(k)) for k, v in new.items()}
    if isinstance(new, list) and isinstance(old, list):
        return [keep_secrets(v, old[i] if i < len(old) else None) for i, v in enumerate(new)]
    return new



_WIRE_NAMES = {"execution_config": "executionConfig", "scheduled_for": "scheduledFor",
               "max_retries": "maxRetries", "timeout_seconds": "timeoutSeconds",
               "meta": "metadata", "depends_on": "dependsOn", "client_id": "clientId",
               "deadline_missed_at": "deadlineMissedAt"}


def _changes(row: TaskRow, values: dict[str, Any]) -> dict[str, Any]:
    """The fields an update changes, before and after, with configs masked."""
    out: dict[str, Any] = {}
    for name, after in values.items():
        if name == "priority_rank":
            continue
        before = getattr(row, name)
        if before == after:
            continue
        if name == "execution_config":
            before, after = mask_config(row.task_type, before), mask_config(row.task_type, after)
        elif isinstance(after, datetime) or isinstance(before, datetime):
            before = before.isoformat() if before is not None else None
            after = after.isoformat() if after is not None else None
        out[_WIRE_NAMES.get(name, name)] = {"from": before, "to": after}
    return out


async def _dependencies_state(cs: ChangeSet, depends_on: list[str]) -> tuple[str | None, bool]:
    """A new task's dependencies, share-locked until it is written: the reason it is cancelled
    at once (one broke already) or None, and whether one is still open. BAD_REQUEST naming
    ``dependsOn.<i>`` for an unknown id."""
    if not depends_on:
        return None, False
    await cs.flush_tasks()  # a dependency may be a task created in this transaction
    statuses = await wf.task_statuses_locked(cs.conn, depends_on)
    broken: str | None = None
    open_deps = False
    for i, dep in enumerate(depends_on):
        status = statuses.get(dep)
        if status is None:
            raise InvalidInput.at(["dependsOn", i], f"no task with id {dep!r}")
        if status in lifecycle.BREAKS_DEPENDENTS and broken is None:
            broken = lifecycle.cascade_reason(dep, status)
        elif status != Status.COMPLETED:
            open_deps = True
    return broken, open_deps


async def _cancel_dependent(cs: ChangeSet, dep: TaskRow, root: TaskRow) -> TaskRow | None:
    """CAS-cancel ``dep``; when someone moved it meanwhile (an approval), decide again on
    what it is now, so that it cannot be left waiting on a broken dependency."""
    reason = lifecycle.cascade_reason(root.id, root.status)
    for _ in range(3):
        new = await repo.task_set_status_if(cs.conn, dep.id, [dep.status], {
            "status": Status.CANCELLED.value, "status_reason": reason, "due_at": None,
            "next_attempt_at": None, "completed_at": cs.now, "updated_at": cs.now})
        if new is not None:
            return new
        again = await repo.task_get(cs.conn, dep.id)
        if again is None or not lifecycle.cancels_dependent(Status(root.status),
                                                            Status(again.status)):
            return None
        dep = again
    return None


async def _store(cs: ChangeSet, values: dict[str, Any], depends_on: list[str], *,
                 debounced: bool) -> TaskRow:
    """Insert a new task: without dependencies, with the other creates of this group commit;
    with some, or debounced (its key's unique index decides a race), at once."""
    if not (depends_on or debounced):
        return cs.insert_task(values)
    await cs.flush_tasks()
    await repo.tag_new_tasks(cs.conn, [values])
    return await repo.task_insert(cs.conn, values, depends_on)


def check_flow(data: TaskCreate, prefix: tuple[str, ...] = ()) -> None:
    """CONTRACT §15: ``concurrencyKey`` and ``concurrencyLimit`` come together."""
    if (data.concurrency_key is None) != (data.concurrency_limit is None):
        missing, given = (("concurrencyLimit", "concurrencyKey")
                          if data.concurrency_limit is None
                          else ("concurrencyKey", "concurrencyLimit"))
        raise InvalidInput.at([*prefix, missing], f"is required with {given} (both or "
                              "neither)")


def flow_values(data: TaskCreate) -> dict[str, Any]:
    """The flow-control columns of a create (CONTRACT §15), as given."""
    policy = data.retry_policy
    return {
        "concurrency_key": data.concurrency_key, "concurrency_limit": data.concurrency_limit,
        "rate_limit_key": data.rate_limit_key,
        "debounce": {"key": data.debounce.key, "seconds": data.debounce.seconds}
        if data.debounce is not None else None,
        "retry_policy": {k: v for k, v in (("baseSeconds", policy.base_seconds),
                                           ("maxSeconds", policy.max_seconds),
                                           ("factor", policy.factor)) if v is not None}
        if policy is not None else None,
        "fair_tag": 0,  # given as it enters queued (repositories.tag_new_tasks)
    }


async def host_of(conn: AsyncConnection, task_type: str, config: dict[str, Any], *,
                  depends_on: Sequence[str], source_webhook_id: str | None) -> str | None:
    """The host key ``HOST_CONCURRENCY`` counts a task under (server/core/claims.py ``dest_host``):
    a notification's is its webhook's receiver; a URL made of ``{{dep.N}}`` placeholders gets
    its key once every dependency has completed (``depends_on`` empty: not yet, None). Reads
    only for those two cases: the others cost no query."""
    if task_type == "notification":
        webhook_id = config.get("webhookId") or source_webhook_id
        webhook = await webhook_db.webhook_get(conn, webhook_id) \
            if isinstance(webhook_id, str) else None
        return dest_host(task_type, config, webhook.url if webhook is not None else None)
    if depends_on and placeholders.has_placeholders(config):
        found = await repo.tasks_by_ids(conn, list(depends_on))
        done = [found.get(d) for d in depends_on]
        if any(d is None or d.status != Status.COMPLETED for d in done):
            return None
        try:
            config = placeholders.resolve(config, [d.result for d in done if d is not None])
        except placeholders.Unresolved:
            return None
    return dest_host(task_type, config)


async def settle_dependents(cs: ChangeSet, ended: TaskRow, actor: Actor = SYSTEM, *,
                            group_settled: bool = False) -> None:
    """After ``ended`` reached a terminal status: its group settled when it is a subtask
    (CONTRACT §17; ``group_settled``: the caller did), then release the tasks waiting on it,
    or — when it broke — cancel every dependent not yet running, and theirs (CONTRACT §10)."""
    if not group_settled:
        await _settle_group_of(cs, ended, actor)
    # The cancellations name the task that broke (the root), however far down they are.
    root = ended
    pending: list[TaskRow] = [ended]
    while pending:
        current = pending.pop()
        # A group before its subtasks: cancelled first, it is not completed by their ends.
        dependents = sorted(await repo.task_dependents(cs.conn, current.id),
                            key=lambda d: d.task_type != groups.GROUP)
        for dep in dependents:
            if lifecycle.cancels_dependent(Status(current.status), Status(dep.status)):
                new = await _cancel_dependent(cs, dep, root)
                if new is not None:
                    cs.emit("status", new)
                    cs.audit(actor, "tasks.cancel", "task", new.id,
                             {"reason": new.status_reason, "dependency": current.id,
                              "from": dep.status, "cause": root.id})
                    pending.append(new)
                    await _settle_group_of(cs, new, actor)
                continue
            if dep.status != Status.SCHEDULED or dep.status_reason != \
                    lifecycle.WAITING_FOR_DEPENDENCIES:
                continue
            if current.status in lifecycle.BREAKS_DEPENDENTS:
                continue
            if await repo.task_open_dependencies(cs.conn, dep.id):
                continue
            place = lifecycle.place(automatic=True, assigned_to_bot=True,
                                    scheduled_for=dep.scheduled_for, dependencies_open=False,
                                    now=cs.now)
            host = await host_of(cs.conn, dep.task_type, dep.execution_config,
                                 depends_on=list(dep.depends_on or []),
                                 source_webhook_id=dep.source_webhook_id)
            new = await repo.task_set_status_if(cs.conn, dep.id, [Status.SCHEDULED], {
                "dest_host": host, "lane": lane_of(dep.client_id, dep.concurrency_key, host),
                "status": place.status.value, "status_reason": place.reason,
                "due_at": place.due_at, "updated_at": cs.now,
                "queued_at": cs.now if place.status == Status.QUEUED else None})
            if new is not None:
                cs.emit("status", new)


async def _settle_group_of(cs: ChangeSet, ended: TaskRow, actor: Actor) -> None:
    """A subtask ended: its group counted and maybe ended, and what that ended settled."""
    if ended.parent_id is None:
        return
    for new in await groups.child_ended(cs, ended, actor):
        await settle_dependents(cs, new, actor, group_settled=True)
