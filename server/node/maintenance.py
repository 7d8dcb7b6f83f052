"""The node's periodic jobs, on its APScheduler (installed by :meth:`Maintenance.start`).

- maintenance, every ``LEASE_SECONDS/3``: run the task timer and the automation timers, so work
  filed by other nodes (PostgreSQL) comes due here too;
- housekeeping, every 10 minutes and at start: old task events (kept a day, for resuming), audit
  entries, artifacts and terminal tasks past their retention;
- the derived counts' delta rows folded, every 5 seconds: the kept counts
  (server/db/counts.py), then the hourly rollups (server/db/rollups.py);
- the autorun switch, every second (read once before the runner starts);
- stalled work, every ``STALLED_CHECK_SECONDS``;
- PostgreSQL: the tasks table's planner statistics, checked every 2 seconds
  (server/db/planner_stats.py); SQLite: the WAL checkpointed every second (PASSIVE, outside
  the server's write lock: Database.checkpoint).

A job that fails logs and waits for its next turn; shutdown interrupting one is not a failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from server.core.scheduling import DueTimer
from server.core.settings import Settings
from server.db import counts, retention
from server.db import repositories as repo
from server.db.audit import audit_prune
from server.db.engine import Database
from server.db.planner_stats import PlannerStats
from server.db.rollups import rollups_fold_db
from server.node.artifacts import FileArtifactStore
from server.services.automations import Automations
from server.services.autorun import AutorunService
from server.services.stalls import StallWatch

log = logging.getLogger("errands")
# Delta rows a fold sums: some thousands a second at most between two folds.
FOLD_SECONDS = 5.0
# SQLite: the WAL copied into the database file, off the write path (Database.checkpoint).
CHECKPOINT_SECONDS = 1.0


class Maintenance:
    def __init__(self, settings: Settings, clock: Callable[[], datetime], *, db: Database,
                 scheduler: AsyncIOScheduler, task_timer: DueTimer, automations: Automations,
                 autorun: AutorunService, stalls: StallWatch,
                 artifacts: FileArtifactStore, planner_stats: PlannerStats) -> None:
        self.settings = settings
        self.clock = clock
        self.db = db
        self.scheduler = scheduler
        self.task_timer = task_timer
        self.automations = automations
        self.autorun = autorun
        self.stalls = stalls
        self.artifacts = artifacts
        self.planner_stats = planner_stats

    async def start(self) -> None:
        """Add the jobs to the (started) scheduler; the autorun switch is read once first."""
        self.scheduler.add_job(self.maintenance, "interval",
                               seconds=max(1.0, self.settings.lease_seconds / 3),
                               id="maintenance", coalesce=True)
        self.scheduler.add_job(self.housekeeping, "interval", minutes=10, id="housekeeping",
                               coalesce=True, next_run_time=self.clock())
        self.scheduler.add_job(self.fold, "interval", seconds=FOLD_SECONDS, id="fold",
                               coalesce=True, max_instances=1)
        await self.poll_autorun()
        self.scheduler.add_job(self.poll_autorun, "interval", seconds=1, id="autorun",
                               coalesce=True, max_instances=1)
        self.scheduler.add_job(self.check_stalls, "interval",
                               seconds=self.settings.stalled_check_seconds, id="stalls",
                               coalesce=True, max_instances=1)
        if not self.db.is_sqlite:
            self.scheduler.add_job(self.refresh_planner_stats, "interval", seconds=2,
                                   id="planner-stats", coalesce=True, max_instances=1)
        else:
            self.scheduler.add_job(self.checkpoint, "interval", seconds=CHECKPOINT_SECONDS,
                                   id="checkpoint", coalesce=True, max_instances=1)

    async def maintenance(self) -> None:
        try:
            await self.task_timer.run()
            await self.automations.start()  # work filed by other nodes
        except asyncio.CancelledError:  # shutdown caught it mid-run: nothing went wrong
            log.debug("maintenance interrupted by shutdown")
        except Exception:
            log.exception("maintenance failed")

    async def housekeeping(self) -> None:
        """Old task events (kept a day, for resuming) and artifacts past their retention."""
        try:
            async with self.db.write() as conn:
                await repo.events_prune(conn, self.clock() - timedelta(days=1))
            if self.settings.audit_retention_days > 0:
                async with self.db.write() as conn:
                    await audit_prune(conn, self.clock()
                                      - timedelta(days=self.settings.audit_retention_days))
            if self.settings.artifact_retention_days > 0:
                cutoff = self.clock() - timedelta(days=self.settings.artifact_retention_days)
                await asyncio.to_thread(self.artifacts.prune, cutoff)
            await self.prune_tasks()
        except asyncio.CancelledError:
            log.debug("housekeeping interrupted by shutdown")
        except Exception:
            log.exception("housekeeping failed")

    async def poll_autorun(self) -> None:
        try:
            await self.autorun.poll()
        except Exception:
            log.exception("reading the autorun switch failed")

    async def check_stalls(self) -> None:
        try:
            await self.stalls.check()
        except Exception:
            log.exception("checking for stalled tasks failed")

    async def fold(self) -> None:
        """Sum the delta rows of the kept counts, then of the hourly rollups (any number of
        nodes may at once: each sums the rows it deletes); one failing does not hold the
        other."""
        for name, run in (("the kept counts", counts.fold),
                          ("the hourly rollups", rollups_fold_db)):
            try:
                await run(self.db)
            except asyncio.CancelledError:
                log.debug("folding %s interrupted by shutdown", name)
                return
            except Exception:
                log.exception("folding %s failed", name)

    async def checkpoint(self) -> None:
        try:
            await self.db.checkpoint()
        except asyncio.CancelledError:
            log.debug("checkpoint interrupted by shutdown")
        except Exception:
            log.exception("checkpointing the SQLite WAL failed")

    async def refresh_planner_stats(self) -> None:
        try:
            await self.planner_stats.refresh()
        except asyncio.CancelledError:
            log.debug("planner statistics interrupted by shutdown")
        except Exception:
            log.exception("refreshing the planner's statistics failed")

    async def prune_tasks(self) -> int:
        """TASK_RETENTION_DAYS: old terminal tasks and what hangs off them, in small batches."""
        if self.settings.task_retention_days <= 0:
            return 0
        cutoff = self.clock() - timedelta(days=self.settings.task_retention_days)
        deleted, artifact_ids = await retention.prune(self.db, cutoff)
        if artifact_ids:
            await asyncio.to_thread(self.artifacts.remove, artifact_ids)
        if deleted:
            log.info("retention: deleted %d task(s) that ended before %s", deleted,
                     cutoff.isoformat())
        return deleted
