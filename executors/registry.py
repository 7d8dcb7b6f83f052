"""One registry of executors, keyed by taskType.

Each executor takes its own config type; the registry holds them as ``Executor[Any]``
because the caller decodes the config by task type (``schemas.configs.CONFIG_TYPES``).
:meth:`ExecutorRegistry.build` makes one executor for each declared taskType
(``schemas.configs.TASK_TYPES``), with its class's ``build(resources)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module
from typing import Any

from executors.base import Executor, Resources
from schemas.configs import TASK_TYPES, TaskTypeSpec


def executor_class(spec: TaskTypeSpec) -> Any:
    """The class ``spec.executor`` (``"module:Class"``) names; ValueError if its ``task_type``
    is not ``spec.name``."""
    module, _, name = spec.executor.partition(":")
    cls: Any = getattr(import_module(module), name)
    if cls.task_type != spec.name:
        raise ValueError(f"{spec.executor} runs {cls.task_type!r}, not {spec.name!r}")
    return cls


class ExecutorRegistry:
    def __init__(self, executors: Iterable[Executor[Any]] = ()) -> None:
        self._by_type: dict[str, Executor[Any]] = {}
        for executor in executors:
            self.add(executor)

    @classmethod
    def build(cls, resources: Resources) -> ExecutorRegistry:
        """An executor for each taskType of ``schemas.configs.TASK_TYPES``."""
        executors: list[Executor[Any]] = [executor_class(spec).build(resources)
                                          for spec in TASK_TYPES.values()]
        return cls(executors)

    def add(self, executor: Executor[Any]) -> None:
        if executor.task_type in self._by_type:
            raise ValueError(f"two executors for taskType {executor.task_type!r}")
        self._by_type[executor.task_type] = executor

    def get(self, task_type: str) -> Executor[Any] | None:
        return self._by_type.get(task_type)

    def __contains__(self, task_type: str) -> bool:
        return task_type in self._by_type
