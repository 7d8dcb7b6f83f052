"""TaskService: create, read and the people's actions on tasks — repositories + lifecycle.

Every status change is a compare-and-set inside one write transaction; when the CAS loses
(someone else changed the task in between), the caller gets CONFLICT naming the status the
task is in now.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import msgspec
from sqlalchemy.exc import IntegrityError

from executors.base import Issue
from executors.registry import ExecutorRegistry
from schemas.base import validation_issue
from schemas.configs import CONFIG_TYPES, DEFAULT_TIMEOUT_SECONDS
from schemas.tasks import Task, TaskCreate, TaskExecution, TaskList, TaskPage
from server import lifecycle
from server.db import repositories as repo
from server.db.engine import Database
from server.db.repositories import Row
from server.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from server.ids import new_id
from server.lifecycle import Status
from server.services.changes import ChangeSet, Writer
from server.services.pagination import decode_cursor, encode_cursor
from server.services.views import execution_view, task_view

PRIORITY_RANK: Final[dict[str, int]] = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


def decode_config(task_type: str, raw: dict[str, Any]) -> Any:
    """The typed config Struct; raises InvalidInput naming each bad field."""
    try:
        return msgspec.convert(raw, CONFIG_TYPES[task_type])
    except msgspec.ValidationError as exc:
        path, message = validation_issue(exc)
        raise _issues_error([Issue(tuple(path), message)]) from None


def _issues_error(issues: list[Issue]) -> InvalidInput:
    """BAD_REQUEST naming each field of executionConfig that is wrong."""
    items = [{"path": ["executionConfig", *i.path], "message": i.message} for i in issues]
    return InvalidInput("; ".join(f"{'.'.join(map(str, i['path']))}: {i['message']}"
                                  for i in items), items)


class TaskService:
    def __init__(self, db: Database, writer: Writer, executors: ExecutorRegistry, *,
                 review_required_types: frozenset[str], clock: Callable[[], datetime],
                 webhook_exists: Callable[[str], Any] | None = None) -> None:
        self.db = db
        self.writer = writer
        self.executors = executors
        self.review_required_types = review_required_types
        self.clock = clock
        self.webhook_exists = webhook_exists

    # --- create ----------------------------------------------------------------------------

    async def create(self, data: TaskCreate, *, triggered_by: str = "create") -> Task:
        """Create a task, or return the existing one with the same ``idempotencyKey``."""
        if data.idempotency_key is not None:
            async with self.db.read() as conn:
                found = await repo.task_get_by_idempotency_key(conn, data.idempotency_key)
            if found is not None:
                return task_view(found)
        config = decode_config(data.task_type, data.execution_config)
        executor = self.executors.get(data.task_type)
        if executor is not None:
            problems = executor.check(config, source_webhook_id=data.source_webhook_id)
            if problems:
                raise _issues_error(problems)
        await self._check_webhook(data.source_webhook_id)
        try:
            row = await self.writer.run(lambda cs: self._insert(cs, data, triggered_by))
        except IntegrityError:
            if data.idempotency_key is None:
                raise
            async with self.db.read() as conn:
                found = await repo.task_get_by_idempotency_key(conn, data.idempotency_key)
            if found is None:
                raise
            row = found
        return task_view(row)

    async def _check_webhook(self, webhook_id: str | None) -> None:
        if webhook_id is None or self.webhook_exists is None:
            return
        if not await self.webhook_exists(webhook_id):
            raise InvalidInput.at(["sourceWebhookId"], f"no webhook with id {webhook_id!r}")

    async def _insert(self, cs: ChangeSet, data: TaskCreate, triggered_by: str) -> Row:
        depends_on = list(dict.fromkeys(data.depends_on or []))
        broken: str | None = None
        open_deps = False
        if depends_on:
            statuses = await repo.task_statuses(cs.conn, depends_on)
            for i, dep in enumerate(depends_on):
                status = statuses.get(dep)
                if status is None:
                    raise InvalidInput.at(["dependsOn", i], f"no task with id {dep!r}")
                if status in lifecycle.BREAKS_DEPENDENTS:
                    broken = f"dependency {dep} is {status}"
                elif status != Status.COMPLETED:
                    open_deps = True
        now = cs.now
        place = lifecycle.initial(
            needs_review=data.requires_human_review
            or data.task_type in self.review_required_types,
            automatic=data.execution_type == "automatic", assigned_to_bot=data.assigned_to_bot,
            scheduled_for=data.scheduled_for, dependencies_open=open_deps, now=now)
        status, reason = place.status, place.reason
        if broken is not None:
            status, reason = Status.CANCELLED, broken
        trigger = "schedule" if place.due_at is not None and triggered_by == "create" \
            else triggered_by
        values: dict[str, Any] = {
            "id": new_id("tsk"), "title": data.title, "description": data.description,
            "task_type": data.task_type, "execution_type": data.execution_type,
            "assigned_to_bot": data.assigned_to_bot,
            "requires_human_review": data.requires_human_review,
            "execution_config": data.execution_config, "scheduled_for": data.scheduled_for,
            "priority": data.priority, "priority_rank": PRIORITY_RANK[data.priority],
            "max_retries": data.max_retries,
            "timeout_seconds": data.timeout_seconds or DEFAULT_TIMEOUT_SECONDS[data.task_type],
            "notify_on_complete": data.notify_on_complete,
            "notify_on_failure": data.notify_on_failure,
            "source_webhook_id": data.source_webhook_id, "idempotency_key": data.idempotency_key,
            "depends_on": depends_on, "meta": data.metadata, "status": status.value,
            "status_reason": reason, "error_count": 0, "created_at": now, "updated_at": now,
            "queued_at": now if status == Status.QUEUED else None,
            "completed_at": now if status == Status.CANCELLED else None,
            "due_at": place.due_at if status == Status.SCHEDULED else None,
            "attempts": 0, "next_trigger": trigger,
        }
        row = await repo.task_insert(cs.conn, values, depends_on)
        cs.emit("created", row)
        return row

    # --- reads -----------------------------------------------------------------------------

    async def get(self, task_id: str) -> Task:
        async with self.db.read() as conn:
            row = await repo.task_get(conn, task_id)
        if row is None:
            raise NotFound(f"no task with id {task_id!r}")
        return task_view(row)

    async def page(self, query: TaskList) -> TaskPage:
        statuses = [query.status] if isinstance(query.status, str) else query.status
        after = decode_cursor(query.cursor, procedure="tasks.list") if query.cursor else None
        async with self.db.read() as conn:
            rows = await repo.task_list(conn, statuses=statuses, task_type=query.task_type,
                                        search=query.search, limit=query.limit + 1, after=after)
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        return TaskPage(items=[task_view(r) for r in rows],
                        next_cursor=encode_cursor(rows[-1]) if more and rows else None)

    async def executions(self, task_id: str) -> list[TaskExecution]:
        async with self.db.read() as conn:
            if await repo.task_get(conn, task_id) is None:
                raise NotFound(f"no task with id {task_id!r}")
            rows = await repo.executions_for_task(conn, task_id)
        return [execution_view(r) for r in rows]

    # --- actions ---------------------------------------------------------------------------

    async def _current(self, cs: ChangeSet, task_id: str, action: lifecycle.Action) -> Row:
        row = await repo.task_get(cs.conn, task_id)
        if row is None:
            raise NotFound(f"no task with id {task_id!r}")
        refused = lifecycle.refusal(action, Status(row.status))
        if refused is not None:
            code, message = refused
            raise (PreconditionFailed if code == "PRECONDITION_FAILED" else Conflict)(message)
        return row

    async def _cas(self, cs: ChangeSet, row: Row, values: dict[str, Any]) -> Row:
        new = await repo.task_set_status_if(cs.conn, row.id, [row.status],
                                            {"updated_at": cs.now, **values})
        if new is None:
            current = await repo.task_get(cs.conn, row.id)
            status = current.status if current is not None else "gone"
            raise Conflict(f"task changed concurrently; it is now {status}")
        return new

    async def _placement_values(self, cs: ChangeSet, row: Row, *,
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

    async def execute(self, task_id: str) -> Task:
        """pending/scheduled → queued now (or waiting for dependencies)."""
        async with self.writer.transaction() as cs:
            row = await self._current(cs, task_id, "execute")
            values = await self._placement_values(cs, row, scheduled_for=None, trigger="manual")
            new = await self._cas(cs, row, values)
            cs.emit("status", new)
        return task_view(new)

    async def approve(self, task_id: str, *, reviewer: str, notes: str | None) -> Task:
        async with self.writer.transaction() as cs:
            row = await self._current(cs, task_id, "approve")
            automatic = row.execution_type == "automatic" and row.assigned_to_bot
            if automatic:
                values = await self._placement_values(cs, row, scheduled_for=row.scheduled_for,
                                                      trigger="approval")
            else:
                values = {"status": Status.PENDING.value, "status_reason": None,
                          "next_trigger": "manual"}
            values.update(reviewed_by=reviewer, reviewed_at=cs.now, review_notes=notes)
            new = await self._cas(cs, row, values)
            cs.emit("status", new)
        return task_view(new)

    async def reject(self, task_id: str, *, reviewer: str, notes: str | None) -> Task:
        async with self.writer.transaction() as cs:
            row = await self._current(cs, task_id, "reject")
            new = await self._cas(cs, row, {
                "status": Status.REJECTED.value, "status_reason": notes or "rejected",
                "reviewed_by": reviewer, "reviewed_at": cs.now, "review_notes": notes,
                "completed_at": cs.now})
            cs.emit("status", new)
            await settle_dependents(cs, new)
        return task_view(new)

    async def cancel(self, task_id: str, *, by: str, reason: str | None) -> Task:
        """Ends any non-terminal task; a running attempt is stopped and recorded cancelled."""
        async with self.writer.transaction() as cs:
            row = await self._current(cs, task_id, "cancel")
            new = await self._cas(cs, row, {
                "status": Status.CANCELLED.value,
                "status_reason": reason or f"cancelled by {by}", "due_at": None,
                "completed_at": cs.now, "next_attempt_at": None})
            if row.status == Status.IN_PROGRESS:
                cs.cancels.append(row.id)
            cs.emit("status", new)
            await settle_dependents(cs, new)
        return task_view(new)

    async def retry(self, task_id: str) -> Task:
        """failed → queued with a fresh retry budget."""
        async with self.writer.transaction() as cs:
            row = await self._current(cs, task_id, "retry")
            new = await self._cas(cs, row, {
                "status": Status.QUEUED.value, "status_reason": "retried by request",
                "error_count": 0, "queued_at": cs.now, "completed_at": None,
                "next_trigger": "retry", "next_attempt_at": None})
            cs.emit("status", new)
        return task_view(new)


async def settle_dependents(cs: ChangeSet, ended: Row) -> None:
    """After ``ended`` reached a terminal status: release or cancel the tasks waiting on it."""
    pending: list[Row] = [ended]
    while pending:
        current = pending.pop()
        for dep in await repo.task_dependents(cs.conn, current.id):
            if dep.status != Status.SCHEDULED or dep.status_reason != \
                    lifecycle.WAITING_FOR_DEPENDENCIES:
                continue
            if current.status in lifecycle.BREAKS_DEPENDENTS:
                new = await repo.task_set_status_if(cs.conn, dep.id, [Status.SCHEDULED], {
                    "status": Status.CANCELLED.value,
                    "status_reason": f"dependency {current.id} ended {current.status}",
                    "completed_at": cs.now, "updated_at": cs.now})
                if new is not None:
                    cs.emit("status", new)
                    pending.append(new)
                continue
            if await repo.task_open_dependencies(cs.conn, dep.id):
                continue
            place = lifecycle.place(automatic=True, assigned_to_bot=True,
                                    scheduled_for=dep.scheduled_for, dependencies_open=False,
                                    now=cs.now)
            new = await repo.task_set_status_if(cs.conn, dep.id, [Status.SCHEDULED], {
                "status": place.status.value, "status_reason": place.reason,
                "due_at": place.due_at, "updated_at": cs.now,
                "queued_at": cs.now if place.status == Status.QUEUED else None})
            if new is not None:
                cs.emit("status", new)
