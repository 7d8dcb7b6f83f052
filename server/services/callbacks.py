"""Callback tasks (CONTRACT §16): no bot runs them; they wait ``pending`` until their
callback URL is called, or their ``timeoutSeconds`` pass.

- The URL is ``<PUBLIC_URL>/callbacks/<taskId>/<token>``; the token is an HMAC of the task id
  under the server's secret key (secrets_box.SecretBox.token: 256 bits), so the URL can be
  shown again to operators without being stored; the database keeps only its SHA-256 hash,
  written in the transaction that creates the task.
- ``POST`` with ``{"result"?: any}`` completes the task (one TaskExecution, triggeredBy
  ``callback``, output = result), ``{"error": string}`` fails it; once only (then 409).
- :meth:`expire_due` (every CALLBACK_CHECK_SECONDS) fails the tasks whose wait — from
  creation, or from approval when reviewed — exceeded ``timeoutSeconds`` (errorType
  ``timeout``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

import msgspec

from schemas.tasks import Task
from server.core.ids import new_id
from server.core.lifecycle import Status
from server.db import callbacks as callback_rows
from server.db import repositories as repo
from server.db.rows import TaskRow
from server.services.audit import SYSTEM, Actor
from server.services.changes import ChangeSet, Writer
from server.services.secrets_box import SecretBox
from server.services.tasks import TaskService, settle_dependents
from server.services.triggers import Answer

CALLBACK: Final = "callback"
ACTOR: Final = Actor("callback", None)
#: Roles that see a callback task's URL.
SHOWN_TO: Final = frozenset({"operator", "admin"})


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CallbackService:
    def __init__(self, writer: Writer, tasks: TaskService, box: SecretBox,
                 clock: Callable[[], datetime], *, base_url: str) -> None:
        self.writer = writer
        self.db = writer.db
        self.box = box
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        tasks.inserted.append(self._on_insert)

    def url(self, task_id: str) -> str:
        return f"{self.base_url}/callbacks/{task_id}/{self.box.token(CALLBACK + ':' + task_id)}"

    def shown(self, task: Task, role: str) -> Task:
        """``task`` with its callbackUrl when ``role`` may see it."""
        if task.task_type != CALLBACK or role not in SHOWN_TO:
            return task
        return msgspec.structs.replace(task, callback_url=self.url(task.id))

    async def _on_insert(self, cs: ChangeSet, row: TaskRow) -> None:
        if row.task_type == CALLBACK:
            token = self.box.token(CALLBACK + ":" + row.id)
            await callback_rows.callback_insert(cs.conn, row.id, token_hash(token), cs.now)

    # --- the call --------------------------------------------------------------------------

    async def call(self, task_id: str, token: str, body: bytes) -> Answer:
        """The answer to ``POST /callbacks/<task_id>/<token>``."""
        async with self.db.read() as conn:
            found = await callback_rows.callback_get(conn, task_id)
        if found is None or not hmac.compare_digest(found.token_hash, token_hash(token)):
            return Answer(404, {"error": "no such callback"})
        try:
            payload = msgspec.json.decode(body) if body.strip() else {}
        except msgspec.DecodeError:
            return Answer(400, {"error": "the body is not JSON"})
        if not isinstance(payload, dict) or set(payload) - {"result", "error"}:
            return Answer(400, {"error": 'send {"result": <any>} or {"error": "<message>"}'})
        if "error" in payload:
            if "result" in payload or not isinstance(payload["error"], str) \
                    or not payload["error"]:
                return Answer(400, {"error": '"error" must be a non-empty string, alone'})
        async with self.writer.transaction() as cs:
            row = await repo.task_get(cs.conn, task_id)
            if row is None:
                return Answer(404, {"error": "no such callback"})
            if found.used_at is not None or row.status != Status.PENDING or \
                    not await callback_rows.callback_use(cs.conn, task_id, cs.now):
                return Answer(409, {"error": f"this callback was already used or its task is "
                                             f"not waiting (it is {row.status})"})
            if "error" in payload:
                new = await self._end(cs, row, ok=False, error=payload["error"],
                                      error_type="callback")
            else:
                new = await self._end(cs, row, ok=True, result=payload.get("result"))
            if new is None:
                return Answer(409, {"error": "the task changed concurrently"})
        return Answer(200, {"taskId": task_id, "status": new.status})

    async def _end(self, cs: ChangeSet, row: TaskRow, *, ok: bool, result: Any = None,
                   error: str | None = None, error_type: str | None = None,
                   timed_out: bool = False) -> TaskRow | None:
        """pending → completed or failed, with one attempt recorded; dependents settled."""
        attempt = row.attempts + 1
        values: dict[str, Any] = {
            "completed_at": cs.now, "attempts": attempt, "due_at": None,
            "next_attempt_at": None, "next_trigger": CALLBACK, "updated_at": cs.now}
        if ok:
            values.update(status=Status.COMPLETED.value, status_reason="completed by callback",
                          result=result)
        else:
            values.update(status=Status.FAILED.value, status_reason=error, last_error=error,
                          error_count=row.error_count + 1)
        new = await repo.task_set_status_if(cs.conn, row.id, [Status.PENDING], values)
        if new is None:
            return None
        started = row.reviewed_at or row.created_at
        (ex,) = await repo.execution_insert(cs.conn, [{
            "id": new_id("exe"), "task_id": row.id, "attempt_number": attempt,
            "triggered_by": CALLBACK,
            "status": "success" if ok else ("timed_out" if timed_out else "failed"),
            "started_at": started, "completed_at": cs.now,
            "duration_ms": max(0, int((cs.now - started).total_seconds() * 1000)),
            "worker_id": CALLBACK, "output": None, "output_is_result": ok,
            "error": error, "error_type": error_type, "retryable": None if ok else False,
            "steps": [], "artifacts": []}])
        cs.emit("execution", new, ex)
        cs.audit(SYSTEM if timed_out else ACTOR, "expired" if timed_out else CALLBACK, "task",
                 new.id,
                 {"status": new.status, **({"error": error} if error else {})})
        await settle_dependents(cs, new, SYSTEM if timed_out else ACTOR)
        return new

    # --- timeouts --------------------------------------------------------------------------

    async def expire_due(self) -> int:
        """Fail every callback task that waited longer than its timeoutSeconds; how many."""
        now = self.clock()
        async with self.db.read() as conn:
            waiting = await callback_rows.waiting_callbacks(conn)
        due = [w.id for w in waiting if (w.reviewed_at or w.created_at) + timedelta(
            seconds=int((w.execution_config or {}).get("timeoutSeconds", 86_400))) <= now]
        ended = 0
        for task_id in due:
            async with self.writer.transaction() as cs:
                row = await repo.task_get(cs.conn, task_id)
                if row is None or row.status != Status.PENDING:
                    continue
                seconds = int((row.execution_config or {}).get("timeoutSeconds", 86_400))
                await callback_rows.callback_use(cs.conn, task_id, cs.now)
                if await self._end(cs, row, ok=False, error_type="timeout", timed_out=True,
                                   error=f"no callback within {seconds} s") is not None:
                    ended += 1
        return ended
