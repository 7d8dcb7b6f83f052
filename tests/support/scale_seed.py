"""A big, realistic Errands database, fast (issue 29, scripts/bench_scale).

    plan = seed(url, tasks=20_000, live_url="http://127.0.0.1:18929/slow")

The database (a SQLite file, or an empty PostgreSQL database) is first migrated by the
project's own Alembic migrations up to :data:`SEED_REVISION`, the schema these rows are written
for, then filled with bulk inserts (sqlite3 ``executemany`` in big transactions, or asyncpg's
``copy_records_to_table``: COPY), then migrated to head (``Database.migrate``, as a server
start does): a later migration that fills a new table or column from the rows already there
(kept counts, a search column) does so for the seeded rows as on a real upgrade.

What it holds, spread over ``days`` (60) up to ``now``: ``clients`` (50) with rows as
``clients.create`` writes them; ``tasks`` of several types with realistic configs and results,
mostly completed or failed (failures after every retry), some cancelled, rejected, awaiting
review or scheduled for a retry, ``queued`` waiting (``plan.queued``, 1,000 at most; the older
ones stalled, as the stall watcher leaves them) and ``plan.live`` (16) more queued at priority
urgent, whose endpoint is ``live_url`` (a slow local sink: a server started on the database
claims them first, and they stay ``in_progress`` while it is measured); their
``task_executions`` (1.5 or more a task on average), ``task_tags``, client, assignee, and one
``audit_entries`` row per create (and per cancel or reject). ``task_events`` are written for
the tasks changed in the last ``event_days`` (1) only: the server prunes events older than a
day (housekeeping), so a database in use holds no more. Event payloads are encoded by the
server's own ``compact_event``; ids, lanes and destination hosts by the server's functions.

Rows are generated in time order, ``chunk`` tasks (with everything hanging off them) per
transaction; ``random.Random(seed)`` makes every run the same (but the ids' random part).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec

from server.core.claims import dest_host, lane_of
from server.db.engine import Database, alembic_config
from server.services.task_events import compact_event

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # as server.core.ids (Crockford base32)
_PAIRS = tuple(high + low for high in _ALPHABET for low in _ALPHABET)
_SHIFTS = tuple(range(100, -1, -10))
_NAIVE_EPOCH = datetime(1970, 1, 1)
_json = msgspec.json.Encoder()

TASK_COLUMNS = (
    "id", "title", "description", "task_type", "execution_type", "assigned_to_bot",
    "requires_human_review", "execution_config", "priority", "priority_rank", "max_retries",
    "timeout_seconds", "notify_on_complete", "notify_on_failure", "depends_on", "status",
    "status_reason", "error_count", "last_error", "result", "result_summary", "reviewed_by",
    "reviewed_at", "review_notes", "created_at", "updated_at", "queued_at", "started_at",
    "completed_at", "next_attempt_at", "due_at", "attempts", "next_trigger", "stalled_since",
    "lost_streak", "dest_host", "created_by", "client_id", "approvals_required", "tags",
    "assignee", "deadline", "lane", "fair_tag")
EXECUTION_COLUMNS = (
    "id", "task_id", "attempt_number", "triggered_by", "status", "started_at", "completed_at",
    "duration_ms", "worker_id", "output", "error", "error_type", "retryable", "steps",
    "artifacts", "input", "output_is_result", "input_is_config")
EVENT_COLUMNS = ("task_id", "payload", "created_at")
AUDIT_COLUMNS = ("id", "at", "actor", "role", "action", "target_type", "target_id", "detail",
                 "request_id")
TAG_COLUMNS = ("task_id", "tag")
CLIENT_COLUMNS = ("id", "name", "slug", "ghl_location_id", "meta", "created_at")
TIME_COLUMNS = frozenset({"created_at", "updated_at", "queued_at", "started_at",
                          "completed_at", "next_attempt_at", "due_at", "stalled_since",
                          "reviewed_at", "deadline", "at"})
NO_DEADLINE = datetime(9999, 12, 31)
SEED_REVISION = "0017_groups"  # the schema the rows below are written for

TAGS = ("crm", "billing", "sync", "onboarding", "nightly", "priority", "ghl", "sms", "email",
        "invoice", "leads", "reports", "scraper", "vip", "retry-ok", "eu", "us", "q4",
        "marketing", "support")
PEOPLE = ("ana@example.com", "ben@example.com", "chen@example.com", "dana@example.com",
          "eli@example.com", "fatima@example.com", "gus@example.com", "hana@example.com",
          "ivan@example.com", "jo@example.com")
ACTORS = (("zapier", "operator"), ("console:ana", "admin"), ("crm-sync", "operator"),
          ("local", "admin"), ("scheduler", "operator"))
WORKERS = ("node-a:4121/1", "node-b:3987/1", "node-a:4121/2")


def _id(prefix: str, at: float, rnd: random.Random) -> str:
    """An id as server.core.ids.new_id makes it, for the time ``at`` (epoch seconds)."""
    value = (int(at * 1000) << 60) | rnd.getrandbits(60)
    return prefix + "_" + "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


def _naive(at: float) -> datetime:
    return _NAIVE_EPOCH + timedelta(seconds=at)


# --- task types: a config, a title and a result per type ------------------------------------

def _api_call(rnd: random.Random, client: str) -> tuple[str, dict[str, Any]]:
    resource = rnd.choice(("contacts", "invoices", "orders", "leads", "subscriptions"))
    return f"Sync {resource} for {client}", {
        "apiEndpoint": f"https://api.{client}.example.com/v2/{resource}",
        "apiMethod": rnd.choice(("POST", "GET", "PUT")), "timeoutMs": 20000,
        "headers": {"accept": "application/json"},
        "body": {"since": "2026-10-01", "page": rnd.randint(1, 40), "limit": 100}}


def _browser(rnd: random.Random, client: str) -> tuple[str, dict[str, Any]]:
    url = f"https://portal.{client}.example.com/login"
    return f"Download statement ({client})", {
        "startUrl": url, "steps": [
            {"action": "navigate", "url": url},
            {"action": "type", "selector": "#user", "text": "bot"},
            {"action": "click", "selector": "button[type=submit]"},
            {"action": "screenshot", "name": "after-login"}]}


def _extraction(rnd: random.Random, client: str) -> tuple[str, dict[str, Any]]:
    return f"Scrape prices from {client}", {
        "url": f"https://shop.{client}.example.com/catalog?page={rnd.randint(1, 9)}",
        "schema": {"baseSelector": ".product", "fields": [
            {"name": "name", "selector": "h2"}, {"name": "price", "selector": ".price"}]}}


def _ghl(rnd: random.Random, client: str) -> tuple[str, dict[str, Any]]:
    action = rnd.choice(("add_contact", "update_contact", "send_sms", "add_tag"))
    return f"HighLevel {action} for {client}", {
        "ghlAction": action, "contactId": f"c{rnd.getrandbits(40):x}",
        "email": f"lead{rnd.randint(1, 99999)}@mail.example", "tags": ["lead"]}


def _notification(rnd: random.Random, client: str) -> tuple[str, dict[str, Any]]:
    return f"Notify {client} about renewal", {
        "message": "Your subscription renews in 7 days.", "subject": "Renewal",
        "recipient": f"billing@{client}.example.com"}


def _reminder(rnd: random.Random, client: str) -> tuple[str, dict[str, Any]]:
    return f"Remind {client} to confirm", {
        "message": "Please confirm tomorrow's appointment.", "delaySeconds": 3600,
        "recipient": f"front-desk@{client}.example.com"}


def _report(rnd: random.Random, client: str) -> tuple[str, dict[str, Any]]:
    return f"Weekly report ({client})", {
        "reportType": rnd.choice(("task_summary", "execution_stats"))}


def _callback(rnd: random.Random, client: str) -> tuple[str, dict[str, Any]]:
    return f"Wait for {client} signature", {"timeoutSeconds": 86400, "expects": "signature"}


# name, weight, config maker, timeoutSeconds (as TASK_TYPES gives), typical seconds an attempt
TYPES: tuple[tuple[str, int, Callable[[random.Random, str], tuple[str, dict[str, Any]]],
                   int, float], ...] = (
    ("api_call", 45, _api_call, 60, 0.3),
    ("notification", 14, _notification, 60, 0.2),
    ("ghl_action", 12, _ghl, 60, 0.6),
    ("reminder", 8, _reminder, 60, 0.1),
    ("data_extraction", 8, _extraction, 120, 4.0),
    ("browser_automation", 6, _browser, 300, 12.0),
    ("report_generation", 4, _report, 300, 1.5),
    ("callback", 3, _callback, 86400, 3600.0),
)
_TYPE_WEIGHTS = [t[1] for t in TYPES]
_TYPICAL = {t[0]: t[4] for t in TYPES}


def _result(task_type: str, config: dict[str, Any], ms: int, rnd: random.Random
            ) -> tuple[dict[str, Any], str]:
    if task_type == "api_call":
        body = {"ok": True, "count": rnd.randint(0, 100), "next": None}
        return ({"status": 200, "headers": {"content-type": "application/json",
                                             "content-length": "38"},
                 "body": body, "contentType": "application/json", "durationMs": ms},
                f"{config['apiMethod']} {config['apiEndpoint']} → 200 in {ms} ms")
    if task_type == "data_extraction":
        items = [{"name": f"Item {i}", "price": f"{rnd.randint(5, 500)}.00"} for i in range(5)]
        return {"data": {"items": items}, "count": 5}, "5 records extracted"
    if task_type == "browser_automation":
        return {"extracted": {}, "url": config["startUrl"], "title": "Statements"}, \
            f"4 steps in {ms / 1000:.1f} s"
    if task_type == "ghl_action":
        return {"contactId": config["contactId"], "ok": True}, f"HighLevel {config['ghlAction']} ok"
    if task_type == "report_generation":
        return {"reportType": config["reportType"], "rows": rnd.randint(3, 40)}, "report ready"
    if task_type == "callback":
        return {"signed": True}, "callback received"
    return {"delivered": True}, "sent"


_FAILURES = (
    ("http_status", "answered 502", True), ("http_status", "answered 500", True),
    ("timeout", "timed out after 20000 ms", True), ("http_status", "answered 422", False),
    ("network", "connection refused", True))


def _error(task_type: str, config: dict[str, Any], rnd: random.Random) -> tuple[str, str, bool]:
    kind, text, retryable = rnd.choice(_FAILURES)
    target = config.get("apiEndpoint") or config.get("url") or config.get("startUrl")
    where = f"{config.get('apiMethod', 'GET')} {target}" if target else task_type
    return kind, f"{where} {text}", retryable


# --- the plan ----------------------------------------------------------------------------------

@dataclass
class Plan:
    """What :func:`seed` wrote: rows per table, tasks per status, and the ids of a few."""

    tasks: int
    queued: int
    live: int
    statuses: Counter[str] = field(default_factory=Counter)
    rows: Counter[str] = field(default_factory=Counter)
    clients: list[str] = field(default_factory=list)
    sample: dict[str, str] = field(default_factory=dict)  # status or type -> one task id
    seconds: float = 0.0
    migrate_seconds: float = 0.0  # of that, the migrations after SEED_REVISION, rows present
    oldest: datetime | None = None


class _State(NamedTuple):
    """The fields compact_event reads of a task (as a row at the event)."""

    status: str
    updated_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    result_summary: str | None
    status_reason: str | None
    error_count: int
    last_error: str | None
    next_attempt_at: datetime | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_notes: str | None
    progress: None


class _Attempt(NamedTuple):
    id: str
    status: str
    completed_at: datetime | None
    duration_ms: int | None
    error: str | None
    error_type: str | None
    retryable: bool | None


def _aware(at: float | None) -> datetime | None:
    return None if at is None else datetime.fromtimestamp(at, UTC)


class _Batch:
    """The rows of one chunk, per table, as dicts of column → value (times as epoch floats)."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {
            "tasks": [], "task_executions": [], "task_tags": [], "task_events": [],
            "audit_entries": []}


