"""The HighLevel request budget of a location, shared by every node of one PostgreSQL database
(CONTRACT §14: a burst from two nodes to one location meets no 429).

HighLevel counts requests per app per location; each node's own
:class:`~executors.ghl_rate.LocalRateBudget` sees only its own. :class:`SharedRateBudget`
keeps the count in the database: a request takes a row of ``ghl_rate_slots`` before it goes
(in a transaction holding the location's advisory lock, so two nodes never both take the last
slot), and the row counts until its answer is back plus one window — the rule of the local
budget (executors/ghl_rate.py), across nodes. A node that dies with requests in flight leaves
rows that stop counting after ``in_flight_seconds`` plus a window.

The local budget still goes first: it holds this node's slots, the pause after a 429 and the
daily limit, and learns from the ``X-RateLimit-*`` headers (its limit and window are those the
database count uses). Times are the nodes' wall clocks (epoch seconds): nodes on several
machines need synchronised clocks (NTP), as their leases already do.

On SQLite one process owns the database, so the local budget alone is the whole budget.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Final

from executors.ghl_rate import LocalRateBudget
from server.core.ids import new_id
from server.db import ghl_budget as slots
from server.db.engine import Database

log = logging.getLogger("errands.ghl")
#: How long a request in flight counts at most (a dead node's slot is freed after this).
IN_FLIGHT_SECONDS: Final = 120.0
#: How often a waiter looks again when the location is full (other nodes free slots too).
POLL_SECONDS: Final = 0.05


def location_lock(location_id: str) -> int:
    """The advisory lock id of a location: 63 bits of its SHA-256 (signed bigint)."""
    digest = hashlib.sha256(b"errands ghl budget:" + location_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SharedRateBudget:
    """A :class:`~executors.ghl_rate.RateBudget` whose slots are rows in the database."""

    def __init__(self, db: Database, local: LocalRateBudget, *,
                 clock: Callable[[], float] = time.time,
                 in_flight_seconds: float = IN_FLIGHT_SECONDS) -> None:
        self.db = db
        self.local = local
        self.clock = clock
        self.in_flight_seconds = in_flight_seconds
        self._held: dict[str, list[str]] = {}  # this node's slots in flight, by location
        self._releases: set[asyncio.Task[None]] = set()
        self.waits = 0  # requests that waited for another node's slots (for /metrics)

    async def acquire(self, location_id: str) -> None:
        await self.local.acquire(location_id)
        try:
            slot = await self._take(location_id)
        except BaseException:
            self.local.release(location_id)
            raise
        self._held.setdefault(location_id, []).append(slot)

    async def _take(self, location_id: str) -> str:
        waited = False
        while True:
            now = self.clock()
            capacity = self.local.capacity(location_id)
            slot = new_id("gsl")
            async with self.db.write() as conn:
                wait = await slots.slot_take(
                    conn, location_lock(location_id), location_id, slot, now=now,
                    capacity=capacity, until=now + self.in_flight_seconds + self._hold(location_id))
            if wait is None:
                return slot
            if not waited:
                waited = True
                self.waits += 1
            await asyncio.sleep(min(max(wait, 0.001), POLL_SECONDS))

    def release(self, location_id: str) -> None:
        self.local.release(location_id)
        held = self._held.get(location_id)
        if not held:
            return
        slot = held.pop()
        task = asyncio.get_running_loop().create_task(
            self._release(slot, self.clock() + self._hold(location_id)))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, slot: str, until: float) -> None:
        try:
            async with self.db.write() as conn:
                await slots.slot_release(conn, slot, until)
        except Exception:  # the slot then counts until its in-flight expiry: safe side
            log.warning("could not release a HighLevel budget slot", exc_info=True)

    def observe(self, location_id: str, headers: Mapping[str, str]) -> None:
        self.local.observe(location_id, headers)

    def penalize(self, location_id: str, retry_after: float | None) -> None:
        self.local.penalize(location_id, retry_after)

    def _hold(self, location_id: str) -> float:
        return self.local.hold_seconds(location_id)
