"""scripts/import_graph keeps the layers (docs/architecture.md "Layers"): it exits 0 on this
tree, and it names an edge from a lower layer to a higher one as a violation."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "import_graph"


def load_script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("import_graph", str(SCRIPT))
    spec = importlib.util.spec_from_loader("import_graph", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_tree_keeps_its_layers() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "layer violations: none" in done.stdout
    assert "module cycles: none" in done.stdout


@pytest.mark.parametrize(("source", "target"), [
    ("server.core", "server.rpc"),        # the core knows no protocol
    ("server.core", "server.services"),
    ("server.db", "server.services"),
    ("server.services", "server.rpc"),    # services know no protocol
    ("server.services", "server.procedures"),
    ("server.services", "server.node"),
    ("server.rpc", "server.services"),    # the protocol knows no domain
    ("server.procedures", "server.node"),
    ("server.codegen", "server.node"),
    ("executors", "server.core"),         # executors import nothing of the server
])
def test_an_upward_import_is_a_violation(source: str, target: str) -> None:
    script = load_script()
    found = script.violations({source: {target: {f"{source}.some_module"}}})
    assert found == [f"layer violation: {source} -> {target}    ({source}.some_module)"]


@pytest.mark.parametrize(("source", "target"), [
    ("server.db", "server.core"),
    ("server.services", "server.db"),
    ("server.procedures", "server.services"),
    ("server.procedures", "server.rpc"),
    ("server.node", "server.procedures"),
    ("server.node", "server.codegen"),
    ("server", "server.node"),
])
def test_a_downward_import_is_allowed(source: str, target: str) -> None:
    assert load_script().violations({source: {target: {f"{source}.some_module"}}}) == []


def test_every_server_package_has_its_place() -> None:
    """A new subpackage of server/ must be given its layer in ALLOWED."""
    script = load_script()
    packages = {f"server.{p.name}" for p in (ROOT / "server").iterdir()
                if (p / "__init__.py").exists()}
    assert packages <= set(script.ALLOWED)
    assert not [p.name for p in (ROOT / "server").glob("*.py")
                if p.name not in ("__init__.py", "__main__.py")], \
        "server/ holds only the entry point: put a module in its layer's package"
