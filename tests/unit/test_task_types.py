"""schemas/configs.py TASK_TYPES is the one declaration of each taskType: the files generated
from it are current, and what it declares holds for the config it names."""

from __future__ import annotations

import typing
from pathlib import Path

import msgspec
import pytest

from schemas.configs import TASK_TYPES, TaskType, TaskTypeSpec
from server.codegen import task_typegen
from server.core.claims import dest_host


def test_the_generated_files_are_current() -> None:
    assert task_typegen.PYTHON_FILE.read_text(encoding="utf-8") == task_typegen.render_python(), (
        "schemas/task_type.py is stale: run scripts/regen")
    assert task_typegen.TS_FILE.read_text(encoding="utf-8") == task_typegen.render_typescript(), (
        "web/src/taskTypes.ts is stale: run scripts/regen")
    assert list(typing.get_args(TaskType)) == list(TASK_TYPES)


def test_check_says_which_file_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(task_typegen, "ROOT", tmp_path)
    monkeypatch.setattr(task_typegen, "PYTHON_FILE", tmp_path / "task_type.py")
    monkeypatch.setattr(task_typegen, "TS_FILE", tmp_path / "taskTypes.ts")
    assert task_typegen.main(["--check"]) == 1  # missing counts as stale
    assert task_typegen.main([]) == 0
    assert task_typegen.main(["--check"]) == 0
    (tmp_path / "taskTypes.ts").write_text("// edited\n", encoding="utf-8")
    assert task_typegen.main(["--check"]) == 1
    assert "taskTypes.ts is stale: regenerate with scripts/regen" in capsys.readouterr().err


@pytest.mark.parametrize("spec", TASK_TYPES.values(), ids=lambda s: s.name)
def test_each_declaration_fits_its_config(spec: TaskTypeSpec) -> None:
    wire_names = {f.encode_name for f in msgspec.structs.fields(spec.config)}
    assert spec.secret_fields <= wire_names
    assert spec.timeout_seconds > 0 and spec.label


@pytest.mark.parametrize(("task_type", "config", "host"), [
    ("api_call", {"apiEndpoint": "https://API.example.com:8443/x"}, "api.example.com:8443"),
    ("data_extraction", {"url": "http://shop.example/"}, "shop.example"),
    ("browser_automation", {"startUrl": "https://a.example/"}, "a.example"),
    ("browser_automation", {"steps": [{"action": "click", "selector": "b"},
                                      {"action": "navigate", "url": "https://b.example/"}]},
     "b.example"),
    ("browser_automation", {"steps": "nope"}, None),
    ("notification", {"message": "hi", "url": "https://c.example/"}, None),
    ("no_such_type", {"url": "https://c.example/"}, None),
])
def test_the_destination_host_comes_from_the_declaration(task_type: str, config: dict[str, str],
                                                         host: str | None) -> None:
    assert dest_host(task_type, config) == host
