"""Errands from Python: ``Errands`` (sync) and ``AsyncErrands`` over httpx, typed by the
msgspec Structs of :mod:`errands_client.models` (see :mod:`errands_client.client`)."""

from errands_client.client import (
    AsyncBatch,
    AsyncErrands,
    Batch,
    Call,
    Errands,
    ErrandsError,
    Pending,
    Tracked,
)

__all__ = ["AsyncBatch", "AsyncErrands", "Batch", "Call", "Errands", "ErrandsError", "Pending",
           "Tracked"]
