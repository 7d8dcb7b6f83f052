"""Serving a ``TRPCApp`` from Litestar.

``trpc_mount`` is a Litestar route handler (Litestar's public ``asgi(..., is_mount=True)``)
for the mount path and everything below it. Litestar hands a mounted ASGI app a scope whose
``path`` is what follows the mount path (``/greet`` for ``/trpc/greet``); the mount also sets
``root_path`` to the outer ``root_path`` plus the mount path, so that ``TRPCApp`` reads the
procedure path from the raw, still percent-encoded request path (``raw_path``) and can refuse
malformed escapes itself.

:class:`TRPCFirst` is the fast way for the one mount that takes nearly all the traffic: an ASGI
app in front of the Litestar app that hands HTTP requests below the mount path to the
``TRPCApp`` itself, skipping Litestar's exception middleware, router and route handler stack
(measured: about 23 µs of CPU a request, a fifth of a ``system.health`` on PostgreSQL).
Such a request goes through the same ASGI middleware as through Litestar, gets the same scope
keys (``app``, ``state``, ``root_path``) and reaches the same ``TRPCApp``; everything else —
other paths, websockets, lifespan — goes to the Litestar app (through its public ASGI
interface), whose mount serves the path too.
"""

from collections.abc import Callable, Sequence
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
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


class TRPCFirst:
    """An ASGI app: HTTP requests for ``path`` and below go to ``app`` inside ``middleware``
    (outermost first, as Litestar applies its ``middleware=`` list); everything else to
    ``litestar``."""

    def __init__(self, litestar: Litestar, app: TRPCApp, middleware: Sequence[Middleware],
                 path: str = "/trpc") -> None:
        self.litestar = litestar
        self.mount = _mount_path(path)

        async def mounted(scope: Any, receive: Receive, send: Send) -> None:
            scope["root_path"] = scope.get("root_path", "").rstrip("/") + self.mount
            await app(scope, receive, send)  # type: ignore[arg-type]

        handler: ASGIApp = mounted
        for wrap in reversed(middleware):
            handler = wrap(handler)
        self._first = handler

    @property
    def state(self) -> State:
        """The Litestar app's state."""
        return self.litestar.state

    def _serves_first(self, scope: Any) -> bool:
        if scope["type"] != "http":
            return False
        mount = self.mount
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        return path.startswith(mount) and (len(path) == len(mount) or path[len(mount)] == "/")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._serves_first(scope):
            scope = {**scope, "app": self.litestar, "litestar_app": self.litestar}  # as the
            scope.setdefault("state", {})                       # mount's copy of the scope
            await self._first(scope, receive, send)
            return
        await self.litestar(scope, receive, send)
