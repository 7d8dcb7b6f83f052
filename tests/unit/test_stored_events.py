"""The stored form of task events (server/services/task_events.py): v3 MessagePack arrays
read back field for field; v2 JSON payloads still read; whole v1 TaskEvents left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from schemas.tasks import TaskProgress
from server.services.task_events import compact_event, stored_event

AT = datetime(2030, 5, 1, 9, 0, 0, 123456, tzinfo=UTC)


def _task(**changes: Any) -> Any:
    return SimpleNamespace(**{
        "status": "queued", "updated_at": AT, "status_reason": None, "error_count": 0,
        "last_error": None, "result_summary": None, "reviewed_by": None, "reviewed_at": None,
        "review_notes": None, "queued_at": AT, "started_at": None, "completed_at": None,
        "next_attempt_at": None, "progress": None, **changes})


def _attempt(**changes: Any) -> Any:
    return SimpleNamespace(**{"id": "exe_1", "status": "running", "completed_at": None,
                              "duration_ms": None, "error": None, "error_type": None,
                              "retryable": None, **changes})


@pytest.mark.parametrize(("type_", "task", "attempt"), [
    ("created", _task(), None),
    ("execution", _task(status="in_progress", started_at=AT), _attempt()),
    ("execution", _task(status="scheduled", error_count=2, last_error="boom",
                        status_reason="retry 2 of 3", queued_at=AT - timedelta(seconds=5),
                        next_attempt_at=AT + timedelta(seconds=4)),
     _attempt(status="failure", completed_at=AT, duration_ms=12, error="boom",
              error_type="http_error", retryable=True)),
    ("status", _task(status="pending", reviewed_by="ann", reviewed_at=AT,
                     review_notes="ok"), None),
    ("stalled", _task(status="queued", queued_at=AT - timedelta(days=1)), None),
])
def test_v3_events_read_back_field_for_field(type_: str, task: Any, attempt: Any) -> None:
    payload = compact_event(type_, task, attempt)
    back = stored_event(payload)
    assert back is not None and back.v == 3 and back.type == type_
    assert msgspec.structs.asdict(back.task) == {
        f: getattr(task, f) for f in msgspec.structs.asdict(back.task)}
    if attempt is None:
        assert back.execution is None
    else:
        assert back.execution is not None
        assert msgspec.structs.asdict(back.execution) == vars(attempt)


def test_a_completed_task_stores_no_result_summary() -> None:
    """Completed is final: the reader takes resultSummary from the current row."""
    task = _task(status="completed", started_at=AT, completed_at=AT, result_summary="200 OK")
    back = stored_event(compact_event("execution", task, _attempt(status="success")))
    assert back is not None and back.task.result_summary is None
    assert b"200 OK" not in compact_event("execution", task, None)


def test_progress_is_stored_while_the_attempt_runs_and_only_then() -> None:
    """A progress event keeps the progress it had (a replay shows them in order); a task not
    in_progress stores none (CONTRACT §17: null when no attempt runs)."""
    running = _task(status="in_progress", started_at=AT,
                    progress={"done": 2, "total": 5, "message": "click '#next'"})
    back = stored_event(compact_event("progress", running, None))
    assert back is not None and back.type == "progress"
    assert back.task.progress == TaskProgress(done=2, total=5, message="click '#next'")
    left = _task(status="cancelled", progress={"done": 2, "total": 5})
    gone = stored_event(compact_event("status", left, None))
    assert gone is not None and gone.task.progress is None
    assert len(compact_event("status", left, None)) == len(
        compact_event("status", _task(status="cancelled"), None))


def test_v2_json_and_whole_v1_payloads_are_still_read() -> None:
    v2 = (b'{"v":2,"type":"execution","task":{"status":"in_progress",'
          b'"updated_at":"2030-05-01T09:00:00Z","started_at":"2030-05-01T09:00:00Z"},'
          b'"execution":{"id":"exe_1","status":"running"}}')
    back = stored_event(v2)
    assert back is not None and back.v == 2 and back.task.status == "in_progress"
    assert back.execution is not None and back.execution.id == "exe_1"
    assert stored_event(b'{"type":"created","task":{}}') is None
