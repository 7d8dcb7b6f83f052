"""Queries, one function per statement, named noun first (``task_claim_ids``).

Every status write is compare-and-set: it names the statuses it expects and returns the new
row, or ``None`` when another writer got there first — losing a race is normal, not an error.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]
import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from server.core.claims import next_tags
from server.core.text_search import search_words
from server.db import insights, text_search
from server.db.audit import audit_insert
from server.db.rows import ExecutionRow, TaskRow
from server.db.sqlite_driver import insert_in_one_trip
from server.db.tables import (
    NO_DEADLINE,
    audit_entries,
    task_dependencies,
    task_events,
    task_executions,
    task_tags,
    tasks,
)
from server.db.work_signal import ANNOUNCE, announce_work

Row = sa.Row[Any]
# 'queued' written into the SQL, not bound: the claim index is partial on exactly this.
QUEUED_LITERAL: sa.ColumnElement[str] = sa.literal_column("'queued'")
# 'manual' likewise: ix_tasks_manual_queued is partial on it (CONTRACT §17 manual runs).
MANUAL_LITERAL: sa.ColumnElement[str] = sa.literal_column("'manual'")



class _IdsAsJson(sa.TypeDecorator[Sequence[str]]):
    """A list of ids bound as one JSON array (SQLite has no arrays): the statement's text stays
    the same for any number of ids, so it is compiled once, where an expanding ``IN`` is
    rewritten for each call."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: Sequence[str] | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else msgspec.json.encode(list(value)).decode()


def _in_ids(column: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    """SQLite: ``column IN`` the ids bound as ``ids`` (a list) — ``json_each`` of one JSON
    array; each id is looked up through the column's index (PostgreSQL: ``= ANY(:ids)``)."""
    ids: sa.Select[Any] = sa.select(sa.literal_column("value")).select_from(
        sa.func.json_each(sa.bindparam("ids", type_=_IdsAsJson())))
    return column.in_(ids.scalar_subquery())


# --- tasks ---------------------------------------------------------------------------------

_TASK_INSERT = tasks.insert().returning(tasks)  # built once: parameters vary, SQL does not

async def task_insert(conn: AsyncConnection, values: dict[str, Any],
                      depends_on: Sequence[str]) -> TaskRow:
    if values.get("deadline", NO_DEADLINE) is None:
        values = {**values, "deadline": NO_DEADLINE}
    row: TaskRow = (await conn.execute(_TASK_INSERT, values)).one()
    if depends_on:
        await conn.execute(task_dependencies.insert(),
                           [{"task_id": values["id"], "depends_on_id": d} for d in depends_on])
    return row


async def task_tags_set(conn: AsyncConnection, task_id: str, tags: Sequence[str],
                        *, replace: bool) -> None:
    """The task_tags rows of one task (CONTRACT §17 tags); ``replace`` drops the old ones."""
    if replace:
        await conn.execute(sa.delete(task_tags).where(task_tags.c.task_id == task_id))
    if tags:  # with the task's created_at (the tag filter's order, ix_task_tags_created)
        await conn.execute(_TAG_INSERT,
                           [{"task_id": task_id, "tag": t} for t in dict.fromkeys(tags)])


_TAG_INSERT = task_tags.insert().values(
    task_id=sa.bindparam("task_id"), tag=sa.bindparam("tag"),
    created_at=sa.select(tasks.c.created_at).where(tasks.c.id == sa.bindparam("task_id"))
    .scalar_subquery())


# A task row as its INSERT writes it, without reading it back: every column not given is
# NULL but lost_streak (server default 0) and deadline (NO_DEADLINE: given as None, it is
# left to the server default, binding nothing); times as the UTC column gives them back.
_TaskValues = namedtuple("_TaskValues", [c.name for c in tasks.c])  # type: ignore[misc]
_SERVER_DEFAULTS = {"lost_streak": 0, "approvals_required": 1, "lane": 0, "fair_tag": 0}
_TASK_DEFAULTS = tuple((c.name, _SERVER_DEFAULTS.get(c.name)) for c in tasks.c)
_DEADLINE_AT = [c.name for c in tasks.c].index("deadline")


def task_row_of(values: dict[str, Any]) -> TaskRow:
    """The row :func:`tasks_insert` writes for ``values`` (as ``RETURNING`` would give it)."""
    get = values.get
    row = [get(name, default) for name, default in _TASK_DEFAULTS]
    if row[_DEADLINE_AT] is None:
        row[_DEADLINE_AT] = NO_DEADLINE
    return cast(TaskRow, _TaskValues._make(
        [v.astimezone(UTC) if isinstance(v, datetime) else v for v in row]))


async def tasks_insert(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert tasks without dependencies (each dict with the same keys), one executemany;
    their rows are :func:`task_row_of` the values.

    Columns that are None in every row are left out (NULL by default; a new task has a dozen:
    times not reached yet, no result ...), so they cost no binding per row."""
    if not rows:
        return
    names = _columns_given(rows)
    if len(names) < len(rows[0]):
        rows = [{name: r[name] for name in names} for r in rows]
    if "deadline" in names:  # some have one: the others are given NO_DEADLINE, not NULL
        rows = [r if r["deadline"] is not None else {**r, "deadline": NO_DEADLINE}
                for r in rows]
    await conn.execute(_TASKS_INSERT, list(rows))


def _columns_given(rows: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The keys of ``rows`` (each with the same keys) that are not None in some row."""
    return tuple(name for name in rows[0] if any(r[name] is not None for r in rows))


_TASKS_INSERT = tasks.insert()


# built once: a fresh select costs a build and a cache-key computation on every call
_TASK_GET = sa.select(tasks).where(tasks.c.id == sa.bindparam("task_id"))


async def task_get(conn: AsyncConnection, task_id: str) -> TaskRow | None:
    return (await conn.execute(_TASK_GET, {"task_id": task_id})).one_or_none()


# One statement whatever the number of ids: PostgreSQL, one prepared statement (an expanding
# IN would make one per length); SQLite, ids in a JSON array (_in_ids).
_TASK_GET_MANY_PG = sa.select(tasks).where(
    tasks.c.id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.String))))
_TASK_GET_MANY = sa.select(tasks).where(_in_ids(tasks.c.id))


async def task_debounced(conn: AsyncConnection, key: str) -> TaskRow | None:
    """The task waiting (``scheduled``) under a debounce key (ix_tasks_debounce), locked
    on PostgreSQL until the transaction ends."""
    stmt = sa.select(tasks).where(tasks.c.debounce_key == key,
                                  tasks.c.status == sa.literal_column("'scheduled'"))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row: TaskRow | None = (await conn.execute(stmt)).one_or_none()
    return row


async def task_get_by_idempotency_key(conn: AsyncConnection, key: str) -> TaskRow | None:
    stmt = sa.select(tasks).where(tasks.c.idempotency_key == key)
    return (await conn.execute(stmt)).one_or_none()


