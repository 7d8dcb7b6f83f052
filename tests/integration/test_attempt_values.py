"""An attempt that completed its task does not store copies of the task's result and config
(task_executions.output_is_result / input_is_config), yet tasks.executions and the events
answer exactly as before; migration 0008 converts existing rows and its downgrade restores
them. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import command

from server.db.engine import Database, alembic_config
from server.db.tables import task_executions, tasks
from server.services.views import execution_view
from tests.integration.test_task_events import _replay
from tests.support.http_servers import HttpServer, Reply
from tests.support.server import ErrandsServer


async def _stored(url: str) -> dict[str, Any]:
    """task_id -> [(attempt_number, output, input, output_is_result, input_is_config)]."""
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(sa.select(
                task_executions.c.task_id, task_executions.c.attempt_number,
                task_executions.c.output, task_executions.c.input,
                task_executions.c.output_is_result, task_executions.c.input_is_config,
            ).order_by(task_executions.c.task_id, task_executions.c.attempt_number))).all()
    finally:
        await db.dispose()
    out: dict[str, Any] = {}
    for r in rows:
        out.setdefault(r.task_id, []).append(tuple(r[1:]))
    return out


async def test_completed_attempts_share_their_task_values_and_read_the_same(
        database_url: str, tmp_path: Path) -> None:
    with HttpServer() as outside:
        outside.route("/ok", json={"items": [{"email": "a@b.test"}], "n": 1.0})
        outside.route("/flaky", sequence=[Reply(status=503, json={"busy": True}),
                                          Reply(status=200, json={"fine": 1})])
        with ErrandsServer(database_url=database_url, workdir=tmp_path,
                           env={"RETRY_BASE_SECONDS": "0.05"}) as server:
            def create(**data: Any) -> dict[str, Any]:
                task: dict[str, Any] = server.call("tasks.create", data, mutation=True)
                return task

            plain = create(title="plain", taskType="api_call", executionConfig={
                "apiEndpoint": outside.url_for("/ok"), "authType": "bearer",
                "bearerToken": "tok-secret-1", "headers": {"x-n": "1"}})
            flaky = create(title="flaky", taskType="api_call", maxRetries=2, executionConfig={
                "apiEndpoint": outside.url_for("/flaky")})
            server.wait_for(plain["id"], {"completed"})
            dependent = create(title="dep", taskType="api_call", dependsOn=[plain["id"]],
                               executionConfig={"apiEndpoint": outside.url_for("/ok"),
                                                "query": {"e": "{{dep.0.body.items.0.email}}"}})
            manual = create(title="manual", taskType="api_call", executionType="manual",
                            executionConfig={"apiEndpoint": outside.url_for("/ok")})
            server.call("tasks.complete", {"id": manual["id"], "result": {"answer": [1, 2.5]}},
                        mutation=True)
            answers: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
            for task in (plain, flaky, dependent, manual):
                done = server.wait_for(task["id"], {"completed", "failed"})
                assert done["status"] == "completed", done
                answers[task["id"]] = (done, server.call("tasks.executions",
                                                         {"taskId": task["id"]}))
            replayed = _replay(server, plain["id"], 3)

    done, (attempt,) = answers[plain["id"]]
    assert attempt["output"] == done["result"] and attempt["output"]["body"]["n"] == 1.0
    assert attempt["input"] == done["executionConfig"]
    assert attempt["input"]["bearerToken"] == "********"
    assert replayed[2]["execution"] == attempt and replayed[2]["task"] == done
    assert replayed[1]["execution"]["output"] is None  # the running attempt's event

    done, (failed, ok) = answers[flaky["id"]]
    assert failed["status"] == "failed" and ok["status"] == "success"
    assert ok["output"] == done["result"] and failed["output"] != done["result"]
    assert ok["input"] == failed["input"] == done["executionConfig"]

    done, (attempt,) = answers[dependent["id"]]
    assert attempt["output"] == done["result"]
    assert attempt["input"]["query"] == {"e": "a@b.test"}  # resolved: its own copy
    assert done["executionConfig"]["query"] == {"e": "{{dep.0.body.items.0.email}}"}

    done, (attempt,) = answers[manual["id"]]
    assert attempt["output"] == done["result"] == {"answer": [1, 2.5]}
    assert attempt["input"] is None

    stored = await _stored(database_url)
    # (attempt, output, input, output_is_result, input_is_config)
    assert stored[plain["id"]] == [(1, None, None, True, True)]
    (first, second) = stored[flaky["id"]]
    assert first[0] == 1 and first[1] is not None and first[2] is not None
    assert first[3:] == (False, False)  # an attempt that did not complete keeps its copies
    assert second == (2, None, None, True, True)
    ((_, output, input_, shares_output, shares_input),) = stored[dependent["id"]]
    assert (output, shares_output, shares_input) == (None, True, False)
    assert input_["query"] == {"e": "a@b.test"}
    assert stored[manual["id"]] == [(1, None, None, True, False)]


def _task(task_id: str, status: str, result: Any, config: dict[str, Any]) -> dict[str, Any]:
    now = datetime(2030, 5, 1, 9, tzinfo=UTC)
    return {"id": task_id, "title": task_id, "task_type": "api_call",
            "execution_type": "automatic", "assigned_to_bot": True,
            "requires_human_review": False, "execution_config": config, "priority": "normal",
            "priority_rank": 1, "max_retries": 0, "timeout_seconds": 60,
            "notify_on_complete": False, "notify_on_failure": False, "depends_on": [],
            "status": status, "error_count": 0, "result": result, "created_at": now,
            "updated_at": now, "attempts": 1, "next_trigger": "create"}


def _attempt(task_id: str, status: str, output: Any, input_: Any) -> dict[str, Any]:
    return {"id": f"exe_{task_id}", "task_id": task_id, "attempt_number": 1,
            "triggered_by": "create", "status": status,
            "started_at": datetime(2030, 5, 1, 9, tzinfo=UTC), "worker_id": "w",
            "output": output, "input": input_, "steps": [], "artifacts": []}


async def test_migration_0008_converts_existing_attempts_and_downgrades_back(
        database_url: str) -> None:
    config = {"apiEndpoint": "https://x.test/", "bearerToken": "tok-secret-2",
              "authType": "bearer"}
    masked = {**config, "bearerToken": "********"}
    result = {"status": 200, "body": {"n": 1.0, "k": [1, "two"]}}
    rows = [("tsk_same", "completed", result, "success", result),
            ("tsk_other", "completed", result, "success", {"status": 200, "body": {"n": 1}}),
            ("tsk_failed", "failed", None, "failed", {"status": 500})]
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0007"))
            plain = sa.table("task_executions", *(sa.column(c.name, c.type)
                                                  for c in task_executions.columns
                                                  if not c.name.endswith(("_is_result",
                                                                          "_is_config"))))
            for task_id, status, res, ex_status, output in rows:
                await conn.execute(tasks.insert().values(_task(task_id, status, res, config)))
                await conn.execute(plain.insert().values(
                    _attempt(task_id, ex_status, output, masked)))
        await db.migrate()
        async with db.engine.connect() as conn:
            after = {r.task_id: r for r in await conn.execute(sa.select(task_executions))}
            task_rows = {r.id: r for r in await conn.execute(sa.select(tasks))}
        assert (after["tsk_same"].output, after["tsk_same"].output_is_result) == (None, True)
        assert after["tsk_other"].output_is_result is False
        assert after["tsk_failed"].output == {"status": 500}
        assert not any(r.input_is_config for r in after.values())  # inputs stay as they were
        for task_id, _, _, _, output in rows:
            view = execution_view(after[task_id], task_rows[task_id])
            assert msgspec.json.encode(view.output) == msgspec.json.encode(output)
            assert view.input == masked
        # A row written by the runner shares its input too; the downgrade writes it masked.
        async with db.engine.begin() as conn:
            await conn.execute(task_executions.update()
                               .where(task_executions.c.task_id == "tsk_same")
                               .values(input=None, input_is_config=True))
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0007"))
            plain = sa.table("task_executions", sa.column("task_id"),
                             sa.column("output", sa.JSON), sa.column("input", sa.JSON))
            back = {r.task_id: r for r in await conn.execute(sa.select(plain))}
        for task_id, _, _, _, output in rows:
            assert msgspec.json.encode(back[task_id].output) == msgspec.json.encode(output)
            assert back[task_id].input == masked
    finally:
        await db.dispose()
