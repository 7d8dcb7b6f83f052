"""Review rules (CONTRACT §16): several approvals, review expiry, review requests.

- ``approvalsRequired`` (1..5): :meth:`ReviewRules.gate` is the task service's
  ``review_gate``: each approval is recorded in ``approvals`` ``[{by, at, notes}]``; until
  that many distinct reviewers approved, the task stays ``awaiting_review`` ("approved by 1 of
  2 reviewers"); a reviewer approving twice is ``CONFLICT``. One rejection rejects (as always).
- ``reviewExpiresInSeconds``: :meth:`expire_due` (every INBOUND_CHECK_SECONDS) rejects a task
  still ``awaiting_review`` at ``review_expires_at`` with statusReason "review expired", audit
  action ``expired`` by ``system``; its dependents are settled as after any rejection.
- ``REVIEW_WEBHOOK_ID``: a task entering ``awaiting_review`` (created so, or sent back by a
  withdrawn approval) sends one ``review.requested`` message to that webhook, once its
  transaction committed, with the task (masked) and a fresh approval link for
  ``REVIEW_LINK_REVIEWER``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import msgspec
import sqlalchemy as sa

from executors.base import NewMessage
from server.core.errors import Conflict
from server.core.lifecycle import Status
from server.db import repositories as repo
from server.db.rows import TaskRow
from server.db.tables import tasks as tasks_table
from server.services.approval_links import ApprovalLinkService
from server.services.audit import SYSTEM, Actor
from server.services.changes import ChangeSet, Writer
from server.services.delivery import DeliveryService
from server.services.tasks import TaskService, settle_dependents
from server.services.views import task_view

log = logging.getLogger("errands.reviews")
REVIEW_EXPIRED: Final = "review expired"
#: How long the approval link of a review request lasts, unless the review expires sooner.
LINK_SECONDS: Final = 86_400


class ReviewRules:
    def __init__(self, writer: Writer, tasks: TaskService, links: ApprovalLinkService,
                 delivery: DeliveryService | None, clock: Callable[[], datetime], *,
                 webhook_id: str | None, link_reviewer: str) -> None:
        self.writer = writer
        self.db = writer.db
        self.links = links
        self.delivery = delivery
        self.clock = clock
        self.webhook_id = webhook_id
        self.link_reviewer = link_reviewer
        self._sending: set[asyncio.Task[None]] = set()
        tasks.review_gate = self.gate
        if webhook_id is not None and delivery is not None:
            tasks.inserted.append(self._on_insert)
            tasks.review_entered.append(self._on_insert)

    # --- several approvals -----------------------------------------------------------------

    async def gate(self, cs: ChangeSet, row: TaskRow, reviewer: str, notes: str | None,
                   actor: Actor, action: str) -> TaskRow | dict[str, Any]:
        approvals = list(row.approvals or [])
        required = row.approvals_required or 1
        if any(a.get("by") == reviewer for a in approvals):
            raise Conflict(f"{reviewer} has already approved this task; it needs "
                           f"{required - len(approvals)} more approval(s) from other reviewers")
        approvals.append({"by": reviewer, "at": cs.now.isoformat(), "notes": notes})
        if len(approvals) >= required:
            return {"approvals": approvals}
        new = await repo.task_set_status_if(cs.conn, row.id, [Status.AWAITING_REVIEW], {
            "approvals": approvals, "updated_at": cs.now,
            "status_reason": f"approved by {len(approvals)} of {required} reviewers"})
        if new is None:
            raise Conflict("task changed concurrently")
        cs.emit("status", new)
        cs.audit(actor, action, "task", new.id,
                 {"notes": notes, "approvals": len(approvals), "required": required})
        return new

    # --- expiry ----------------------------------------------------------------------------

    async def expire_due(self) -> int:
        """Reject every task whose review expired; how many."""
        now = self.clock()
        stmt = sa.select(tasks_table.c.id).where(
            tasks_table.c.status == Status.AWAITING_REVIEW.value,
            tasks_table.c.review_expires_at <= now)
        async with self.db.read() as conn:
            due = list((await conn.execute(stmt)).scalars())
        ended = 0
        for task_id in due:
            async with self.writer.transaction() as cs:
                new = await repo.task_set_status_if(cs.conn, task_id, [Status.AWAITING_REVIEW], {
                    "status": Status.REJECTED.value, "status_reason": REVIEW_EXPIRED,
                    "completed_at": cs.now, "updated_at": cs.now, "due_at": None})
                if new is None:
                    continue
                cs.emit("status", new)
                cs.audit(SYSTEM, "expired", "task", new.id, {"reason": REVIEW_EXPIRED})
                await settle_dependents(cs, new, SYSTEM)
                ended += 1
        return ended

    # --- review requests -------------------------------------------------------------------

    async def _on_insert(self, cs: ChangeSet, row: TaskRow) -> None:
        if row.status == Status.AWAITING_REVIEW:
            cs.after_commit.append(lambda: self._spawn(row))

    def _spawn(self, row: TaskRow) -> None:
        sending = asyncio.get_running_loop().create_task(self.request(row))
        self._sending.add(sending)
        sending.add_done_callback(self._sending.discard)

    async def request(self, row: TaskRow) -> None:
        """File the ``review.requested`` message of ``row`` (once: its dedupe key)."""
        assert self.webhook_id is not None and self.delivery is not None
        try:
            seconds = LINK_SECONDS
            if row.review_expires_in is not None:
                seconds = max(60, min(seconds, row.review_expires_in))
            url, expires_at = await self.links.make(row, self.link_reviewer, seconds)
            task = msgspec.to_builtins(task_view(row))
            await self.delivery.file(NewMessage(
                kind="review.requested", webhook_id=self.webhook_id, task_id=row.id,
                subject=f"Review requested: {row.title}",
                # The link is a credential: in the delivered data only, not in the body
                # that messages.list shows.
                body=f"Task {row.title!r} awaits review", send_at=self.clock(),
                data={"task": task, "approvalLink": {
                    "url": url, "expiresAt": expires_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}},
                dedupe_key=f"review.requested:{row.id}:{row.updated_at.isoformat()}"))
        except Exception:
            log.exception("could not file the review.requested message for task %s", row.id)
