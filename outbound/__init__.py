"""Outbound connections made on a task's behalf: the address guard and the pinned transport.

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
from outbound.transport import PinnedTransport, translated_errors

__all__ = ["AddressRefused", "InvalidDestination", "NetworkGuard", "OutboundError",
           "PinnedTransport", "ResolutionFailed", "Resolver", "translated_errors"]
