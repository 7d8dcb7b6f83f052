"""The exception tree of the application, and its single mapping to tRPC error codes.

::

    ErrandsError                 (INTERNAL_SERVER_ERROR)
    ├── InvalidInput             BAD_REQUEST, with issues [{path, message}]
    ├── NotFound                 NOT_FOUND
    ├── Conflict                 CONFLICT (a transition the lifecycle forbids)
    ├── PreconditionFailed       PRECONDITION_FAILED (e.g. execute before approval)
    ├── Unauthorized             UNAUTHORIZED
    ├── Forbidden                FORBIDDEN
    └── ConfigurationError       raised at start for invalid settings (never on the wire)

Each class's docstring is its default message.
"""

from __future__ import annotations

from typing import Any

from server.rpc.errors import TRPCCode, TRPCError


class ErrandsError(Exception):
    """Something went wrong."""

    code: TRPCCode = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (type(self).__doc__ or "error").strip()
        super().__init__(self.message)


class InvalidInput(ErrandsError):
    """The input is invalid."""

    code = "BAD_REQUEST"

    def __init__(self, message: str | None = None,
                 issues: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []

    @classmethod
    def at(cls, path: list[str | int], message: str) -> InvalidInput:
        """One problem at one field; the message names the field."""
        where = ".".join(str(p) for p in path)
        return cls(f"{where}: {message}" if where else message,
                   [{"path": list(path), "message": message}])


class NotFound(ErrandsError):
    """Not found."""

    code = "NOT_FOUND"


class Conflict(ErrandsError):
    """The request conflicts with the current state."""

    code = "CONFLICT"


class PreconditionFailed(ErrandsError):
    """A precondition of this request is not met."""

    code = "PRECONDITION_FAILED"


class Unauthorized(ErrandsError):
    """Missing or unknown API key: send Authorization: Bearer <key>."""

    code = "UNAUTHORIZED"


class Forbidden(ErrandsError):
    """This API key's role may not do that."""

    code = "FORBIDDEN"


class ConfigurationError(ErrandsError):
    """The configuration is invalid."""


def to_trpc(exc: BaseException) -> TRPCError | None:
    """The one mapping from our exceptions to tRPC errors; ``None`` for anything unknown."""
    if isinstance(exc, TRPCError):
        return exc
    if isinstance(exc, InvalidInput):
        return TRPCError("BAD_REQUEST", exc.message, issues=exc.issues)
    if isinstance(exc, ErrandsError) and not isinstance(exc, ConfigurationError):
        return TRPCError(exc.code, exc.message)
    return None
