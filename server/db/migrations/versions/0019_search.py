"""text search (issue 29): tasks found by word and word prefix through an index — SQLite an
FTS5 table ``tasks_fts`` (external content: ``tasks``, keyed by rowid) kept by triggers,
PostgreSQL a GIN index ``ix_tasks_search`` on to_tsvector('simple', title || ' ' ||
description); both built for the tasks already there (server/db/text_search.py queries them)

Revision ID: 0019_search
Revises: 0018_scale
"""
from alembic import op

revision = "0019_search"
down_revision = "0018_scale"
branch_labels = None
depends_on = None

# The very expression server/db/text_search.py PG_DOCUMENT queries.
PG_DOCUMENT = ("to_tsvector('simple'::regconfig, regexp_replace("
               "tasks.title::text || ' ' || coalesce(tasks.description, ''), "
               "'[^[:alnum:]]+', ' ', 'g'))")
_NEW = "VALUES (new.rowid, new.title, new.description)"
_OLD = "VALUES ('delete', old.rowid, old.title, old.description)"
SQLITE = (
    # prefix: the doclists of every 1-, 2- and 3-letter beginning kept too, so a short prefix
    # is one doclist read lazily, not the merge of every word it begins
    "CREATE VIRTUAL TABLE tasks_fts USING fts5(title, description, content='tasks', "
    "prefix='1 2 3', tokenize='unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER tasks_fts_insert AFTER INSERT ON tasks BEGIN "
    f"INSERT INTO tasks_fts(rowid, title, description) {_NEW}; END",
    f"CREATE TRIGGER tasks_fts_delete AFTER DELETE ON tasks BEGIN "
    f"INSERT INTO tasks_fts(tasks_fts, rowid, title, description) {_OLD}; END",
    # Only an edit of the text touches the index: a status write does not.
    f"CREATE TRIGGER tasks_fts_update AFTER UPDATE OF title, description ON tasks BEGIN "
    f"INSERT INTO tasks_fts(tasks_fts, rowid, title, description) {_OLD}; "
    f"INSERT INTO tasks_fts(rowid, title, description) {_NEW}; END",
    "INSERT INTO tasks_fts(tasks_fts) VALUES ('rebuild')",  # the tasks already there
)


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_tasks_search ON tasks USING gin ({PG_DOCUMENT})")
        return
    for statement in SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_tasks_search")
        return
    for name in ("tasks_fts_update", "tasks_fts_delete", "tasks_fts_insert"):
        op.execute(f"DROP TRIGGER {name}")
    op.execute("DROP TABLE tasks_fts")
