"""Our exceptions on the wire: the one mapping from the exception tree of server/core/errors.py
to tRPC errors, which the app hands the protocol layer (``TRPCApp(map_error=to_trpc)``). The
core, the database layer and the services import nothing of server.rpc; this is where the two
meet.
"""

from __future__ import annotations

from server.core.errors import (
    ConfigurationError,
    ErrandsError,
    InvalidInput,
    database_unavailable,
    storage_unavailable,
)
from server.rpc.errors import TRPCError


def to_trpc(exc: BaseException) -> TRPCError | None:
    """The one mapping from our exceptions to tRPC errors; ``None`` for anything unknown."""
    if isinstance(exc, TRPCError):
        return exc
    if storage_unavailable(exc):
        return TRPCError("SERVICE_UNAVAILABLE",
                         "storage is unavailable (disk full or database read-only); "
                         "nothing was saved, try again later",
                         headers={"retry-after": "5"})
    if database_unavailable(exc):
        return TRPCError("SERVICE_UNAVAILABLE",
                         "the database is unavailable; try again shortly",
                         headers={"retry-after": "1"})
    if isinstance(exc, InvalidInput):
        return TRPCError("BAD_REQUEST", exc.message, issues=exc.issues)
    if isinstance(exc, ErrandsError) and not isinstance(exc, ConfigurationError):
        return TRPCError(exc.code, exc.message)
    return None
