"""The procedure registry: what the server offers, by dotted path, with msgspec types.

A procedure is a query, a mutation or a subscription. Its handler takes ``(ctx, input)``,
where ``input`` is already decoded into ``input_type`` (``None`` for procedures without
input), and returns an object encodable by msgspec (a subscription handler returns an
async iterator of items; an item wrapped in :class:`Tracked` carries an SSE event id).

The registry knows nothing about tasks; the generator of typed clients reads it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

ProcedureKind = Literal["query", "mutation", "subscription"]

T = TypeVar("T")
Handler = Callable[[Any, Any], Awaitable[Any]]
SubscriptionHandler = Callable[[Any, Any], AsyncIterator[Any]]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Tracked(Generic[T]):
    """A subscription item with an id: sent as ``id: <id>`` so that a client can resume."""

    id: str
    data: T


@dataclass(frozen=True)
class Procedure:
    path: str
    kind: ProcedureKind
    input_type: Any  # a msgspec-decodable type, or None for "no input"
    output_type: Any  # a msgspec-encodable type (the item type for subscriptions)
    handler: Callable[[Any, Any], Any]
    permission: str | None = None  # opaque to the protocol; checked by the app's authorize hook
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


class Router:
    """Procedures by path. Paths are dotted (``tasks.get``)."""

    def __init__(self) -> None:
        self.procedures: dict[str, Procedure] = {}

    def add(self, procedure: Procedure) -> None:
        if procedure.path in self.procedures:
            raise ValueError(f"procedure {procedure.path!r} registered twice")
        self.procedures[procedure.path] = procedure

    def _register(
        self, kind: ProcedureKind, path: str, input_type: Any, output_type: Any,
        permission: str | None, description: str,
    ) -> Callable[[F], F]:
        def decorate(fn: F) -> F:
            self.add(Procedure(path, kind, input_type, output_type, fn, permission,
                               description or (fn.__doc__ or "").strip()))
            return fn

        return decorate

    def query(self, path: str, *, input: Any = None, output: Any, permission: str | None = None,
              description: str = "") -> Callable[[F], F]:
        return self._register("query", path, input, output, permission, description)

    def mutation(self, path: str, *, input: Any = None, output: Any, permission: str | None = None,
                 description: str = "") -> Callable[[F], F]:
        return self._register("mutation", path, input, output, permission, description)

    def subscription(self, path: str, *, input: Any = None, output: Any,
                     permission: str | None = None, description: str = "") -> Callable[[F], F]:
        return self._register("subscription", path, input, output, permission, description)

    def get(self, path: str) -> Procedure | None:
        return self.procedures.get(path)
