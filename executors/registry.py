"""One registry of executors, keyed by taskType."""

from __future__ import annotations

from collections.abc import Iterable

from executors.base import Executor


class ExecutorRegistry:
    def __init__(self, executors: Iterable[Executor] = ()) -> None:
        self._by_type: dict[str, Executor] = {}
        for executor in executors:
            self.add(executor)

    def add(self, executor: Executor) -> None:
        if executor.task_type in self._by_type:
            raise ValueError(f"two executors for taskType {executor.task_type!r}")
        self._by_type[executor.task_type] = executor

    def get(self, task_type: str) -> Executor | None:
        return self._by_type.get(task_type)

    def __contains__(self, task_type: str) -> bool:
        return task_type in self._by_type
