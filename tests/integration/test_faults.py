"""Faults that must treat the innocent fairly (CONTRACT §13, issue 22): crashes, poison tasks,
partitions, full disks, duplicate node identities, shutdown — on real server processes."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.databases import PG_HOST, PG_PORT, PG_USER, postgres_database, require_postgres
from tests.support.http_servers import HttpServer, ReceivedRequest, Reply
from tests.support.server import ErrandsServer, TRPCCallError

TERMINAL = {"completed", "failed", "cancelled", "rejected"}


def _create(server: ErrandsServer, url: str, title: str) -> str:
    task: dict[str, Any] = server.call("tasks.create", {
        "title": title, "taskType": "api_call", "timeoutSeconds": 120,
        "executionConfig": {"apiEndpoint": url, "timeoutMs": 120_000}}, mutation=True)
    return str(task["id"])


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _wait_requests(sink: HttpServer, path: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(sink.requests_to(path)) < count:
        assert time.monotonic() < deadline, f"{count} requests to {path} never came"
        time.sleep(0.02)


# --- 1. orphans keep their place in line ------------------------------------------------------

def test_orphans_of_a_crash_are_claimed_before_tasks_queued_after_them(
        database_url: str, tmp_path: Path) -> None:
    env = {"NODE_ID": "faults-orphans", "WORKER_CONCURRENCY": "2", "HOST_CONCURRENCY": "64"}
    with HttpServer() as sink:
        sink.route("/orphan", delay=120, json={})
        sink.route("/backlog", json={"ok": True})
        first = ErrandsServer(database_url=database_url, workdir=tmp_path, env=env).start()
        try:
            orphans = [_create(first, sink.url_for("/orphan"), f"orphan {i}") for i in range(2)]
            _wait_requests(sink, "/orphan", 2)
            # Every slot is taken: these wait in line behind the two running.
            backlog = [_create(first, sink.url_for("/backlog"), f"later {i}") for i in range(6)]
            assert {first.call("tasks.get", {"id": t})["status"] for t in backlog} == {"queued"}
            first.kill()
        finally:
            first.client.close()
        sink.route("/orphan", json={"ok": True})
        with ErrandsServer(database_url=database_url, workdir=tmp_path, env=env) as second:
            for t in orphans + backlog:
                assert second.wait_for(t, TERMINAL, timeout=120)["status"] == "completed"
            orphan_runs = [_at(a["startedAt"]) for t in orphans
                           for a in second.call("tasks.executions", {"taskId": t})
                           if a["triggeredBy"] == "recovery"]
            later_runs = [_at(a["startedAt"]) for t in backlog
                          for a in second.call("tasks.executions", {"taskId": t})]
    assert len(orphan_runs) == 2 and len(later_runs) == 6
    assert max(orphan_runs) <= min(later_runs), (orphan_runs, later_runs)


# --- 2. a poison task dies alone --------------------------------------------------------------

def test_a_task_that_kills_its_server_fails_alone(database_url: str, tmp_path: Path) -> None:
    env = {"NODE_ID": "faults-poison", "WORKER_CONCURRENCY": "16", "HOST_CONCURRENCY": "64",
           "MAX_LOST_ATTEMPTS": "5"}
    servers: list[ErrandsServer] = []
    crashed = threading.Event()
    kills = 0

    def poison(request: ReceivedRequest) -> Reply:
        nonlocal kills
        proc = servers[-1].proc
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)  # the request kills the server
            proc.wait()
            kills += 1
        crashed.set()
        return Reply(drop=True)

    def healthy(request: ReceivedRequest) -> Reply:
        crashed.wait(120)  # the first time: still running when the poison strikes
        return Reply(json={"ok": True})

    def start() -> ErrandsServer | None:
        server = ErrandsServer(database_url=database_url, workdir=tmp_path, env=env)
        servers.append(server)
        try:
            return server.start()
        except RuntimeError:  # the poison ran (and killed it) before it answered
            server.client.close()
            return None

    with HttpServer() as sink:
        sink.route("/ok", handler=healthy)
        sink.route("/poison", handler=poison)
        first = start()
        assert first is not None
        innocent = [_create(first, sink.url_for("/ok"), f"healthy {i}") for i in range(8)]
        _wait_requests(sink, "/ok", 8)
        culprit = _create(first, sink.url_for("/poison"), "poison")
        deadline = time.monotonic() + 600
        ids = [culprit, *innocent]
        found: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            server = servers[-1]
            assert server.proc is not None
            if server.proc.poll() is not None:
                server.client.close()
                start()
                continue
            try:
                found = {t: server.call("tasks.get", {"id": t}) for t in ids}
            except (httpx.HTTPError, TRPCCallError, ValueError):
                time.sleep(0.1)
                continue
            if all(task["status"] in TERMINAL for task in found.values()):
                break
            time.sleep(0.1)
        last = servers[-1]
        try:
            attempts = {t: last.call("tasks.executions", {"taskId": t}) for t in ids}
        finally:
            last.stop()
            last.client.close()
    assert found[culprit]["status"] == "failed", found[culprit]
    assert [a["status"] for a in attempts[culprit]] == ["lost"] * 5
    assert kills == 5
    assert {found[t]["status"] for t in innocent} == {"completed"}, {
        t: (found[t]["status"], found[t]["lastError"]) for t in innocent}
    for t in innocent:  # lost beside the poison (twice at most: then it runs apart), then ran
        statuses = [a["status"] for a in attempts[t]]
        assert statuses[-1] == "success" and set(statuses[:-1]) == {"lost"}, statuses
        assert len(statuses) <= 3, statuses


# --- 5. one identity per node -----------------------------------------------------------------

@pytest.mark.postgres
def test_a_node_id_held_by_a_live_node_refuses_to_start(pg_url: str, tmp_path: Path) -> None:
    env = {"NODE_ID": "faults-twin"}
    first = ErrandsServer(database_url=pg_url, workdir=tmp_path, env=env).start()
    try:
        twin = ErrandsServer(database_url=pg_url, workdir=tmp_path, env=env)
        try:
            twin.start()
            raise AssertionError("a second node with the same NODE_ID started")
        except RuntimeError:
            pass
        finally:
            twin.stop()
            twin.client.close()
        assert twin.proc is not None and twin.proc.returncode == 2
        assert "NODE_ID 'faults-twin'" in twin.log()
        assert "Traceback" not in twin.log()
        first.call("system.health")  # the live node is untouched
        first.kill()  # its connection dies with it, and the lock with the connection
    finally:
        first.client.close()
    with ErrandsServer(database_url=pg_url, workdir=tmp_path, env=env) as again:
        assert again.call("system.health")["status"] == "ok"


# --- 6. shutdown: /readyz answers "draining" until the exit, and the exit is 0 -----------------

def test_sigterm_keeps_answering_draining_through_the_grace_then_exits_0(
        database_url: str, tmp_path: Path) -> None:
    release = threading.Event()

    def slow(request: ReceivedRequest) -> Reply:
        release.wait(120)
        return Reply(json={"ok": True})

    with HttpServer() as sink:
        sink.route("/slow", handler=slow)
        server = ErrandsServer(database_url=database_url, workdir=tmp_path,
                               env={"SHUTDOWN_GRACE_SECONDS": "120"}).start()
        try:
            task = _create(server, sink.url_for("/slow"), "in flight at SIGTERM")
            _wait_requests(sink, "/slow", 1)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            answers: list[tuple[int, Any]] = []
            deadline = time.monotonic() + 60
            while not answers or answers[-1][0] == 200:  # until the signal is seen
                assert time.monotonic() < deadline
                got = server.client.get(f"{server.base}/readyz")
                answers.append((got.status_code, got.json()))
            # The attempt is still in flight (the sink has not answered): the node drains.
            for _ in range(10):
                got = server.client.get(f"{server.base}/readyz")
                answers.append((got.status_code, got.json()))
                time.sleep(0.05)
            assert [a for a in answers if a[0] != 200] == [
                (503, {"status": "unavailable", "problems": ["draining"]})] * (
                len([a for a in answers if a[0] != 200]))
            release.set()  # the attempt ends; the drain is over
            assert server.proc.wait(120) == 0
            assert "Traceback" not in server.log()
        finally:
            release.set()
            server.stop()
            server.client.close()
        with ErrandsServer(database_url=database_url, workdir=tmp_path) as after:
            done = after.call("tasks.get", {"id": task})
    assert done["status"] == "completed"  # it finished inside the grace


# --- 3. a partition (packets held, nothing reset) answers 503 within DB_TIMEOUT_SECONDS --------

class HoldingProxy:
    """127.0.0.1:<port> → PostgreSQL. ``hold()`` stops forwarding in both directions and
    closes nothing (a partition: packets held, not connections reset); ``release()`` delivers
    what was held, late, and forwards again."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.pending = 0  # chunks read and not yet delivered
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self.flowing.clear()

    def release(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.flowing.set()
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((PG_HOST, PG_PORT))
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                with self._lock:
                    self.pending += 1
                try:
                    self.flowing.wait()
                    dst.sendall(data)
                finally:
                    with self._lock:
                        self.pending -= 1
        self.flowing.wait()
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@pytest.fixture
def held_database() -> Iterator[tuple[str, str, HoldingProxy]]:
    require_postgres()
    proxy = HoldingProxy()
    with postgres_database() as url:
        name = url.rsplit("/", 1)[1]
        try:
            yield f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{proxy.port}/{name}", name, proxy
        finally:
            proxy.close()


def _tasks_with_key(database: str, key: str) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER,
                                     database=database)
        try:
            return int(await conn.fetchval(
                "SELECT count(*) FROM tasks WHERE idempotency_key = $1", key))
        finally:
            await conn.close()
    return asyncio.run(count())


