"""A small programmable HTTP/1.1 server for tests, on 127.0.0.1 and a free port.

It runs in its own threads, so it serves sync and async tests alike (httpx, Playwright, a
webhook receiver) without sharing the test's event loop. Every request is recorded.

API::

    with HttpServer() as server:                    # host="127.0.0.1", port=0 (free port)
        server.url                                  # "http://127.0.0.1:41234"
        server.url_for("/a?b=1")                    # server.url + path
        server.route("/ok", json={"ok": True})      # 200, application/json
        server.route("/text", body="hi", headers={"Content-Type": "text/plain"})
        server.route("/slow", delay=2.0)            # waits before the status line
        server.route("/busy", status=503, headers={"Retry-After": "7"})
        server.route("/moved", redirect_to="/ok")   # 302 + Location (status= to change)
        server.route("/echo", echo=True)            # answers with the request it received
        server.route("/flaky", sequence=[Reply(status=503), Reply(status=200)])  # last repeats
        server.route("/any", handler=lambda req: Reply(status=201, body=req.body))
        server.route("/only-post", method="POST", status=204)
        server.route("/hangup", reply=Reply(drop=True))   # closes without answering
        ...
        server.requests                             # [ReceivedRequest, ...] in arrival order
        server.requests_to("/echo")                 # those with that path

``Reply(status=200, headers={}, body=b"" | str | None, json=..., delay=0.0, drop=False)``
is one answer; ``body`` str is sent as UTF-8, ``json`` is encoded with ``json.dumps`` and
sets ``Content-Type: application/json`` unless headers say otherwise. ``headers`` may be a
mapping or a list of pairs (for repeated names such as ``Set-Cookie``).
``ReceivedRequest`` has ``method, path, query (dict of lists), headers (lower-case names;
repeated headers joined with ", "), body (bytes)``, ``text`` and ``json()``. The echo route
answers ``{"method", "path", "query", "headers", "body"}`` (body as text) in JSON.

An unknown path answers 404. Routes can be changed while the server runs. ``stop()`` (or
leaving the ``with``) interrupts delays, closes open connections and joins every thread, so
nothing outlives the test. ``HttpServer(host="127.0.0.2")`` binds another loopback address
(Linux routes all of 127/8 to loopback); ``host="::1"`` binds IPv6.
"""

from __future__ import annotations

import json as jsonlib
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

_MISSING: Any = object()


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    raw_target: str

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    def as_echo(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "query": self.query,
                "headers": self.headers, "body": self.text}


@dataclass(frozen=True)
class Reply:
    """One programmed answer."""

    status: int = 200
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = field(default_factory=dict)
    body: bytes | str | None = None
    json: Any = _MISSING
    delay: float = 0.0
    drop: bool = False

    def header_pairs(self) -> list[tuple[str, str]]:
        items = self.headers.items() if isinstance(self.headers, Mapping) else self.headers
        return list(items)

    def encoded_body(self) -> tuple[bytes, str | None]:
        """The bytes to send and the Content-Type implied by ``json``/``body``."""
        if self.json is not _MISSING:
            return jsonlib.dumps(self.json).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return self.body or b"", None


Handler = Callable[[ReceivedRequest], Reply]


class _Route:
    def __init__(self, method: str | None, answer: Handler | list[Reply]) -> None:
        self.method = method
        self.answer = answer
        self.lock = threading.Lock()

    def reply_for(self, request: ReceivedRequest) -> Reply:
        if callable(self.answer):
            return self.answer(request)
        with self.lock:
            return self.answer.pop(0) if len(self.answer) > 1 else self.answer[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins the handler threads

    def __init__(self, owner: HttpServer, address: tuple[str, int], family: int) -> None:
        self.address_family = family
        self.owner = owner
        super().__init__(address, _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away (timeouts in tests do this on purpose) is not an error.
        pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30  # an idle keep-alive connection does not hold stop() forever

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._closed(self.connection)

    def _serve(self) -> None:
        owner = self.server.owner
        request = self._read_request()
        owner._record(request)
        reply = owner._reply_for(request)
        if reply.delay and owner._stopping.wait(reply.delay):
            self.close_connection = True
            return
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        body, implied_type = reply.encoded_body()
        pairs = reply.header_pairs()
        names = {name.lower() for name, _ in pairs}
        self.send_response(reply.status)
        for name, value in pairs:
            self.send_header(name, value)
        if implied_type and "content-type" not in names:
            self.send_header("Content-Type", implied_type)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_request(self) -> ReceivedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        parts = urlsplit(self.path)
        return ReceivedRequest(method=self.command, path=parts.path,
                               query=parse_qs(parts.query, keep_blank_values=True),
                               headers=headers, body=body, raw_target=self.path)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class HttpServer:
    """See the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._routes: dict[str, list[_Route]] = {}
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self.requests: list[ReceivedRequest] = []
        self._server = _Server(self, (host, port), family)
        self.host = host
        self.port: int = self._server.server_address[1]
        netloc = f"[{host}]" if ":" in host else host
        self.url = f"http://{netloc}:{self.port}"
        self._thread: threading.Thread | None = None

    def url_for(self, path: str) -> str:
        return urljoin(self.url + "/", path)

    def route(
        self,
        path: str,
        *,
        method: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        body: bytes | str | None = None,
        json: Any = _MISSING,
        delay: float = 0.0,
        redirect_to: str | None = None,
        echo: bool = False,
        reply: Reply | None = None,
        sequence: Sequence[Reply] | None = None,
        handler: Handler | None = None,
    ) -> None:
        """Program ``path`` (query ignored); a later route for the same path and method wins."""
        answer: Handler | list[Reply]
        if handler is not None:
            answer = handler
        elif sequence is not None:
            answer = list(sequence)
        elif reply is not None:
            answer = [reply]
        else:
            answer = self._simple(status, headers, body, json, delay, redirect_to, echo)
        with self._lock:
            routes = [r for r in self._routes.get(path, []) if r.method != method]
            routes.insert(0, _Route(method, answer))
            self._routes[path] = routes

    @staticmethod
    def _simple(status: int | None, headers: Mapping[str, str] | Sequence[tuple[str, str]] | None,
                body: bytes | str | None, json: Any, delay: float, redirect_to: str | None,
                echo: bool) -> Handler | list[Reply]:
        pairs = list(headers.items() if isinstance(headers, Mapping) else headers or [])
        if redirect_to is not None:
            pairs.append(("Location", redirect_to))
            status = status or 302
        if echo:
            code = status or 200
            return lambda request: Reply(status=code, headers=pairs, json=request.as_echo(),
                                         delay=delay)
        return [Reply(status=status or 200, headers=pairs, body=body, json=json, delay=delay)]

    def requests_to(self, path: str) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"http-server-{self.port}")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Interrupt delays, close connections, join every thread. Idempotent."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        with self._lock:
            open_connections = list(self._connections)
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- called from handler threads -------------------------------------------------------

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _reply_for(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            candidates = list(self._routes.get(request.path, []))
        for route in candidates:
            if route.method is None or route.method == request.method:
                return route.reply_for(request)
        if candidates:
            return Reply(status=405, body="method not allowed")
        return Reply(status=404, body="no route")

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)
