"""``python -m server``: serve Errands with uvicorn on HOST:PORT (docs/CONTRACT.md §9).

``python -m server rebuild <what>`` rebuilds a derived table or index instead and exits:
``counts`` (system.stats' kept counts, server/db/counts.py; also ``counts --rebuild``),
``rollups`` or ``search`` (server/node/rebuild.py; docs/operations.md). Safe while nodes run.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import logging
import sys
from types import FrameType

import msgspec
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.core.errors import ConfigurationError
from server.core.settings import Settings
from server.node.app import Node, create_app
from server.node.commands import rebuild_counts


class TRPCHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering requests it cannot parse in tRPC's shape.

    httptools refuses a request line of 64 KiB or more (a long ``?input=``, a batch of
    thousands of paths) and malformed HTTP before any ASGI app sees the request; uvicorn's
    own answer is a plain-text 400. This one is a tRPC error envelope (``BAD_REQUEST``).
    """

    def send_400_response(self, msg: str) -> None:
        body = msgspec.json.encode({"error": {
            "message": "Invalid HTTP request: malformed, or a URL of 64 KiB or more "
                       "(send large inputs as a POST body)",
            "code": -32600, "data": {"code": "BAD_REQUEST", "httpStatus": 400}}})
        self.transport.write(b"".join([
            b"HTTP/1.1 400 Bad Request\r\n",
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n", body]))
        self.transport.close()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _event_loop_and_parser() -> tuple[str, str]:
    """What uvicorn's ``loop="auto"`` / ``http="auto"`` pick: uvloop and httptools when
    installed (``uvicorn[standard]``, a dependency), else asyncio and h11."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, http


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        settings = Settings.from_env()
    except ConfigurationError as exc:
        print(f"errands: configuration error: {exc}", file=sys.stderr)
        return 2
    if args:
        return _command(settings, args)
    if not settings.api_keys and not _is_loopback(settings.host):
        print(f"errands: refusing to listen on {settings.host} without ERRANDS_API_KEYS: "
              "set keys (name:role:key, comma-separated) or use HOST=127.0.0.1",
              file=sys.stderr)
        return 2
    app = create_app(settings)
    loop, http = _event_loop_and_parser()
    logging.getLogger("errands").info(
        "serving http://%s:%s/trpc (%s; %s, %s)", settings.host, settings.port,
        settings.database_url.split("://")[0], loop, http)
    # log_config=None: uvicorn's own warnings go through our handler (LOG_FORMAT) too.
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                            loop="auto", http=TRPCHttpToolsProtocol,
                            access_log=False, lifespan="on", log_config=None,
                            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 10)
    server = _DrainingServer(config, app.state.node)
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        return runner.run(_serve(server, app.state.node))


def _command(settings: Settings, args: list[str]) -> int:
    from server.node.rebuild import REBUILDS, rebuild

    if args in (["counts", "--rebuild"], ["rebuild", "counts"]):
        counts = asyncio.run(rebuild_counts(settings))
        for (kind, status), n in sorted(counts.items()):
            print(f"{kind}s {status}: {n}")
        return 0
    if len(args) != 2 or args[0] != "rebuild" or args[1] not in REBUILDS:
        print(f"usage: python -m server [rebuild {{counts,{','.join(REBUILDS)}}}"
              " | counts --rebuild]", file=sys.stderr)
        return 2
    asyncio.run(rebuild(settings, args[1]))
    print(f"errands: rebuilt {args[1]}")
    return 0


async def _serve(server: uvicorn.Server, node: Node) -> int:
    """Serve, once this node holds its identity (CONTRACT §13: exit 2 if a live node does)."""
    if not await node.claim_identity():
        message = (f"NODE_ID {node.worker_id!r} is held by a live node (it holds that "
                   "NODE_ID's advisory lock); refusing to start: give each node its own NODE_ID")
        logging.getLogger("errands").error(message)
        print(f"errands: {message}", file=sys.stderr)
        await node.db.dispose()
        return 2
    await server.serve()
    return 0


class _DrainingServer(uvicorn.Server):
    """On SIGTERM/SIGINT the node drains (not ready, no claiming, subscriptions closed)
    while the port keeps answering — ``/readyz`` says 503 ``draining`` — until the attempts
    in flight have ended or SHUTDOWN_GRACE_SECONDS passed; then uvicorn stops, and the exit
    status is 0 (CONTRACT §13 "Shutdown"). A second signal stops at once (uvicorn's own)."""

    def __init__(self, config: uvicorn.Config, node: Node) -> None:
        super().__init__(config)
        self.node = node
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self._draining:
            self._draining = True
            if self.node.drain.request(then=self._drained):
                return
        super().handle_exit(sig, frame)

    def _drained(self) -> None:
        self.should_exit = True


if __name__ == "__main__":
    raise SystemExit(main())