@pytest.mark.postgres
def test_a_partition_answers_503_within_the_db_timeout_and_commits_nothing_late(
        held_database: tuple[str, str, HoldingProxy], tmp_path: Path) -> None:
    url, name, proxy = held_database
    create = {"title": "during the partition", "taskType": "api_call",
              "idempotencyKey": "partition-create",
              "executionConfig": {"apiEndpoint": "http://127.0.0.1:9/"}}
    server = ErrandsServer(database_url=url, workdir=tmp_path).start()  # DB_TIMEOUT_SECONDS=5
    latencies: dict[str, float] = {}
    try:
        server.call("system.stats")
        proxy.hold()
        calls: list[tuple[str, object, bool]] = [
            ("tasks.create", create, True), ("system.stats", None, False),
            ("tasks.list", {}, False), ("tasks.get", {"id": "tsk_x"}, False),
            ("webhooks.list", None, False), ("tasks.create", create, True)]
        for path, data, mutation in calls:
            started = time.monotonic()
            with pytest.raises(TRPCCallError) as caught:
                server.call(path, data, mutation=mutation)
            latencies[path] = max(latencies.get(path, 0.0), time.monotonic() - started)
            assert (caught.value.status, caught.value.code) == (503, "SERVICE_UNAVAILABLE"), (
                path, caught.value.error)
        proxy.release()  # the held statements arrive now, late
        deadline = time.monotonic() + 60
        while proxy.pending:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1)  # what PostgreSQL does with them is done by now
        assert _tasks_with_key(name, "partition-create") == 0  # answered 503: not committed
        while True:  # back without a restart
            try:
                server.call("system.stats")
                break
            except TRPCCallError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        first = server.call("tasks.create", create, mutation=True)
        again = server.call("tasks.create", create, mutation=True)
        assert first["id"] == again["id"]
        assert _tasks_with_key(name, "partition-create") == 1
    finally:
        proxy.release()
        server.stop()
        server.client.close()
    print("503 latency during a held-packet partition (DB_TIMEOUT_SECONDS=5): "
          + ", ".join(f"{p} {s:.2f} s" for p, s in latencies.items()))
    log = server.log()
    assert log.count("the database is unavailable") == 1, log  # one warning for the period
    assert "INTERNAL_SERVER_ERROR" not in log and "Traceback" not in log


