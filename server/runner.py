"""The runner: claims ready tasks, runs each attempt under its deadline, records it.

- ``WORKER_CONCURRENCY`` slots in this process. The runner sleeps until woken — a commit that
  made work ready wakes it at once (no sleep-and-poll for ready work); a slow poll remains
  only as a safety net and, on PostgreSQL, to see work queued by other nodes.
- Each claim moves tasks ``queued → in_progress`` with a lease and inserts one
  ``task_executions`` row per attempt (status ``running``), in one transaction.
- Executors compute; the runner alone writes. Finished attempts are recorded in batches by
  one completer (group commit), each with a compare-and-set on ``in_progress`` + lease owner.
- Leases are extended by a heartbeat; a task whose lease ran out (its process died) is found
  by :meth:`Runner.rescue_expired`, its attempt ends ``lost`` and the task is retried.
- Shutdown stops claiming, lets attempts finish for a grace period, then interrupts them:
  they end ``cancelled`` and their tasks go back to ``queued`` without spending a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from executors.base import (
    ArtifactSink,
    ExecutionContext,
    ExecutionResult,
    ExecutorError,
    PermanentError,
    TaskSpec,
)
from executors.registry import ExecutorRegistry
from schemas.configs import CONFIG_TYPES
from schemas.secrets import scrub, secret_values
from server import lifecycle
from server.db import repositories as repo
from server.db.engine import Database
from server.db.repositories import Row
from server.ids import new_id
from server.lifecycle import Outcome, Status
from server.retry import RetryPolicy
from server.services.changes import ChangeSet, Writer
from server.services.tasks import settle_dependents

log = logging.getLogger("errands.runner")

StopReason = Literal["cancel", "shutdown", "lease_lost"]


@dataclass
class Finished:
    task: Row
    execution_id: str
    outcome: Outcome
    ctx: ExecutionContext
    duration_ms: int
    output: Any = None
    summary: str | None = None
    error_type: str | None = None


@dataclass
class Running:
    task: Row
    execution_id: str
    handle: asyncio.Task[None] | None = None
    stop_reason: StopReason | None = None


@dataclass
class RunnerConfig:
    concurrency: int = 16
    lease_seconds: float = 30.0
    poll_seconds: float = 5.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def _dump(value: Any) -> Any:
    """Executor output as plain JSON values (Structs, datetimes ...)."""
    return msgspec.to_builtins(value)


class Runner:
    def __init__(self, *, db: Database, writer: Writer, executors: ExecutorRegistry,
                 config: RunnerConfig, clock: Callable[[], datetime], worker_id: str,
                 artifacts: ArtifactSink | None = None,
                 draw: Callable[[], float] = random.random) -> None:
        self.db = db
        self.writer = writer
        self.executors = executors
        self.config = config
        self.clock = clock
        self.worker_id = worker_id
        self.artifacts = artifacts
        self.draw = draw
        self.running: dict[str, Running] = {}
        self._wake = asyncio.Event()
        self._finished: asyncio.Queue[Finished] = asyncio.Queue()
        self._claiming = True
        self._tasks: list[asyncio.Task[None]] = []
        self.claimed_total = 0

    # --- control ---------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        """Recover what a dead process left, then start claiming."""
        if self.db.is_sqlite:
            # One process owns an SQLite file: anything in progress at start was orphaned.
            await self.rescue_expired(orphans_only=True)
        else:
            await self.rescue_expired()
        self._tasks = [asyncio.create_task(self._claim_loop(), name="runner-claim"),
                       asyncio.create_task(self._complete_loop(), name="runner-complete"),
                       asyncio.create_task(self._heartbeat_loop(), name="runner-heartbeat")]

    def cancel_local(self, task_id: str, reason: StopReason = "cancel") -> None:
        """Stop a running attempt of this process (tasks.cancel, a lost lease)."""
        running = self.running.get(task_id)
        if running is not None and running.handle is not None and running.stop_reason is None:
            running.stop_reason = reason
            running.handle.cancel()

    async def stop(self, grace_seconds: float) -> None:
        """Stop claiming; wait up to ``grace_seconds`` for attempts; interrupt the rest."""
        self._claiming = False
        self._wake.set()
        handles = [r.handle for r in self.running.values() if r.handle is not None]
        if handles:
            await asyncio.wait(handles, timeout=grace_seconds)
        for task_id in list(self.running):
            self.cancel_local(task_id, "shutdown")
        handles = [r.handle for r in self.running.values() if r.handle is not None]
        if handles:
            await asyncio.wait(handles, timeout=5)
        # The completer records what the attempts left; give it the time to commit.
        deadline = time.monotonic() + 10
        while self.running and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self._drain_finished()

    # --- claiming --------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while self._claiming:
            free = self.config.concurrency - len(self.running)
            claimed = 0
            if free > 0:
                try:
                    claimed = await self._claim(free)
                except Exception:
                    log.exception("claiming tasks failed; retrying shortly")
                    await asyncio.sleep(1)
            if claimed and claimed == free:
                await asyncio.sleep(0)
                if len(self.running) < self.config.concurrency:
                    continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll_seconds)

    async def _claim(self, limit: int) -> int:
        async with self.writer.transaction() as cs:
            now = cs.now
            rows = await repo.task_claim_due(
                cs.conn, dialect=self.db.dialect, limit=limit, worker=self.worker_id, now=now,
                lease_until=now + timedelta(seconds=self.config.lease_seconds))
            if not rows:
                return 0
            executions = await repo.execution_insert(cs.conn, [{
                "id": new_id("exe"), "task_id": row.id, "attempt_number": row.attempts,
                "triggered_by": row.next_trigger, "status": "running", "started_at": now,
                "worker_id": self.worker_id, "steps": [], "artifacts": [],
            } for row in rows])
            for row, ex in zip(rows, executions, strict=True):
                cs.emit("execution", row, ex)
        for row, ex in zip(rows, executions, strict=True):
            running = Running(row, ex.id)
            self.running[row.id] = running
            running.handle = asyncio.create_task(self._attempt(running), name=f"attempt-{row.id}")
        self.claimed_total += len(rows)
        return len(rows)

    # --- one attempt -----------------------------------------------------------------------

    async def _attempt(self, running: Running) -> None:
        row = running.task
        ctx = ExecutionContext(task_id=row.id, execution_id=running.execution_id,
                               attempt_number=row.attempts, triggered_by=row.next_trigger,
                               worker_id=self.worker_id, clock=self.clock,
                               artifacts_sink=self.artifacts)
        started = time.monotonic()
        finished = Finished(row, running.execution_id, Outcome("success"), ctx, 0)
        try:
            result = await self._execute(row, ctx)
            finished.output, finished.summary = _dump(result.output), result.summary
        except TimeoutError as exc:
            finished.outcome = Outcome("timeout", retryable=True, error=str(exc))
            finished.error_type = "timeout"
        except asyncio.CancelledError:
            kind: Literal["cancelled", "interrupted"] = (
                "interrupted" if running.stop_reason == "shutdown" else "cancelled")
            why = {"shutdown": "interrupted by server shutdown",
                   "lease_lost": "lease lost to another worker"}.get(
                running.stop_reason or "cancel", "cancelled by request")
            finished.outcome = Outcome(kind, error=why)
            finished.error_type = kind
        except ExecutorError as exc:
            finished.outcome = Outcome("failure", retryable=exc.retryable,
                                       retry_after=exc.retry_after, error=exc.message)
            finished.error_type, finished.output = exc.error_type, _dump(exc.output)
        except Exception as exc:
            log.error("executor for task %s raised\n%s", row.id, scrub(
                "".join(traceback.format_exception(exc)), _secrets(row)))
            finished.outcome = Outcome("failure", retryable=True,
                                       error=f"{type(exc).__name__}: {exc}")
            finished.error_type = type(exc).__name__
        finished.duration_ms = int((time.monotonic() - started) * 1000)
        _scrub_secrets(finished)
        self._finished.put_nowait(finished)

    async def _execute(self, row: Row, ctx: ExecutionContext) -> ExecutionResult:
        executor = self.executors.get(row.task_type)
        if executor is None:
            raise PermanentError(f"taskType {row.task_type} is not available on this server",
                                 error_type="unsupported")
        try:
            config = msgspec.convert(row.execution_config, CONFIG_TYPES[row.task_type])
        except msgspec.ValidationError as exc:
            raise PermanentError(f"invalid executionConfig: {exc}",
                                 error_type="invalid_config") from None
        spec = TaskSpec(id=row.id, title=row.title, task_type=row.task_type, config=config,
                        timeout_seconds=row.timeout_seconds,
                        source_webhook_id=row.source_webhook_id, metadata=row.meta)
        try:
            async with asyncio.timeout(row.timeout_seconds) as deadline:
                return await executor.execute(spec, ctx)
        except TimeoutError:
            if deadline.expired():
                raise TimeoutError(
                    f"attempt exceeded timeoutSeconds ({row.timeout_seconds} s)") from None
            raise ExecutorError("timed out inside the executor", error_type="timeout",
                                retryable=True) from None

    # --- recording -------------------------------------------------------------------------

    async def _complete_loop(self) -> None:
        while True:
            batch = [await self._finished.get()]
            while len(batch) < 256:
                try:
                    batch.append(self._finished.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                await self._record(batch)
            except Exception:
                log.exception("recording %d attempts failed; retrying", len(batch))
                await asyncio.sleep(0.5)
                for item in batch:
                    self._finished.put_nowait(item)
                continue
            for item in batch:
                self.running.pop(item.task.id, None)
            self._wake.set()

    async def _drain_finished(self) -> None:
        batch: list[Finished] = []
        while not self._finished.empty():
            batch.append(self._finished.get_nowait())
        if batch:
            await self._record(batch)
            for item in batch:
                self.running.pop(item.task.id, None)

    async def _record(self, batch: list[Finished]) -> None:
        """One transaction, a handful of statements, whatever the batch size: attempts closed
        by one executemany, tasks by one CAS executemany, both read back for the events."""
        async with self.writer.transaction() as cs:
            now = cs.now
            plans = [(item, lifecycle.after_attempt(
                outcome=item.outcome, error_count=item.task.error_count,
                max_retries=item.task.max_retries, now=now, policy=self.config.retry,
                draw=self.draw())) for item in batch]
            executions = await repo.executions_end(
                cs.conn, [execution_values(item, tr, now) for item, tr in plans])
            await repo.task_end_attempts(cs.conn, self.worker_id, [
                {"id": item.task.id, **task_values(tr, item, now)}
                for item, tr in plans if item.outcome.kind != "cancelled"])
            after = await repo.tasks_by_ids(cs.conn, [item.task.id for item in batch])
            ended: list[Row] = []
            for item, tr in plans:
                task = after.get(item.task.id)
                ex = executions.get(item.execution_id)
                if task is None or ex is None:
                    continue
                cs.emit("execution", task, ex)
                won = (item.outcome.kind != "cancelled" and task.status == tr.status
                       and task.lease_owner is None and task.updated_at == now)
                if won and task.status in lifecycle.TERMINAL:
                    ended.append(task)
            waiting = await repo.tasks_with_dependents(cs.conn, [t.id for t in ended])
            for task in ended:
                if task.id in waiting:
                    await settle_dependents(cs, task)

    # --- leases ----------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        interval = self.config.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            ids = [tid for tid, r in self.running.items() if r.stop_reason is None]
            if not ids:
                continue
            try:
                until = self.clock() + timedelta(seconds=self.config.lease_seconds)
                async with self.db.write() as conn:
                    held = await repo.task_heartbeat(conn, self.worker_id, ids, until)
            except Exception:
                log.exception("lease heartbeat failed")
                continue
            for task_id in set(ids) - held:
                if task_id in self.running:  # cancelled elsewhere, or the lease was taken
                    self.cancel_local(task_id, "cancel")

    async def rescue_expired(self, *, orphans_only: bool = False) -> int:
        """End attempts whose worker is gone as ``lost`` and retry their tasks."""
        now = self.clock()
        async with self.writer.transaction() as cs:
            rows = await repo.task_lease_expired(
                cs.conn, now, any_owner_but=self.worker_id if orphans_only else None)
            for row in rows:
                await self._rescue_one(cs, row)
        if rows:
            log.warning("recovered %d task(s) whose attempt was lost", len(rows))
        return len(rows)

    async def _rescue_one(self, cs: ChangeSet, row: Row) -> None:
        outcome = Outcome("lost", retryable=True,
                          error=f"worker {row.lease_owner} stopped before the attempt ended")
        tr = lifecycle.after_attempt(outcome=outcome, error_count=row.error_count,
                                     max_retries=row.max_retries, now=cs.now,
                                     policy=self.config.retry, draw=self.draw())
        running = await repo.execution_running_for_task(cs.conn, row.id)
        ex = None
        if running is not None:
            duration = int((cs.now - running.started_at).total_seconds() * 1000)
            ex = await repo.execution_finish(cs.conn, running.id, {
                "status": "lost", "completed_at": cs.now, "duration_ms": duration,
                "error": outcome.error, "error_type": "lost", "retryable": True})
        item_values = task_values(tr, None, cs.now, current=row)
        new = await repo.task_set_status_if(cs.conn, row.id, [Status.IN_PROGRESS], item_values)
        if new is not None:
            cs.emit("execution" if ex is not None else "status", new, ex)
            if new.status in lifecycle.TERMINAL:
                await settle_dependents(cs, new)


def _secrets(row: Row) -> tuple[str, ...]:
    return secret_values(row.task_type, row.execution_config, row.meta)


def _scrub_secrets(finished: Finished) -> None:
    """Every secret of the task's config and metadata, replaced by the mask wherever the
    attempt's output, summary, error, steps or artifacts quote it (an echoing remote)."""
    secrets = _secrets(finished.task)
    if not secrets:
        return
    finished.output = scrub(finished.output, secrets)
    finished.summary = scrub(finished.summary, secrets)
    if finished.outcome.error:
        finished.outcome = replace(finished.outcome, error=scrub(finished.outcome.error, secrets))
    ctx = finished.ctx
    ctx.steps[:] = [msgspec.structs.replace(s, detail=scrub(s.detail, secrets))
                    for s in ctx.steps]
    ctx.artifacts[:] = [msgspec.structs.replace(a, name=scrub(a.name, secrets))
                        for a in ctx.artifacts]