@dataclass
class _Gen:
    rnd: random.Random
    now: float
    start: float
    clients: list[tuple[str, str]]  # (id, slug)
    live_url: str
    event_since: float
    plan: Plan
    fair: int = 0

    def _kind(self, status: str, live: bool
              ) -> tuple[str, int, str | None, str, str, dict[str, Any]]:
        """(type, timeoutSeconds, client id, its slug, title, executionConfig) of a new task."""
        rnd = self.rnd
        if live:
            client_id, slug = self.clients[0]
            return "api_call", 3600, client_id, slug, f"Live sync for {slug}", {
                "apiEndpoint": self.live_url, "apiMethod": "POST", "timeoutMs": 600000}
        task_type, _, make, timeout, _typical = rnd.choices(TYPES, _TYPE_WEIGHTS)[0]
        client_id: str | None
        if rnd.random() < 0.7:  # a few clients have most of the tasks (client-00 the most)
            client_id, slug = self.clients[min(int(rnd.paretovariate(1.2)) - 1,
                                               len(self.clients) - 1)]
        else:
            client_id, slug = None, rnd.choice(("internal", "ops", "acme"))
        title, config = make(rnd, slug)
        if status == "queued":  # the backlog goes to the local sink as well
            return "api_call", 60, client_id, slug, f"Sync queued for {slug}", {
                "apiEndpoint": self.live_url, "apiMethod": "POST"}
        return task_type, timeout, client_id, slug, title, config

    def task(self, b: _Batch, created: float, status: str, *, live: bool = False) -> None:
        """One task in ``status`` created at ``created``, with its attempts, tags, audit
        entries and (if recent) events, added to ``b``."""
        rnd = self.rnd
        task_type, timeout, client_id, _slug, title, config = self._kind(status, live)
        tid = _id("tsk", created, rnd)
        priority = "urgent" if live else rnd.choices(("normal", "high", "low"), (80, 12, 8))[0]
        tags = rnd.sample(TAGS, rnd.choice((0, 1, 1, 2, 2, 3)))
        actor, role = rnd.choice(ACTORS)
        host = dest_host(task_type, config)
        review = status in ("awaiting_review", "rejected") or (
            status != "queued" and rnd.random() < 0.02)
        row: dict[str, Any] = {
            "id": tid, "title": title,
            "description": (f"Requested by {actor}; ticket #{rnd.randint(1000, 99999)}"
                            if rnd.random() < 0.4 else None),
            "task_type": task_type, "execution_type": "automatic", "assigned_to_bot": True,
            "requires_human_review": review, "execution_config": config,
            "priority": priority,
            "priority_rank": {"low": 0, "normal": 1, "high": 2, "urgent": 3}[priority],
            "max_retries": 3, "timeout_seconds": timeout, "notify_on_complete": False,
            "notify_on_failure": rnd.random() < 0.2, "depends_on": [], "status": status,
            "status_reason": None, "error_count": 0, "last_error": None, "result": None,
            "result_summary": None, "reviewed_by": None, "reviewed_at": None,
            "review_notes": None, "created_at": created, "updated_at": created,
            "queued_at": None, "started_at": None, "completed_at": None,
            "next_attempt_at": None, "due_at": None, "attempts": 0, "next_trigger": "create",
            "stalled_since": None, "lost_streak": 0, "dest_host": host, "created_by": actor,
            "client_id": client_id, "approvals_required": 1, "tags": tags or None,
            "assignee": rnd.choice(PEOPLE) if rnd.random() < 0.3 else None,
            "deadline": None, "lane": lane_of(client_id, None, host), "fair_tag": 0}
        events: list[tuple[str, float, _Attempt | None]] = [("created", created, None)]
        at = self._review(b, row, events) if review else created
        if status not in ("awaiting_review", "rejected"):
            row["queued_at"] = at
            if review:
                events.append(("status", at, None))
        attempts = self._attempts(b, row, events, at) if status in (
            "completed", "failed", "scheduled", "cancelled") else []
        if status == "queued":
            self.fair += 1
            row.update(fair_tag=self.fair, queued_at=created)
            if self.now - created > 600:
                row["stalled_since"] = created + 600  # as the stall watcher marks it
        b.tables["tasks"].append(row)
        b.tables["task_executions"].extend(attempts)
        b.tables["task_tags"].extend({"task_id": tid, "tag": t} for t in tags)
        self._audit(b, created, actor, role, "tasks.create", tid,
                    {"title": title, "taskType": task_type, "status": (
                        "awaiting_review" if review else "queued")})
        if row["updated_at"] >= self.event_since:
            self._events(b, row, events)
        self.plan.statuses[status] += 1
        self.plan.sample.setdefault(status, tid)
        self.plan.sample.setdefault(task_type, tid)

    def _review(self, b: _Batch, row: dict[str, Any],
                events: list[tuple[str, float, _Attempt | None]]) -> float:
        """A task that required a review: still waiting, rejected, or approved (the time)."""
        rnd = self.rnd
        created = row["created_at"]
        at: float = created + rnd.uniform(600, 6 * 3600)  # reviewed after a while
        if row["status"] == "awaiting_review":
            if self.now - created > 8 * 3600:
                row["stalled_since"] = created + 8 * 3600
        elif row["status"] == "rejected":
            row.update(reviewed_by=rnd.choice(PEOPLE), reviewed_at=at,
                       review_notes="not this week", completed_at=at, updated_at=at,
                       status_reason="rejected")
            events.append(("status", at, None))
            self._audit(b, at, row["reviewed_by"], "operator", "tasks.reject", row["id"],
                        {"notes": "not this week"})
        else:
            row.update(reviewed_by=rnd.choice(PEOPLE), reviewed_at=at)
        return at

    def _attempts(self, b: _Batch, row: dict[str, Any],
                  events: list[tuple[str, float, _Attempt | None]], at: float
                  ) -> list[dict[str, Any]]:
        """The attempts of a task that ran: completed (after 0-2 failures), failed (every
        retry failed), waiting for a retry (scheduled) or cancelled (during its attempt or
        before one)."""
        rnd, status, config = self.rnd, row["status"], row["execution_config"]
        n = {"completed": rnd.choices((1, 2, 3), (60, 25, 15))[0], "failed": 4,
             "scheduled": rnd.choice((1, 2)), "cancelled": rnd.choice((0, 1))}[status]
        attempts: list[dict[str, Any]] = []
        for k in range(1, n + 1):
            started = at + rnd.uniform(0.005, 1.5)
            ms = max(1, int(rnd.expovariate(1 / (_TYPICAL[row["task_type"]] * 1000))))
            ended = started + ms / 1000
            eid = _id("exe", started, rnd)
            attempt: dict[str, Any] = {
                "id": eid, "task_id": row["id"], "attempt_number": k,
                "triggered_by": "create" if k == 1 else "retry", "started_at": started,
                "completed_at": ended, "duration_ms": ms, "worker_id": rnd.choice(WORKERS),
                "steps": [], "artifacts": [], "output": None, "input": config,
                "output_is_result": False, "input_is_config": False}
            attempts.append(attempt)
            row.update(attempts=k, started_at=started, queued_at=at,
                       next_trigger="create" if k == 1 else "retry")
            events.append(("execution", started, _Attempt(eid, "running", None, None, None,
                                                          None, None)))
            if status == "cancelled":
                attempt.update(status="cancelled", error="cancelled")
                at = ended
                break
            if status == "completed" and k == n:
                result, summary = _result(row["task_type"], config, ms, rnd)
                # as the runner stores it: no second copy of the task's result and config
                attempt.update(status="success", input=None, output_is_result=True,
                               input_is_config=True)
                row.update(result=result, result_summary=summary, completed_at=ended,
                           updated_at=ended)
                events.append(("execution", ended, _Attempt(eid, "success", _aware(ended), ms,
                                                            None, None, None)))
                break
            kind, text, retryable = _error(row["task_type"], config, rnd)
            attempt.update(status="timed_out" if kind == "timeout" else "failed", error=text,
                           error_type=kind, retryable=retryable,
                           output={"status": 502, "body": "Bad Gateway", "durationMs": ms}
                           if kind == "http_status" else None)
            row.update(error_count=k, last_error=text, updated_at=ended)
            if status == "failed" and k == n:
                row.update(completed_at=ended, status_reason="retries exhausted")
            elif status == "scheduled" and k == n:
                due = self.now + rnd.uniform(3600, 3 * 86400)  # a retry put off for later
                row.update(next_attempt_at=due, due_at=due, status_reason=f"retry {k} of 3")
            events.append(("execution", ended, _Attempt(eid, attempt["status"], _aware(ended),
                                                         ms, text, kind, retryable)))
            at = ended + 30 * 2 ** (k - 1)  # the retry's delay
        if status == "cancelled":
            at = max(at, row["created_at"] + rnd.uniform(1, 3600))
            row.update(completed_at=at, updated_at=at, status_reason="cancelled by ops")
            events.append(("status", at, None))
            self._audit(b, at, rnd.choice(PEOPLE), "operator", "tasks.cancel", row["id"],
                        {"reason": "cancelled by ops"})
        return attempts

    def _audit(self, b: _Batch, at: float, actor: str, role: str, action: str, target: str,
               detail: dict[str, Any]) -> None:
        b.tables["audit_entries"].append({
            "id": _id("aud", at, self.rnd), "at": at, "actor": actor, "role": role,
            "action": action, "target_type": "task", "target_id": target, "detail": detail,
            "request_id": f"req_{self.rnd.getrandbits(64):016x}"})

    def _events(self, b: _Batch, row: dict[str, Any],
                events: list[tuple[str, float, _Attempt | None]]) -> None:
        """The task's events, each with the task's fields as they were then (approximately:
        its times up to the event's)."""
        for kind, at, attempt in events:
            final = at >= row["updated_at"]

            def upto(name: str, at: float = at) -> datetime | None:
                value = row[name]
                return _aware(value) if value is not None and value <= at else None

            status = row["status"] if final else (
                "in_progress" if attempt is not None and attempt.status == "running"
                else "scheduled" if attempt is not None else "queued")
            state = _State(status, datetime.fromtimestamp(at, UTC), upto("queued_at"),
                           upto("started_at"), upto("completed_at"),
                           row["result_summary"] if final else None,
                           row["status_reason"] if final else None,
                           row["error_count"] if final else 0,
                           row["last_error"] if final else None, None,
                           row["reviewed_by"] if final else None, upto("reviewed_at"),
                           None, None)
            b.tables["task_events"].append({"task_id": row["id"], "created_at": at,
                                            "payload": compact_event(kind, state, attempt)})


