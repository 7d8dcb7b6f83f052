"""The inbound HTTP routes that take no API key (CONTRACT §16): ``POST /hooks/<triggerId>``,
``POST /callbacks/<taskId>/<token>``, ``GET|POST /approve/<token>`` (approval links).

Each answers JSON ``{taskId}`` or ``{error}``; a database outage is 503, anything unexpected
500 with a plain message (logged here, never with the received body).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Response

from server.core.errors import database_unavailable
from server.services.approval_links import HEADERS, Page

if TYPE_CHECKING:
    from server.node.app import Node

log = logging.getLogger("errands.inbound")


async def read_body(request: Request[Any, Any, State], limit: int) -> bytes | None:
    """The request body, or None when it is longer than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def failure(exc: Exception) -> Response[Any]:
    if database_unavailable(exc):
        return Response({"error": "the database is unavailable; try again shortly"},
                        status_code=503, headers={"retry-after": "1"})
    log.exception("inbound request failed")
    return Response({"error": "internal error"}, status_code=500)


@post("/hooks/{trigger_id:str}", include_in_schema=False, status_code=202)
async def hook(trigger_id: str, request: Request[Any, Any, State], state: State
               ) -> Response[Any]:
    """A trigger's event: verified, then a task created from its template."""
    node: Node = state.node
    body = await read_body(request, node.settings.max_body_bytes)
    try:
        answer = await node.triggers.receive(trigger_id, dict(request.headers), body)
    except Exception as exc:
        return failure(exc)
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


@post("/callbacks/{task_id:str}/{token:str}", include_in_schema=False, status_code=200)
async def callback(task_id: str, token: str, request: Request[Any, Any, State], state: State
                   ) -> Response[Any]:
    """A callback task's URL: ``{"result"?: any}`` completes it, ``{"error": str}`` fails it."""
    node: Node = state.node
    body = await read_body(request, node.settings.max_body_bytes)
    if body is None:
        return Response({"error": "the body is larger than MAX_BODY_BYTES"}, status_code=413)
    try:
        answer = await node.callbacks.call(task_id, token, body)
    except Exception as exc:
        return failure(exc)
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


def _page(page: Page) -> Response[Any]:
    return Response(page.html, status_code=page.status, media_type="text/html",
                    headers=HEADERS)


@get("/approve/{token:str}", include_in_schema=False)
async def approval_page(token: str, state: State) -> Response[Any]:
    """An approval link's page: the task, its masked config, Approve / Reject and notes."""
    node: Node = state.node
    try:
        return _page(await node.approval_links.show(token))
    except Exception as exc:
        return failure(exc)


@post("/approve/{token:str}", include_in_schema=False, status_code=200)
async def approval_decision(token: str, request: Request[Any, Any, State], state: State
                            ) -> Response[Any]:
    """The decision posted from the link's page (a form, never cross-site)."""
    node: Node = state.node
    body = await read_body(request, 65_536)
    if body is None:
        return Response("too large", status_code=413, media_type="text/plain", headers=HEADERS)
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    origin = request.headers.get("origin")
    cross_site = request.headers.get("sec-fetch-site") == "cross-site" or (
        origin is not None and origin != "null"
        and urlsplit(origin).netloc != request.headers.get("host"))
    try:
        return _page(await node.approval_links.decide(token, form, cross_site=cross_site))
    except Exception as exc:
        return failure(exc)


ROUTES: list[Any] = [hook, callback, approval_page, approval_decision]
