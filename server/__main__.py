"""``python -m server``: serve Errands with uvicorn on HOST:PORT (CONTRACT §9)."""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
import sys
from types import FrameType
from typing import Any

import uvicorn

from server.app import create_app
from server.errors import ConfigurationError
from server.settings import Settings


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


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigurationError as exc:
        print(f"errands: configuration error: {exc}", file=sys.stderr)
        return 2
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
                            loop="auto", http="auto",
                            access_log=False, lifespan="on", log_config=None,
                            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 10)
    _DrainingServer(config, app.state.errands).run()
    return 0


class _DrainingServer(uvicorn.Server):
    """On SIGTERM/SIGINT the node drains at once (not ready, no claiming, subscriptions
    closed) while uvicorn stops accepting connections; the lifespan's shutdown then waits
    for attempts up to SHUTDOWN_GRACE_SECONDS."""

    def __init__(self, config: uvicorn.Config, errands: Any) -> None:
        super().__init__(config)
        self.errands = errands

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.errands.request_drain()
        super().handle_exit(sig, frame)


if __name__ == "__main__":
    raise SystemExit(main())
