"""The tRPC v11 HTTP protocol (docs/PROTOCOL.md): registry, errors, the ASGI app, Litestar mount."""

from server.rpc.app import RequestInfo, TRPCApp
from server.rpc.errors import CODES, TRPCError
from server.rpc.registry import Procedure, Router, Tracked

__all__ = ["CODES", "Procedure", "RequestInfo", "Router", "TRPCApp", "TRPCError", "Tracked"]
