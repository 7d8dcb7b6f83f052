"""The exception tree of the application, each with its error code
(server/node/wire_errors.py ``to_trpc`` maps them to tRPC errors).

::

    ErrandsError                 (INTERNAL_SERVER_ERROR)
    ├── InvalidInput             BAD_REQUEST, with issues [{path, message}]
    ├── NotFound                 NOT_FOUND
    ├── Conflict                 CONFLICT (a transition the lifecycle forbids)
    ├── PreconditionFailed       PRECONDITION_FAILED (e.g. execute before approval)
    ├── Unauthorized             UNAUTHORIZED
    ├── Forbidden                FORBIDDEN
    └── ConfigurationError       raised at start for invalid settings (never on the wire)

A database outage (connection refused, dropped, the server shutting down, a pool timeout, no
answer within ``DB_TIMEOUT_SECONDS``) is ``SERVICE_UNAVAILABLE`` (503) on every procedure,
never a 500; so is storage that cannot take writes (a full disk, a read-only database).

Each class's docstring is its default message.
"""

from __future__ import annotations

import errno
from typing import Any, Literal

import sqlalchemy.exc as sa_exc

# SQLSTATE classes/codes that mean "the database is not there right now": connection
# exceptions (08…), operator intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03
# cannot connect now), too many connections (53300).
_OUTAGE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
# Storage that takes no writes: PostgreSQL disk_full, read_only_sql_transaction, io_error;
# SQLite's result codes (extended ones start with these); the errnos of a full or read-only
# filesystem.
_STORAGE_SQLSTATES = ("53100", "25006", "58030")
_STORAGE_SQLITE = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")
_STORAGE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)


# The codes of our errors (the tRPC error codes of CONTRACT §6); the protocol side maps them
# to the wire (server/node/wire_errors.py to_trpc): the core imports nothing of the protocol.
ErrorCode = Literal["INTERNAL_SERVER_ERROR", "BAD_REQUEST", "NOT_FOUND", "CONFLICT",
                    "PRECONDITION_FAILED", "UNAUTHORIZED", "FORBIDDEN", "SERVICE_UNAVAILABLE",
                    "TOO_MANY_REQUESTS", "TIMEOUT", "PAYLOAD_TOO_LARGE"]


class ErrandsError(Exception):
    """Something went wrong."""

    code: ErrorCode = "INTERNAL_SERVER_ERROR"

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


class DatabaseTimeout(ErrandsError):
    """The database did not answer within DB_TIMEOUT_SECONDS."""

    code = "SERVICE_UNAVAILABLE"


def storage_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` is storage refusing writes (disk full, read-only), CONTRACT §13."""
    if isinstance(exc, sa_exc.DBAPIError):
        orig = exc.orig
        name = str(getattr(orig, "sqlite_errorname", None) or "")
        state = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
        if name.startswith(_STORAGE_SQLITE) or state in _STORAGE_SQLSTATES:
            return True
        exc = orig if isinstance(orig, BaseException) else exc
    return isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` is the database being unreachable, rather than a bad statement."""
    if isinstance(exc, sa_exc.TimeoutError | DatabaseTimeout):  # no answer in time
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
