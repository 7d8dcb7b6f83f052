"""The layering rules of the packages, read from the source with ``ast`` (scripts/import_graph
prints the whole graph): executors import nothing of the server, services never import the
protocol layer, and the SQL of services lives in server/db/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules("executors"), ids=lambda p: p.name)
def test_executors_import_nothing_of_the_server(path: Path) -> None:
    assert not [m for m in imports_of(path) if m == "server" or m.startswith("server.")]


@pytest.mark.parametrize("path", modules("server/services"), ids=lambda p: p.name)
def test_services_do_not_import_the_rpc_layer_or_write_sql(path: Path) -> None:
    found = imports_of(path)
    assert not [m for m in found if m.startswith("server.rpc")]
    if path.name in ("delivery.py", "reports.py", "schedules.py", "webhooks.py"):
        assert "sqlalchemy" not in found and "server.db.tables" not in found


def test_the_app_and_the_type_generator_do_not_import_each_other() -> None:
    assert "server.node.app" not in imports_of(ROOT / "server" / "codegen" / "typegen.py")
    assert "server.codegen.typegen" in imports_of(ROOT / "server" / "node" / "app.py")


def _executor_classes() -> list[type]:
    from executors.registry import executor_class
    from schemas.configs import TASK_TYPES
    return [executor_class(spec) for spec in TASK_TYPES.values() if spec.executor is not None]


@pytest.mark.parametrize("cls", _executor_classes(), ids=lambda c: c.task_type)
def test_each_executor_takes_the_config_its_task_type_decodes_to(cls: type) -> None:
    """The runner and tasks.create decode executionConfig with CONFIG_TYPES[task_type]; an
    executor's ``check`` and ``execute`` are typed for that very Struct (no assertions)."""
    import typing

    from executors.base import TaskSpec
    from schemas.configs import CONFIG_TYPES, TASK_TYPES

    expected = CONFIG_TYPES[cls.task_type]  # type: ignore[attr-defined]
    assert typing.get_type_hints(cls.check)["config"] is expected  # type: ignore[attr-defined]
    assert typing.get_type_hints(cls.execute)["task"] == TaskSpec[expected]  # type: ignore[attr-defined,valid-type]
    # the types without an executor (a callback waits for its call, CONTRACT §16)
    idle = {name for name, spec in TASK_TYPES.items() if spec.executor is None}
    assert set(CONFIG_TYPES) == {c.task_type for c in _executor_classes()} | idle  # type: ignore[attr-defined]
    assert typing.get_type_hints(cls.build)["return"] is cls  # type: ignore[attr-defined]
