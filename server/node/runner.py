"""The runner: claims ready tasks, runs each attempt under its deadline, records it.

- ``WORKER_CONCURRENCY`` slots in this process. The runner sleeps until woken — a commit that
  made work ready wakes it at once (no sleep-and-poll for ready work); a slow poll remains
  only as a safety net and, on PostgreSQL, to see work queued by other nodes.
- Each claim moves tasks ``queued → in_progress`` with a lease and inserts one
  ``task_executions`` row per attempt (status ``running``), in one transaction.
- Executors compute; the runner alone writes. Finished attempts are recorded in batches by
  one completer (group commit), each with a compare-and-set on ``in_progress`` + lease owner.
- A claim picks the ids first, then moves exactly those (never more than the free slots),
  leaving out task types and destination hosts at their cap (TYPE_CONCURRENCY,
  HOST_CONCURRENCY) and paused types (:meth:`Runner.pause`); a task over its cap stays
  ``queued`` and holds no slot (server/core/claims.py decides what fits).
- Leases belong to the node (its stable NODE_ID) and are extended by a heartbeat every
  ``LEASE_SECONDS/3``; a node at start takes back its own leases at once, and a task whose
  lease ran out (its node died) is found within a second by :meth:`Runner.rescue_expired`:
  its attempt ends ``lost`` and the task is queued again without spending a retry
  (``MAX_LOST_ATTEMPTS`` in a row end it). It keeps its place in line; once lost twice in a
  row it runs apart — alone in the process, one suspect at a time (claims.quarantine) — so a
  task that kills its process dies alone and the tasks beside it are not failed with it.
- Shutdown stops claiming, lets attempts finish for a grace period, then interrupts them:
  they end ``cancelled`` and their tasks go back to ``queued`` without spending a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

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
from schemas.secrets import masked_config_and_secrets, scrub, secret_values
from server.core import lifecycle, logs, placeholders, tracing
from server.core.claims import (
    Candidate,
    Caps,
    Room,
    admit,
    backlogs_to_mark,
    dest_host,
    fit,
    host_share,
    quarantine,
    room,
)
from server.core.errors import database_unavailable, storage_unavailable
from server.core.ids import new_id
from server.core.lifecycle import Outcome, Status
from server.core.retry import RetryPolicy
from server.db import flow as flow_db
from server.db import repositories as repo
from server.db.engine import Database
from server.db.repositories import Row
from server.db.rows import TaskRow
from server.node.metrics import Metrics
from server.services import groups
from server.services.audit import SYSTEM
from server.services.changes import ChangeSet, Writer
from server.services.clients import ConnectionService, apply_to_api_call
from server.services.live import LIVE_TYPES, LiveBoard, debug_url
from server.services.tasks import settle_dependents

log = logging.getLogger("errands.runner")

# A rate-limited or full key's queued backlog is given its reason at most this often.
_MARK_EVERY = timedelta(seconds=1)

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
    input: Any = None  # the resolved executionConfig, masked (CONTRACT §10)
    config: Any = None  # the resolved executionConfig itself


@dataclass
class Running:
    task: Row
    execution_id: str
    handle: asyncio.Task[None] | None = None
    stop_reason: StopReason | None = None
    # The host key found when the attempt resolved its placeholders (the row has none then).
    host: str | None = None


@dataclass
class RunnerConfig:
    concurrency: int = 64
    lease_seconds: float = 30.0
    poll_seconds: float = 5.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    caps: Caps = field(default_factory=Caps)
    max_lost_attempts: int = lifecycle.MAX_LOST_ATTEMPTS
    # Lost attempts in a row after which a task runs alone (claims.quarantine). One loss is
    # what a crash or kill -9 does to everything in flight: those orphans run again at once,
    # together; a task lost again is a suspect — while MAX_LOST_ATTEMPTS leaves room for a
    # suspect's streak to grow alone before the task fails.
    quarantine_after: int = 2

    def is_suspect(self, lost_streak: int) -> bool:
        return lost_streak >= max(1, min(self.quarantine_after, self.max_lost_attempts - 1))
    # How often other nodes' expired leases are looked for (PostgreSQL); None: LEASE_SECONDS/3.
    rescue_seconds: float | None = None


def _dump(value: Any) -> Any:
    """Executor output as plain JSON values (Structs, datetimes ...)."""
    return msgspec.to_builtins(value)


class Runner:
    def __init__(self, *, db: Database, writer: Writer, executors: ExecutorRegistry,
                 config: RunnerConfig, clock: Callable[[], datetime], worker_id: str,
                 artifacts: ArtifactSink | None = None,
                 metrics: Metrics | None = None,
                 draw: Callable[[], float] = random.random,
                 connections: ConnectionService | None = None,
                 live: LiveBoard | None = None) -> None:
        self.db = db
        self.writer = writer
        self.executors = executors
        self.config = config
        self.clock = clock
        self.worker_id = worker_id  # the lease owner: the node's stable identity
        # What attempts record as their workerId: the node and this process of it.
        self.instance_id = f"{worker_id}/{os.getpid()}"
        self.artifacts = artifacts
        self.draw = draw
        self.connections = connections  # resolves connections when an attempt starts
        self.live = live  # progress and live view of the attempts running here (CONTRACT §17)
        self.running: dict[str, Running] = {}
        self._wake = asyncio.Event()
        self._finished: asyncio.Queue[Finished] = asyncio.Queue()
        self._claiming = True
        self._paused_all = False
        self._paused_types: frozenset[str] = frozenset()
        self._tasks: list[asyncio.Task[None]] = []
        self.claimed_total = 0
        self.metrics = metrics or Metrics()
        self.claims = 0  # claim statements that took something, and the most one took
        self.claimed_max = 0
        # Flow control (CONTRACT §15): concurrency keys and clients found full (left out of
        # the claims until the runner next sleeps) and rate-limit keys until their window
        # opens.
        self._full_keys: set[str] = set()
        self._full_clients: set[str] = set()
        self._limited: dict[str, datetime] = {}
        # When each waiting backlog (rate-limit or concurrency key) was last given its reason.
        self._marked: dict[tuple[str, str], datetime] = {}

    # --- control ---------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def pause(self, everything: bool, types: frozenset[str]) -> None:
        """The autorun switch (CONTRACT §10): no attempt of a paused type starts; running ones finish."""  # noqa: E501
        self._paused_all = everything
        self._paused_types = frozenset(types)
        self._wake.set()

    async def start(self) -> None:
        """Recover what a dead process left, then start claiming."""
        if self.db.is_sqlite:
            # One process owns an SQLite file: anything in progress at start was orphaned.
            await self.rescue_expired(every=True)
        else:
            # This node's leases from before a restart are orphans by definition.
            await self.rescue_expired(own=True)
        self._tasks = [asyncio.create_task(self._claim_loop(), name="runner-claim"),
                       asyncio.create_task(self._complete_loop(), name="runner-complete"),
                       asyncio.create_task(self._heartbeat_loop(), name="runner-heartbeat"),
                       asyncio.create_task(self._rescue_loop(), name="runner-rescue")]

    def dead_loops(self) -> list[str]:
        """Names of this runner's loops that have stopped (for /readyz)."""
        return [t.get_name() for t in self._tasks if t.done()]

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

    def room(self, *, paused: bool = True) -> Room:
        """Free slots, and the types and hosts this process may not start more of now
        (``paused``: the paused types count as full)."""
        return room(concurrency=self.config.concurrency,
                    running=[(r.task.task_type, r.host or r.task.dest_host)
                             for r in self.running.values()],
                    caps=self.config.caps,
                    paused=self._paused_types if paused else frozenset())

    async def _claim_loop(self) -> None:
        failures = 0
        while self._claiming:
            again = False
            if not self._paused_all:
                left = self.room()
                if left.free > 0:
                    try:
                        again = await self._claim(left)
                        failures = 0
                    except Exception as exc:
                        failures += 1
                        await self._back_off(exc, "claiming tasks", failures)
            if not again and (self._paused_all or self._paused_types):
                left = self.room(paused=False)
                if left.free > 0:  # a person asked for these: they run while paused
                    try:
                        again = await self._claim(left, manual_only=True)
                        failures = 0
                    except Exception as exc:
                        failures += 1
                        await self._back_off(exc, "claiming tasks", failures)
            if again:
                await asyncio.sleep(0)
                continue
            self._wake.clear()
            # asyncio.timeout, not wait_for: the wait runs in this task, so a wake-up resumes
            # it at the loop's next turn (wait_for's inner task took three: a create's
            # response went out before the claim began, adding to the pickup latency).
            # A rate limit's window opening wakes it too; keys found full are looked at
            # again after any wake (an attempt ended, here or on another node).
            wait = self.config.poll_seconds
            if self._limited:
                opens = (min(self._limited.values()) - self.clock()).total_seconds()
                wait = max(0.001, min(wait, opens + 0.001))
            elif self._full_keys or self._full_clients:
                wait = min(wait, 1.0)  # freed on another node: no wake-up here
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._full_keys.clear()
            self._full_clients.clear()

    def _skip(self, left: Room, now: datetime) -> repo.Skip:
        """What the next claim's candidates leave out (claims.Room; keys and clients found
        full since the runner last slept; rate-limit keys until their window opens)."""
        self._limited = {k: at for k, at in self._limited.items() if at > now}
        return repo.Skip(types=tuple(sorted(left.full_types)),
                         hosts=tuple(sorted(left.full_hosts)),
                         keys=tuple(sorted(self._full_keys)),
                         clients=tuple(sorted(self._full_clients)),
                         rate_keys=tuple(sorted(self._limited)))

    async def _claim(self, left: Room, *, manual_only: bool = False) -> bool:
        """One claim of at most ``left.free`` tasks; True when another may find more at once.
        ``manual_only``: only the tasks a person queued (tasks.execute)."""
        async with self.writer.transaction() as cs:
            now = cs.now
            picked = await repo.task_claim_candidates(
                cs.conn, dialect=self.db.dialect, limit=left.free,
                manual_only=manual_only, skip=self._skip(left, now))
            # A task this process still runs (its lease was taken while it ran) waits until
            # that attempt has ended here.
            suspect = self.config.is_suspect
            candidates = [Candidate(r.id, r.task_type, r.dest_host, suspect(r.lost_streak),
                                    r.client_id, r.concurrency_key, r.concurrency_limit,
                                    r.rate_limit_key)
                          for r in picked if r.id not in self.running]
            apart = quarantine(candidates, running=len(self.running), suspect_running=any(
                suspect(r.task.lost_streak) for r in self.running.values()))
            fitted = fit(apart, left, host_share(self.config.caps.per_host,
                                                 self.config.concurrency))
            chosen, waiting, marks = await self._admit(cs.conn, fitted.chosen, now)
            waiting = {**fitted.waiting, **waiting}
            if waiting:
                await flow_db.reasons_set(cs.conn, waiting)
            if marks:  # after: a used-up or full key is the reason, not a host cap also met
                await flow_db.backlog_reasons_set(cs.conn, marks)
            rows = await repo.task_claim_ids(
                cs.conn, [c.id for c in chosen], worker=self.worker_id, now=now,
                lease_until=now + timedelta(seconds=self.config.lease_seconds))
            if not rows:
                return bool(waiting) and len(apart) == len(candidates) == left.free
            executions = await repo.execution_insert(cs.conn, [{
                "id": (ex_id := new_id("exe")), "task_id": row.id,
                "attempt_number": row.attempts,
                "triggered_by": row.next_trigger, "status": "running", "started_at": now,
                "worker_id": self.instance_id, "steps": [], "artifacts": [],
                "debug_url": debug_url(ex_id) if row.task_type in LIVE_TYPES else None,
            } for row in rows])
            for row, ex in zip(rows, executions, strict=True):
                cs.emit("execution", row, ex)
        for row, ex in zip(rows, executions, strict=True):
            self.metrics.attempt_started(row.task_type, row.queued_at, now)
            running = Running(row, ex.id)
            self.running[row.id] = running
            running.handle = asyncio.create_task(self._attempt(running), name=f"attempt-{row.id}")
        self.claimed_total += len(rows)
        self.claims += 1
        self.claimed_max = max(self.claimed_max, len(rows))
        # Full batch: more may be queued. Some skipped: their group is full now, the next
        # claim leaves it out and may find others.
        # A suspect in the way (quarantine): wait for the attempts running here to end.
        return len(apart) == len(candidates) and (
            len(candidates) == left.free or len(chosen) < len(candidates))

    async def _admit(self, conn: AsyncConnection, chosen: list[Candidate], now: datetime
                     ) -> tuple[list[Candidate], dict[str, str], dict[tuple[str, str], str]]:
        """Concurrency keys, CLIENT_CONCURRENCY and rate limits, counted across nodes
        (CONTRACT §15): on PostgreSQL under each key's advisory lock, taken in one order, so
        two nodes never both take a key's last slot; the starts admitted are recorded in
        this claim's transaction. Also the keys whose whole queued backlog should now be
        given its reason (claims.backlogs_to_mark)."""
        per_client = self.config.caps.per_client
        keys = sorted({c.concurrency_key for c in chosen if c.concurrency_key is not None})
        clients = sorted({c.client_id for c in chosen if c.client_id is not None
                          and c.concurrency_key is None}) if per_client > 0 else []
        rates = sorted({c.rate_limit_key for c in chosen if c.rate_limit_key is not None})
        if not (keys or clients or rates):
            return chosen, {}, {}
        if not self.db.is_sqlite:
            await flow_db.locks_take(conn, [flow_db.lock_id("key", k) for k in keys]
                                     + [flow_db.lock_id("client", c) for c in clients]
                                     + [flow_db.lock_id("rate", r) for r in rates])
        windows = await flow_db.rate_windows(conn, rates, now)
        decided = admit(chosen, now=now,
                        running_by_key=await flow_db.running_by_key(conn, keys),
                        running_by_client=await flow_db.running_by_client(conn, clients),
                        per_client=per_client, windows=windows)
        await flow_db.starts_insert(conn, decided.starts, now)
        self._full_keys |= decided.full_keys
        self._full_clients |= decided.full_clients
        for key, at in decided.limited.items():
            # Looked at again when its window opens, or within a second (a limit changed
            # or deleted by rateLimits.* applies that soon).
            self._limited[key] = min(at, now + timedelta(seconds=1))
        marks = backlogs_to_mark(decided, self._marked, now=now, every=_MARK_EVERY)
        if marks:
            self._marked = {k: at for k, at in self._marked.items()
                            if now - at < _MARK_EVERY} | dict.fromkeys(marks, now)
        return decided.chosen, decided.waiting, marks

    # --- one attempt -----------------------------------------------------------------------

    async def _attempt(self, running: Running) -> None:
        row = running.task
        ctx = ExecutionContext(task_id=row.id, execution_id=running.execution_id,
                               attempt_number=row.attempts, triggered_by=row.next_trigger,
                               worker_id=self.instance_id, clock=self.clock,
                               artifacts_sink=self.artifacts)
        if self.live is not None:
            ctx.live = self.live.start(row.id, running.execution_id, lambda: ctx.secrets)
        logs.bind(taskId=row.id, executionId=running.execution_id, attempt=row.attempts,
                  workerId=self.instance_id)  # this attempt's own asyncio task: no leak
        log.info("attempt started (%s, triggeredBy %s)", row.task_type, row.next_trigger)
        span = tracing.attempt_started(row.task_type, row.id, running.execution_id, row.attempts)
        started = time.monotonic()
        finished = Finished(row, running.execution_id, Outcome("success"), ctx, 0)
        try:
            result = await self._execute(row, ctx, finished)
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
                "".join(traceback.format_exception(exc)),
                ctx.secrets if ctx.secrets is not None else _secrets(row)))
            finished.outcome = Outcome("failure", retryable=True,
                                       error=f"{type(exc).__name__}: {exc}")
            finished.error_type = type(exc).__name__
        finished.duration_ms = int((time.monotonic() - started) * 1000)
        if self.live is not None:  # its last progress is written before its record
            try:
                await asyncio.shield(self.live.end(running.execution_id))
            except asyncio.CancelledError:
                # Cancelled now (tasks.cancel, shutdown): the attempt is recorded all the same;
                # a progress write landing after the record is refused by its compare-and-set.
                pass
        _scrub_secrets(finished)
        tracing.attempt_ended(span, finished.outcome.kind, finished.error_type)
        log.info("attempt ended: %s in %d ms%s", finished.outcome.kind, finished.duration_ms,
                 f" ({finished.error_type})" if finished.error_type else "",
                 extra={"fields": {"outcome": finished.outcome.kind,
                                   "durationMs": finished.duration_ms}})
        self.metrics.attempt_ended(row.task_type, finished.outcome.kind, finished.error_type,
                                   finished.duration_ms)
        self._finished.put_nowait(finished)

    async def _execute(self, row: Row, ctx: ExecutionContext,
                       finished: Finished | None = None) -> ExecutionResult:
        executor = self.executors.get(row.task_type)
        if executor is None:
            raise PermanentError(f"taskType {row.task_type} is not available on this server",
                                 error_type="unsupported")
        raw = await self._resolved_config(row)
        # Found once for the attempt: the executor scrubs its output with them, the runner
        # its record (placeholders resolved: a token taken from a dependency counts too).
        masked, ctx.secrets = masked_config_and_secrets(row.task_type, raw, row.meta)
        if finished is not None:
            finished.input, finished.config = masked, raw
        run = await self._with_connection(row, raw, ctx, masked, finished)
        try:
            config = msgspec.convert(run, CONFIG_TYPES[row.task_type])
        except msgspec.ValidationError as exc:
            raise PermanentError(f"invalid executionConfig: {exc}",
                                 error_type="invalid_config") from None
        spec = TaskSpec(id=row.id, title=row.title, task_type=row.task_type, config=config,
                        timeout_seconds=row.timeout_seconds,
                        source_webhook_id=row.source_webhook_id, metadata=row.meta,
                        client_id=row.client_id)
        try:
            async with asyncio.timeout(row.timeout_seconds) as deadline:
                return await executor.execute(spec, ctx)
        except TimeoutError:
            if deadline.expired():
                raise TimeoutError(
                    f"attempt exceeded timeoutSeconds ({row.timeout_seconds} s)") from None
            raise ExecutorError("timed out inside the executor", error_type="timeout",
                                retryable=True) from None

    async def _with_connection(self, row: Row, raw: dict[str, Any], ctx: ExecutionContext,
                               masked: dict[str, Any], finished: Finished | None
                               ) -> dict[str, Any]:
        """The config the executor runs with: the task's connection (or its client's HighLevel
        credentials) read now, so a rotation applies from the next attempt (CONTRACT §14).
        Its values join the attempt's secrets; the input shows ``<name>@v<version>``."""
        if self.connections is None:
            return raw
        try:
            resolved = await self.connections.resolve(row.task_type, raw, row.client_id)
        except LookupError as exc:
            raise PermanentError(str(exc), error_type="connection") from None
        if resolved is None:
            return raw
        ctx.ghl = resolved.ghl
        if resolved.secrets:
            ctx.secrets = tuple(sorted({*(ctx.secrets or ()), *resolved.secrets},
                                       key=len, reverse=True))
        if resolved.label is not None:
            masked["connection"] = resolved.label
            if finished is not None:
                finished.config = None  # the input differs from the task's config: kept
        if row.task_type == "api_call" and resolved.kind is not None:
            return apply_to_api_call(raw, resolved.kind, resolved.values)
        return raw

    async def _resolved_config(self, row: Row) -> dict[str, Any]:
        """The executionConfig with ``{{dep.N.path}}`` taken from the dependencies' results."""
        config: dict[str, Any] = row.execution_config
        if not row.depends_on or not placeholders.has_placeholders(config):
            return config
        async with self.db.read() as conn:
            found = await repo.tasks_by_ids(conn, list(row.depends_on))
        results = [found[d].result if d in found else None for d in row.depends_on]
        try:
            resolved: dict[str, Any] = placeholders.resolve(config, results)
        except placeholders.Unresolved as exc:
            raise PermanentError(str(exc), error_type="placeholder") from None
        running = self.running.get(row.id)
        if running is not None and row.dest_host is None:
            running.host = dest_host(row.task_type, resolved)  # counted from now on
        return resolved

    # --- recording -------------------------------------------------------------------------

    async def _back_off(self, exc: Exception, what: str, failures: int) -> None:
        """After a failed claim or record: wait longer each time (0.5 s doubling to 5 s).
        An outage or a full disk is the database's to report (once: engine.Faults); any
        other failure is logged with its traceback."""
        if database_unavailable(exc) or storage_unavailable(exc):
            log.debug("%s failed (%s); retrying", what, exc)
        else:
            log.exception("%s failed; retrying", what)
        await asyncio.sleep(min(5.0, 0.5 * 2 ** min(failures - 1, 4)))

    async def _complete_loop(self) -> None:
        failures = 0
        while True:
            batch = [await self._finished.get()]
            while len(batch) < 256:
                try:
                    batch.append(self._finished.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                await self._record(batch)
                failures = 0
            except Exception as exc:
                failures += 1
                await self._back_off(exc, f"recording {len(batch)} attempts", failures)
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
            batch = sorted(batch, key=lambda item: item.task.id)  # the one lock order
            plans = [(item, lifecycle.after_attempt(
                outcome=item.outcome, error_count=item.task.error_count,
                max_retries=item.task.max_retries, now=now,
                policy=self.config.retry.overridden(item.task.retry_policy), draw=self.draw(),
                lost_streak=item.task.lost_streak,
                max_lost=self.config.max_lost_attempts)) for item in batch]
            # Tasks first (the order a rescue locks them in too): an attempt shares the
            # values its task row ends with (shared_with_task).
            await repo.task_end_attempts(cs.conn, self.worker_id, [
                {"id": item.task.id, **task_values(tr, item, now)}
                for item, tr in plans if item.outcome.kind != "cancelled"])
            after = await repo.tasks_by_ids(cs.conn, [item.task.id for item in batch])
            executions = await repo.executions_end(cs.conn, [
                shared_with_task(execution_values(item, tr, now), after.get(item.task.id),
                                 item.config)
                for item, tr in plans])
            ended: list[TaskRow] = []
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
                elif won and task.parent_id is not None:  # a retry: its group may have ended
                    stopped = await groups.stop_if_group_ended(cs, task)
                    if stopped is not None:
                        ended.append(stopped)
            waiting = await repo.tasks_with_dependents(cs.conn, [t.id for t in ended])
            for task in ended:
                if task.id in waiting:
                    await settle_dependents(cs, task, group_settled=True)
            # Their groups (CONTRACT §17), each once for the batch, and what that ended.
            for task in await groups.children_ended(cs, ended):
                await settle_dependents(cs, task, group_settled=True)

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
                    held = await repo.task_heartbeat(conn, self.worker_id, ids, until,
                                                     dialect=self.db.dialect)
            except Exception:
                log.exception("lease heartbeat failed")
                continue
            for task_id in set(ids) - held:
                if task_id in self.running:  # cancelled elsewhere, or the lease was taken
                    self.cancel_local(task_id, "cancel")

    async def _rescue_loop(self) -> None:
        """Other nodes' expired leases, looked for often (one indexed query), so a node that
        never returns has its work taken over within a second of its leases' end."""
        every = self.config.rescue_seconds or self.config.lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            try:
                await self.rescue_expired()
            except Exception:
                log.warning("looking for expired leases failed; trying again shortly",
                            exc_info=True)

    async def rescue_expired(self, *, every: bool = False, own: bool = False) -> int:
        """End attempts whose worker is gone as ``lost`` and queue their tasks again."""
        now = self.clock()
        async with self.writer.transaction() as cs:
            rows = await repo.task_lease_expired(
                cs.conn, now, every=every, owner=self.worker_id if own else None)
            # Attempts this process is running are alive, whatever their lease says (a late
            # heartbeat extends it); only other nodes may take them.
            rows = [r for r in rows
                    if not (r.lease_owner == self.worker_id and r.id in self.running)]
            for row in rows:
                await self._rescue_one(cs, row)
        self.metrics.lease_recovered(len(rows))
        if rows:
            log.warning("recovered %d task(s) whose attempt was lost", len(rows))
        return len(rows)

    async def _rescue_one(self, cs: ChangeSet, row: Row) -> None:
        outcome = Outcome("lost", retryable=True,
                          error=f"worker {row.lease_owner} stopped before the attempt ended")
        tr = lifecycle.after_attempt(outcome=outcome, error_count=row.error_count,
                                     max_retries=row.max_retries, now=cs.now,
                                     policy=self.config.retry.overridden(row.retry_policy),
                                     draw=self.draw(),
                                     lost_streak=row.lost_streak,
                                     max_lost=self.config.max_lost_attempts)
        running = await repo.execution_running_for_task(cs.conn, row.id)
        ex = None
        if running is not None:
            duration = int((cs.now - running.started_at).total_seconds() * 1000)
            ex = await repo.execution_finish(cs.conn, running.id, {
                "status": "lost", "completed_at": cs.now, "duration_ms": duration,
                "error": outcome.error, "error_type": "lost", "retryable": True,
                "debug_url": None})
        item_values = task_values(tr, None, cs.now, current=row)
        item_values["fair_tag"] = repo.kept_place(row.fair_tag)  # queued again: its place
        new = await repo.task_set_status_if(cs.conn, row.id, [Status.IN_PROGRESS], item_values)
        if new is not None:
            cs.emit("execution" if ex is not None else "status", new, ex)
            cs.audit(SYSTEM, "recovered", "task", row.id, {"error": outcome.error})
            if new.status in lifecycle.TERMINAL:
                await settle_dependents(cs, new)


def _secrets(row: Row) -> tuple[str, ...]:
    return secret_values(row.task_type, row.execution_config, row.meta)


def _scrub_secrets(finished: Finished) -> None:
    """Every secret of the task's config and metadata, replaced by the mask wherever the
    attempt's output, summary, error, steps or artifacts quote it (an echoing remote)."""
    secrets = finished.ctx.secrets if finished.ctx.secrets is not None \
        else _secrets(finished.task)
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
        # The live view ends with the attempt (CONTRACT §17).
        "browser_session_id": ctx.browser_session_id, "debug_url": None,
        "input": item.input,
    }


