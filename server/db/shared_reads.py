"""Concurrent reads of the same kind share one query.

Under load many requests ask the same kind of question in the same turn of the event loop: a
tRPC batch of ten ``tasks.get`` runs its calls concurrently, and 64 clients asking for tasks
or for ``system.health`` arrive together. Each question on its own costs a pooled-connection
checkout, a statement round trip and SQLAlchemy's per-statement work; asked together they
cost one (``WHERE id = ANY(:ids)``, one ``SELECT 1``).

Freshness is unchanged: a question joins only a read that has not started yet (the read
starts on the next turn of the loop after the first question of its group), so every answer
comes from a query that began after the question was asked — as if it had run its own.
A failed read fails every question of its group with the same exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar, cast

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Group(Generic[K, V]):
    __slots__ = ("loop", "waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop  # a group left open by a loop that closed is never joined
        self.waiters: dict[K, list[asyncio.Future[V | None]]] = {}


class KeyedReads(Generic[K, V]):
    """``get(key)`` answered by ``fetch(keys)``, one call for the keys asked in one loop turn.

    ``fetch`` returns what it found by key; a key it leaves out is answered ``None``. At most
    ``max_keys`` distinct keys go into one ``fetch`` (a larger group is split).
    """

    def __init__(self, fetch: Callable[[Sequence[K]], Awaitable[Mapping[K, V]]], *,
                 max_keys: int = 500) -> None:
        self._fetch = fetch
        self._max_keys = max_keys
        self._open: _Group[K, V] | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        group = self._open
        if group is None or group.loop is not loop or (
                key not in group.waiters and len(group.waiters) >= self._max_keys):
            group = self._open = _Group(loop)
            loop.call_soon(self._start, group)
        waiter: asyncio.Future[V | None] = loop.create_future()
        group.waiters.setdefault(key, []).append(waiter)
        return await waiter

    def _start(self, group: _Group[K, V]) -> None:
        if self._open is group:
            self._open = None  # questions from now on wait for a read that starts later
        task = asyncio.ensure_future(self._read(group))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _read(self, group: _Group[K, V]) -> None:
        try:
            found = await self._fetch(list(group.waiters))
        except Exception as exc:
            for waiters in group.waiters.values():
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
            return
        except BaseException:  # cancelled (shutdown): so are the questions
            for waiters in group.waiters.values():
                for waiter in waiters:
                    waiter.cancel()
            raise
        for key, waiters in group.waiters.items():
            value = found.get(key)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(value)


class SharedCall(Generic[V]):
    """``call()`` answered by ``fetch()``, one call for the callers of one loop turn."""

    def __init__(self, fetch: Callable[[], Awaitable[V]]) -> None:
        async def fetch_one(_keys: Sequence[None]) -> Mapping[None, V]:
            return {None: await fetch()}

        self._reads: KeyedReads[None, V] = KeyedReads(fetch_one)

    async def call(self) -> V:
        return cast(V, await self._reads.get(None))  # fetch_one always answers its one key
