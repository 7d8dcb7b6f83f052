"""The wire's tests run on asyncio's loop and on uvloop (what the server runs on).

Here, not in tests/conftest.py: pytest-asyncio asks this hook about every test it governs,
and the rest of the suite runs on asyncio's loop alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest
import uvloop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item,
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
