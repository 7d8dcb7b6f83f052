"""``tasks.list`` ``search`` through the text index (server/db/text_search.py, migration
0019_search), on SQLite (FTS5) and on PostgreSQL (GIN): words and word prefixes of a title or
a description, newest first; what users type never reaches the query language as syntax, a
search with no word is refused naming ``search``, and the plan reads the index."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from server.core.errors import InvalidInput
from server.core.text_search import search_words
from server.db import repositories as repo
from server.db import text_search
from server.db.engine import Database, alembic_config
from server.db.tables import tasks
from tests.integration.test_list_plans import _caught
from tests.integration.test_repositories import T0, task_values

TITLES = [  # (id, title, description), oldest first
    ("t1", "Invoice 42 for ACME", None),
    ("t2", "Send reminder", "about the overdue invoice"),
    ("t3", "Scrape prices", "competitor site, weekly"),
    ("t4", "Café opening hours", "ÉTÉ schedule"),
    ("t5", "Invoices batch", "quarterly"),
    ("t6", "pager-1765 v3.5", "mail ops@acme.test"),
]


def values(i: int, task_id: str, title: str, description: str | None) -> dict[str, Any]:
    return task_values(task_id, title=title, description=description,
                       created_at=T0 + timedelta(minutes=i))


async def insert_all(db: Database) -> None:
    async with db.write() as conn:
        for i, (task_id, title, description) in enumerate(TITLES):
            await repo.task_insert(conn, values(i, task_id, title, description), [])


async def found(db: Database, search: str) -> list[str]:
    async with db.read() as conn:
        rows = await repo.task_list(conn, statuses=None, task_type=None, search=search,
                                    limit=50, after=None)
        listed = [r.id for r in rows]
        if search_has_words(search):  # SQLite's other way (many matches): the same answer
            probed = sa.select(tasks.c.id).where(await text_search.task_matches(
                conn, search_words(search), drive_below=1)).order_by(tasks.c.created_at.desc())
            assert list((await conn.execute(probed)).scalars()) == listed
    return listed


def search_has_words(search: str) -> bool:
    try:
        return bool(search_words(search))
    except InvalidInput:
        return False


async def test_words_and_prefixes_of_titles_and_descriptions_newest_first(
        database: Database) -> None:
    await insert_all(database)
    assert await found(database, "invoice") == ["t5", "t2", "t1"]  # prefix of "invoices"
    assert await found(database, "INV") == ["t5", "t2", "t1"]
    assert await found(database, "invoice 42") == ["t1"]  # every word
    assert await found(database, "42 acme") == ["t1"]
    assert await found(database, "overdue") == ["t2"]  # the description
    assert await found(database, "week") == ["t3"]
    assert await found(database, "cafe") == (["t4"] if database.is_sqlite else [])
    assert await found(database, "café") == ["t4"]
    assert await found(database, "voice") == []  # a word's middle is no match
    assert await found(database, "nothing") == []
    assert await found(database, "pager-1765") == ["t6"]  # PostgreSQL's parser: "-1765"
    assert await found(database, "1765 pager") == ["t6"]
    assert await found(database, "5 v3") == ["t6"]
    assert await found(database, "acme ops") == ["t6"]
    assert await found(database, "acme") == ["t6", "t1"]


async def test_query_syntax_in_a_search_is_only_separators(database: Database) -> None:
    await insert_all(database)
    for search in ('"invoice', 'invoice"*', "invoice*", "invoice OR scrape", "NEAR(invoice 42)",
                   "title:invoice", "invoice:*", "invoice & !42", "(invoice | x)", "'invoice'",
                   "invoice\\", "^invoice", "-invoice", "invoice +42", "invoice;--"):
        # the operators' names are words to find too ("or", "near", "title"): no task has them
        expected = {"invoice OR scrape": [], "NEAR(invoice 42)": [], "title:invoice": [],
                    "invoice & !42": ["t1"], "invoice +42": ["t1"],
                    "(invoice | x)": []}.get(search, ["t5", "t2", "t1"])
        assert await found(database, search) == expected, search


async def test_a_search_with_filters_writes_their_values_into_its_statement(
        database: Database) -> None:
    """PostgreSQL: a search's filter values and limit are part of its statement (so that the
    plan is made for them, not a prepared statement's generic plan); any value is quoted, and
    the answers are those of the filters bound as parameters (SQLite binds them)."""
    await insert_all(database)
    async with database.write() as conn:
        await conn.execute(tasks.update().where(tasks.c.id.in_(["t1", "t5"]))
                           .values(client_id="cli_a'b\\c", status="failed"))
    async with database.read() as conn:
        with _caught(database) as sent:
            rows = await repo.task_list(conn, statuses=["failed"], task_type="api_call",
                                        search="invoice", limit=7, after=None,
                                        client_id="cli_a'b\\c")
        assert [r.id for r in rows] == ["t5", "t1"]
        if not database.is_sqlite:
            statement = next(s for s, _ in sent if "walked" in s)
            assert "cli_a''b" in statement and "'failed'" in statement, statement
            assert "'api_call'" in statement and "LIMIT 8" in statement, statement
        for statuses in (["failed", "queued"], ["queued"]):
            rows = await repo.task_list(conn, statuses=statuses, task_type=None,
                                        search="invoice", limit=50, after=None,
                                        client_id="cli_a'b\\c")
            assert [r.id for r in rows] == (["t5", "t1"] if "failed" in statuses else [])
        rows = await repo.task_list(conn, statuses=None, task_type=None, search="invoice",
                                    limit=50, after=None, client_id="cli_a'b")
        assert rows == []
    async with database.write() as conn:
        await repo.task_tags_set(conn, "t5", ["vip"], replace=False)
        await repo.task_tags_set(conn, "t3", ["vip"], replace=False)
    async with database.read() as conn:
        rows = await repo.task_list(conn, statuses=None, task_type=None, search="invoice",
                                    limit=50, after=None, tags=["vip"])
        assert [r.id for r in rows] == ["t5"]


@pytest.mark.parametrize("oldest_first", [False, True])
async def test_a_search_tests_the_first_tasks_in_order_then_asks_the_planner(
        database: Database, oldest_first: bool) -> None:
    """text_search.search_page (PostgreSQL's search): whether the page fills among the first
    tasks tested in order, or the list ends there, or the rest is asked for after the last one
    tested, the answer is the list's order's first matches (the SQL is the same on SQLite)."""
    await insert_all(database)
    async with database.write() as conn:  # 12 more, none with "invoice"
        for i in range(12):
            await repo.task_insert(conn, values(10 + i, f"u{i:02}", f"update {i}", None), [])
    newest_first = ["t5", "t2", "t1"]  # "invoice" is in these, t1 the oldest task
    expected = newest_first[::-1] if oldest_first else newest_first
    async with database.read() as conn:
        matches = await text_search.task_matches(conn, ["invoice"])
        for walk_first in (1, 2, 3, 5, 14, 18, 19, 100):
            for limit in (1, 2, 3, 50):
                rows = await text_search.search_page(
                    conn, sa.select(tasks), (tasks.c.created_at, tasks.c.id), matches, limit,
                    oldest_first=oldest_first, walk_first=walk_first)
                assert [r.id for r in rows] == expected[:limit], (walk_first, limit)
        # behind a bound, as a cursor makes one
        bound = sa.select(tasks).where(tasks.c.id != "t5")
        rows = await text_search.search_page(conn, bound, (tasks.c.created_at, tasks.c.id),
                                             matches, 50, oldest_first=oldest_first,
                                             walk_first=4)
        assert [r.id for r in rows] == [i for i in expected if i != "t5"]


@pytest.mark.parametrize("search", ["***", '"', "::*", "&|!()", "-- ;", "_", " "])
async def test_a_search_without_a_word_is_refused_naming_search(database: Database,
                                                                search: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await found(database, search)
    assert refused.value.issues[0]["path"] == ["search"]


async def test_the_index_follows_edits_and_deletions(database: Database) -> None:
    await insert_all(database)
    async with database.write() as conn:
        await conn.execute(tasks.update().where(tasks.c.id == "t3")
                           .values(title="Scrape invoices", description=None))
        await conn.execute(tasks.update().where(tasks.c.id == "t2").values(status="completed"))
        await conn.execute(tasks.delete().where(tasks.c.id == "t1"))
    assert await found(database, "invoice") == ["t5", "t3", "t2"]
    assert await found(database, "weekly") == []
    assert await found(database, "42") == []


async def test_the_plan_reads_the_text_index(database: Database) -> None:
    await insert_all(database)
    async with database.write() as conn:
        stmt = sa.select(tasks.c.id).where(await text_search.task_matches(conn, ["invoice"]))
        if database.is_sqlite:
            compiled = stmt.compile(conn.sync_connection, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(r[-1]) for r in await conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}"))
            assert "VIRTUAL TABLE INDEX" in plan and "tasks_fts" in plan, plan
            probe = sa.select(tasks.c.id).where(await text_search.task_matches(
                conn, ["invoice"], drive_below=1)).order_by(tasks.c.created_at.desc())
            compiled = probe.compile(conn.sync_connection, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(r[-1]) for r in await conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}"))
            assert "ix_tasks_created" in plan and "VIRTUAL TABLE INDEX" in plan, plan
        else:
            # The words are in the statement's text, not a parameter: a prepared statement's
            # generic plan would be made without them.
            sql = str(stmt.compile(conn.sync_connection))
            assert "to_tsquery('simple'::regconfig, '''invoice'':*')" in sql, sql
            await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            compiled = stmt.compile(conn.sync_connection, compile_kwargs={"literal_binds": True})
            plan = " ".join(r[0] for r in await conn.exec_driver_sql(f"EXPLAIN {compiled}"))
            assert "ix_tasks_search" in plan, plan
            # Read in the list's order (a common word), each task is tested by its stored
            # words, never by its words computed again from title and description.
            await conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            walk = stmt.order_by(tasks.c.created_at.desc()).limit(5).compile(
                conn.sync_connection, compile_kwargs={"literal_binds": True})
            plan = " ".join(r[0] for r in await conn.exec_driver_sql(f"EXPLAIN {walk}"))
            assert "ix_tasks_created" in plan and "search_doc @@" in plan, plan
            assert "to_tsvector" not in plan, plan


async def test_the_migration_indexes_the_tasks_already_there(database_url: str) -> None:
    db = Database(database_url, timeout_seconds=60)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0017_groups"))
        await insert_all(db)
        await db.migrate()
        assert await found(db, "invoice") == ["t5", "t2", "t1"]
        async with db.write() as conn:
            await text_search.search_rebuild(conn)
        assert await found(db, "overdue") == ["t2"]
    finally:
        await db.dispose()


async def test_the_upgrade_merges_sqlites_text_index_into_one_segment(
        sqlite_database_url: str) -> None:
    """0022_search_column on SQLite: FTS5's segments (one a write transaction, merged a little
    in each later one) merged into one, so that the creates after 0019's rebuild of a big
    table do not pay for it."""
    db = Database(sqlite_database_url, timeout_seconds=60)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0021_rollups_all"))
        for i, (task_id, title, description) in enumerate(TITLES[:3]):
            async with db.write() as conn:  # a transaction each: a segment each
                await repo.task_insert(conn, values(i, task_id, title, description), [])

        async def segments() -> int:
            async with db.read() as conn:
                return int((await conn.execute(sa.text(
                    "SELECT count(DISTINCT segid) FROM tasks_fts_idx"))).scalar_one())

        assert await segments() == 3
        await db.migrate()
        assert await segments() == 1
        assert await found(db, "invoice") == ["t2", "t1"]
    finally:
        await db.dispose()