def _task_times(n: int, start: float, end: float, rnd: random.Random) -> Iterator[float]:
    """``n`` creation times from ``start`` to ``end``, in order, evenly spread."""
    step = (end - start) / max(n, 1)
    for i in range(n):
        yield start + (i + rnd.random()) * step


# --- writers -----------------------------------------------------------------------------------

def _values(rows: Sequence[dict[str, Any]], columns: Sequence[str], time_of: Callable[[float], Any]
            ) -> list[tuple[Any, ...]]:
    out = []
    for r in rows:
        item = []
        for c in columns:
            v = r.get(c)
            if v is None:
                if c == "deadline":
                    v = time_of(None)
            elif c in TIME_COLUMNS:
                v = time_of(v)
            elif isinstance(v, (dict, list)):
                v = _json.encode(v).decode()
            item.append(v)
        out.append(tuple(item))
    return out


_COLUMNS = {"tasks": TASK_COLUMNS, "task_executions": EXECUTION_COLUMNS,
            "task_tags": TAG_COLUMNS, "task_events": EVENT_COLUMNS,
            "audit_entries": AUDIT_COLUMNS, "clients": CLIENT_COLUMNS}


def _sqlite_time(at: float | None) -> str:
    return (NO_DEADLINE if at is None else _naive(at)).isoformat(" ", "microseconds")