async def task_statuses(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, str]:
    stmt = sa.select(tasks.c.id, tasks.c.status).where(tasks.c.id.in_(list(ids)))
    return {r.id: r.status for r in await conn.execute(stmt)}


async def task_list(conn: AsyncConnection, *, statuses: Sequence[str] | None,
                    task_type: str | None, search: str | None, limit: int,
                    after: tuple[datetime, str] | None, stalled: bool | None = None,
                    client_id: str | None = None, tags: Sequence[str] = (),
                    assignee: str | None = None, depends_on: str | None = None,
                    errors: Sequence[tuple[str | None, str | None]] | None = None,
                    parent_id: str | None = None,
                    created: tuple[datetime | None, datetime | None] = (None, None),
                    oldest_first: bool = False) -> Sequence[TaskRow]:
    """Newest first (``oldest_first``: the other way, through the same indexes read
    backwards); ``after`` is the (createdAt, id) of the last item of the previous page;
    ``created``: created at or after its first, before its second. ``search``: the tasks
    whose title or description has every word of it as a word or a word's beginning
    (server/db/text_search.py; InvalidInput when it has no word).
    ``tags``: only tasks holding every one; ``depends_on``: the tasks depending on that task;
    ``parent_id``: a group's subtasks; ``errors``: the failed tasks with one of these
    (errorType, lastError) pairs (a failure group, server.services.insights).

    Each filter has an index ending in the order (created_at, id) (migration 0018), and the
    cursor is one row-value comparison, so a page — the first or one deep behind a cursor —
    reads its own rows from an index and sorts nothing. With ``tags`` the pages walk the first
    tag's entries in ix_task_tags_created (which hold the task's created_at)."""
    tags = list(dict.fromkeys(tags))
    order: tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]] = (tasks.c.created_at, tasks.c.id)
    stmt = sa.select(tasks)
    if tags:
        first = task_tags.alias("first_tag")
        stmt = (sa.select(tasks).select_from(first.join(tasks, tasks.c.id == first.c.task_id))
                .where(first.c.tag == tags[0]))
        order = (first.c.created_at, first.c.task_id)
    for tag in tags[1:]:
        stmt = stmt.where(tasks.c.id.in_(
            sa.select(task_tags.c.task_id).where(task_tags.c.tag == tag)))
    matches = (await text_search.task_matches(conn, search_words(search))
               if search else None)
    # PostgreSQL, searching: the filters' values and the limit written into the statement,
    # as the words are (text_search.task_matches), so that a plan is made for them, not a
    # prepared statement's generic one. Whether to read the list's index in order or the
    # matches from the text index depends on them: a generic plan, guessing an average
    # client, read every match of a common word for the largest (315 ms against 2 ms).
    inline = matches is not None and conn.dialect.name == "postgresql"
    stmt = stmt.where(*_list_conditions(
        statuses=statuses, task_type=task_type, search=None if inline else matches,
        stalled=stalled, client_id=client_id, assignee=assignee, depends_on=depends_on,
        errors=errors, parent_id=parent_id, inline=inline))
    # The bounds as row values on (created_at, id), the index's own order, so that both ends
    # of a page's range are index bounds: created_at < t is (created_at, id) < (t, ''), and
    # a cursor older than createdBefore is the tighter upper bound alone.
    created_from, created_before = created
    row = sa.tuple_(*order)
    if oldest_first:  # the cursor is the lower bound, createdBefore the upper
        if after is not None:
            stmt = stmt.where(row > _row_value(after, order))
        if created_from is not None and (after is None or after[0] < created_from):
            stmt = stmt.where(row >= _row_value((created_from, ""), order))
        if created_before is not None:
            stmt = stmt.where(row < _row_value((created_before, ""), order))
    else:
        upper = after
        if created_before is not None and (after is None or after[0] >= created_before):
            upper = (created_before, "")
        if upper is not None:
            stmt = stmt.where(row < _row_value(upper, order))
        if created_from is not None:
            stmt = stmt.where(row >= _row_value((created_from, ""), order))
    if inline and matches is not None:
        return await text_search.search_page(conn, stmt, order, matches, limit,
                                             oldest_first=oldest_first)
    ordering = ((order[0].asc(), order[1].asc()) if oldest_first
                else (order[0].desc(), order[1].desc()))
    return list((await conn.execute(stmt.order_by(*ordering).limit(limit))).all())


def _row_value(values: tuple[datetime, str], columns: Sequence[sa.ColumnElement[Any]]
               ) -> sa.Tuple:
    return sa.tuple_(*(sa.literal(v, c.type) for v, c in zip(values, columns, strict=True)))


def _list_conditions(*, statuses: Sequence[str] | None, task_type: str | None,
                     search: sa.ColumnElement[bool] | None, stalled: bool | None,
                     client_id: str | None,
                     assignee: str | None, depends_on: str | None,
                     errors: Sequence[tuple[str | None, str | None]] | None,
                     parent_id: str | None, inline: bool = False
                     ) -> list[sa.ColumnElement[bool]]:
    """tasks.list's filters on the tasks' own columns (:func:`task_list`); ``inline``: their
    values written into the statement rather than bound (literal_execute)."""
    def value(column: sa.Column[Any], given: Any) -> Any:
        return (sa.bindparam(None, given, column.type, literal_execute=True) if inline
                else given)

    where: list[sa.ColumnElement[bool]] = []
    if client_id is not None:
        where.append(tasks.c.client_id == value(tasks.c.client_id, client_id))
    if assignee is not None:
        where.append(tasks.c.assignee == value(tasks.c.assignee, assignee))
    if parent_id is not None:
        where.append(tasks.c.parent_id == value(tasks.c.parent_id, parent_id))
    if depends_on is not None:
        where.append(tasks.c.id.in_(
            sa.select(task_dependencies.c.task_id)
            .where(task_dependencies.c.depends_on_id == depends_on)))
    if errors is not None:
        where.append(insights.failed_with_errors(errors))
    if stalled is not None:
        where.append(tasks.c.stalled_since.is_not(None) if stalled
                     else tasks.c.stalled_since.is_(None))
    if statuses:  # one status as an equality: its index then gives the order
        where.append(tasks.c.status == value(tasks.c.status, statuses[0]) if len(statuses) == 1
                     else tasks.c.status.in_(sa.bindparam(None, list(statuses), expanding=True,
                                                          literal_execute=inline)))
    if task_type:
        where.append(tasks.c.task_type == value(tasks.c.task_type, task_type))
    if search is not None:  # text_search.task_matches
        where.append(search)
    return where


