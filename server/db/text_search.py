"""Text search of tasks by word and word prefix (``tasks.list`` ``search``), through an index
on each database — never a scan of every title (migration 0019_search builds both):

- SQLite: ``tasks_fts``, an FTS5 table of (title, description) with ``content='tasks'`` (it
  stores only the index; the text stays in ``tasks``), keyed by the task's rowid and kept by
  three triggers on ``tasks`` (insert, delete, an update of title or description). A search is
  ``rowid IN (SELECT rowid FROM tasks_fts WHERE tasks_fts MATCH '"w1"* "w2"*')``.
- PostgreSQL: ``tasks.search_doc``, a stored tsvector generated from title and description
  (the 'simple' configuration: lower-cased words, no stemming, no stop words; migration
  0022_search_column), and ``ix_tasks_search``, a GIN index on it; a search is
  ``tasks.search_doc @@ to_tsquery('simple', 'w1:* & w2:*')``. A page (:func:`search_page`)
  first tests the list's first 10,000 tasks in order by their stored words (cheap: no words
  computed again); when they hold less than a page, the planner chooses for the rest with the
  column's word statistics — the GIN index and the matches sorted for a rare word, the list's
  index in order for a common one.

The words come from :func:`server.core.text_search.search_words`: letters and digits only, so
the quoting below is all the escaping a query needs. After a ``VACUUM`` (which may renumber
the rowids of a table without an INTEGER PRIMARY KEY) rebuild the SQLite index:
``python -m server rebuild-search`` (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.tables import tasks

# The tasks' words on PostgreSQL: a column generated from title and description with
# to_tsvector('simple', ...) after everything but letters and digits became a space (PostgreSQL's
# parser would otherwise read "pager-42" as "pager" and "-42", "3.5" or an e-mail address as one
# word), so its words are exactly server.core.text_search's. Not in tables.py: SQLite has no
# such column, and no task read needs it.
PG_DOCUMENT: Final = "tasks.search_doc"

SQLITE_REBUILD: Final = "INSERT INTO tasks_fts(tasks_fts) VALUES ('rebuild')"
# FTS5's segments merged into one. A 'rebuild' writes the index as many small segments, which
# FTS5 then merges a little in every later write transaction: at 1,000,000 tasks the creates
# after a rebuild took 1.2–1.4 ms (p99 18–24 ms) against 0.8–1.0 ms (p99 1.3–1.5 ms) after
# this (1.4 s there).
SQLITE_OPTIMIZE: Final = "INSERT INTO tasks_fts(tasks_fts) VALUES ('optimize')"
# The objects the migration makes outside tables.py (the schema comparison leaves them out).
SEARCH_OBJECTS: Final = frozenset({"tasks_fts", "ix_tasks_search", "search_doc"})


def fts5_query(words: Sequence[str]) -> str:
    """``"w1"* "w2"*``: every word, each as a quoted prefix (a quote doubled, should one come)."""
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words)


def tsquery(words: Sequence[str]) -> str:
    """``'w1':* & 'w2':*``: every word, each a quoted prefix lexeme."""
    return " & ".join("'" + w.replace("\\", "\\\\").replace("'", "''") + "':*" for w in words)


# SQLite: up to this many matches, the page is sorted out of all of them; more, and the tasks
# are read newest first, each looked up in the index (about limit / share of matches lookups).
DRIVE_FROM_INDEX_BELOW: Final = 2_000


async def task_matches(conn: AsyncConnection, words: Sequence[str], *,
                       drive_below: int = DRIVE_FROM_INDEX_BELOW) -> sa.ColumnElement[bool]:
    """A condition on ``tasks``: every word begins a word of its title or description.

    PostgreSQL: the stored words against the query, the planner choosing (module docstring).
    SQLite: a count of the matches through the index (stopping at ``drive_below``) decides,
    rather than the planner's guess at a prefix query's share of rows. Few matches: the rowids
    from the FTS index are sorted by createdAt. Many: the tasks are read newest first, each
    looked up in the matches' rowids, listed once — the page fills after a few hundred.
    (PostgreSQL counted the same way while it computed each task's words as it tested it: the
    count alone read every match of a common word, 40 ms for 90,000 at 1,000,000 tasks.)"""
    if conn.dialect.name == "postgresql":
        # The query a literal, not a bound parameter: the server's statements are prepared,
        # and after five runs PostgreSQL may keep a generic plan, made without the words (it
        # guesses 0.5 % of the tasks for any word); the filters' values are written in too
        # (repositories.task_list). Its words are letters and digits (search_words); quotes
        # are doubled all the same.
        query = "'" + tsquery(words).replace("'", "''") + "'"
        return sa.literal_column(PG_DOCUMENT).bool_op("@@")(
            sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"),
                               sa.literal_column(query)))
    query = fts5_query(words)
    fts = sa.table("tasks_fts", sa.column("rowid"))
    matching = sa.select(fts.c.rowid).where(
        sa.literal_column("tasks_fts").bool_op("MATCH")(sa.bindparam(None, query, sa.String)))
    found = await conn.scalar(sa.select(sa.func.count()).select_from(
        matching.limit(drive_below).subquery()))
    if (found or 0) < drive_below:
        return sa.literal_column("tasks.rowid").in_(matching)
    # Many: ``+rowid`` keeps the planner off the rowids (it reads the list's index newest
    # first) and the uncorrelated IN list is built once, each task a lookup in it. A
    # correlated EXISTS ran the MATCH again per task: 1.3 s against 3.6 ms for a word in
    # 18,000 of 200,000 tasks.
    return sa.literal_column("+tasks.rowid").in_(matching)


# PostgreSQL: the tasks a search tests first, in the list's order, by their stored words.
WALK_FIRST: Final = 10_000


def _inline(value: int) -> sa.BindParameter[int]:
    return sa.bindparam(None, value, sa.Integer, literal_execute=True)


async def search_page(conn: AsyncConnection, listed: sa.Select[Any],
                      order: tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]],
                      matches: sa.ColumnElement[bool], limit: int, *,
                      oldest_first: bool, walk_first: int = WALK_FIRST) -> list[Any]:
    """PostgreSQL: the first ``limit`` tasks of ``listed`` (tasks.list's ``select(tasks)``
    with its filters and bounds, no order) in ``order`` that ``matches``
    (:func:`task_matches`).

    The first ``walk_first`` tasks in the list's order are tested by their stored words
    (about 8 ms; only the order's columns and the test are read out of each, the page's rows
    then fetched by id): a word in 1 % of the tasks or more fills the page there, whatever
    the planner would guess of it — it guessed 400 tasks for a client's name in 7,654, and
    sorted them all out of the GIN index: 141 ms. Only when those tasks hold less than a page
    is the rest found as the planner chooses, after the last one tested: out of the text
    index for a rare word, in order for one it knows to be common."""
    def ordered(at: sa.ColumnElement[Any], key: sa.ColumnElement[Any]
                ) -> list[sa.UnaryExpression[Any]]:
        return [at.asc(), key.asc()] if oldest_first else [at.desc(), key.desc()]

    window = (listed.with_only_columns(
        matches.label("hit"), order[0].label("at"), order[1].label("key"),
        sa.func.row_number().over(order_by=ordered(*order)).label("n"))
        .order_by(*ordered(*order)).limit(_inline(walk_first)).subquery("walked"))
    w = window.c
    tested = (await conn.execute(
        sa.select(w.hit, w.at, w.key, w.n).where(sa.or_(w.hit, w.n == walk_first))
        .order_by(*ordered(w.at, w.key)).limit(_inline(limit + 1)))).all()
    ids = [r.key for r in tested if r.hit][:limit]
    hits = list((await conn.execute(
        sa.select(tasks).where(tasks.c.id.in_(ids))
        .order_by(*ordered(tasks.c.created_at, tasks.c.id)))).all()) if ids else []
    if len(hits) == limit or not tested or tested[-1].n != walk_first:
        return hits  # a full page, or every task of the list tested
    last = sa.tuple_(*(sa.literal(v, c.type) for v, c in
                       zip((tested[-1].at, tested[-1].key), order, strict=True)))
    rest = (listed.where(matches, sa.tuple_(*order) > last if oldest_first
                         else sa.tuple_(*order) < last)
            .order_by(*ordered(*order)).limit(_inline(limit - len(hits))))
    return hits + list((await conn.execute(rest)).all())


async def search_rebuild(conn: AsyncConnection) -> None:
    """Index every task again (SQLite: FTS5's 'rebuild', then 'optimize'; PostgreSQL:
    REINDEX)."""
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("REINDEX INDEX ix_tasks_search")
    else:
        await conn.exec_driver_sql(SQLITE_REBUILD)
        await conn.exec_driver_sql(SQLITE_OPTIMIZE)