def shared_with_task(values: dict[str, Any], task: TaskRow | None, config: Any
                     ) -> dict[str, Any]:
    """An attempt's end ``values`` without the copies its task row holds: when the task is
    ``completed`` (terminal, so its result and executionConfig never change again) and the
    attempt's output is the task's result, or the config it ran with (``config``, resolved;
    its input is that masked) the task's executionConfig — equal as JSON text, so that 1 and
    1.0 or key order never pass for each other — the column is NULL and its flag says where
    to read it (views.execution_view, which masks the task's config as ``input`` was)."""
    values |= {"output_is_result": False, "input_is_config": False}
    if task is None or task.status != Status.COMPLETED:
        return values
    if values["output"] is not None and _same_json(values["output"], task.result):
        values.update(output=None, output_is_result=True)
    if values["input"] is not None and _same_json(config, task.execution_config):
        values.update(input=None, input_is_config=True)
    return values


def _same_json(a: Any, b: Any) -> bool:
    try:
        return msgspec.json.encode(a) == msgspec.json.encode(b)
    except (TypeError, ValueError, OverflowError):  # not JSON: never shared
        return False


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
        "lost_streak": tr.lost_streak, "progress": None,
    }
    if tr.status == Status.COMPLETED and item is not None:
        values.update(result=item.output, result_summary=item.summary, completed_at=now)
    elif tr.status == Status.FAILED:
        values["completed_at"] = now
    elif tr.status == Status.SCHEDULED:
        values.update(due_at=tr.next_attempt_at, next_trigger="retry")
    elif tr.status == Status.QUEUED:
        # Lost or interrupted: the server's fault, so the task keeps its place in line
        # (queued_at unchanged; CONTRACT §13 "Fair to the innocent").
        values["next_trigger"] = "recovery"
    return values