def execution_values(item: Finished, tr: lifecycle.Transition, now: datetime
                     ) -> dict[str, Any]:
    ctx = item.ctx
    return {
        "id": item.execution_id, "status": tr.execution_status, "completed_at": now,
        "duration_ms": item.duration_ms, "output": item.output, "error": item.outcome.error,
        "error_type": item.error_type,
        "retryable": None if item.outcome.kind == "success" else item.outcome.retryable,
        "steps": [msgspec.to_builtins(s) for s in ctx.steps],
        "artifacts": [msgspec.to_builtins(a) for a in ctx.artifacts],
        "browser_session_id": ctx.browser_session_id, "debug_url": ctx.debug_url,
    }


def task_values(tr: lifecycle.Transition, item: Finished | None, now: datetime,
                current: Row | None = None) -> dict[str, Any]:
    """Every column an attempt's end writes (repo.ATTEMPT_END_COLUMNS); those this
    transition does not change keep the task's current value."""
    task = current if current is not None else (item.task if item is not None else None)
    assert task is not None
    values: dict[str, Any] = {
        "status": tr.status.value, "status_reason": tr.reason, "error_count": tr.error_count,
        "last_error": tr.last_error if tr.last_error is not None else task.last_error,
        "result": task.result, "result_summary": task.result_summary,
        "completed_at": task.completed_at, "due_at": None, "next_trigger": task.next_trigger,
        "queued_at": task.queued_at, "next_attempt_at": tr.next_attempt_at, "updated_at": now,
    }
    if tr.status == Status.COMPLETED and item is not None:
        values.update(result=item.output, result_summary=item.summary, completed_at=now)
    elif tr.status == Status.FAILED:
        values["completed_at"] = now
    elif tr.status == Status.SCHEDULED:
        values.update(due_at=tr.next_attempt_at, next_trigger="retry")
    elif tr.status == Status.QUEUED:
        values.update(queued_at=now, next_trigger="recovery")
    return values