def _pg_time(at: float | None) -> datetime:
    return NO_DEADLINE if at is None else _naive(at)


class _SqliteWriter:
    def __init__(self, path: str) -> None:
        self.con = sqlite3.connect(path, isolation_level=None)
        self.con.execute("PRAGMA synchronous=OFF")

    def write(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        self.con.execute("BEGIN")
        for name, rows in tables.items():
            if rows:
                cols = _COLUMNS[name]
                self.con.executemany(
                    f"INSERT INTO {name} ({', '.join(cols)}) VALUES "
                    f"({', '.join('?' * len(cols))})", _values(rows, cols, _sqlite_time))
        self.con.execute("COMMIT")

    def close(self) -> None:
        self.con.execute("ANALYZE")
        self.con.close()


def _dsn(url: str) -> str:
    """asyncpg's form of a SQLAlchemy PostgreSQL URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


class _PostgresWriter:
    def __init__(self, url: str) -> None:
        import asyncpg

        self.loop = asyncio.new_event_loop()
        self.con = self.loop.run_until_complete(asyncpg.connect(_dsn(url)))

    def write(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        async def copy() -> None:
            async with self.con.transaction():
                for name, rows in tables.items():
                    if rows:
                        cols = _COLUMNS[name]
                        await self.con.copy_records_to_table(
                            name, records=_values(rows, cols, _pg_time), columns=list(cols))
        self.loop.run_until_complete(copy())

    def close(self) -> None:
        self.loop.run_until_complete(self.con.execute("ANALYZE"))
        self.loop.run_until_complete(self.con.close())
        self.loop.close()


# --- seed --------------------------------------------------------------------------------------

def live_counts(tasks: int) -> tuple[int, int]:
    """(queued, live) for ``tasks``: 1,000 and 16 from 20,000 tasks on, fewer below."""
    return min(1000, max(1, tasks // 20)), min(16, max(1, tasks // 100))


def seed(url: str, tasks: int, *, live_url: str, now: datetime | None = None, days: int = 60,
         event_days: float = 1, chunk: int = 20_000, seed_value: int = 29,
         progress: Callable[[str], None] | None = None) -> Plan:
    """Migrate the database at ``url`` (SQLAlchemy URL; empty) and fill it: see the module."""
    began = time.perf_counter()
    asyncio.run(_migrate(Database(url, timeout_seconds=600), SEED_REVISION))
    rnd = random.Random(seed_value)
    end = (now or datetime.now(UTC)).timestamp()
    start = end - days * 86400
    queued, live = live_counts(tasks)
    plan = Plan(tasks=tasks, queued=queued, live=live, oldest=_aware(start))
    writer: _SqliteWriter | _PostgresWriter = (
        _SqliteWriter(url.split("///", 1)[1]) if url.startswith("sqlite") else
        _PostgresWriter(url))
    try:
        clients = []
        client_rows = []
        for i in range(50):
            at = start - 86400 * (50 - i)
            slug = f"client-{i:02d}"
            cid = _id("cli", at, rnd)
            clients.append((cid, slug))
            client_rows.append({"id": cid, "name": f"Client {i:02d} Ltd", "slug": slug,
                                "ghl_location_id": f"loc{i:04d}" if i % 3 == 0 else None,
                                "meta": None, "created_at": at})
        writer.write({"clients": client_rows})
        plan.rows["clients"] = len(client_rows)
        plan.clients = [c[0] for c in clients]
        gen = _Gen(rnd, end, start, clients, live_url, end - event_days * 86400, plan)
        special = _special(tasks - queued - live, rnd)
        history = tasks - queued - live - sum(special.values())
        batch = _Batch()

        def flush() -> None:
            nonlocal batch
            for name, rows in batch.tables.items():
                plan.rows[name] += len(rows)
            writer.write(batch.tables)
            batch = _Batch()
            if progress:
                progress(f"{plan.rows['tasks']:,} tasks")

        finished = rnd.choices(("completed", "failed", "cancelled"), (85, 12, 3), k=history)
        for i, created in enumerate(_task_times(history, start, end - 3 * 3600, rnd)):
            gen.task(batch, created, finished[i])
            if len(batch.tables["tasks"]) >= chunk:
                flush()
        for status, count in special.items():  # recent: waiting for a review, a retry
            for created in _task_times(count, end - 2 * 86400, end - 600, rnd):
                gen.task(batch, created, status)
        for created in _task_times(queued, end - 2 * 3600, end - 60, rnd):
            gen.task(batch, created, "queued")
        for created in _task_times(live, end - 30, end - 5, rnd):
            gen.task(batch, created, "queued", live=True)
        flush()
    finally:
        writer.close()
    migrated = time.perf_counter()
    asyncio.run(_migrate(Database(url, timeout_seconds=3600), "head"))
    plan.migrate_seconds = time.perf_counter() - migrated
    if url.startswith("postgresql"):
        asyncio.run(_vacuum(url))
    plan.seconds = time.perf_counter() - began
    return plan


def _special(room: int, rnd: random.Random) -> dict[str, int]:
    return {"rejected": max(1, room // 200), "awaiting_review": max(1, room // 300),
            "scheduled": max(1, room // 400)}


async def _vacuum(url: str) -> None:
    """PostgreSQL: VACUUM ANALYZE, as autovacuum leaves a database that has been in use: its
    visibility map set (index-only scans then read no table pages: two tags' list 36 → 3 ms
    at 1,000,000 tasks) and the planner's statistics of the migrated tables fresh."""
    import asyncpg

    con = await asyncpg.connect(_dsn(url))
    try:
        await con.execute("VACUUM ANALYZE")
    finally:
        await con.close()


async def _migrate(db: Database, revision: str) -> None:
    """Alembic upgrade to ``revision``; "head" as the server does it."""
    try:
        if revision == "head":
            await db.migrate()
            return

        def upgrade(sync_conn: Any) -> None:
            from alembic import command

            command.upgrade(alembic_config(sync_conn), revision)

        async with db.engine.begin() as conn:
            await conn.run_sync(upgrade)
    finally:
        await db.dispose()
