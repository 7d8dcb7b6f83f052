"""``python -m server``: serve Errands with uvicorn on HOST:PORT (docs/CONTRACT.md §9)."""

from __future__ import annotations

import ipaddress
import sys

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
    print(f"errands: serving http://{settings.host}:{settings.port}/trpc "
          f"({settings.database_url.split('://')[0]})", file=sys.stderr, flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                access_log=False, timeout_graceful_shutdown=int(settings.shutdown_grace_seconds)
                + 10, lifespan="on")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
