"""The inbound HTTP routes that take no API key (CONTRACT §16): ``POST /hooks/<triggerId>``,
``POST /callbacks/<taskId>/<token>``.

Each answers JSON ``{taskId}`` or ``{error}``; a database outage is 503, anything unexpected
500 with a plain message (logged here, never with the received body).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from litestar import Request, post
from litestar.datastructures import State
from litestar.response import Response

from server.errors import database_unavailable

if TYPE_CHECKING:
    from server.app import Node

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


ROUTES: list[Any] = [hook, callback]
