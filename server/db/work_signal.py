"""PostgreSQL: nodes wake each other for new work (LISTEN/NOTIFY on ``errands_work``).

A node wakes its own runner at once for the work it files (server/services/changes.py); work
filed by another node was found by the runner's poll, up to a second later. Now a write
transaction that makes a task claimable (created or made ``queued``) also runs
:func:`announce_work`: PostgreSQL delivers the notification to every listening session when
the transaction commits (never for one rolled back; several in one transaction are one). Each
node's :class:`WorkListener` holds one connection of the pool with ``LISTEN errands_work`` and
wakes its runner on each, so a task created on one node starts on another within a
millisecond or two. The poll stays, for a listener that lost its connection: it reconnects
after a second, and wakes the runner once connected again (what was filed meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.core.background import BackgroundLoop
from server.db.engine import Database

CHANNEL: Final = "errands_work"
#: ``SELECT pg_notify('errands_work', '')`` (constants written into the SQL).
ANNOUNCE: Final = sa.select(sa.func.pg_notify(sa.literal_column(f"'{CHANNEL}'"),
                                              sa.literal_column("''")))

log = logging.getLogger("errands")


async def announce_work(conn: AsyncConnection) -> None:
    """In a write transaction on PostgreSQL: every node's listener hears of it at commit."""
    await conn.execute(ANNOUNCE)


class WorkListener(BackgroundLoop):
    """One pooled connection listening on :data:`CHANNEL`; ``on_work()`` for each
    notification (and once each time it starts listening)."""

    task_name = "work-listener"

    def __init__(self, db: Database, on_work: Callable[[], None], *,
                 retry_seconds: float = 1.0) -> None:
        self.db = db
        self.on_work = on_work
        self.retry_seconds = retry_seconds
        self.listening = False
        self._failing = False  # since the last failure, not listening yet

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: the runner's poll goes on
                # One warning an outage, not one a second.
                (log.debug if self._failing else log.warning)(
                    "listening for other nodes' work failed (%s); retrying every %.0f s",
                    exc, self.retry_seconds)
            else:  # it listened, then lost its connection
                log.warning("the connection listening for other nodes' work was lost; "
                            "listening again in %.0f s", self.retry_seconds)
            self._failing = True
            await asyncio.sleep(self.retry_seconds)

    async def _listen(self) -> None:
        async with self.db.engine.connect() as conn:
            try:
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection  # asyncpg's connection
                lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

                def on_lost(_connection: object) -> None:
                    if not lost.done():
                        lost.set_result(None)

                driver.add_termination_listener(on_lost)
                await driver.add_listener(CHANNEL, self._heard)
                self.listening = True
                if self._failing:
                    log.info("listening for other nodes' work again")
                    self._failing = False
                self.on_work()  # what other nodes filed while this one was not listening
                await lost
            finally:
                self.listening = False
                # Never back to the pool: it listens (or is dead).
                await conn.invalidate()

    def _heard(self, *_args: object) -> None:
        self.on_work()
