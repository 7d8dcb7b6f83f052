"""server/codegen/typegen.py: msgspec types → TypeScript, the router shape, the snapshot and
the CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest

from server.codegen.typegen import Discriminator, main, render_typescript
from server.procedures import build_router
from server.rpc.registry import Router, Tracked

ROOT = Path(__file__).resolve().parents[2]
# The committed AppRouter: the console compiles against the first, a web app installs the
# second (the TypeScript package clients/typescript); both are the same generated module.
SNAPSHOTS = [ROOT / "web" / "src" / "errands.ts", ROOT / "clients" / "typescript" / "index.d.ts"]

Colour = Literal["red", "green"]


class Paint(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    colour: Colour
    litres: float


class Brush(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    width_mm: int


class Job(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """A job to do."""

    kind: Literal["paint", "brush"]
    spec: dict[str, Any]
    due_at: datetime | None = None
    tags: list[str] = []


class Node(msgspec.Struct, rename="camel", kw_only=True):
    name: str
    children: list[Node]
    extra: Any
    pair: tuple[int, str]
    hint: str | None = None


class Sparse(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    note: str = ""


class Click(msgspec.Struct, tag_field="action", tag="click", forbid_unknown_fields=True):
    selector: str


class AllDefaults(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    limit: int = 10


def sample_router() -> Router:
    router = Router()

    async def handler(ctx: Any, data: Any) -> Any:
        return None

    async def tracked(ctx: Any, data: Any) -> AsyncIterator[Tracked[Node]]:
        raise NotImplementedError
        yield

    async def plain(ctx: Any, data: Any) -> AsyncIterator[Node]:
        raise NotImplementedError
        yield

    router.mutation("jobs.create", input=Job, output=Node)(handler)
    router.query("jobs.list", input=AllDefaults, output=list[Sparse])(handler)
    router.query("jobs.ping", output=Click)(handler)
    router.subscription("jobs.watch", input=AllDefaults, output=Node)(tracked)
    router.subscription("jobs.tail", output=Node)(plain)
    return router


JOB_KIND = Discriminator("kind", "spec", {"paint": Paint, "brush": Brush}, "SpecByKind")


@pytest.fixture(scope="module")
def module_text() -> str:
    return render_typescript(sample_router(), [JOB_KIND])


@pytest.mark.parametrize("expected", [
    # inputs: defaults are optional, None is null, datetimes are strings
    "  dueAt?: string | null;",
    "  tags?: string[];",
    # outputs: every field is present; Any is a JSON value; tuples, recursion
    "export interface Node {\n  name: string;\n  children: Node[];\n  extra: JsonValue;\n"
    "  pair: [number, string];\n  hint: string | null;\n}",
    # omit_defaults outputs may leave a field out
    '  /** default: "" */\n  note?: string;',
    # tagged Structs carry their tag first
    'export interface Click {\n  action: "click";\n  selector: string;\n}',
    # a module-level Literal alias is reused by name
    'export type Colour = "green" | "red";',
    "  colour: Colour;",
    # the discriminated union and its map
    "export interface JobCommon {",
    '  | (JobCommon & { kind: "brush"; spec: Brush })',
    '  | (JobCommon & { kind: "paint"; spec: Paint });',
    "export interface SpecByKind {\n  brush: Brush;\n  paint: Paint;\n}",
    "/** A job to do. */\nexport type Job =",
    # the router
    "create: TRPCMutationProcedure<{ input: Job; output: Node; meta: object }>;",
    "list: TRPCQueryProcedure<{ input: AllDefaults | undefined; output: Sparse[]; "
    "meta: object }>;",
    "ping: TRPCQueryProcedure<{ input: void; output: Click; meta: object }>;",
    "watch: TRPCSubscriptionProcedure<{ input: AllDefaults | undefined; "
    "output: AsyncIterable<Tracked<Node>>; meta: object }>;",
    "tail: TRPCSubscriptionProcedure<{ input: void; output: AsyncIterable<Node>; "
    "meta: object }>;",
    "errorShape: ErrandsErrorShape; transformer: false",
])
def test_rendering(module_text: str, expected: str) -> None:
    assert expected in module_text


def test_job_common_leaves_out_the_discriminated_fields(module_text: str) -> None:
    common = module_text.split("export interface JobCommon {")[1].split("}")[0]
    assert "kind" not in common and "spec" not in common and "dueAt?" in common


def test_output_is_sorted_and_independent_of_registration_order() -> None:
    forward = sample_router()
    backward = Router()
    for path in reversed(list(forward.procedures)):
        backward.add(forward.procedures[path])
    text = render_typescript(forward, [JOB_KIND])
    assert text == render_typescript(backward, [JOB_KIND])
    fixed = {"ValidationIssue", "ErrandsErrorData", "ErrandsErrorShape", "JsonValue",
             "Tracked<T>", "AppRouter", "RouterInputs", "RouterOutputs",
             "JobCommon", "SpecByKind"}  # the last two are emitted with Job, before it
    declared = [line.split()[2] for line in text.splitlines()
                if line.startswith(("export interface ", "export type "))
                and line.split()[2] not in fixed]
    assert declared == sorted(declared)
    assert "Job" in declared and "Node" in declared


def test_every_procedure_of_the_real_router_is_declared() -> None:
    text = render_typescript(build_router())
    for path in build_router().procedures:
        assert f" {path.split('.')[-1]}: TRPC" in text, path


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda p: p.name)
def test_snapshot_is_current(snapshot: Path) -> None:
    current = render_typescript(build_router())
    assert snapshot.read_text(encoding="utf-8") == current, (
        f"{snapshot.relative_to(ROOT)} is stale: the router or its schemas changed. Review the "
        "difference, then run `scripts/gen_client --ts web/src/errands.ts --ts "
        "clients/typescript/index.d.ts` and rebuild web/.")


def test_the_typescript_package_names_its_types() -> None:
    package = msgspec.json.decode((ROOT / "clients" / "typescript" / "package.json").read_bytes())
    assert package["name"] == "errands-client"
    assert package["types"] == package["exports"]["."]["types"] == "./index.d.ts"
    assert "index.d.ts" in package["files"]


def test_cli_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "web" / "errands.ts"
    assert main(["--check", str(target)]) == 1  # missing counts as stale
    assert main(["--ts", str(target)]) == 0
    assert target.read_text() == render_typescript(build_router())
    assert main(["--check", str(target)]) == 0
    target.write_text(target.read_text() + "// edited\n")
    assert main(["--check", str(target)]) == 1
    assert "scripts/gen_client --ts" in capsys.readouterr().err


def test_script_runs(tmp_path: Path) -> None:
    target = tmp_path / "errands.ts"
    done = subprocess.run([str(ROOT / "scripts" / "gen_client"), "--ts", str(target)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert target.read_text().startswith("// Errands: the tRPC router's types")
