"""A function of ours on aiosqlite's thread: the one use of an aiosqlite internal.

aiosqlite runs each connection's sqlite3 calls on a thread of its own; every public call is a
trip there, through ``Connection._execute(fn, *args)``. It offers no public way to run a
function of ours there, and server/db/sqlite_driver.py makes a statement one trip by running
one function (cursor, execute, fetch, close). A thread of our own instead
(``loop.run_in_executor`` on a one-thread executor per connection) measured twice the cost
of a trip on the shared two-core machine: 433 µs against 217 µs (best of five rounds of
20,000 ``SELECT 1``; docs/notes/registry.md), and the reads of a claim are trips.

pyproject.toml bounds aiosqlite below the next minor release, and
tests/integration/test_sqlite_driver.py
(``test_aiosqlite_runs_our_function_on_the_thread_of_its_own_calls``) fails when this stops
working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import aiosqlite

_T = TypeVar("_T")


async def on_thread(connection: aiosqlite.Connection, fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)`` on ``connection``'s thread, after what was queued there before."""
    return cast(_T, await connection._execute(fn, *args))  # type: ignore[no-untyped-call]
