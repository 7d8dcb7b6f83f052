"""In-process fan-out of task events to subscribers (``tasks.onChange``).

Events are rows of ``task_events`` written in the same transaction as the change they
describe; after commit the writer publishes them here. A subscriber that falls behind
(its queue overflows) is told so and re-reads from the table, so it misses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PublishedEvent:
    id: int
    task_id: str
    # The TaskEvent, JSON-encoded; empty when it was not built (nobody listened, or a bulk
    # change did not read its rows back): a subscriber then reads the event from the table.
    payload: bytes


@dataclass(eq=False)
class Subscription:
    task_id: str | None
    queue: asyncio.Queue[PublishedEvent] = field(
        default_factory=lambda: asyncio.Queue(maxsize=10_000))
    lagged: bool = False


class EventHub:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self.last_id = 0

    def subscribe(self, task_id: str | None) -> Subscription:
        sub = Subscription(task_id)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, events: Iterable[PublishedEvent]) -> None:
        for ev in events:
            self.last_id = max(self.last_id, ev.id)
            for sub in self._subs:
                if sub.task_id is not None and sub.task_id != ev.task_id:
                    continue
                try:
                    sub.queue.put_nowait(ev)
                except asyncio.QueueFull:
                    sub.lagged = True

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)
