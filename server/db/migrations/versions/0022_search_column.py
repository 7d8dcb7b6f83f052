"""text search on PostgreSQL from a stored column (issue 29): ``tasks.search_doc``, the tasks'
words as a tsvector generated from title and description (the expression of 0019_search), and
ix_tasks_search a GIN index on it. Testing a task read in the list's order is then a look at a
stored value, not its words computed again (about 0.7 against 8 µs a task at 1,000,000
tasks), so the planner can walk the list's index for a common word and the server needs no
count of the matches first. Adding the column rewrites the tasks table once (about 30 s for
1,000,000 tasks; docs/operations.md). SQLite keeps its FTS5 table, its segments merged into
one ('optimize'): 0019's 'rebuild' of the tasks already there wrote many small ones, which
FTS5 then merged a little in every later create (at 1,000,000 tasks: 1.2–1.4 ms a create,
p99 18–24 ms, against 0.8–1.0 ms, p99 1.5 ms after it; it took 1.4 s).

Revision ID: 0022_search_column
Revises: 0021_rollups_all
"""
from alembic import op

revision = "0022_search_column"
down_revision = "0021_rollups_all"
branch_labels = None
depends_on = None

_WORDS = ("to_tsvector('simple'::regconfig, regexp_replace("
          "title::text || ' ' || coalesce(description, ''), '[^[:alnum:]]+', ' ', 'g'))")


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        op.execute("INSERT INTO tasks_fts(tasks_fts) VALUES ('optimize')")
        return
    op.execute("DROP INDEX ix_tasks_search")
    op.execute(f"ALTER TABLE tasks ADD COLUMN search_doc tsvector "
               f"GENERATED ALWAYS AS ({_WORDS}) STORED")
    op.execute("CREATE INDEX ix_tasks_search ON tasks USING gin (search_doc)")
    op.execute("ANALYZE tasks")  # the column's word statistics, for the planner's first plans


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_tasks_search")
    op.execute("ALTER TABLE tasks DROP COLUMN search_doc")
    op.execute(f"CREATE INDEX ix_tasks_search ON tasks USING gin ({_WORDS})")
