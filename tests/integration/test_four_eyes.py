"""Separation of duties (REVIEW_SEPARATION, CONTRACT §13) in process, on SQLite and PostgreSQL:
create / edit / approve by the same and by different keys under each rule; tasks.approveMany
reports the same per id."""

from __future__ import annotations

import pytest

from executors.registry import ExecutorRegistry
from schemas.tasks import TaskCreate
from schemas.workflows import TaskPatch
from server.core.errors import Forbidden
from server.core.lifecycle import ReviewSeparation
from server.db.engine import Database
from server.services.audit import Actor
from server.services.changes import Signals, Writer
from server.services.tasks import TaskRules, TaskService
from tests.support.clock import StillClock

ALICE, BOB, CAROL = (Actor(n, "admin") for n in ("alice", "bob", "carol"))
OK, NO = "approved", "FORBIDDEN"

# (creator, editor or None, approver) → outcome under editor / creator / off
TABLE = [
    ((ALICE, None, ALICE), {"editor": OK, "creator": NO, "off": OK}),
    ((ALICE, None, BOB), {"editor": OK, "creator": OK, "off": OK}),
    ((ALICE, ALICE, ALICE), {"editor": NO, "creator": NO, "off": OK}),
    ((ALICE, BOB, BOB), {"editor": NO, "creator": NO, "off": OK}),
    ((ALICE, BOB, ALICE), {"editor": OK, "creator": NO, "off": OK}),
    ((ALICE, BOB, CAROL), {"editor": OK, "creator": OK, "off": OK}),
]


def _service(database: Database, rule: ReviewSeparation) -> TaskService:
    clock = StillClock()
    return TaskService(database, Writer(database, Signals(), clock), ExecutorRegistry([]),
                       review_required_types=frozenset(), clock=clock,
                       rules=TaskRules(review_separation=rule))


def _task(title: str) -> TaskCreate:
    return TaskCreate(title=title, task_type="api_call", requires_human_review=True,
                      execution_type="manual",
                      execution_config={"apiEndpoint": "https://example.test/a"})


async def _outcome(service: TaskService, creator: Actor, editor: Actor | None,
                   approver: Actor) -> str:
    task = await service.create(_task("four eyes"), actor=creator)
    assert task.status == "awaiting_review" and task.config_changed_by is None
    if editor is not None:
        edited = await service.update(task.id, TaskPatch(execution_config={
            "apiEndpoint": "https://example.test/b"}), actor=editor, may_edit_any=True)
        assert edited.config_changed_by == editor.name
    try:
        done = await service.approve(task.id, reviewer=approver.name, notes=None,
                                     actor=approver)
    except Forbidden as exc:
        who = editor.name if editor is not None and editor.name == approver.name \
            else creator.name
        assert exc.message.startswith(f"{who} "), exc.message
        assert exc.message.endswith("; another reviewer must approve it")
        if editor is not None and editor.name == approver.name:
            assert exc.message == (f"{who} changed this task's configuration; another "
                                   "reviewer must approve it")
        return NO
    assert (done.status, done.reviewed_by) == ("pending", approver.name)
    return OK


@pytest.mark.parametrize("rule", ["editor", "creator", "off"])
async def test_who_may_approve_under_each_rule(database: Database,
                                               rule: ReviewSeparation) -> None:
    service = _service(database, rule)
    seen = {(c.name, e.name if e else None, a.name): await _outcome(service, c, e, a)
            for (c, e, a), _ in TABLE}
    wanted = {(c.name, e.name if e else None, a.name): outcomes[rule]
              for (c, e, a), outcomes in TABLE}
    assert seen == wanted


async def test_approve_many_reports_the_refusal_per_id(database: Database) -> None:
    service = _service(database, "editor")
    ids = []
    for editor in (BOB, CAROL, BOB):
        task = await service.create(_task("bulk"), actor=ALICE)
        await service.update(task.id, TaskPatch(execution_config={
            "apiEndpoint": "https://example.test/c"}), actor=editor, may_edit_any=True)
        ids.append(task.id)
    result = await service.many(ids, lambda i: service.approve(
        i, reviewer="bob", notes=None, actor=BOB, action="tasks.approveMany"))
    assert [(r.id, r.ok, r.error.code if r.error else None) for r in result.results] == [
        (ids[0], False, "FORBIDDEN"), (ids[1], True, None), (ids[2], False, "FORBIDDEN")]
    assert result.results[0].error is not None
    assert result.results[0].error.message == (
        "bob changed this task's configuration; another reviewer must approve it")
