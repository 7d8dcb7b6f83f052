"""One registry of executors, keyed by taskType.

Each executor takes its own config type; the registry holds them as ``Executor[Any]``
because the caller decodes the config by task type (``schemas.configs.CONFIG_TYPES``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from executors.base import Executor


class ExecutorRegistry:
    def __init__(self, executors: Iterable[Executor[Any]] = ()) -> None:
        self._by_type: dict[str, Executor[Any]] = {}
        for executor in executors:
            self.add(executor)

    def add(self, executor: Executor[Any]) -> None:
        if executor.task_type in self._by_type:
            raise ValueError(f"two executors for taskType {executor.task_type!r}")
        self._by_type[executor.task_type] = executor

    def get(self, task_type: str) -> Executor[Any] | None:
        return self._by_type.get(task_type)

    def __contains__(self, task_type: str) -> bool:
        return task_type in self._by_type
