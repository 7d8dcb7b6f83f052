"""PostgreSQL: the tasks table's planner statistics, kept fresh as the queue changes.

The claim picks the most urgent queued tasks through ``ix_tasks_claim`` (its order is the
claim's ORDER BY) — when the planner knows how many queued tasks there are. Statistics come
from ANALYZE, which autovacuum runs at most once a minute (``autovacuum_naptime``), after 10%
of the table changed. Until then a table that grew from a few rows to thousands in seconds (a
batch of creates, a burst of due tasks) is planned as a few rows: every claim fetched all
queued tasks and sorted them (where the index gives the first few directly), and throughput
fell as the queue grew.

:class:`PlannerStats` applies autovacuum's rule on a faster clock: when the changes this node
wrote (events: a task created, claimed, ended ...) since the last ANALYZE reach
``max(MIN_CHANGES, FRACTION × the table's rows then)``, it runs ``ANALYZE (SKIP_LOCKED)
tasks`` — a sample of at most 30,000 rows; a node that
finds another's ANALYZE running skips it. :meth:`refresh` runs every few seconds (server/
maintenance.py). SQLite plans without statistics unless ANALYZE ran: nothing to do there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from server.db.engine import Database

MIN_CHANGES: Final = 1000
FRACTION: Final = 0.1


class PlannerStats:
    def __init__(self, db: Database, changes: Callable[[], int]) -> None:
        """``changes()``: how many changes this node has written, only growing (the Writer's
        count)."""
        self.db = db
        self._changes = changes
        self._at_last = 0  # the count at the last ANALYZE
        self._rows = 0.0  # the table's rows as that ANALYZE counted them

    def due(self) -> bool:
        changed = self._changes() - self._at_last
        return changed >= max(MIN_CHANGES, FRACTION * self._rows)

    async def refresh(self) -> bool:
        """ANALYZE the tasks table if enough changed since the last time; True if it ran."""
        if self.db.is_sqlite or not self.due():
            return False
        at = self._changes()
        async with self.db.read() as conn:  # autocommit: ANALYZE runs outside a transaction
            await conn.exec_driver_sql("ANALYZE (SKIP_LOCKED) tasks")
            rows = (await conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = 'tasks'::regclass")).scalar()
        self._at_last = at
        self._rows = max(0.0, float(rows or 0))
        return True
