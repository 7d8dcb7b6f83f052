"""The files generated from ``schemas.configs.TASK_TYPES``: ``TaskType`` for Python
(schemas/task_type.py: mypy needs the names spelt out) and the console's type list and labels
(web/src/taskTypes.ts). ``scripts/regen`` writes them before the clients, which read them.

``python -m server.codegen.task_typegen`` writes both; ``--check`` exits 1 if either is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Final

from schemas.configs import TASK_TYPES

ROOT: Final = Path(__file__).resolve().parents[2]
PYTHON_FILE: Final = ROOT / "schemas" / "task_type.py"
TS_FILE: Final = ROOT / "web" / "src" / "taskTypes.ts"


def render_python() -> str:
    names = "".join(f"    {json.dumps(name)},\n" for name in TASK_TYPES)
    creatable = "".join(f"    {json.dumps(name)},\n" for name, spec in TASK_TYPES.items()
                        if spec.creatable)
    return ('"""The taskType names: generated from ``schemas.configs.TASK_TYPES``. DO NOT EDIT.\n'
            "\n"
            "Regenerate with ``scripts/regen``; import ``TaskType`` from ``schemas.configs``.\n"
            '"""\n'
            "\n"
            "from typing import Literal\n"
            "\n"
            f"TaskType = Literal[\n{names}]\n"
            "\n"
            "# The types tasks.create files (a group is made by tasks.createGroup).\n"
            f"CreatableTaskType = Literal[\n{creatable}]\n")


def _ts_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_typescript() -> str:
    names = sorted(TASK_TYPES)
    listed = "".join(f"  {_ts_string(name)},\n" for name in names)
    labels = "".join(f"  {name}: {_ts_string(TASK_TYPES[name].label)},\n" for name in names)
    return ("// The task types and their labels, generated from schemas/configs.py TASK_TYPES.\n"
            "// DO NOT EDIT. Regenerate with `scripts/regen`.\n"
            "import type { TaskType } from './errands';\n"
            "\n"
            f"export const TASK_TYPES: TaskType[] = [\n{listed}];\n"
            f"export const TYPE_LABELS: Record<TaskType, string> = {{\n{labels}}};\n")


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (sys.argv[1:] if argv is None else argv)
    stale = 0
    for path, text in ((PYTHON_FILE, render_python()), (TS_FILE, render_typescript())):
        if not check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
        elif not path.exists() or path.read_text(encoding="utf-8") != text:
            stale += 1
            print(f"{path.relative_to(ROOT)} is stale: regenerate with scripts/regen",
                  file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