async def task_set_status_if(conn: AsyncConnection, task_id: str, expected: Sequence[str],
                             values: dict[str, Any]) -> TaskRow | None:
    """CAS: update only while the task is in one of ``expected``."""
    stmt = tasks.update().where(tasks.c.id == task_id, tasks.c.status.in_(list(expected)))
    if "status" in values:  # a stall ends with the status it was found in (CONTRACT §10)
        values = {"stalled_since": None, **values}
    values = with_fair_tag(values)
    row: TaskRow | None = (
        await conn.execute(stmt.values(**values).returning(tasks))).one_or_none()
    return row


@dataclass(frozen=True)
class Skip:
    """What a claim's candidates leave out: full types and hosts (this process), concurrency
    keys and clients found full and rate-limit keys waiting for their window (all nodes)."""

    types: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()
    rate_keys: tuple[str, ...] = ()
# --- groups (CONTRACT §17) -------------------------------------------------------------------

async def task_lock(conn: AsyncConnection, task_id: str, *, dialect: str) -> TaskRow | None:
    """A task row, locked until this transaction ends on PostgreSQL (``FOR UPDATE``): a
    group's, before its counts are read and rewritten, so two nodes ending two of its subtasks
    at once settle it one after the other. SQLite has one writer: a plain read."""
    stmt = sa.select(tasks).where(tasks.c.id == task_id)
    if dialect == "postgresql":
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).one_or_none()


async def task_children_by_status(conn: AsyncConnection, parent_id: str) -> dict[str, int]:
    """A group's subtasks counted by status (through ix_tasks_parent)."""
    stmt = (sa.select(tasks.c.status, sa.func.count()).where(tasks.c.parent_id == parent_id)
            .group_by(tasks.c.status))
    return {status: n for status, n in (await conn.execute(stmt)).all()}


async def task_children(conn: AsyncConnection, parent_id: str) -> list[Row]:
    """A group's subtasks' (id, status, result, last_error, status_reason), in their order
    (their ids sort so)."""
    stmt = (sa.select(tasks.c.id, tasks.c.status, tasks.c.result, tasks.c.last_error,
                      tasks.c.status_reason)
            .where(tasks.c.parent_id == parent_id).order_by(tasks.c.id))
    return cast(list[Row], list((await conn.execute(stmt)).all()))


async def task_children_set_status(conn: AsyncConnection, parent_id: str,
                                   expected: Sequence[str], values: dict[str, Any], *,
                                   dialect: str, skip_locked: bool = False,
                                   reason_prefix: str | None = None
                                   ) -> list[tuple[str, TaskRow]]:
    """CAS of a group's subtasks in one of ``expected`` (and, with ``reason_prefix``, whose
    statusReason starts so): (the status each was in, its new row), in id order. PostgreSQL
    locks them in id order first; ``skip_locked`` leaves out those another transaction holds
    (it is ending them, and will settle the group after this one)."""
    pick = (sa.select(tasks.c.id, tasks.c.status)
            .where(tasks.c.parent_id == parent_id, tasks.c.status.in_(list(expected)))
            .order_by(tasks.c.id))
    if reason_prefix is not None:
        pick = pick.where(tasks.c.status_reason.startswith(reason_prefix, autoescape=True))
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=skip_locked)
    before = {r.id: r.status for r in await conn.execute(pick)}
    if not before:
        return []
    if "status" in values:
        values = {"stalled_since": None, **values}
    stmt = (tasks.update()
            .where(tasks.c.id.in_(list(before)), tasks.c.status.in_(list(expected)))
            .values(**values).returning(tasks))
    rows: list[TaskRow] = list((await conn.execute(stmt)).all())
    return sorted(((before[r.id], r) for r in rows), key=lambda pair: pair[1].id)


async def task_claim_candidates(conn: AsyncConnection, *, dialect: str, limit: int,
                                skip_types: Sequence[str] = (), skip_hosts: Sequence[str] = (),
                                manual_only: bool = False, skip: Skip | None = None
                                ) -> list[Row]:
    """Step one of a claim: up to ``limit`` queued tasks (id, type, host, flow-control
    columns), most urgent first and, within a priority and deadline, in fair-tag order,
    leaving out what is full (``skip_types``, ``skip_hosts`` and ``skip``).

    The ids are picked by this statement alone, before anything is updated, so a claim can
    never take more than it asked for (an ``UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE
    SKIP LOCKED)`` may run its sub-select once per outer row on PostgreSQL and take far more).
    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so several nodes pick disjoint sets. SQLite has one
    writer at a time, so nothing can race between the two steps.
    """
    skip = skip or Skip()
    pick = _claim_pick(dialect, tuple(skip_types) or skip.types,
                       tuple(skip_hosts) or skip.hosts, manual_only, skip.keys,
                       skip.clients, skip.rate_keys)
    rows: list[Row] = list((await conn.execute(pick, {"limit": limit})).all())
    return rows


@functools.lru_cache(maxsize=128)
def _claim_pick(dialect: str, skip_types: tuple[str, ...], skip_hosts: tuple[str, ...],
                manual_only: bool = False, skip_keys: tuple[str, ...] = (),
                skip_clients: tuple[str, ...] = (), skip_rate_keys: tuple[str, ...] = ()
                ) -> sa.Select[Any]:
    """The candidates' SELECT, built once for each set of full types and hosts (a statement
    object keeps its compiled-cache key; building one and computing it cost more than the
    query itself). ``manual_only``: the tasks a person queued with tasks.execute, which run
    while autorun is paused (CONTRACT §17; through ix_tasks_manual_queued)."""
    c = tasks.c
    pick = (sa.select(c.id, c.task_type, c.dest_host, c.lost_streak, c.client_id,
                      c.concurrency_key, c.concurrency_limit, c.rate_limit_key)
            .where(c.status == QUEUED_LITERAL))
    if manual_only:
        pick = pick.where(c.next_trigger == MANUAL_LITERAL)
    if skip_types:
        pick = pick.where(c.task_type.not_in(list(skip_types)))
    for column, values in ((c.dest_host, skip_hosts), (c.concurrency_key, skip_keys),
                           (c.rate_limit_key, skip_rate_keys)):
        if values:
            pick = pick.where(sa.or_(column.is_(None), column.not_in(list(values))))
    if skip_clients:  # CLIENT_CONCURRENCY applies to tasks without a concurrency key
        pick = pick.where(sa.or_(c.client_id.is_(None), c.concurrency_key.is_not(None),
                                 c.client_id.not_in(list(skip_clients))))
    pick = pick.order_by(c.priority_rank.desc(), c.deadline, c.fair_tag, c.queued_at,
                         c.id).limit(sa.bindparam("limit", type_=sa.Integer))
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    return pick


