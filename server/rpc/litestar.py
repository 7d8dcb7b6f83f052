"""Serving a ``TRPCApp`` from Litestar.

``trpc_mount`` is a Litestar route handler (Litestar's public ``asgi(..., is_mount=True)``)
for the mount path and everything below it. Litestar hands a mounted ASGI app a scope whose
``path`` is what follows the mount path (``/greet`` for ``/trpc/greet``); the mount also sets
``root_path`` to the outer ``root_path`` plus the mount path, so that ``TRPCApp`` reads the
procedure path from the raw, still percent-encoded request path (``raw_path``) and can refuse
malformed escapes itself.
"""

from litestar.handlers import ASGIRouteHandler, asgi
from litestar.types import Receive, Scope, Send

from server.rpc.app import TRPCApp


def _mount_path(path: str) -> str:
    return "/" + path.strip("/")


def trpc_mount(app: TRPCApp, path: str = "/trpc") -> ASGIRouteHandler:
    """A Litestar route handler serving ``app`` at ``path`` and everything below it."""
    mount = _mount_path(path)

    async def trpc(scope: Scope, receive: Receive, send: Send) -> None:
        scope["root_path"] = scope.get("root_path", "").rstrip("/") + mount
        await app(scope, receive, send)  # type: ignore[arg-type]

    return asgi(mount, is_mount=True, copy_scope=True, name="trpc")(trpc)
