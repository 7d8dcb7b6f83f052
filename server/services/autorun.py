"""The autorun switch (CONTRACT §10): stored in the database, applied by every node's runner.

``system.setAutorun`` writes the ``autorun`` row (with an audit entry) and applies it here at
once; every node also reads the row every second (:meth:`AutorunService.poll`), so all see a
change within 2 s and a restart keeps it. While paused, queued tasks of the paused types read
``statusReason`` "autorun paused".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.workflows import Autorun, SetAutorun
from server.db import workflows as wf
from server.db.engine import Database
from server.services.audit import Actor
from server.services.changes import Writer

KEY = "autorun"
Apply = Callable[[bool, frozenset[str]], None]


def _state(value: Any) -> Autorun:
    if not isinstance(value, dict):
        return Autorun(enabled=True, paused_types=[])
    return Autorun(enabled=bool(value.get("enabled", True)),
                   paused_types=sorted(value.get("pausedTypes") or []))


class AutorunService:
    def __init__(self, db: Database, writer: Writer, apply: Apply) -> None:
        self.db = db
        self.writer = writer
        self.apply = apply
        self.current = Autorun(enabled=True, paused_types=[])

    def _apply(self, state: Autorun) -> None:
        self.current = state
        self.apply(not state.enabled, frozenset(state.paused_types))

    async def get(self) -> Autorun:
        async with self.db.read() as conn:
            return _state(await wf.setting_get(conn, KEY))

    async def set(self, data: SetAutorun, actor: Actor) -> Autorun:
        async with self.writer.transaction() as cs:
            before = _state(await wf.setting_get(cs.conn, KEY))
            after = Autorun(
                enabled=before.enabled if data.enabled is None else data.enabled,
                paused_types=before.paused_types if data.paused_types is None
                else sorted(set(data.paused_types)))
            await wf.setting_put(cs.conn, KEY, {"enabled": after.enabled,
                                                "pausedTypes": after.paused_types}, cs.now)
            await wf.tasks_mark_autorun(cs.conn, everything=not after.enabled,
                                        types=after.paused_types)
            cs.audit(actor, "system.setAutorun", "system", None, {
                "from": {"enabled": before.enabled, "pausedTypes": before.paused_types},
                "to": {"enabled": after.enabled, "pausedTypes": after.paused_types}})
            cs.wake = True  # resumed work is claimable now
        self._apply(after)
        return after

    async def poll(self) -> None:
        """Read the switch (another node may have changed it) and apply it here."""
        state = await self.get()
        changed = state != self.current
        self._apply(state)
        paused = not state.enabled or bool(state.paused_types)
        if paused or changed:  # tasks queued since say why they wait
            async with self.db.write() as conn:
                await wf.tasks_mark_autorun(conn, everything=not state.enabled,
                                            types=state.paused_types)