def with_fair_tag(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` of a one-row update; one that makes the task ``queued`` (and names no
    ``fair_tag``: a task that keeps its place names its own) takes its turn in its lane."""
    if values.get("status") != "queued" or "fair_tag" in values:
        return values
    return {**values, "fair_tag": _FAIR_TAG}


# Constants written into the SQL (a bound 0 would be a parameter the inserts do not give).
_ZERO = sa.literal_column("0", sa.BigInteger)
_ONE = sa.literal_column("1", sa.BigInteger)


def _turn_base(lane: sa.ColumnElement[Any], rank: sa.ColumnElement[Any],
               larger: Callable[..., sa.ColumnElement[Any]] | None = None
               ) -> sa.ColumnElement[int]:
    """The larger of ``lane``'s last queued tag and the head of priority ``rank``'s line: a
    task of that lane entering ``queued`` takes one past it (claims.next_tags, in SQL:
    ix_tasks_lane, ix_tasks_claim). ``larger``: the dialect's two-argument maximum (SQLite's
    ``max``, PostgreSQL's ``greatest``); without it, a CASE that either dialect runs."""
    q, h = tasks.alias("q"), tasks.alias("h")
    last = sa.func.coalesce(
        sa.select(sa.func.max(q.c.fair_tag))
        .where(q.c.status == QUEUED_LITERAL, q.c.lane == lane).scalar_subquery(), _ZERO)
    head = sa.func.coalesce(
        sa.select(h.c.fair_tag)
        .where(h.c.status == QUEUED_LITERAL, h.c.priority_rank == rank)
        .order_by(h.c.deadline, h.c.fair_tag).limit(_ONE).offset(_ZERO).scalar_subquery(),
        _ZERO)
    if larger is not None:
        return larger(last, head)
    return sa.case((last > head, last), else_=head)


_FAIR_TAG = _turn_base(tasks.c.lane, tasks.c.priority_rank) + 1


def kept_place(tag: int) -> sa.ColumnElement[int]:
    """The fair tag of a task queued again after a lost attempt (CONTRACT §13: it keeps its
    place in line): its own, or the first of its line (its priority and deadline, in the
    claim index's order) when that is lower — tasks queued while it ran took their tags from
    a line without it, possibly lower than its own; on a tie the older ``queued_at`` goes
    first."""
    h = tasks.alias("h")
    own = sa.literal(tag, sa.BigInteger)
    first = (sa.select(h.c.fair_tag)
             .where(h.c.status == QUEUED_LITERAL, h.c.priority_rank == tasks.c.priority_rank,
                    h.c.deadline == tasks.c.deadline)
             .order_by(h.c.fair_tag).limit(_ONE).offset(_ZERO).scalar_subquery())
    return sa.case((first < own, first), else_=own)
_QUEUE_HEAD = (sa.select(tasks.c.fair_tag)
               .where(tasks.c.status == QUEUED_LITERAL,
                      tasks.c.priority_rank == sa.bindparam("rank", type_=sa.SmallInteger))
               .order_by(tasks.c.deadline, tasks.c.fair_tag).limit(1))
# Lanes looked up at once for a batch entering queued; the others start at the head.
_LANES_LOOKED_UP = 500


async def fair_tags(conn: AsyncConnection, items: Sequence[tuple[int, int]]) -> list[int]:
    """Fair tags for tasks entering ``queued`` together, in this order, each given as (lane,
    priority rank) (claims.next_tags): one query per priority present, one for the lanes."""
    head: dict[int, int] = {}
    for rank in sorted({r for _, r in items}):
        tag = (await conn.execute(_QUEUE_HEAD, {"rank": rank})).scalar()
        if tag is not None:
            head[rank] = int(tag)
    lanes = list(dict.fromkeys(lane for lane, _ in items))[:_LANES_LOOKED_UP]
    last: dict[int, int] = {}
    if lanes:
        found = await conn.execute(
            sa.select(tasks.c.lane, sa.func.max(tasks.c.fair_tag))
            .where(tasks.c.status == QUEUED_LITERAL, tasks.c.lane.in_(lanes))
            .group_by(tasks.c.lane))
        last = {int(lane): int(tag) for lane, tag in found}
    return next_tags(items, head, last)


async def tag_new_tasks(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Give the new tasks that are ``queued`` their fair tags (in place), before insert."""
    queued = [r for r in rows if r.get("status") == "queued"]
    if not queued:
        return
    tags = await fair_tags(conn, [(r.get("lane") or 0, r["priority_rank"]) for r in queued])
    for row, tag in zip(queued, tags, strict=True):
        row["fair_tag"] = tag


async def task_claim_ids(conn: AsyncConnection, ids: Sequence[str], *, worker: str,
                         now: datetime, lease_until: datetime) -> list[Row]:
    """Step two of a claim: move exactly these (picked, still queued) tasks to in_progress."""
    if not ids:
        return []
    stmt = _CLAIM_IDS_PG if conn.dialect.name == "postgresql" else _CLAIM_IDS
    return list((await conn.execute(stmt, {"ids": sorted(ids), "worker": worker, "now": now,
                                           "lease_until": lease_until})).all())


def _claim_ids(ids: sa.ColumnElement[bool],
               queued: sa.ColumnElement[bool] = tasks.c.status == "queued") -> sa.UpdateBase:
    return (tasks.update().where(ids, queued)
            .values(status="in_progress", status_reason=None,
                    started_at=sa.bindparam("now", type_=tasks.c.started_at.type),
                    updated_at=sa.bindparam("now", type_=tasks.c.updated_at.type),
                    attempts=tasks.c.attempts + 1,
                    lease_owner=sa.bindparam("worker", type_=tasks.c.lease_owner.type),
                    lease_expires_at=sa.bindparam("lease_until",
                                                  type_=tasks.c.lease_expires_at.type),
                    next_attempt_at=None, stalled_since=None, debounce_key=None,
                    progress=None)
            .returning(tasks))


# PostgreSQL: one prepared statement whatever the number of ids; SQLite: _in_ids.
_CLAIM_IDS_PG = _claim_ids(
    tasks.c.id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.String))))
# SQLite: ``+status`` keeps the planner on the primary key for the ids; on ``status`` it would
# take the claim index and walk every queued task to find these few.
_CLAIM_IDS = _claim_ids(_in_ids(tasks.c.id), sa.literal_column("+tasks.status") == QUEUED_LITERAL)


async def task_promote_due(conn: AsyncConnection, now: datetime, *,
                           returning: Sequence[str] = (), limit: int = 10_000) -> list[Row]:
    """scheduled → queued for tasks whose time has come, at most ``limit`` in one statement;
    returns each promoted task's ``id`` and the columns named in ``returning``, not the whole
    row (10,000 whole rows cost ~0.1 s of CPU to read back, JSON columns and all).

    A burst of 10,000 due in the same second goes in one transaction: split in two, the
    second half waited behind the claims and completions of the first (the runner is woken
    by its commit) and came due seconds later. Compare-and-set: a task whose status moved on
    since it was picked is left alone."""
    # Fair tags: from the head of the line, each lane's promoted tasks in turn (their rank in
    # the lane by due time); a lane's tasks already queued are not looked up for a bulk.
    heads = [int(t) for t in (await conn.execute(_QUEUE_HEADS)).scalars() if t is not None]
    rank = sa.func.row_number().over(partition_by=tasks.c.lane,
                                     order_by=(tasks.c.due_at, tasks.c.id))
    pick = (sa.select(tasks.c.id.label("pid"), rank.label("n"))
            .where(tasks.c.status == "scheduled", tasks.c.due_at <= now)
            .order_by(tasks.c.due_at).limit(limit).subquery("due"))
    stmt = (tasks.update().where(tasks.c.id == pick.c.pid, tasks.c.status == "scheduled")
            .values(status="queued", status_reason=None, due_at=None, queued_at=now,
                    updated_at=now, stalled_since=None,
                    fair_tag=pick.c.n + max(heads, default=0))
            .returning(tasks.c.id, *(tasks.c[name] for name in returning if name != "id")))
    return list((await conn.execute(stmt)).all())


# The head of each priority's line (the highest is enough for a bulk promotion).
_QUEUE_HEADS = (sa.select(tasks.c.fair_tag).where(tasks.c.status == QUEUED_LITERAL)
                .order_by(tasks.c.priority_rank.desc(), tasks.c.deadline, tasks.c.fair_tag)
                .limit(1))


async def task_next_due_at(conn: AsyncConnection) -> datetime | None:
    stmt = sa.select(sa.func.min(tasks.c.due_at)).where(tasks.c.status == "scheduled")
    value: datetime | None = (await conn.execute(stmt)).scalar()  # min() keeps UTCDateTime
    return value


async def task_heartbeat(conn: AsyncConnection, worker: str, ids: Sequence[str],
                         lease_until: datetime, dialect: str = "sqlite") -> set[str]:
    """Extend the leases ``worker`` holds; returns the ids it still holds."""
    if not ids:
        return set()
    # PostgreSQL: lock the rows in id order first (SELECT … ORDER BY id FOR UPDATE), as every
    # other writer of several task rows does, so a heartbeat and a completion never deadlock.
    held = list(ids)
    if dialect == "postgresql":
        lock = (sa.select(tasks.c.id)
                .where(tasks.c.id.in_(sorted(ids)), tasks.c.lease_owner == worker,
                       tasks.c.status == "in_progress")
                .order_by(tasks.c.id).with_for_update())
        held = [r.id for r in await conn.execute(lock)]
        if not held:
            return set()
    stmt = (tasks.update()
            .where(tasks.c.id.in_(held), tasks.c.lease_owner == worker,
                   tasks.c.status == "in_progress")
            .values(lease_expires_at=lease_until).returning(tasks.c.id))
    return {r.id for r in await conn.execute(stmt)}


async def task_lease_expired(conn: AsyncConnection, now: datetime, *,
                             every: bool = False, owner: str | None = None,
                             limit: int = 500) -> list[Row]:
    """in_progress tasks whose lease ran out, in id order; with ``every`` (SQLite at start,
    where one process owns the file) all of them; with ``owner`` (a node at start) also every
    one this node held before it restarted."""
    stmt = sa.select(tasks).where(tasks.c.status == "in_progress")
    if owner is not None:
        stmt = stmt.where(sa.or_(tasks.c.lease_expires_at < now, tasks.c.lease_owner == owner))
    elif not every:
        stmt = stmt.where(tasks.c.lease_expires_at < now)
    return list((await conn.execute(stmt.order_by(tasks.c.id).limit(limit))).all())


async def task_dependents(conn: AsyncConnection, task_id: str) -> list[Row]:
    """Tasks waiting (scheduled, no due time) on ``task_id``."""
    stmt = (sa.select(tasks).join(task_dependencies, task_dependencies.c.task_id == tasks.c.id)
            .where(task_dependencies.c.depends_on_id == task_id))
    return list((await conn.execute(stmt)).all())


async def task_open_dependencies(conn: AsyncConnection, task_id: str) -> list[str]:
    """Statuses of ``task_id``'s dependencies that are not completed."""
    stmt = (sa.select(tasks.c.status).join(task_dependencies,
                                           task_dependencies.c.depends_on_id == tasks.c.id)
            .where(task_dependencies.c.task_id == task_id, tasks.c.status != "completed"))
    return [r.status for r in await conn.execute(stmt)]


async def task_counts_by_status(conn: AsyncConnection, client_id: str | None = None
                                ) -> dict[str, int]:
    stmt = sa.select(tasks.c.status, sa.func.count()).group_by(tasks.c.status)
    if client_id is not None:
        stmt = stmt.where(tasks.c.client_id == client_id)
    return {status: int(n) for status, n in await conn.execute(stmt)}


# Columns an attempt's end writes, all of them every time, so that one executemany statement
# serves a whole batch (values that should not change are passed as they are).
ATTEMPT_END_COLUMNS = ("status", "status_reason", "error_count", "last_error", "result",
                       "result_summary", "completed_at", "due_at", "next_trigger", "queued_at",
                       "next_attempt_at", "updated_at", "lost_streak")
_TASK_END = (tasks.update()
             .where(tasks.c.id == sa.bindparam("_id"),
                    tasks.c.status == sa.literal_column("'in_progress'"),
                    tasks.c.lease_owner == sa.bindparam("_owner"))
             .values({c: sa.bindparam(f"_{c}") for c in ATTEMPT_END_COLUMNS}
                     | {"lease_owner": sa.null(), "lease_expires_at": sa.null(),
                        "stalled_since": sa.null(), "progress": sa.null()}))


_TASK_PROGRESS = (tasks.update()
                  .where(tasks.c.id == sa.bindparam("_id"),
                         tasks.c.status == sa.literal_column("'in_progress'"),
                         tasks.c.lease_owner == sa.bindparam("_owner"))
                  .values(progress=sa.bindparam("_progress", type_=tasks.c.progress.type))
                  .returning(tasks))


async def task_set_progress(conn: AsyncConnection, task_id: str, worker: str,
                            progress: dict[str, Any] | None) -> TaskRow | None:
    """CAS: the running attempt's progress, written only while the task is in_progress under
    ``worker``'s lease; the row after, or None when the attempt is no longer this worker's.
    ``updated_at`` is left alone: progress is not a change of the task's state."""
    row: TaskRow | None = (await conn.execute(_TASK_PROGRESS, {
        "_id": task_id, "_owner": worker, "_progress": progress})).one_or_none()
    return row


async def task_end_attempts(conn: AsyncConnection, worker: str,
                            rows: Sequence[dict[str, Any]]) -> None:
    """CAS for a batch: each task is written only while in_progress under ``worker``'s lease.
    Read the rows back to see which writes won."""
    if rows:  # in id order, the one lock order of every multi-row task write
        await conn.execute(_TASK_END, [
            {"_id": r["id"], "_owner": worker, **{f"_{c}": r[c] for c in ATTEMPT_END_COLUMNS}}
            for r in sorted(rows, key=lambda r: str(r["id"]))])


async def tasks_by_ids(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, TaskRow]:
    """The tasks of ``ids`` that exist, by id (one statement for any count on PostgreSQL)."""
    if not ids:
        return {}
    if len(ids) == 1:
        row = await task_get(conn, ids[0])
        return {} if row is None else {row.id: row}
    stmt = _TASK_GET_MANY_PG if conn.dialect.name == "postgresql" else _TASK_GET_MANY
    return {row.id: row for row in await conn.execute(stmt, {"ids": list(ids)})}


async def tasks_with_dependents(conn: AsyncConnection, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` some other task depends on."""
    if not ids:
        return set()
    stmt = _WITH_DEPENDENTS_PG if conn.dialect.name == "postgresql" else _WITH_DEPENDENTS
    return {r[0] for r in await conn.execute(stmt, {"ids": list(ids)})}


_WITH_DEPENDENTS_PG = (sa.select(task_dependencies.c.depends_on_id).distinct().where(
    task_dependencies.c.depends_on_id == sa.any_(
        sa.bindparam("ids", type_=postgresql.ARRAY(sa.String)))))
_WITH_DEPENDENTS = (sa.select(task_dependencies.c.depends_on_id).distinct()
                    .where(_in_ids(task_dependencies.c.depends_on_id)))


# --- executions ----------------------------------------------------------------------------

EXECUTION_END_COLUMNS = ("status", "completed_at", "duration_ms", "output", "error",
                         "error_type", "retryable", "steps", "artifacts", "browser_session_id",
                         "debug_url", "input", "output_is_result", "input_is_config")
_EXECUTION_END = (task_executions.update()
                  .where(task_executions.c.id == sa.bindparam("_id"),
                         task_executions.c.status == sa.literal_column("'running'"))
                  .values({c: sa.bindparam(f"_{c}", type_=task_executions.c[c].type)
                           for c in EXECUTION_END_COLUMNS}))


async def executions_end(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> dict[str, Row]:
    """Close running attempts (CAS on running) in one statement; returns the rows after."""
    if not rows:
        return {}
    await conn.execute(_EXECUTION_END, [
        {"_id": r["id"], **{f"_{c}": r[c] for c in EXECUTION_END_COLUMNS}} for r in rows])
    return await executions_by_ids(conn, [r["id"] for r in rows])


async def execution_insert(conn: AsyncConnection, rows: Sequence[dict[str, Any]]
                           ) -> list[ExecutionRow]:
    """Insert attempts; returns their rows in the order given. SQLite: not read back (a claim
    inserts dozens), each row is :func:`execution_row_of` its values, and columns that are
    None in every row are left out (as :func:`tasks_insert` does)."""
    if not rows:
        return []
    if conn.dialect.name == "sqlite":
        names = _columns_given(rows)
        given = rows if len(names) == len(rows[0]) else [
            {name: r[name] for name in names} for r in rows]
        await conn.execute(_EXECUTIONS_INSERT_PLAIN, list(given))
        return [execution_row_of(r) for r in rows]
    return list((await conn.execute(_EXECUTIONS_INSERT, list(rows))).all())


# An attempt's row as its INSERT writes it: every column not given is NULL but the two flags
# (server default false); times as the UTC column gives them back.
_ExecutionValues = namedtuple(  # type: ignore[misc]
    "_ExecutionValues", [c.name for c in task_executions.c])
_EXECUTION_DEFAULTS = tuple(
    (c.name, False if c.name in ("output_is_result", "input_is_config") else None)
    for c in task_executions.c)


def execution_row_of(values: dict[str, Any]) -> ExecutionRow:
    """The row :func:`execution_insert` writes for ``values`` (as ``RETURNING`` gives it)."""
    get = values.get
    row = [get(name, default) for name, default in _EXECUTION_DEFAULTS]
    return cast(ExecutionRow, _ExecutionValues._make(
        [v.astimezone(UTC) if isinstance(v, datetime) else v for v in row]))


_EXECUTIONS_INSERT_PLAIN = task_executions.insert()
_EXECUTIONS_INSERT = task_executions.insert().returning(task_executions,
                                                        sort_by_parameter_order=True)


async def execution_finish(conn: AsyncConnection, execution_id: str, values: dict[str, Any]
                           ) -> Row | None:
    """Close a running attempt (CAS on status running)."""
    stmt = (task_executions.update()
            .where(task_executions.c.id == execution_id, task_executions.c.status == "running")
            .values(**values).returning(task_executions))
    row: Row | None = (await conn.execute(stmt)).one_or_none()
    return row


async def executions_by_ids(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, Row]:
    if not ids:
        return {}
    stmt = _EXECUTIONS_GET_PG if conn.dialect.name == "postgresql" else _EXECUTIONS_GET
    return {r.id: r for r in await conn.execute(stmt, {"ids": sorted(set(ids))})}


_EXECUTIONS_GET_PG = sa.select(task_executions).where(
    task_executions.c.id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.String))))
_EXECUTIONS_GET = sa.select(task_executions).where(_in_ids(task_executions.c.id))


async def execution_running_for_task(conn: AsyncConnection, task_id: str) -> Row | None:
    stmt = (sa.select(task_executions)
            .where(task_executions.c.task_id == task_id, task_executions.c.status == "running")
            .order_by(task_executions.c.attempt_number.desc()).limit(1))
    return (await conn.execute(stmt)).one_or_none()


async def executions_for_task(conn: AsyncConnection, task_id: str
                              ) -> Sequence[ExecutionRow]:
    stmt = (sa.select(task_executions).where(task_executions.c.task_id == task_id)
            .order_by(task_executions.c.attempt_number))
    return list((await conn.execute(stmt)).all())


async def execution_counts(conn: AsyncConnection, client_id: str | None = None
                           ) -> dict[str, int]:
    stmt = sa.select(task_executions.c.status, sa.func.count()).group_by(task_executions.c.status)
    if client_id is not None:
        stmt = stmt.where(task_executions.c.task_id.in_(
            sa.select(tasks.c.id).where(tasks.c.client_id == client_id)))
    return {status: int(n) for status, n in await conn.execute(stmt)}


# --- events --------------------------------------------------------------------------------

async def event_insert(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert events in order; returns their ids in the same order.

    SQLite: one executemany, the ids from ``last_insert_rowid()`` (one writer at a time, ids
    from AUTOINCREMENT: consecutive); PostgreSQL: one INSERT from the rows' arrays
    (``unnest``), cheaper than an executemany's batches of RETURNING."""
    if not rows:
        return []
    if len(rows) == 1:  # one round trip (a light load's pickup latency counts them)
        return [int((await conn.execute(_EVENT_INSERT_ONE, rows[0])).scalar_one())]
    if conn.dialect.name == "sqlite":
        await conn.execute(_EVENT_INSERT, list(rows))
        last = int((await conn.execute(_LAST_ROWID)).scalar_one())
        return list(range(last - len(rows) + 1, last + 1))
    result = await conn.execute(_EVENTS_FROM_ARRAYS, _event_arrays(rows))
    # The sequence gives ids in the order the rows are inserted, which ORDER BY n fixes to the
    # given order (as SQLAlchemy's sort_by_parameter_order relies on): sorted, they match it.
    return sorted(int(r[0]) for r in result)


async def changes_insert_sqlite(conn: AsyncConnection, new_tasks: Sequence[dict[str, Any]],
                                events: Sequence[dict[str, Any]],
                                audits: Sequence[dict[str, Any]]) -> list[int]:
    """SQLite: what a write transaction inserts as it ends — its new tasks (as
    :func:`tasks_insert`), its events (as :func:`event_insert`; their ids returned in order)
    and its audit entries — in one driver call instead of three executes (no trip when the
    writer's statements run on the loop's thread, else one to the database thread). The
    INSERTs are SQLAlchemy's (``table.insert()``, compiled once per set of columns) and each
    value goes through its column type's bind conversion, as ``conn.execute`` does; three
    executes measured twice the CPU a create (docs/architecture.md, "The SQL path")."""
    if not (new_tasks or events or audits):
        return []  # nothing to insert (a claim that found nothing): no trip
    dialect = conn.dialect
    statements: list[tuple[str, list[tuple[Any, ...]]]] = []
    for table, rows, names in ((tasks, new_tasks, _columns_given(new_tasks) if new_tasks else ()),
                               (audit_entries, audits, tuple(audits[0]) if audits else ()),
                               # last: last_insert_rowid() is then the last event's id
                               (task_events, events, _EVENT_COLUMNS)):
        if rows:
            sql, binds = _positional(_insert_of(table, names), dialect)
            statements.append((sql, [tuple(r[name] if convert is None else convert(r[name])
                                           for name, convert in binds) for r in rows]))
    last = await insert_in_one_trip(conn, statements)
    return list(range(last - len(events) + 1, last + 1)) if events else []


@functools.lru_cache(maxsize=64)
def _insert_of(table: sa.Table, names: tuple[str, ...]) -> sa.Insert:
    """``INSERT INTO table (names)``, each value a parameter named as its column; a new task
    entering ``queued`` is given its fair tag by the INSERT itself (:func:`_tagged`), which
    looks up its lane and the head of the line as each row goes in (an executemany sees the
    rows before it): no query of its own before the insert."""
    values: dict[str, Any] = {n: sa.bindparam(n, type_=table.c[n].type) for n in names}
    if table is tasks and _TAG_INPUTS <= set(names):
        values["fair_tag"] = _tagged(values["status"], values.get("lane", _ZERO),
                                     values["priority_rank"], values["fair_tag"], turn=_ONE,
                                     larger=sa.func.max)
    return table.insert().values(values)


# What the INSERT of a new task needs to give it its fair tag (``lane`` is 0 when left out).
_TAG_INPUTS = frozenset({"status", "priority_rank", "fair_tag"})


def _tagged(status: sa.ColumnElement[Any], lane: sa.ColumnElement[Any],
            rank: sa.ColumnElement[Any], given: sa.ColumnElement[Any],
            turn: sa.ColumnElement[Any], larger: Callable[..., sa.ColumnElement[Any]]
            ) -> sa.ColumnElement[Any]:
    """A new task's fair tag: ``turn`` past :func:`_turn_base` when it is ``queued``, else
    the tag given (0)."""
    return sa.case((status == QUEUED_LITERAL, _turn_base(lane, rank, larger) + turn),
                   else_=given)


_EVENT_INSERT_ONE = task_events.insert().returning(task_events.c.id)
_EVENT_INSERT = task_events.insert()
_LAST_ROWID = sa.text("SELECT last_insert_rowid()")


def _from_arrays(table: sa.Table, names: Sequence[str], prefix: str, *,
                 ordinality: str | None = None) -> sa.Insert:
    """``INSERT INTO table (names) SELECT ... FROM unnest(:<prefix><name>, ...)``: one array
    parameter per column, typed as an array of the column's type (one dimension: a JSON
    value that is a list is an element)."""
    arrays = [sa.bindparam(f"{prefix}{name}",
                           type_=postgresql.ARRAY(table.c[name].type, dimensions=1))
              for name in names]
    rows = sa.func.unnest(*arrays).table_valued(
        *names, with_ordinality=ordinality).render_derived(name=f"{prefix}rows")
    picked = sa.select(*(rows.c[name] for name in names))
    if ordinality is not None:
        picked = picked.order_by(rows.c[ordinality])
    return table.insert().from_select(list(names), picked)


def _tasks_from_arrays(names: tuple[str, ...]) -> sa.Insert:
    """:func:`_from_arrays` for new tasks, each one entering ``queued`` given its fair tag by
    the statement: one past the larger of its lane's last queued tag and the head of the
    line, plus its turn among the statement's tasks of that lane (the rows' order) — what
    claims.next_tags gives, without a query before the insert."""
    if not _TAG_INPUTS <= set(names):
        return _from_arrays(tasks, names, "task_")
    arrays = [sa.bindparam(f"task_{name}",
                           type_=postgresql.ARRAY(tasks.c[name].type, dimensions=1))
              for name in names]
    rows = sa.func.unnest(*arrays).table_valued(
        *names, with_ordinality="n").render_derived(name="task_rows")
    lane = rows.c.lane if "lane" in names else _ZERO
    turn = sa.func.row_number().over(partition_by=(lane, rows.c.status), order_by=rows.c.n)
    picked = [_tagged(rows.c.status, lane, rows.c.priority_rank, rows.c.fair_tag, turn,
                      sa.func.greatest)
              if name == "fair_tag" else rows.c[name] for name in names]
    return tasks.insert().from_select(list(names), sa.select(*picked).order_by(rows.c.n))


_EVENT_COLUMNS = ("task_id", "payload", "created_at")
_EVENTS_FROM_ARRAYS = _from_arrays(task_events, _EVENT_COLUMNS, "event_",
                                   ordinality="n").returning(task_events.c.id)


def _event_arrays(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    return {f"event_{name}": [r[name] for r in rows] for name in _EVENT_COLUMNS}


async def changes_insert_pg(conn: AsyncConnection, new_tasks: Sequence[dict[str, Any]],
                            events: Sequence[dict[str, Any]],
                            audits: Sequence[dict[str, Any]], *, announce: bool = False
                            ) -> list[int]:
    """PostgreSQL: what a write transaction inserts as it ends — its new tasks (as
    :func:`tasks_insert`), its events (as :func:`event_insert`; their ids returned in order)
    and its audit entries — in one statement where they were three round trips (a create has
    all three, and a light load's pickup latency counts its round trips). The tasks and audit
    entries go in data-modifying WITHs, which run whether or not the events' INSERT reads
    them (the events' foreign keys are checked at the end of the statement, when the tasks are
    there). ``announce``: the statement also runs work_signal's NOTIFY (other nodes' runners
    hear of the new work at commit), which was a round trip of its own."""
    if not events:
        await tag_new_tasks(conn, new_tasks)
        await tasks_insert(conn, new_tasks)
        await audit_insert(conn, audits)
        if announce:
            await announce_work(conn)
        return []
    task_names = _columns_given(new_tasks) if new_tasks else ()
    audit_names = tuple(audits[0]) if audits else ()
    params = _event_arrays(events)
    for prefix, names, rows in (("task_", task_names, new_tasks),
                                ("audit_", audit_names, audits)):
        params.update({f"{prefix}{name}": [r[name] for r in rows] for name in names})
    returned = await _closing_statement_pg(
        conn, _changes_insert_pg(task_names, audit_names, announce), params)
    return sorted(int(r[0]) for r in returned)  # in the given order: see event_insert


@functools.lru_cache(maxsize=32)
def _changes_insert_pg(task_names: tuple[str, ...], audit_names: tuple[str, ...],
                       announce: bool) -> sa.Insert:
    """changes_insert_pg's statement: the events' INSERT after a WITH for each of the other
    tables given columns; with ``announce``, its RETURNING also runs the NOTIFY (an
    uncorrelated sub-select: once)."""
    stmt = _EVENTS_FROM_ARRAYS
    if task_names:
        stmt = stmt.add_cte(_tasks_from_arrays(task_names).cte("new_tasks"))
    if audit_names:
        stmt = stmt.add_cte(_from_arrays(audit_entries, audit_names, "audit_").cte("new_audits"))
    if announce:
        stmt = stmt.returning(ANNOUNCE.scalar_subquery())
    return stmt


async def _closing_statement_pg(conn: AsyncConnection, stmt: sa.Insert, params: dict[str, Any]
                                ) -> Sequence[Any]:
    """Run ``stmt`` as the last statement of ``conn``'s transaction. When the transaction has
    sent nothing to the server yet (a create: its rows are all in this one statement), it
    runs alone in autocommit — atomic by itself, committed as it ends — which saves the BEGIN
    and COMMIT round trips; the transaction's commit then has nothing to do. A failure comes
    out as SQLAlchemy raises it (an ``IntegrityError`` ...)."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection  # asyncpg's connection
    if driver.is_in_transaction():
        return list(await conn.execute(stmt, params))
    sql, binds = _positional(stmt, conn.dialect)
    args = [value if convert is None else convert(value)
            for value, convert in ((params[name], convert) for name, convert in binds)]
    try:
        return cast(Sequence[Any], await driver.fetch(sql, *args))
    except asyncpg.PostgresError as error:
        raise _pg_error(sql, tuple(args), error) from error
    except asyncpg.InterfaceError as error:
        raise sa.exc.InterfaceError(sql, tuple(args), error) from error


@functools.lru_cache(maxsize=64)
def _positional(stmt: sa.Insert, dialect: sa.Dialect
                ) -> tuple[str, tuple[tuple[str, Callable[[Any], Any] | None], ...]]:
    """``stmt`` as SQLAlchemy compiles it for ``dialect`` (positional parameters: ``?``, or
    asyncpg's ``$n`` each cast to its type), and each parameter's name and its type's bind
    conversion, in order: for the two statements sent to the driver as they are
    (:func:`changes_insert_sqlite`, :func:`_closing_statement_pg`)."""
    compiled = stmt.compile(dialect=dialect)
    assert compiled.positiontup is not None, "a positional paramstyle"
    return compiled.string, tuple(
        (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
        for name in compiled.positiontup)


# asyncpg's errors as SQLAlchemy raises them from a statement (PEP 249's classes): the first
# class of an error's MRO found here. ``orig`` is asyncpg's error (``sqlstate``: its code).
_PG_ERRORS: tuple[tuple[type[Exception], type[sa.exc.DBAPIError]], ...] = (
    (asyncpg.IntegrityConstraintViolationError, sa.exc.IntegrityError),
    (asyncpg.DataError, sa.exc.DataError),
    (asyncpg.SyntaxOrAccessError, sa.exc.ProgrammingError),
    (asyncpg.InternalServerError, sa.exc.InternalError),
    (asyncpg.PostgresError, sa.exc.DatabaseError),
)


def _pg_error(sql: str, params: tuple[Any, ...], error: Exception) -> sa.exc.DBAPIError:
    cls = next(sa_cls for pg_cls, sa_cls in _PG_ERRORS if isinstance(error, pg_cls))
    return cls(sql, params, error)


async def events_after(conn: AsyncConnection, after_id: int, *, task_id: str | None,
                       limit: int = 1000) -> list[Row]:
    stmt = sa.select(task_events).where(task_events.c.id > after_id)
    if task_id is not None:
        stmt = stmt.where(task_events.c.task_id == task_id)
    return list((await conn.execute(stmt.order_by(task_events.c.id).limit(limit))).all())


async def event_last_id(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.max(task_events.c.id)))).scalar() or 0)


_EVENT_AT_OR_AFTER = (sa.select(task_events.c.id, task_events.c.created_at)
                      .where(task_events.c.id >= sa.bindparam("from_id"))
                      .order_by(task_events.c.id).limit(1))


async def events_prune(conn: AsyncConnection, before: datetime) -> int:
    """Delete events older than ``before``. Event times grow with their ids, so the last id
    before ``before`` is found by bisecting the ids (primary-key lookups: no index on
    created_at to pay for on every event), and only ids up to it whose time is before
    ``before`` go — an event out of order is kept, never one that is too young deleted."""
    bounds = (await conn.execute(sa.select(sa.func.min(task_events.c.id),
                                           sa.func.max(task_events.c.id)))).one()
    if bounds[0] is None:
        return 0
    lo, hi = int(bounds[0]), int(bounds[1])  # the answer is in [lo - 1, hi]
    last_old = lo - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        found = (await conn.execute(_EVENT_AT_OR_AFTER, {"from_id": mid})).one()
        if found.created_at < before:
            last_old = int(found.id)
            lo = int(found.id) + 1
        else:
            hi = mid - 1
    if last_old < int(bounds[0]):
        return 0
    result = await conn.execute(task_events.delete().where(
        task_events.c.id <= last_old, task_events.c.created_at < before))
    return int(result.rowcount or 0)
