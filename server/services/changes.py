"""Write transactions that carry their consequences: events, runner wake-ups, timer arms.

``async with writer.transaction() as cs:`` gives a :class:`ChangeSet` on one write
connection. Events emitted on it are inserted as ``task_events`` rows inside the same
transaction (in their compact stored form, server/services/task_events.py); after commit
they are published, the runner is woken if work became ready, and
the timer is armed for the earliest new due time. Nothing is signalled for a rolled-back
transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas.tasks import TaskEvent
from server.core.events import PublishedEvent
from server.db.engine import Database
from server.db.repositories import (
    changes_insert_pg,
    changes_insert_sqlite,
    event_insert,
    tag_new_tasks,
    task_row_of,
    tasks_insert,
)
from server.db.rows import ExecutionRow, TaskRow
from server.db.work_signal import announce_work
from server.services.audit import Actor, entry_values
from server.services.task_events import compact_event
from server.services.views import execution_view, task_view

EventType = Literal["created", "status", "execution", "stalled", "deadline_missed", "progress"]
T = TypeVar("T")
Job = Callable[["ChangeSet"], Awaitable[Any]]
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Listeners:
    """Who hears of committed changes besides event subscribers (see :meth:`Signals.connect`)."""

    wake_runner: Callable[[], None]  # work became ready
    arm_timer: Callable[[datetime], None]  # the task timer: a task comes due at this time
    cancel_attempt: Callable[[str], None]  # stop this task's attempt if it runs here
    task_ended: Sequence[Callable[[TaskRow], None]] = ()  # a task reached completed or failed


class Signals:
    """Where the writer announces a committed change (after commit, never on rollback).

    ``publish`` (events to subscribers) is given at construction. The runner, the task timer
    and the task-end notices are all built on the :class:`Writer` that announces through these
    signals, so they cannot be given to it: the wiring point (server/node/app.py) hands them over
    once with :meth:`connect` — the one late binding of the wiring. Before that (or in a test
    without a runner) a change wakes and arms nothing.
    """

    def __init__(self, publish: Callable[[list[PublishedEvent]], None] | None = None, *,
                 wants_payloads: Callable[[], bool] = lambda: True) -> None:
        self.publish = publish
        # Whether ``publish`` reads the events' payloads now (someone subscribed on SQLite);
        # when not, the full TaskEvents are not built and each payload is empty.
        self.wants_payloads = wants_payloads
        self.listeners: Listeners | None = None

    def connect(self, listeners: Listeners) -> None:
        """Give the listeners built after the writer; once."""
        if self.listeners is not None:
            raise RuntimeError("Signals.connect() was already called")
        self.listeners = listeners


@dataclass
class ChangeSet:
    conn: AsyncConnection
    now: datetime
    # (event type, task id, task row, attempt row, the compact form that is stored); the full
    # TaskEvent for live subscribers is built after commit, only if someone listens, from the
    # row — none for an event of a bulk change (emit_queued): it is published without one.
    events: list[tuple[EventType, str, TaskRow | None, ExecutionRow | None, bytes]] = field(
        default_factory=list)
    wake: bool = False
    due: list[datetime] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    ended: list[TaskRow] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    # Tasks created in this transaction, inserted together (one executemany) before commit or
    # before anything in it reads tasks (:meth:`flush_tasks`).
    new_tasks: list[dict[str, Any]] = field(default_factory=list)
    # Called once the transaction committed (never on rollback).
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def insert_task(self, values: dict[str, Any]) -> TaskRow:
        """A task without dependencies, inserted with the others of this transaction; its
        row as the insert writes it."""
        self.new_tasks.append(values)
        return task_row_of(values)

    async def flush_tasks(self) -> None:
        """Insert the tasks created so far (before a read that must see them)."""
        if self.new_tasks:
            rows, self.new_tasks = self.new_tasks, []
            await tag_new_tasks(self.conn, rows)
            await tasks_insert(self.conn, rows)

    def audit(self, actor: Actor, action: str, target_type: str, target_id: str | None,
              detail: dict[str, Any] | None = None) -> None:
        """An audit entry, inserted with this transaction (CONTRACT §10)."""
        self.audits.append(entry_values(actor, action, target_type, target_id, detail or {},
                                        self.now))

    def emit(self, type_: EventType, task: TaskRow, execution: ExecutionRow | None = None
             ) -> None:
        self.events.append((type_, task.id, task, execution,
                            compact_event(type_, task, execution)))
        if task.status == "queued":
            self.wake = True
        elif task.status == "scheduled" and task.due_at is not None:
            self.due.append(task.due_at)
        if task.status in ("completed", "failed", "cancelled", "rejected") and type_ != "created":
            self.ended.append(task)

    def emit_queued(self, type_: EventType, task_ids: Sequence[str], stored: Sequence[bytes]
                    ) -> None:
        """Events of tasks a bulk change made ``queued`` without reading them back whole (the
        promotion of due tasks), each already in its stored form. They are stored like any
        other and wake the runner; they are published without a payload, so a live
        subscriber reads them from the table (server/services/task_events.py)."""
        self.events.extend((type_, task_id, None, None, item)
                           for task_id, item in zip(task_ids, stored, strict=True))
        if task_ids:
            self.wake = True


def _full_event(type_: EventType, task: TaskRow, execution: ExecutionRow | None) -> bytes:
    """The TaskEvent live subscribers receive, JSON-encoded."""
    return _encoder.encode(TaskEvent(
        type=type_, task=task_view(task),
        execution=execution_view(execution, task) if execution is not None else None))


class Writer:
    """Write transactions. ``run(job)`` group-commits: jobs submitted while a transaction is
    being written share the next one (one BEGIN/COMMIT for many small writes — what makes a
    batch of 100 ``tasks.create`` cheap on SQLite's single writer). If any job of a group
    raises, the group is rolled back and each job is run again alone, so one bad job only
    fails its own caller."""

    max_group = 200

    def __init__(self, db: Database, signals: Signals, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.signals = signals
        self.clock = clock
        self._pending: list[tuple[Job, asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.changes = 0  # events committed by this writer: server/db/planner_stats.py

    async def run(self, job: Callable[[ChangeSet], Awaitable[T]]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((job, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # let the callers of this loop turn join the group
            group = self._pending[: self.max_group]
            del self._pending[: self.max_group]
            if len(group) == 1:
                await self._run_alone(group[0])
                continue
            try:
                results = []
                async with self.transaction() as cs:
                    for job, _ in group:
                        results.append(await job(cs))
            except Exception:
                for item in group:
                    await self._run_alone(item)
                continue
            for (_, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _run_alone(self, item: tuple[Job, asyncio.Future[Any]]) -> None:
        job, future = item
        try:
            async with self.transaction() as cs:
                result = await job(cs)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[ChangeSet]:
        async with self.db.write(on_loop=True) as conn:
            cs = ChangeSet(conn, self.clock())
            yield cs
            events = [{"task_id": task_id, "payload": stored, "created_at": cs.now}
                      for _, task_id, _, _, stored in cs.events]
            new_tasks, cs.new_tasks = cs.new_tasks, []
            # New tasks' turns in line (fair tags) are given by the INSERT itself.
            if self.db.is_sqlite:  # one driver call for all three
                ids = await changes_insert_sqlite(conn, new_tasks, events, cs.audits)
            else:
                # cs.wake: other nodes' runners hear of the new work at commit (work_signal).
                if new_tasks or cs.audits:  # one round trip for all (the NOTIFY too)
                    ids = await changes_insert_pg(conn, new_tasks, events, cs.audits,
                                                  announce=cs.wake)
                else:
                    ids = await event_insert(conn, events)
                    if cs.wake:
                        await announce_work(conn)
        self.changes += len(cs.events)
        self._announce(cs, ids)

    def _announce(self, cs: ChangeSet, ids: list[int]) -> None:
        if ids and self.signals.publish is not None:
            full = self.signals.wants_payloads()
            self.signals.publish([
                PublishedEvent(i, task_id, _full_event(type_, task, ex)
                               if full and task is not None else b"")
                for i, (type_, task_id, task, ex, _) in zip(ids, cs.events, strict=True)])
        for call in cs.after_commit:
            call()
        listeners = self.signals.listeners
        if listeners is None:
            return
        if cs.wake:
            listeners.wake_runner()
        if cs.due:
            listeners.arm_timer(min(cs.due))
        for task_id in cs.cancels:
            listeners.cancel_attempt(task_id)
        for row in cs.ended:
            for hook in listeners.task_ended:
                hook(row)
