"""tRPC error codes and the one exception the protocol layer understands.

Every error that leaves the wire is a :class:`TRPCError`. Application code raises its own
exceptions; the application hands an ``error_mapper`` to the protocol layer that turns them
into ``TRPCError``. Anything unmapped becomes ``INTERNAL_SERVER_ERROR`` with a generic message.
"""

from __future__ import annotations

from typing import Any, Final, Literal

TRPCCode = Literal[
    "PARSE_ERROR",
    "BAD_REQUEST",
    "UNAUTHORIZED",
    "PAYMENT_REQUIRED",
    "FORBIDDEN",
    "NOT_FOUND",
    "METHOD_NOT_SUPPORTED",
    "TIMEOUT",
    "CONFLICT",
    "PRECONDITION_FAILED",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "UNPROCESSABLE_CONTENT",
    "PRECONDITION_REQUIRED",
    "TOO_MANY_REQUESTS",
    "CLIENT_CLOSED_REQUEST",
    "INTERNAL_SERVER_ERROR",
    "NOT_IMPLEMENTED",
    "BAD_GATEWAY",
    "SERVICE_UNAVAILABLE",
    "GATEWAY_TIMEOUT",
]

# code -> (JSON-RPC number, HTTP status), from tRPC's rpc/codes.ts and http/getHTTPStatusCode.ts
CODES: Final[dict[str, tuple[int, int]]] = {
    "PARSE_ERROR": (-32700, 400),
    "BAD_REQUEST": (-32600, 400),
    "UNAUTHORIZED": (-32001, 401),
    "PAYMENT_REQUIRED": (-32002, 402),
    "FORBIDDEN": (-32003, 403),
    "NOT_FOUND": (-32004, 404),
    "METHOD_NOT_SUPPORTED": (-32005, 405),
    "TIMEOUT": (-32008, 408),
    "CONFLICT": (-32009, 409),
    "PRECONDITION_FAILED": (-32012, 412),
    "PAYLOAD_TOO_LARGE": (-32013, 413),
    "UNSUPPORTED_MEDIA_TYPE": (-32015, 415),
    "UNPROCESSABLE_CONTENT": (-32022, 422),
    "PRECONDITION_REQUIRED": (-32028, 428),
    "TOO_MANY_REQUESTS": (-32029, 429),
    "CLIENT_CLOSED_REQUEST": (-32099, 499),
    "INTERNAL_SERVER_ERROR": (-32603, 500),
    "NOT_IMPLEMENTED": (-32603, 501),
    "BAD_GATEWAY": (-32603, 502),
    "SERVICE_UNAVAILABLE": (-32603, 503),
    "GATEWAY_TIMEOUT": (-32603, 504),
}


class TRPCError(Exception):
    """An error with a tRPC code; ``issues`` lists field problems for validation errors.

    ``issues`` items are ``{"path": [...], "message": "..."}``. ``headers`` are extra HTTP
    headers for a single-call answer (``allow`` for METHOD_NOT_SUPPORTED, ``retry-after``).
    """

    def __init__(
        self,
        code: TRPCCode,
        message: str,
        *,
        issues: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code: TRPCCode = code
        self.message = message
        self.issues = issues
        self.headers = headers or {}

    @property
    def json_rpc_code(self) -> int:
        return CODES[self.code][0]

    @property
    def http_status(self) -> int:
        return CODES[self.code][1]

    def shape(self, path: str | None) -> dict[str, Any]:
        """The wire shape: ``{message, code, data: {code, httpStatus, path?, issues?}}``."""
        data: dict[str, Any] = {"code": self.code, "httpStatus": self.http_status}
        if path is not None:
            data["path"] = path
        if self.issues is not None:
            data["issues"] = self.issues
        return {"message": self.message, "code": self.json_rpc_code, "data": data}
