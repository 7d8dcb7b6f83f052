"""The console's source, its types and its committed bundle (web/).

- web/src/errands.ts is the AppRouter generated from the live router (checked against it by
  tests/unit/test_typegen.py; `scripts/gen_client --ts web/src/errands.ts`);
- `tsc --strict --noEmit` over web/ passes, so a server change that breaks the console's types
  fails the suite — and a router change that removes what the console reads does fail it;
- web/dist (committed, so that `scripts/serve` needs no Node) is exactly what `vite build`
  makes from the source.
"""

from __future__ import annotations

import fcntl
import filecmp
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
_STAMP = WEB / "node_modules" / ".errands-npm-ci"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: the console's checks need Node 20+ and npm",
                    pytrace=False)
    return path


@pytest.fixture(scope="module")
def web() -> Path:
    """web/ with its node_modules installed from package-lock.json (npm ci when it changed)."""
    npm = _tool("npm")
    _tool("node")
    lock_text = (WEB / "package-lock.json").read_text()
    with open(WEB / ".npm-ci.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not _STAMP.exists() or _STAMP.read_text() != lock_text:
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB,
                                  capture_output=True, text=True, timeout=600, check=False)
            if done.returncode != 0:
                pytest.fail(f"npm ci failed in {WEB}:\n{done.stdout}\n{done.stderr}",
                            pytrace=False)
            _STAMP.write_text(lock_text)
    return WEB


def tsc(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(WEB / "node_modules" / ".bin" / "tsc"), "--noEmit", "--strict",
                           "--pretty", "false", "-p", str(project)],
                          capture_output=True, text=True, timeout=300, check=False)


def test_the_console_compiles_under_strict(web: Path) -> None:
    done = tsc(web)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def source_copy(web: Path) -> Iterator[Path]:
    """A copy of web/src inside web/ (so that node_modules resolve) with its own tsconfig."""
    directory = web / f".typecheck-{uuid.uuid4().hex[:8]}"
    shutil.copytree(web / "src", directory / "src")
    (directory / "tsconfig.json").write_text(
        '{"extends": "../tsconfig.json", "include": ["src"]}\n')
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_a_router_change_that_breaks_the_console_fails_to_compile(source_copy: Path) -> None:
    generated = source_copy / "src" / "errands.ts"
    text = generated.read_text()
    changed = text.replace("export interface WhoAmI {\n  name: string | null;\n  role: Role;",
                           "export interface WhoAmI {\n  name: string | null;\n  rank: Role;")
    assert changed != text
    generated.write_text(changed)
    done = tsc(source_copy)
    assert done.returncode != 0
    assert "Property 'role' does not exist on type 'WhoAmI'" in done.stdout, done.stdout


def test_the_committed_bundle_is_built_from_the_source(web: Path, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    done = subprocess.run([str(web / "node_modules" / ".bin" / "vite"), "build", "--outDir",
                           str(out), "--emptyOutDir", "--logLevel", "error"], cwd=web,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    committed = sorted(p.relative_to(web / "dist") for p in (web / "dist").rglob("*")
                       if p.is_file())
    built = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert committed == built, (
        "web/dist is not the build of web/src: run `npm run build` in web/ and commit web/dist")
    _, mismatch, errors = filecmp.cmpfiles(web / "dist", out, [str(p) for p in built],
                                           shallow=False)
    assert mismatch == [] and errors == [], mismatch + errors
