"""The one way tests wait for something that happens in another process or task: ask again
until the answer is right, or fail naming the last answer.

    task = eventually(lambda: server.call("tasks.get", {"id": id}),
                      lambda t: t["status"] == "completed", timeout=30, what="task completed")

Waits poll (the servers under test are other processes); timeouts are generous, since the
machine running the suite may be loaded: a timeout says the thing never happened, not that it
was slow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

INTERVAL = 0.05


def eventually(fetch: Callable[[], T], until: Callable[[T], object] = bool, *,
               timeout: float = 30, interval: float = INTERVAL,
               what: str = "condition") -> T:
    """``fetch()`` again every ``interval`` seconds until ``until(value)`` is true; the value.

    Raises AssertionError naming ``what`` and the last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met within {timeout} s; last: {value!r}")
        time.sleep(interval)


async def eventually_async(fetch: Callable[[], Awaitable[T]],
                           until: Callable[[T], object] = bool, *, timeout: float = 30,
                           interval: float = INTERVAL, what: str = "condition") -> T:
    """:func:`eventually` for a coroutine ``fetch``, sleeping on the event loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met within {timeout} s; last: {value!r}")
        await asyncio.sleep(interval)