# --- 4. a full disk answers 503 naming storage; the runner waits and nothing is lost ---------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs of its own (the test fills it). Mounting needs root (CAP_SYS_ADMIN)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip("a full disk needs a small filesystem of its own, and mounting a tmpfs "
                    f"is not allowed here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> None:
    """Write ``path`` until the filesystem has no byte left."""
    chunk = b"\0" * 65536
    with path.open("wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
        with contextlib.suppress(OSError):  # and the last few bytes
            while f.write(b"\0"):
                pass


def test_a_full_disk_answers_503_naming_storage_and_loses_nothing(
        small_disk: Path, tmp_path: Path) -> None:
    release = threading.Event()

    def slow(request: ReceivedRequest) -> Reply:
        release.wait(120)
        return Reply(json={"ok": True})

    url = f"sqlite+aiosqlite:///{small_disk / 'errands.db'}"
    with HttpServer() as sink:
        sink.route("/slow", handler=slow)
        sink.route("/ok", json={"ok": True})
        with ErrandsServer(database_url=url, workdir=tmp_path) as server:
            before = _create(server, sink.url_for("/ok"), "before the disk filled")
            running = _create(server, sink.url_for("/slow"), "running as the disk fills")
            _wait_requests(sink, "/slow", 1)
            filler = small_disk / "filler"
            _fill(filler)
            refused: TRPCCallError | None = None
            padding = "x" * 30_000  # the database's log must grow: a write needs new space
            for i in range(400):
                try:
                    server.call("tasks.create", {
                        "title": f"while full {i}", "taskType": "api_call",
                        "idempotencyKey": f"full-{i}", "metadata": {"padding": padding},
                        "executionConfig": {"apiEndpoint": sink.url_for("/ok")}},
                        mutation=True)
                except TRPCCallError as exc:
                    refused, key = exc, f"full-{i}"
                    break
            assert refused is not None, "no write ever failed on a full disk"
            assert (refused.status, refused.code) == (503, "SERVICE_UNAVAILABLE")
            assert "storage" in refused.error["message"]
            ready = server.client.get(f"{server.base}/readyz")
            assert ready.status_code == 503 and "storage unavailable" in ready.json()["problems"]
            release.set()  # the attempt ends while nothing can be written: its record waits
            assert server.call("tasks.get", {"id": running})["status"] == "in_progress"
            filler.unlink()  # space again
            deadline = time.monotonic() + 60
            while server.client.get(f"{server.base}/readyz").status_code != 200:
                assert time.monotonic() < deadline, "/readyz never recovered"
                time.sleep(0.1)
            done = server.wait_for(running, TERMINAL, timeout=60)  # the runner resumed
            assert done["status"] == "completed" and done["result"]["status"] == 200
            assert server.call("tasks.get", {"id": before})["status"] == "completed"
            listed = server.call("tasks.list", {"search": "while full", "limit": 200})["items"]
            assert key not in {t["idempotencyKey"] for t in listed}  # answered 503: not saved
            again = server.call("tasks.create", {
                "title": "after", "taskType": "api_call",
                "executionConfig": {"apiEndpoint": sink.url_for("/ok")}}, mutation=True)
            assert server.wait_for(again["id"], TERMINAL)["status"] == "completed"
        log = server.log()
    assert "storage unavailable" in log
    assert "INTERNAL_SERVER_ERROR" not in log and "Traceback" not in log
