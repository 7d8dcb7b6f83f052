"""Running Node scripts (the official @trpc/client) from pytest.

``ensure_node_modules()`` runs ``npm ci`` in tests/js once per session (and again only when
package-lock.json changed); it fails the test with a clear message when node or npm is
missing. ``run_node(script, env)`` runs an ES module text with tests/js as the working
directory, so ``import ... from '@trpc/client'`` and ``from './client.mjs'`` resolve, and
returns the JSON of the last line the script printed (``print(value)`` from client.mjs).
``run_node_async`` is the same for tests whose server runs on the test's own event loop.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

JS_DIR = Path(__file__).resolve().parents[1] / "js"
_STAMP = JS_DIR / "node_modules" / ".errands-npm-ci"
_lock = threading.Lock()
_ready = False


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: the official tRPC client tests need Node 20+ "
                    f"and npm on PATH", pytrace=False)
    return path


def ensure_node_modules() -> Path:
    """``npm ci`` in tests/js unless node_modules matches package-lock.json; returns JS_DIR."""
    global _ready
    with _lock:
        if _ready:
            return JS_DIR
        _tool("node")
        npm = _tool("npm")
        lock_text = (JS_DIR / "package-lock.json").read_text()
        # a file lock, so that parallel pytest workers do not run npm ci together
        with open(JS_DIR / ".npm-ci.lock", "w") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            if not _STAMP.exists() or _STAMP.read_text() != lock_text:
                done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR,
                                      capture_output=True, text=True, timeout=600, check=False)
                if done.returncode != 0:
                    pytest.fail(f"npm ci failed in {JS_DIR}:\n{done.stdout}\n{done.stderr}",
                                pytrace=False)
                _STAMP.write_text(lock_text)
        _ready = True
        return JS_DIR


def _command(script: str, env: dict[str, str] | None) -> tuple[list[str], dict[str, str]]:
    ensure_node_modules()
    return [_tool("node"), "--input-type=module"], {**os.environ, **(env or {})}


def _result(returncode: int, stdout: str, stderr: str) -> Any:
    if returncode != 0:
        raise AssertionError(f"node exited with {returncode}\n--- stdout\n{stdout}\n"
                             f"--- stderr\n{stderr}")
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise AssertionError(f"node printed nothing\n--- stderr\n{stderr}")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise AssertionError(f"node's last line is not JSON: {lines[-1]!r}\n{stderr}") from exc


def run_node(script: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """Run ``script`` (ESM) in tests/js with ``env`` added; its last stdout line as JSON."""
    command, full_env = _command(script, env)
    done = subprocess.run(command, input=script, cwd=JS_DIR, env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    return _result(done.returncode, done.stdout, done.stderr)


async def run_node_async(script: str, env: dict[str, str] | None = None,
                         timeout: float = 60) -> Any:
    """``run_node`` without blocking the event loop (for servers on the test's loop)."""
    command, full_env = await asyncio.to_thread(_command, script, env)
    process = await asyncio.create_subprocess_exec(
        *command, cwd=JS_DIR, env=full_env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(script.encode()), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return _result(process.returncode, stdout.decode(), stderr.decode())
