"""Run the real Errands server as a subprocess (``python -m server``) on a free port.

    with ErrandsServer(env={...}, database_url=...) as server:
        server.call("tasks.create", {...}, mutation=True)

``call`` speaks the tRPC wire directly (httpx) for quick checks; tests of the client
experience use the official ``@trpc/client`` through tests/support/node.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import msgspec

from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TRPCCallError(Exception):
    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(f"{status} {error.get('data', {}).get('code')}: {error.get('message')}")
        self.status = status
        self.error = error
        self.code: str = error.get("data", {}).get("code", "")


class ErrandsServer:
    def __init__(self, *, database_url: str, workdir: Path, env: dict[str, str] | None = None,
                 api_key: str | None = None) -> None:
        self.port = free_port()
        self.database_url = database_url
        self.workdir = workdir
        self.api_key = api_key
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/trpc"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "ALLOW_PRIVATE_NETWORK": "true",
            "ARTIFACTS_DIR": str(workdir / "artifacts"),
            "RETRY_BASE_SECONDS": "0.05",
            "SSE_PING_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
            # PostgreSQL refuses to start without one (every node needs the same key).
            **({"ERRANDS_SECRET_KEY": "errands-tests-secret-key"}
               if database_url.startswith("postgresql") else {}),
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"server-{self.port}.log"
        self.client = httpx.Client(timeout=30)

    def start(self, timeout: float = 120) -> ErrandsServer:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "server"], cwd=self.workdir,
                                         env={**self.env, "PYTHONPATH": str(ROOT)},
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log()}")
            try:
                if self.client.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.proc.kill()  # nothing outlives the test
        self.proc.wait()
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def call(self, path: str, input: Any = None, *, mutation: bool = False,
             headers: dict[str, str] | None = None) -> Any:
        """One tRPC call; returns ``result.data`` or raises TRPCCallError."""
        hdrs = {**self.headers(), **(headers or {})}
        if mutation:
            body = b"" if input is None else msgspec.json.encode(input)
            resp = self.client.post(f"{self.url}/{path}", content=body,
                                    headers={"content-type": "application/json", **hdrs})
        else:
            params = {} if input is None else {"input": msgspec.json.encode(input).decode()}
            resp = self.client.get(f"{self.url}/{path}", params=params, headers=hdrs)
        payload = resp.json()
        if "error" in payload:
            raise TRPCCallError(resp.status_code, payload["error"])
        return payload["result"].get("data")

    def wait_for(self, task_id: str, statuses: set[str], timeout: float = 30) -> dict[str, Any]:
        task: dict[str, Any] = eventually(
            lambda: self.call("tasks.get", {"id": task_id}),
            lambda found: found["status"] in statuses, timeout=timeout,
            what=f"task {task_id} {'/'.join(sorted(statuses))}")
        return task

    def __enter__(self) -> ErrandsServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        self.client.close()
