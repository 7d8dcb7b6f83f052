"""PostgreSQL going away under a running server: every procedure answers SERVICE_UNAVAILABLE
(503), never a 500, and the server carries on when the database is back."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    create_postgres_database,
    drop_postgres_database,
    require_postgres,
)
from tests.support.server import ErrandsServer, TRPCCallError, free_port


class TcpProxy:
    """Forwards 127.0.0.1:<port> to PostgreSQL; ``down()`` drops every connection and stops
    listening (an outage), ``up()`` listens again on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((PG_HOST, PG_PORT))
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@pytest.fixture
def proxied_database() -> Iterator[tuple[str, TcpProxy]]:
    require_postgres()
    _, name = create_postgres_database()
    proxy = TcpProxy(free_port())
    proxy.up()
    try:
        yield f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{proxy.port}/{name}", proxy
    finally:
        proxy.down()
        drop_postgres_database(name)


@pytest.mark.postgres
def test_database_outage_is_service_unavailable_on_every_procedure(
        proxied_database: tuple[str, TcpProxy], tmp_path: Path) -> None:
    url, proxy = proxied_database
    server = ErrandsServer(database_url=url, workdir=tmp_path).start()
    try:
        server.call("system.stats")
        proxy.down()
        calls: list[tuple[str, object, bool]] = [
            ("system.stats", None, False), ("tasks.list", {}, False),
            ("tasks.get", {"id": "tsk_x"}, False), ("webhooks.list", None, False),
            ("tasks.create", {"title": "t", "taskType": "api_call",
                              "executionConfig": {"apiEndpoint": "http://127.0.0.1:9/"}}, True),
        ]
        for path, data, mutation in calls:
            with pytest.raises(TRPCCallError) as caught:
                server.call(path, data, mutation=mutation)
            assert (caught.value.status, caught.value.code) == (503, "SERVICE_UNAVAILABLE"), path
            assert "database" in caught.value.error["message"]
        proxy.up()
        server.call("system.stats")  # back without a restart
    finally:
        proxy.down()
        server.stop()
        server.client.close()
    assert "INTERNAL_SERVER_ERROR" not in server.log()
