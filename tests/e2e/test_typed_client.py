"""The generated AppRouter under `tsc --strict`, and the official @trpc/client using it.

Fixtures in tests/js/typecheck: ``sample_client.ts`` (a web app calling every procedure) must
compile and, compiled to JavaScript, talk to the real server; each ``wrong/*.ts`` must fail to
compile with the one error named on its first line (``// expect: TS2551 <message part>``).
Everything is compiled in a fresh directory under tests/js/typecheck (so that ``@trpc/*``
resolve from tests/js/node_modules) holding the module generated from the live router.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.codegen.typegen import render_typescript
from server.procedures import build_router
from server.rpc.registry import Router
from tests.support.node import JS_DIR, ensure_node_modules, run_node
from tests.support.server import ErrandsServer

TYPECHECK = JS_DIR / "typecheck"
PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "typescript"
WRONG = sorted((TYPECHECK / "wrong").glob("*.ts"))
TSC_FLAGS = ["--strict", "--target", "es2022", "--module", "preserve", "--moduleResolution",
             "bundler", "--lib", "es2022,dom", "--skipLibCheck", "--pretty", "false"]
_DIAGNOSTIC = re.compile(r"^(?P<file>[^\s(][^(]*)\((?P<line>\d+),(?P<col>\d+)\): "
                         r"error (?P<code>TS\d+): (?P<message>.*)$")


@dataclass
class Diagnostic:
    file: str
    line: int
    code: str
    message: str  # with tsc's indented continuation lines


def every_procedure_ts(router: Router) -> str:
    """A TS file calling each procedure of ``router`` with its method and its input type."""
    method = {"query": "query", "mutation": "mutate", "subscription": "subscribe"}
    lines = ["import type { RouterInputs } from './errands';",
             "import { makeClient } from './sample_client';",
             "const errands = makeClient('http://127.0.0.1:1/trpc', 'key');",
             "export function callAll(i: RouterInputs): void {"]
    for path in sorted(router.procedures):
        procedure = router.procedures[path]
        access = "".join(f"[{part!r}]" for part in path.split("."))
        args = f"i{access}"
        if procedure.kind == "subscription":
            args += ", { onData: (item) => void item }"
        lines.append(f"  void errands{access}.{method[procedure.kind]}({args});")
    lines.append("}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def build_dir() -> Iterator[Path]:
    ensure_node_modules()
    directory = TYPECHECK / f".build-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    try:
        router = build_router()
        (directory / "errands.ts").write_text(render_typescript(router))
        (directory / "every_procedure.ts").write_text(every_procedure_ts(router))
        for source in [TYPECHECK / "sample_client.ts", *WRONG]:
            shutil.copy(source, directory / source.name)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def tsc(directory: Path, *args: str) -> tuple[int, list[Diagnostic], str]:
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run([node, str(JS_DIR / "node_modules" / "typescript" / "bin" / "tsc"),
                           *TSC_FLAGS, *args], cwd=directory, capture_output=True, text=True,
                          timeout=300, check=False)
    diagnostics: list[Diagnostic] = []
    for line in done.stdout.splitlines():
        match = _DIAGNOSTIC.match(line)
        if match:
            diagnostics.append(Diagnostic(match["file"], int(match["line"]), match["code"],
                                          match["message"]))
        elif line.startswith(" ") and diagnostics:
            diagnostics[-1].message += "\n" + line.strip()
    return done.returncode, diagnostics, done.stdout + done.stderr


def test_sample_client_and_every_procedure_compile(build_dir: Path) -> None:
    code, diagnostics, output = tsc(build_dir, "--noEmit", "sample_client.ts",
                                    "every_procedure.ts")
    assert (code, diagnostics) == (0, []), output


def test_the_typescript_package_types_a_client_that_installs_it(build_dir: Path) -> None:
    """clients/typescript as a web app gets it (``npm install <folder>``): resolved by its
    package.json's ``types``; a wrong input is an error, so the types are not ``any``."""
    installed = build_dir / "node_modules" / "errands-client"
    shutil.copytree(PACKAGE, installed)
    (build_dir / "uses_package.ts").write_text(
        "import { createTRPCClient, httpBatchLink } from '@trpc/client';\n"
        "import type { AppRouter, Task } from 'errands-client';\n"
        "const errands = createTRPCClient<AppRouter>({\n"
        "  links: [httpBatchLink({ url: 'http://127.0.0.1:1/trpc' })] });\n"
        "export async function title(id: string): Promise<string> {\n"
        "  const task: Task = await errands.tasks.get.query({ id });\n"
        "  // @ts-expect-error: tasks.get takes { id }\n"
        "  await errands.tasks.get.query({ taskId: id });\n"
        "  return task.title;\n"
        "}\n")
    try:
        code, diagnostics, output = tsc(build_dir, "--noEmit", "uses_package.ts")
    finally:
        shutil.rmtree(build_dir / "node_modules", ignore_errors=True)
    assert (code, diagnostics) == (0, []), output


