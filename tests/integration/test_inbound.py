"""Inbound services in process, on SQLite and PostgreSQL, with a clock the test moves:
approval links and reviews expire, several reviewers approve (CONTRACT §16)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from executors.registry import ExecutorRegistry
from schemas.approvals import ApprovalLinkInput
from schemas.tasks import TaskCreate
from schemas.workflows import AuditList
from server.core.errors import Conflict
from server.db.engine import Database
from server.services.approval_links import ApprovalLinkService
from server.services.audit import Actor, AuditService
from server.services.changes import Signals, Writer
from server.services.reviews import ReviewRules
from server.services.secrets_box import SecretBox
from server.services.tasks import TaskService
from tests.support.clock import StillClock


def services(database: Database) -> tuple[StillClock, TaskService, ApprovalLinkService]:
    clock = StillClock()
    writer = Writer(database, Signals(), clock)
    tasks = TaskService(database, writer, ExecutorRegistry([]),
                        review_required_types=frozenset(), clock=clock)
    links = ApprovalLinkService(database, tasks, SecretBox(b"test key material"), clock,
                                base_url="http://errands.test")
    return clock, tasks, links


async def test_an_approval_link_expires(database: Database) -> None:
    clock, tasks, links = services(database)
    task = await tasks.create(TaskCreate(
        title="review me", task_type="notification", execution_type="manual",
        requires_human_review=True, execution_config={"message": "hi"}))
    made = await links.create(ApprovalLinkInput(id=task.id, reviewer="Grace",
                                                expires_in_seconds=60), Actor("rita", "reviewer"))
    assert made.expires_at == clock.now + timedelta(seconds=60)
    token = made.url.rsplit("/", 1)[1]
    page = await links.show(token)
    assert page.status == 200 and "review me" in page.html
    form = page.html.split('name="form" value="', 1)[1].split('"', 1)[0]

    clock.advance(seconds=59.9)
    assert (await links.show(token)).status == 200
    clock.advance(seconds=0.1)
    expired = await links.show(token)
    assert expired.status == 410 and "expired" in expired.html
    decided = await links.decide(token, {"form": form, "decision": "approve"},
                                 cross_site=False)
    assert decided.status == 410
    assert (await tasks.get(task.id)).status == "awaiting_review"


async def test_a_review_expires_into_rejected(database: Database) -> None:
    clock, tasks, links = services(database)
    rules = ReviewRules(tasks.writer, tasks, links, None, clock, webhook_id=None,
                        link_reviewer="x")
    task = await tasks.create(TaskCreate(
        title="decide soon", task_type="notification", execution_type="manual",
        requires_human_review=True, review_expires_in_seconds=60,
        execution_config={"message": "hi"}))
    other = await tasks.create(TaskCreate(
        title="no expiry", task_type="notification", execution_type="manual",
        requires_human_review=True, execution_config={"message": "hi"}))
    dependent = await tasks.create(TaskCreate(
        title="after", task_type="notification", execution_type="manual",
        depends_on=[task.id], execution_config={"message": "hi"}))
    assert task.review_expires_in_seconds == 60
    clock.advance(seconds=59)
    assert await rules.expire_due() == 0
    clock.advance(seconds=1)
    assert await rules.expire_due() == 1
    expired = await tasks.get(task.id)
    assert (expired.status, expired.status_reason) == ("rejected", "review expired")
    assert (await tasks.get(other.id)).status == "awaiting_review"
    assert (await tasks.get(dependent.id)).status == "cancelled"
    audit = await AuditService(database).page(AuditList(target_id=task.id))
    assert (audit.items[0].actor, audit.items[0].action) == ("system", "expired")
    assert await rules.expire_due() == 0


async def test_several_distinct_reviewers_must_approve(database: Database) -> None:
    clock, tasks, links = services(database)
    ReviewRules(tasks.writer, tasks, links, None, clock, webhook_id=None, link_reviewer="x")
    task = await tasks.create(TaskCreate(
        title="two keys", task_type="notification", execution_type="manual",
        requires_human_review=True, approvals_required=2, execution_config={"message": "hi"}))
    first = await tasks.approve(task.id, reviewer="ann", notes="ok by me")
    assert (first.status, first.status_reason) == ("awaiting_review",
                                                   "approved by 1 of 2 reviewers")
    assert [(a.by, a.notes) for a in first.approvals] == [("ann", "ok by me")]
    with pytest.raises(Conflict):
        await tasks.approve(task.id, reviewer="ann", notes=None)
    clock.advance(seconds=5)
    second = await tasks.approve(task.id, reviewer="bob", notes=None)
    assert (second.status, second.reviewed_by) == ("pending", "bob")
    assert [(a.by, a.at) for a in second.approvals] == [
        ("ann", clock.now - timedelta(seconds=5)), ("bob", clock.now)]

    vetoed = await tasks.create(TaskCreate(
        title="veto", task_type="notification", execution_type="manual",
        requires_human_review=True, approvals_required=3, execution_config={"message": "hi"}))
    await tasks.approve(vetoed.id, reviewer="ann", notes=None)
    rejected = await tasks.reject(vetoed.id, reviewer="bob", notes="no")
    assert rejected.status == "rejected"
