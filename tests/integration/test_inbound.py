"""Inbound services in process, on SQLite and PostgreSQL, with a clock the test moves:
approval links expire (CONTRACT §16)."""

from __future__ import annotations

from datetime import timedelta

from executors.registry import ExecutorRegistry
from schemas.approvals import ApprovalLinkInput
from schemas.tasks import TaskCreate
from server.db.engine import Database
from server.services.approval_links import ApprovalLinkService
from server.services.audit import Actor
from server.services.changes import Signals, Writer
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
