"""One background asyncio task of a node's part (the key refresh, the work listener, the event
feed): started with the node, cancelled and awaited when it stops."""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar


class BackgroundLoop:
    """Mixin: ``start()`` runs ``_run()`` as a task named :attr:`task_name`; ``stop()``
    cancels it and waits until it has ended (safe before ``start()`` and twice)."""

    task_name: ClassVar[str]
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        raise NotImplementedError