def test_every_procedure_file_names_every_path(build_dir: Path) -> None:
    text = (build_dir / "every_procedure.ts").read_text()
    for path in build_router().procedures:
        assert "".join(f"[{part!r}]" for part in path.split(".")) in text


@pytest.fixture(scope="module")
def wrong_diagnostics(build_dir: Path) -> tuple[dict[str, list[Diagnostic]], str]:
    """One tsc run over every wrong file (each is a module: their errors do not mix), the
    diagnostics by file — a tsc start per file cost ~10 s of the suite each."""
    code, diagnostics, output = tsc(build_dir, "--noEmit", *(source.name for source in WRONG))
    assert code != 0, output
    by_file: dict[str, list[Diagnostic]] = {}
    for diagnostic in diagnostics:
        by_file.setdefault(diagnostic.file, []).append(diagnostic)
    assert set(by_file) <= {source.name for source in WRONG}, output  # none in shared files
    return by_file, output


@pytest.mark.parametrize("source", WRONG, ids=[p.stem for p in WRONG])
def test_wrong_call_fails_to_compile(
        wrong_diagnostics: tuple[dict[str, list[Diagnostic]], str], source: Path) -> None:
    first = source.read_text().splitlines()[0]
    expected = re.fullmatch(r"// expect: (TS\d+) (.+)", first)
    assert expected, f"{source.name}: first line must be `// expect: TSxxxx <message part>`"
    by_file, output = wrong_diagnostics
    diagnostics = by_file.get(source.name, [])
    assert diagnostics, f"{source.name} compiled, but it must not:\n{output}"
    assert [(d.file, d.code) for d in diagnostics] == [(source.name, expected[1])], output
    assert expected[2] in diagnostics[0].message, output


def test_sample_client_runs_against_the_server(
        build_dir: Path, sqlite_database_url: str,
        errands_server: Callable[..., ErrandsServer]) -> None:
    code, _, output = tsc(build_dir, "--outDir", "out", "sample_client.ts")
    assert code == 0, output
    compiled = (build_dir / "out" / "sample_client.js").as_uri()
    server = errands_server(sqlite_database_url, api_key="sample-key",
                            env={"ERRANDS_API_KEYS": "web:admin:sample-key"})
    summary = run_node(f"""
        import {{ EventSource }} from 'eventsource';
        import {{ print }} from './client.mjs';
        import {{ makeClient, run }} from '{compiled}';
        print(await run(makeClient(process.env.TRPC_URL, process.env.API_KEY, EventSource)));
        """, env={"TRPC_URL": server.url, "API_KEY": "sample-key"})
    assert summary["health"] == "ok"
    assert summary["uptimeIsNumber"] is True
    assert summary["created"] == "pending"
    assert summary["fetchedTitle"] == "sample: pending"
    assert summary["listed"] >= 1
    assert summary["executed"] == "queued"
    assert summary["approved"] == "pending"  # manual: approval does not queue it
    assert summary["rejected"] == "rejected"
    assert summary["cancelled"] == "cancelled"
    assert summary["retryCode"] == "CONFLICT"
    assert summary["attempts"] >= 0
    assert summary["reminderType"] == "reminder"
    assert summary["secretPrefix"] == "whsec_"
    assert summary["webhooks"] == 1
    assert summary["messagesIsList"] is True
    assert summary["scheduleEnabled"] == [True, False, True]
    assert summary["scheduleTimezone"] == "Europe/Paris"
    assert summary["schedules"] == 1
    assert summary["webhookDeleted"] is True
    assert summary["badRequest"] == {"code": "BAD_REQUEST", "paths": [["maxRetries"]]}
    assert summary["workflows"] == {
        "updatedTitle": "sample: edited", "completed": "completed",
        "completedBy": "person:web", "approveMany": [True, False],
        "approveManyCodes": [None, "NOT_FOUND"], "cancelMany": [True],
        "retryManyCode": "CONFLICT",
        "auditActions": ["tasks.complete", "tasks.update", "tasks.create"],
        "autorun": {"enabled": True, "pausedTypes": ["ghl_action"]},
        "autorunAfter": True, "previewTimes": 2}
    created = [e for e in summary["events"] if e["type"] == "created"]
    assert len(created) == 4
    assert all(e["id"] for e in summary["events"])


def test_server_serves_the_generated_module(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(sqlite_database_url)
    response = httpx.get(f"{server.base}/trpc-types.ts", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == render_typescript(build_router())
