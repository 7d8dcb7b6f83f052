"""Stalled work (CONTRACT §10): tasks that wait too long in one status are reported once.

Every ``STALLED_CHECK_SECONDS`` :meth:`StallWatch.check` finds tasks past their status' limit
(``STALLED_AFTER``; the rule is :func:`server.core.lifecycle.stalled`) and marks each with a
compare-and-set on its status and an empty ``stalled_since`` — so with several nodes checking
at once a stall is still reported once. Marking writes ``stalledSince``, a ``stalled`` event
and an audit entry by ``system`` in one transaction; ``STALLED_ACTION=notify`` then files one
``task.stalled`` message (de-duplicated per stall) for the task's ``sourceWebhookId``, else
``STALLED_WEBHOOK_ID``. A status change clears ``stalledSince`` (repositories).

Deadlines (CONTRACT §17): an open task past its ``deadline`` is reported once the same way
(``statusReason`` "deadline missed", a ``deadline_missed`` event, an audit entry) and gets the
stall action. ``STALLED_ACTION=escalate`` files, in the marking transaction, one ``pending``
task for a person per stall or missed deadline (:meth:`TaskService.insert_escalation`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from executors.base import NewMessage
from server.core import lifecycle
from server.core.lifecycle import Status
from server.db import workflows as wf
from server.db.repositories import Row
from server.services.audit import SYSTEM
from server.services.changes import ChangeSet, Writer
from server.services.delivery import DeliveryService

log = logging.getLogger("errands.stalls")

# (the transaction, the stalled or overdue task, why): files the escalation task.
Escalate = Callable[[ChangeSet, Row, str], Awaitable[object]]


def _escalates(row: Row) -> bool:
    """An escalation task that stalls itself is not escalated again (no chain of them)."""
    return "escalation" not in (row.tags or [])


class StallWatch:
    def __init__(self, writer: Writer, *, limits: dict[str, timedelta], action: str,
                 webhook_id: str | None, delivery: DeliveryService,
                 escalate: Escalate | None = None) -> None:
        self.writer = writer
        self.limits = limits
        self.action = action
        self.webhook_id = webhook_id
        self.delivery = delivery
        self.escalate = escalate if action == "escalate" else None

    async def check(self) -> list[Row]:
        """Mark what has stalled since the last check; returns the rows marked."""
        marked: list[Row] = []
        async with self.writer.transaction() as cs:
            for row in await wf.task_stall_candidates(cs.conn, cs.now, self.limits):
                entered = row.queued_at if row.status == Status.QUEUED else row.updated_at
                if not lifecycle.stalled(status=Status(row.status), entered_at=entered,
                                         due_at=row.due_at, limits=self.limits, now=cs.now):
                    continue
                new = await wf.task_mark_stalled(cs.conn, row, cs.now)
                if new is None:
                    continue
                cs.emit("stalled", new)
                cs.audit(SYSTEM, "stalled", "task", new.id,
                         {"status": new.status, "limit": str(self.limits[new.status]),
                          "waitingSince": (row.due_at if row.status == Status.SCHEDULED
                                           else entered).isoformat()})
                if self.escalate is not None and _escalates(new):
                    await self.escalate(cs, new, f"{new.status} longer than "
                                                 f"{self.limits[new.status]}")
                marked.append(new)
            overdue = await self._mark_overdue(cs)
        for row in marked:
            log.warning("task %s stalled: %s longer than %s", row.id, row.status,
                        self.limits[row.status])
            if self.action == "notify":
                await self._notify(row)
        for row in overdue:
            log.warning("task %s missed its deadline (%s) while %s", row.id,
                        row.deadline.isoformat(), row.status)
            if self.action == "notify":
                await self._notify(row, overdue=True)
        return marked + overdue

    async def _mark_overdue(self, cs: ChangeSet) -> list[Row]:
        """Report each open task past its deadline (once: a CAS on deadline_missed_at)."""
        found: list[Row] = []
        for row in await wf.task_deadline_candidates(cs.conn, cs.now):
            new = await wf.task_mark_deadline_missed(cs.conn, row, cs.now)
            if new is None:
                continue
            cs.emit("deadline_missed", new)
            cs.audit(SYSTEM, "deadline_missed", "task", new.id,
                     {"status": new.status, "deadline": new.deadline.isoformat()})
            if self.escalate is not None and _escalates(new):
                await self.escalate(cs, new, f"missed its deadline {new.deadline.isoformat()}")
            found.append(new)
        return found

    async def _notify(self, row: Row, *, overdue: bool = False) -> None:
        webhook = row.source_webhook_id or self.webhook_id
        if webhook is None:
            log.warning("task %s stalled but has no sourceWebhookId and STALLED_WEBHOOK_ID "
                        "is not set: no task.stalled message", row.id)
            return
        since = row.deadline_missed_at if overdue else row.stalled_since
        assert since is not None
        try:
            await self.delivery.file(NewMessage(
                kind="task.stalled", webhook_id=webhook, task_id=row.id,
                subject=f"Task {'missed its deadline' if overdue else 'stalled'}: {row.title}",
                body=f"Task {row.title!r} missed its deadline {row.deadline.isoformat()}"
                if overdue else f"Task {row.title!r} has been {row.status} longer than "
                                f"{self.limits[row.status]}",
                send_at=since,
                data={"task": {"id": row.id, "title": row.title, "taskType": row.task_type,
                               "status": row.status, "statusReason": row.status_reason,
                               "stalledSince": row.stalled_since,
                               **({"deadline": row.deadline} if overdue else {})}},
                dedupe_key=f"task.{'deadline' if overdue else 'stalled'}:{row.id}:"
                           f"{since.isoformat()}"))
        except Exception:
            log.exception("could not file the task.stalled message for task %s", row.id)
