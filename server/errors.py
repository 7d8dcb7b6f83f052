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

A database outage (connection refused, dropped, the server shutting down, a pool timeout) is
``SERVICE_UNAVAILABLE`` (503) on every procedure, never a 500.

Each class's docstring is its default message.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy.exc as sa_exc

from server.rpc.errors import TRPCCode, TRPCError

# SQLSTATE classes/codes that mean "the database is not there right now": connection
# exceptions (08…), operator intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03
# cannot connect now), too many connections (53300).
_OUTAGE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


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


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` is the database being unreachable, rather than a bad statement."""
    if isinstance(exc, sa_exc.TimeoutError):  # no connection from the pool in time
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError):
            return True
        orig = exc.orig
        state = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
        if state.startswith(_OUTAGE_SQLSTATES):
            return True
        cause = getattr(orig, "__cause__", None)
        return isinstance(cause, OSError) or isinstance(orig, OSError)
    return isinstance(exc, OSError)  # refused or reset while connecting (asyncpg raises it bare)


def to_trpc(exc: BaseException) -> TRPCError | None:
    """The one mapping from our exceptions to tRPC errors; ``None`` for anything unknown."""
    if isinstance(exc, TRPCError):
        return exc
    if database_unavailable(exc):
        return TRPCError("SERVICE_UNAVAILABLE",
                         "the database is unavailable; try again shortly",
                         headers={"retry-after": "1"})
    if isinstance(exc, InvalidInput):
        return TRPCError("BAD_REQUEST", exc.message, issues=exc.issues)
    if isinstance(exc, ErrandsError) and not isinstance(exc, ConfigurationError):
        return TRPCError(exc.code, exc.message)
    return None
