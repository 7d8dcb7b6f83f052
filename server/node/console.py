"""The operator console (CONTRACT §11): the single-page app built into ``web/dist``.

``index.html`` is served at ``/`` and at the app's own routes (so a reload or a shared link
works) with ``Cache-Control: no-cache``; the hashed files under ``/assets/`` are cached for a
year (their names change whenever their content does). The app calls only ``/trpc``.
"""

from __future__ import annotations

import gzip
import mimetypes
from pathlib import Path
from typing import Any, Final

from litestar import Request, Router, get
from litestar.response import Response

DIST: Final = Path(__file__).resolve().parents[2] / "web" / "dist"
# The console's client-side routes (web/src/routes.ts): each answers with index.html.
APP_ROUTES: Final = ["/", "/login", "/tasks", "/tasks/{rest:path}", "/review", "/new",
                     "/schedules", "/webhooks", "/reports", "/audit", "/clients", "/connections",
                     "/triggers", "/live/{rest:path}", "/rate-limits"]
LONG_CACHE: Final = "public, max-age=31536000, immutable"
# CONTRACT §13: the page runs only its own bundle (no inline script or style), shows
# screenshots as blob: URLs (fetched with the key) and its icon as a data: URL, talks only to
# this server, and is never framed.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'")
PAGE_HEADERS: Final = {
    "content-security-policy": CONTENT_SECURITY_POLICY, "x-frame-options": "DENY",
    "referrer-policy": "no-referrer", "x-content-type-options": "nosniff"}


def console_router(dist: Path = DIST) -> Router:
    compressed: dict[Path, tuple[float, bytes]] = {}  # gzip of each asset, made once

    def gzipped(path: Path) -> bytes:
        mtime = path.stat().st_mtime
        cached = compressed.get(path)
        if cached is None or cached[0] != mtime:
            cached = (mtime, gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))
            compressed[path] = cached
        return cached[1]

    @get(APP_ROUTES, include_in_schema=False)
    async def index() -> Response[Any]:
        page = dist / "index.html"
        if not page.is_file():
            return Response("The console is not built: run `npm ci && npm run build` in web/.\n",
                            media_type="text/plain", status_code=503, headers=PAGE_HEADERS)
        return Response(page.read_bytes(), media_type="text/html",
                        headers={"cache-control": "no-cache", **PAGE_HEADERS})

    @get("/assets/{name:str}", include_in_schema=False)
    async def asset(name: str, request: Request[Any, Any, Any]) -> Response[Any]:
        path = dist / "assets" / name
        if "/" in name or name.startswith(".") or not path.is_file():
            return Response({"error": f"no asset {name!r}"}, status_code=404)
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        headers = {"cache-control": LONG_CACHE, "vary": "accept-encoding",
                   "x-content-type-options": "nosniff"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(gzipped(path), media_type=media_type,
                            headers={**headers, "content-encoding": "gzip"})
        return Response(path.read_bytes(), media_type=media_type, headers=headers)

    return Router(path="", route_handlers=[index, asset])
