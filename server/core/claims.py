"""PURE: what one claim may take — caps per task type and per destination host, and pauses.

CONTRACT §10 "Per-type concurrency" and "Autorun switch". The caps are per process: the
runner counts what it has in flight, these functions say which types and hosts are full
(skipped by the claim's SQL) and which of the candidates the claim picked fit the room left,
in claim order. A task that does not fit stays ``queued`` and holds no worker slot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from outbound.http import host_key
from schemas.configs import TASK_TYPES


@dataclass(frozen=True)
class Caps:
    """Attempts allowed at once in one process, by task type and by destination host."""

    per_type: Mapping[str, int] = field(default_factory=dict)
    per_host: int = 4


@dataclass(frozen=True)
class Candidate:
    id: str
    task_type: str
    dest_host: str | None
    # Its last attempts were lost (the process died under it, again): it may be the task
    # that kills its process, so it runs apart (:func:`quarantine`).
    suspect: bool = False


@dataclass(frozen=True)
class Room:
    """What is left for the next claim: free slots, and the types and hosts already full."""

    free: int
    full_types: frozenset[str]
    full_hosts: frozenset[str]
    type_left: Mapping[str, int]
    host_left: Mapping[str, int]


def room(*, concurrency: int, running: Iterable[tuple[str, str | None]], caps: Caps,
         paused: frozenset[str] = frozenset()) -> Room:
    """``running`` holds (task type, destination host) of each attempt in flight."""
    items = list(running)
    by_type = Counter(t for t, _ in items)
    by_host = Counter(h for _, h in items if h is not None)
    type_left = {t: cap - by_type[t] for t, cap in caps.per_type.items()}
    host_left = {h: caps.per_host - n for h, n in by_host.items()}
    full_types = frozenset(t for t, left in type_left.items() if left <= 0) | paused
    full_hosts = frozenset(h for h, left in host_left.items() if left <= 0)
    return Room(max(0, concurrency - len(items)), full_types, full_hosts, type_left, host_left)


def fit(candidates: Sequence[Candidate], room: Room, per_host: int) -> list[Candidate]:
    """The candidates (in claim order) that fit the free slots and each cap's room left."""
    type_left = dict(room.type_left)
    host_left = dict(room.host_left)
    chosen: list[Candidate] = []
    for c in candidates:
        if len(chosen) >= room.free:
            break
        if c.task_type in room.full_types:
            continue
        if type_left.get(c.task_type, 1) <= 0:
            continue
        if c.dest_host is not None and host_left.get(c.dest_host, per_host) <= 0:
            continue
        chosen.append(c)
        if c.task_type in type_left:
            type_left[c.task_type] -= 1
        if c.dest_host is not None:
            host_left[c.dest_host] = host_left.get(c.dest_host, per_host) - 1
    return chosen


def quarantine(candidates: Sequence[Candidate], *, running: int, suspect_running: bool
               ) -> list[Candidate]:
    """CONTRACT §13 "Fair to the innocent": a suspect (lost again and again) runs alone
    in this process, one at a time, so that if it kills the process again it dies alone and
    only its own lost streak grows.

    In claim order: the candidates before the first suspect are taken; the suspect itself
    only when nothing runs here (it is then the only one taken); nothing behind it is taken
    (it keeps its place in line: the process drains, then runs it). While a suspect runs,
    nothing is taken."""
    if suspect_running:
        return []
    taken: list[Candidate] = []
    for c in candidates:
        if c.suspect:
            return [c] if running == 0 and not taken else taken
        taken.append(c)
    return taken


def dest_host(task_type: str, config: Mapping[str, Any],
              webhook_url: str | None = None) -> str | None:
    """The host key (:func:`outbound.http.host_key`: canonical host, ``:port`` unless the
    scheme's default) a task's config sends its requests to, from the wire form of
    ``executionConfig`` (``TaskTypeSpec.destination``); for a ``notification``, the
    receiver's (``webhook_url``, its webhook's). ``None`` for types without one, and while
    the URL holds a ``{{dep.N}}`` placeholder (the key is found when it is resolved)."""
    spec = TASK_TYPES.get(task_type)
    url: object = webhook_url if task_type == "notification" else (
        spec.destination(config) if spec is not None and spec.destination else None)
    if not isinstance(url, str) or "{{" in url:
        return None
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return host_key(parts.scheme, host, port)[:255]
