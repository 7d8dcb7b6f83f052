"""Serving a ``TRPCApp`` from Litestar.

``trpc_mount`` is the plain way: a Litestar route handler for the mount path and everything
below it. Litestar hands a mounted ASGI app a scope whose ``path`` is what follows the mount
path (``/greet`` for ``/trpc/greet``); the mount also sets ``root_path`` to the outer
``root_path`` plus the mount path, so that ``TRPCApp`` reads the procedure path from the raw,
still percent-encoded request path (``raw_path``) and can refuse malformed escapes itself.

:class:`TRPCFirst` is the fast way for the one mount that takes nearly all the traffic: a
Litestar app that answers HTTP requests below the mount path itself, before Litestar's
exception middleware, router and route handler stack (about a tenth of a ``tasks.get``).
Such a request goes through the same ASGI middleware as through Litestar (the app gives
them, wrapped around the mounted app), gets the same scope keys (``app``, ``state``,
``root_path``) and reaches the same ``TRPCApp``; everything else — other paths, websockets,
lifespan — is Litestar's as before, the mount included.
"""

from collections.abc import Callable, Sequence
from typing import Any

from litestar import Litestar
from litestar.handlers import ASGIRouteHandler, asgi
from litestar.types import ASGIApp, Receive, Scope, Send

from server.rpc.app import TRPCApp

Middleware = Callable[[ASGIApp], ASGIApp]


def _mount_path(path: str) -> str:
    return "/" + path.strip("/")


def trpc_mount(app: TRPCApp, path: str = "/trpc") -> ASGIRouteHandler:
    """A Litestar route handler serving ``app`` at ``path`` and everything below it."""
    mount = _mount_path(path)

    async def trpc(scope: Scope, receive: Receive, send: Send) -> None:
        scope["root_path"] = scope.get("root_path", "").rstrip("/") + mount
        await app(scope, receive, send)  # type: ignore[arg-type]

    return asgi(mount, is_mount=True, copy_scope=True, name="trpc")(trpc)


class TRPCFirst(Litestar):
    """Litestar, answering HTTP requests below ``serve_first``'s path before its routing."""

    _first_mount: str | None = None
    _first_app: ASGIApp | None = None

    def serve_first(self, app: TRPCApp, middleware: Sequence[Middleware],
                    path: str = "/trpc") -> None:
        """Answer HTTP requests for ``path`` and below with ``app`` inside ``middleware``
        (outermost first, as Litestar applies its ``middleware=`` list)."""
        mount = _mount_path(path)

        async def mounted(scope: Any, receive: Receive, send: Send) -> None:
            scope["root_path"] = scope.get("root_path", "").rstrip("/") + mount
            await app(scope, receive, send)  # type: ignore[arg-type]

        handler: ASGIApp = mounted
        for wrap in reversed(middleware):
            handler = wrap(handler)
        self._first_mount, self._first_app = mount, handler

    def _serves_first(self, scope: Any) -> bool:
        mount = self._first_mount
        if mount is None or scope["type"] != "http":
            return False
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        return path.startswith(mount) and (len(path) == len(mount) or path[len(mount)] == "/")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._serves_first(scope):
            assert self._first_app is not None
            scope = {**scope, "app": self, "litestar_app": self}  # Litestar's, copied as
            scope.setdefault("state", {})                         # its mount copies it
            await self._first_app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
