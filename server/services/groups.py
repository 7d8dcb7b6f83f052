"""Groups, fan-out / fan-in (CONTRACT §17): what a subtask's end does to its group, in the
transaction that ended it.

A group is a task of ``taskType: "group"`` that waits ``scheduled`` (``GROUP_WAITING``, no due
time: no timer queues it, no runner claims it). Its ``children`` counts are read again from
its subtasks under the group's row lock (PostgreSQL ``FOR UPDATE``; SQLite has one writer)
whenever one of them ends or is re-opened, so they stay exact, and two nodes ending two
subtasks at once settle the group one after the other: the second sees the first's end.

Lock order: a subtask's row before its group's. Whoever ends subtasks locks them first and
the group last; the cancellations ``fail_fast`` makes while holding the group skip subtasks
another transaction holds (``SKIP LOCKED``): that one ends them and settles the group next.
The pure decisions are in server/core/lifecycle.py (``group_end``, ``group_result``).
"""

from __future__ import annotations

from typing import Any

from server.core import lifecycle
from server.core.lifecycle import Status
from server.db import repositories as repo
from server.db.rows import TaskRow
from server.services.audit import SYSTEM, Actor
from server.services.changes import ChangeSet

GROUP = "group"


def _dialect(cs: ChangeSet) -> str:
    return cs.conn.dialect.name


async def counts_of(cs: ChangeSet, group: TaskRow) -> dict[str, int]:
    """The group's ``children`` as its subtasks are now."""
    total = int((group.children or {}).get("total", 0))
    return lifecycle.child_counts(total, await repo.task_children_by_status(cs.conn, group.id))


async def refresh(cs: ChangeSet, group_id: str) -> None:
    """Count a group's subtasks again after some were re-opened (its status stays)."""
    group = await repo.task_lock(cs.conn, group_id, dialect=_dialect(cs))
    if group is None:
        return
    counts = await counts_of(cs, group)
    if counts != group.children:
        await repo.task_set_status_if(cs.conn, group.id, [group.status], {"children": counts})


async def children_ended(cs: ChangeSet, ended: list[TaskRow], actor: Actor = SYSTEM
                         ) -> list[TaskRow]:
    """:func:`child_ended` once per group for subtasks ended together (the runner's batch):
    its groups in id order, each named by its first failed subtask, else its last."""
    by_group: dict[str, TaskRow] = {}
    for row in ended:
        if row.parent_id is None:
            continue
        kept = by_group.get(row.parent_id)
        if kept is None or kept.status not in lifecycle.FAILS_GROUP:
            by_group[row.parent_id] = row
    out: list[TaskRow] = []
    for parent in sorted(by_group):
        out += await child_ended(cs, by_group[parent], actor)
    return out


async def child_ended(cs: ChangeSet, child: TaskRow, actor: Actor = SYSTEM) -> list[TaskRow]:
    """After ``child`` (a subtask) ended: its group counted again and, when that settles it,
    completed (every subtask ended) or failed (``fail_fast``: a subtask failed, and the
    subtasks not yet running are cancelled). Returns the tasks this ended — the group first,
    then the cancelled subtasks — whose dependents the caller settles."""
    if child.parent_id is None:
        return []
    group = await repo.task_lock(cs.conn, child.parent_id, dialect=_dialect(cs))
    if group is None:
        return []
    counts = await counts_of(cs, group)
    end = lifecycle.group_end(group.group_policy or "fail_fast", counts) \
        if group.status == Status.SCHEDULED else None
    if end is None and counts == group.children:
        return []
    values: dict[str, Any] = {"children": counts, "updated_at": cs.now}
    cancelled: list[TaskRow] = []
    if end == Status.FAILED:
        cancelled = await _cancel_open(cs, group, actor, running_too=False,
                                       reason=f"{lifecycle.group_failed_reason(group.id)}: "
                                              f"subtask {child.id} {child.status}")
        counts = {**counts, "cancelled": counts["cancelled"] + len(cancelled)}
        values.update(status=Status.FAILED.value, children=counts, completed_at=cs.now,
                      due_at=None, status_reason=f"subtask {child.id} {child.status}",
                      last_error=f"subtask {child.id} {child.status}: "
                                 f"{child.last_error or child.status_reason or child.status}")
    elif end == Status.COMPLETED:
        kids = await repo.task_children(cs.conn, group.id)
        result = lifecycle.group_result((k.id, k.status, k.result) for k in kids)
        values.update(status=Status.COMPLETED.value, completed_at=cs.now, due_at=None,
                      status_reason="every subtask ended", result=result,
                      result_summary=f"{counts['completed']} of {counts['total']} subtasks "
                                     f"completed, {counts['failed']} failed, "
                                     f"{counts['cancelled']} cancelled")
    new = await repo.task_set_status_if(cs.conn, group.id, [group.status], values)
    if new is None or end is None:
        return cancelled
    cs.emit("status", new)
    cs.audit(actor, "subtasks", "task", new.id,
             {"from": group.status, "to": new.status, "subtask": child.id, "children": counts})
    return [new, *cancelled]


async def stop_if_group_ended(cs: ChangeSet, child: TaskRow) -> TaskRow | None:
    """A subtask that is waiting again (its attempt failed and will be retried) while its
    group has failed or was cancelled: cancelled, as ``fail_fast`` cancels the subtasks not
    running (it was running then). Returns it cancelled; the caller settles it."""
    if child.parent_id is None or child.status not in lifecycle.NOT_YET_RUNNING:
        return None
    group = await repo.task_get(cs.conn, child.parent_id)
    if group is None or group.status not in (Status.FAILED, Status.CANCELLED):
        return None
    new = await repo.task_set_status_if(cs.conn, child.id, [child.status], {
        "status": Status.CANCELLED.value, "due_at": None, "next_attempt_at": None,
        "status_reason": f"{lifecycle.group_failed_reason(group.id)}"
        if group.status == Status.FAILED else f"group {group.id} cancelled",
        "completed_at": cs.now, "updated_at": cs.now})
    if new is not None:
        cs.emit("status", new)
        cs.audit(SYSTEM, "tasks.cancel", "task", new.id,
                 {"reason": new.status_reason, "from": child.status, "group": group.id})
    return new


async def cancel_children(cs: ChangeSet, group: TaskRow, actor: Actor, reason: str
                          ) -> list[TaskRow]:
    """``tasks.cancel`` of a group: every open subtask cancelled, running ones stopped."""
    return await _cancel_open(cs, group, actor, running_too=True, reason=reason)


async def _cancel_open(cs: ChangeSet, group: TaskRow, actor: Actor, *, running_too: bool,
                       reason: str) -> list[TaskRow]:
    expected = set(lifecycle.NOT_YET_RUNNING)
    if running_too:
        expected.add(Status.IN_PROGRESS)
    pairs = await repo.task_children_set_status(
        cs.conn, group.id, sorted(expected), {
            "status": Status.CANCELLED.value, "status_reason": reason, "due_at": None,
            "next_attempt_at": None, "completed_at": cs.now, "updated_at": cs.now},
        dialect=_dialect(cs), skip_locked=not running_too)
    for before, row in pairs:
        if before == Status.IN_PROGRESS:
            cs.cancels.append(row.id)
        cs.emit("status", row)
        cs.audit(actor, "tasks.cancel", "task", row.id,
                 {"reason": reason, "from": before, "group": group.id})
    return [row for _, row in pairs]
