"""The Python client package (clients/python) against the router: every procedure has exactly
one call builder that agrees with it, the sync/async/batch methods are what the generator
writes from those builders, and its models are the server's wire Structs as the generator
copies them (regenerate with ``scripts/gen_client --py clients/python``). The client imports
nothing of the server, and the server nothing of the client."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import errands_client.client as client
import msgspec
import pytest

import schemas
from schemas.system import Health
from server.codegen import clientgen
from server.codegen.typegen import main
from server.procedures import build_router
from server.rpc.registry import Procedure

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "python"
CLIENT = PACKAGE / "errands_client" / "client.py"
MODELS = PACKAGE / "errands_client" / "models.py"
SCHEMAS = Path(schemas.__file__).parent
SERVER_SIDE = ("server", "schemas", "executors", "outbound")


def _subscriptions() -> set[str]:
    return {p.path for p in build_router().procedures.values() if p.kind == "subscription"}


def _source() -> str:
    return CLIENT.read_text(encoding="utf-8")


def test_every_procedure_has_one_builder_that_agrees_with_the_router() -> None:
    calls = clientgen.builder_calls(_source())
    assert len({c.path for c in calls}) == len(calls)
    assert clientgen.differences(build_router().procedures, calls) == []


def test_a_new_procedure_without_a_builder_is_reported() -> None:
    procedures = dict(build_router().procedures)

    class Ping(msgspec.Struct):
        id: str

    async def handler(ctx: object, data: Ping) -> Health:
        raise NotImplementedError

    procedures["system.ping"] = Procedure("system.ping", "mutation", Ping, Health, handler)
    changed = dict(procedures)
    changed["tasks.get"] = Procedure("tasks.get", "mutation", Ping, list[Health], handler)
    calls = clientgen.builder_calls(_source())
    assert clientgen.differences(procedures, calls) == [
        "system.ping: the router has it, the Python client has no call builder"]
    [problem] = [p for p in clientgen.differences(changed, calls) if p.startswith("tasks.get")]
    assert problem == ("tasks.get: builder ('query', 'TaskGet', 'Task') but router "
                       "('mutation', 'Ping', 'list[Health]')")


def test_the_committed_client_is_what_the_generator_writes() -> None:
    text = _source()
    assert clientgen.GENERATED_MARK in text
    assert clientgen.regenerate(text, _subscriptions()) == text, (
        "clients/python is stale: run scripts/gen_client --py clients/python")


def test_the_committed_models_are_what_the_generator_writes() -> None:
    roots = clientgen.model_roots(_source(), build_router().procedures)
    assert clientgen.render_models(SCHEMAS, roots) == MODELS.read_text(encoding="utf-8"), (
        "clients/python is stale: run scripts/gen_client --py clients/python")


def test_each_builder_has_its_three_flavours() -> None:
    for group, sync_class, builder_class in clientgen.GROUPS:
        builders = [name for name, member in vars(getattr(client, builder_class)).items()
                    if isinstance(member, staticmethod)]
        for prefix in ("", "Async", "Batch"):
            methods = [n for n in vars(getattr(client, prefix + sync_class))
                       if not n.startswith("_")]
            expected = [b for b in builders if not (prefix == "Batch" and b == "on_change")]
            assert methods == expected, (group, prefix)


def test_check_py_reports_a_stale_package_and_py_rewrites_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check-py", str(PACKAGE)]) == 0
    copy = tmp_path / "python"
    shutil.copytree(PACKAGE / "errands_client", copy / "errands_client",
                    ignore=shutil.ignore_patterns("__pycache__"))
    models = copy / "errands_client" / "models.py"
    models.write_text(models.read_text().replace("class TaskPage(Output):",
                                                  "class TaskPage(Input):"))
    assert main(["--check-py", str(copy)]) == 1
    assert f"{models} is stale" in capsys.readouterr().err
    assert main(["--py", str(copy)]) == 0
    assert models.read_text() == MODELS.read_text()
    assert main(["--check-py", str(copy)]) == 0


def test_models_that_need_the_server_are_refused(tmp_path: Path) -> None:
    shutil.copy(SCHEMAS / "base.py", tmp_path / "base.py")
    (tmp_path / "odd.py").write_text(
        "from schemas.base import Output\nfrom server.core.settings import Settings\n\n\n"
        "class Odd(Output):\n    settings: Settings\n")
    with pytest.raises(ValueError, match=r"Odd .*needs Settings from server\.core\.settings"):
        clientgen.render_models(tmp_path, ["Odd"])
    assert "class IdOutput(Output):" in clientgen.render_models(tmp_path, ["IdOutput"])


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_client_and_the_server_do_not_import_each_other() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        assert not _imports(path) & set(SERVER_SIDE), path
    for folder in SERVER_SIDE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            assert "errands_client" not in _imports(path), path
