"""Outbound connections made on a task's behalf: the address guard, the pinned transport and
the guarded proxy a browser connects through.

Neutral: imported by executors and by server services (webhook delivery), importing neither.
"""

from outbound.guard import (
    AddressRefused,
    InvalidDestination,
    NetworkGuard,
    OutboundError,
    ResolutionFailed,
    Resolver,
)
from outbound.proxy import DestinationUnreachable, GuardedProxy
from outbound.transport import PinnedTransport

__all__ = ["AddressRefused", "DestinationUnreachable", "GuardedProxy", "InvalidDestination",
           "NetworkGuard", "OutboundError", "PinnedTransport", "ResolutionFailed", "Resolver"]
