"""Progress and the live view of running attempts (CONTRACT §17).

The node running an attempt holds its state in memory (:class:`LiveAttempt`, the executor's
:class:`~executors.base.LiveSink`):

- **Progress.** Each report replaces the last; the task row's ``progress`` and a ``progress``
  event on ``tasks.onChange`` are written in one transaction, at most once every
  :data:`PROGRESS_INTERVAL` seconds per task (the first at once, the others coalesced: only
  the latest report of an interval is written, so the events a subscriber sees are in order
  and the last one is always written — at the attempt's end at the latest, before the
  attempt is recorded, whose record sets ``progress`` back to null). Writes are
  compare-and-set on ``in_progress`` under this node's lease; a write that fails is dropped
  (progress is a hint, never a reason to fail an attempt). A report's message is scrubbed of
  the attempt's secrets; executors name a step by its action and target, never typed text.
- **Live view.** A frame is taken only when asked (:meth:`LiveBoard.view`, the console's
  ``/live/<executionId>`` polling about once a second): a frame younger than
  :data:`FRAME_FRESH` seconds is served as it is, an older one is replaced first (viewers of
  one attempt share each capture). Frames are JPEG bytes held in memory only, inlined in
  the answer as a ``data:`` URL (an Artifact whose ``url`` is that URL), and dropped when the
  page closes: nothing of the live view is ever stored. Nobody watching costs nothing.
- **Another node** (PostgreSQL) does not hold the frames: asked about an attempt running
  elsewhere it answers from the database — the step from the task's ``progress`` (written
  by the running node), and no screenshot.

``tasks.liveView`` of an unknown execution is NOT_FOUND; of one that has ended,
PRECONDITION_FAILED naming its status (its ``debugUrl`` is null by then).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from executors.base import FrameSource
from schemas.secrets import scrub
from schemas.tasks import Artifact, LiveView
from server.core.errors import NotFound, PreconditionFailed
from server.db import repositories as repo
from server.db.engine import Database
from server.services.changes import ChangeSet, Writer

log = logging.getLogger("errands.live")

# The task types whose attempts have a live view (a page to show).
LIVE_TYPES = frozenset({"browser_automation"})
PROGRESS_INTERVAL = 0.25  # seconds between two progress writes of one task: ≤ 4 a second
FRAME_FRESH = 0.8  # seconds a frame is served before a newer one is taken
FRAME_WAIT = 5.0  # seconds a viewer waits for a capture before getting the last frame


def debug_url(execution_id: str) -> str:
    """The console's live view of an attempt (a TaskExecution's ``debugUrl`` while it runs)."""
    return f"/live/{execution_id}"


class LiveAttempt:
    """One running attempt's progress and frames; the executor's ``ctx.live``."""

    def __init__(self, board: LiveBoard, task_id: str, execution_id: str,
                 secrets: Callable[[], tuple[str, ...] | None]) -> None:
        self.board = board
        self.task_id = task_id
        self.execution_id = execution_id
        self._secrets = secrets
        self.step: str | None = None
        self.step_index: int | None = None
        self._pending: dict[str, Any] | None = None  # the latest report not written yet
        self._last_write = 0.0
        self._writer: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._source: FrameSource | None = None
        self._frame: Artifact | None = None
        self._frame_at = 0.0
        self._frame_time: datetime | None = None
        self._frames_taken = 0
        self._capture: asyncio.Lock = asyncio.Lock()

    # --- the executor's side (LiveSink) ------------------------------------------------------

    def progress(self, done: int, total: int, message: str | None) -> None:
        secrets = self._secrets()
        if message is not None and secrets:
            message = scrub(message, secrets)
        self.step, self.step_index = message, done
        value: dict[str, Any] = {"done": done, "total": total}
        if message is not None:
            value["message"] = message
        self._pending = value
        if self._writer is None and not self._closing.is_set():
            self._writer = asyncio.create_task(self._write_loop(),
                                               name=f"progress-{self.task_id}")

    def frames(self, source: FrameSource | None) -> None:
        self._source = source
        if source is None:
            self._frame = None

    # --- writing ---------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        try:
            while self._pending is not None:
                wait = self._last_write + PROGRESS_INTERVAL - time.monotonic()
                if wait > 0 and not self._closing.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await self._closing.wait()
                value, self._pending = self._pending, None
                self._last_write = time.monotonic()
                await self.board.write(self.task_id, value)
        finally:
            self._writer = None

    async def close(self) -> None:
        """The attempt ended: write the last report now (before the attempt is recorded) and
        drop the frames."""
        self._closing.set()
        self._source, self._frame = None, None
        if self._writer is not None:
            await asyncio.shield(self._writer)
        if self._pending is not None:
            value, self._pending = self._pending, None
            await self.board.write(self.task_id, value)

    # --- the viewer's side -----------------------------------------------------------------

    async def view(self, now: datetime) -> LiveView:
        if self._source is not None and time.monotonic() - self._frame_at >= FRAME_FRESH:
            async with self._capture:  # viewers arriving together share one capture
                if time.monotonic() - self._frame_at >= FRAME_FRESH:
                    await self._take_frame(now)
        return LiveView(step=self.step, step_index=self.step_index, screenshot=self._frame,
                        at=self._frame_time or now)

    async def _take_frame(self, now: datetime) -> None:
        source = self._source
        if source is None:
            return
        try:
            async with asyncio.timeout(FRAME_WAIT):
                data = await source()
        except Exception as exc:  # a page closing under the capture, a slow page: no frame
            log.debug("no live frame of %s: %s", self.execution_id, exc)
            data = None
        if data is None or self._source is None:
            return  # the page is busy or gone: the last frame stands
        self._frames_taken += 1
        self._frame_at, self._frame_time = time.monotonic(), now
        self._frame = Artifact(
            id=f"live_{self.execution_id}_{self._frames_taken}", kind="screenshot",
            content_type="image/jpeg", bytes=len(data), name="live",
            url="data:image/jpeg;base64," + base64.b64encode(data).decode("ascii"))


class LiveBoard:
    """The attempts running on this node, by execution id (see the module docstring)."""

    def __init__(self, db: Database, writer: Writer, clock: Callable[[], datetime],
                 worker_id: str) -> None:
        self.db = db
        self.writer = writer
        self.clock = clock
        self.worker_id = worker_id  # the lease owner the progress writes check
        self.attempts: dict[str, LiveAttempt] = {}
        self.writes = 0  # progress writes (scripts/bench_progress)

    def start(self, task_id: str, execution_id: str,
              secrets: Callable[[], tuple[str, ...] | None]) -> LiveAttempt:
        attempt = LiveAttempt(self, task_id, execution_id, secrets)
        self.attempts[execution_id] = attempt
        return attempt

    async def end(self, execution_id: str) -> None:
        attempt = self.attempts.pop(execution_id, None)
        if attempt is not None:
            await attempt.close()

    async def write(self, task_id: str, progress: dict[str, Any]) -> None:
        async def job(cs: ChangeSet) -> None:
            row = await repo.task_set_progress(cs.conn, task_id, self.worker_id, progress)
            if row is not None:
                cs.emit("progress", row)

        self.writes += 1
        try:
            await self.writer.run(job)
        except Exception as exc:  # a hint only: the attempt goes on without it
            log.debug("writing the progress of %s failed: %s", task_id, exc)

    async def view(self, execution_id: str) -> tuple[str, LiveView]:
        """``(task id, the live view)`` of a running attempt; NOT_FOUND for an unknown
        execution, PRECONDITION_FAILED for one that has ended."""
        now = self.clock()
        attempt = self.attempts.get(execution_id)
        if attempt is not None:
            return attempt.task_id, await attempt.view(now)
        async with self.db.read() as conn:
            found = await repo.executions_by_ids(conn, [execution_id])
            ex = found.get(execution_id)
            if ex is None:
                raise NotFound(f"no execution with id {execution_id!r}")
            task = await repo.task_get(conn, ex.task_id)
        if ex.status != "running":
            raise PreconditionFailed(
                f"execution {execution_id} has ended ({ex.status}): its live view is gone")
        progress = (task.progress if task is not None and task.status == "in_progress"
                    else None) or {}
        # Running on another node: the step it last wrote, no frame (frames stay there).
        return ex.task_id, LiveView(step=progress.get("message"),
                                    step_index=progress.get("done"), screenshot=None, at=now)
