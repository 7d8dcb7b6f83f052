"""PURE: what one claim may take — caps per task type and per destination host, pauses,
concurrency keys and rate limits (CONTRACT §10, §15).

The type and host caps are per process: the runner counts what it has in flight, these
functions say which types and hosts are full (skipped by the claim's SQL) and which of the
candidates the claim picked fit the room left, in claim order. Concurrency keys and rate
limits hold across nodes: the claim counts them in the database (:func:`admit` decides with
those counts). A task that does not fit stays ``queued``, holds no worker slot, and is given
the reason it waits (:data:`Fit.waiting`).

Fairness is the claim's order (start-time fair queuing): each task entering ``queued`` gets a
tag one past the larger of its lane's last tag and the head of the line (:func:`next_tags`),
so within a priority the lanes — (client, concurrency key, destination host) — take turns.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from outbound.http import host_key
from schemas.configs import TASK_TYPES


@dataclass(frozen=True)
class Caps:
    """Attempts allowed at once in one process, by task type and by destination host."""

    per_type: Mapping[str, int] = field(default_factory=dict)
    # 0: no fixed cap — a host may take every slot but a reserve (:func:`host_share`).
    per_host: int = 0
    # CLIENT_CONCURRENCY: attempts at once per client (across nodes) of tasks without a
    # concurrency key; 0 for none.
    per_client: int = 0


def host_share(per_host: int, concurrency: int) -> int:
    """Attempts one destination host may have in flight in a process: HOST_CONCURRENCY when
    set, else every slot but an eighth (at least one) kept for other hosts — a burst to one
    host drains at nearly the full rate, and a silent host (its requests hanging until their
    timeout) never holds the slot another host's task needs (CONTRACT §15)."""
    if per_host > 0:
        return per_host
    return max(1, concurrency - max(1, concurrency // 8))


@dataclass(frozen=True)
class Candidate:
    id: str
    task_type: str
    dest_host: str | None
    # Its last attempts were lost (the process died under it, again): it may be the task
    # that kills its process, so it runs apart (:func:`quarantine`).
    suspect: bool = False
    client_id: str | None = None
    concurrency_key: str | None = None
    concurrency_limit: int | None = None
    rate_limit_key: str | None = None


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
    per_host = host_share(caps.per_host, concurrency)
    type_left = {t: cap - by_type[t] for t, cap in caps.per_type.items()}
    host_left = {h: per_host - n for h, n in by_host.items()}
    full_types = frozenset(t for t, left in type_left.items() if left <= 0) | paused
    full_hosts = frozenset(h for h, left in host_left.items() if left <= 0)
    return Room(max(0, concurrency - len(items)), full_types, full_hosts, type_left, host_left)


@dataclass(frozen=True)
class Fit:
    """The candidates taken (in claim order), and why each one left behind waits."""

    chosen: list[Candidate]
    waiting: dict[str, str] = field(default_factory=dict)


def fit(candidates: Sequence[Candidate], room: Room, per_host: int) -> Fit:
    """The candidates (in claim order) that fit the free slots and each cap's room left;
    ``per_host`` as :func:`host_share` gives it."""
    type_left = dict(room.type_left)
    host_left = dict(room.host_left)
    chosen: list[Candidate] = []
    waiting: dict[str, str] = {}
    for c in candidates:
        if len(chosen) >= room.free:
            break
        if c.task_type in room.full_types:
            continue
        if type_left.get(c.task_type, 1) <= 0:
            waiting[c.id] = f"type cap ({c.task_type})"
            continue
        if c.dest_host is not None and host_left.get(c.dest_host, per_host) <= 0:
            waiting[c.id] = f"host cap ({c.dest_host})"
            continue
        chosen.append(c)
        if c.task_type in type_left:
            type_left[c.task_type] -= 1
        if c.dest_host is not None:
            host_left[c.dest_host] = host_left.get(c.dest_host, per_host) - 1
    return Fit(chosen, waiting)


@dataclass(frozen=True)
class Window:
    """A declared rate limit as the claim found it: its limit, its period, and the attempt
    starts counted in the last period (oldest first is enough: ``first``)."""

    limit: int
    period: timedelta
    used: int
    first: datetime | None  # the oldest start still in the window


@dataclass(frozen=True)
class Admitted:
    chosen: list[Candidate]
    waiting: dict[str, str]
    starts: dict[str, int]  # rate-limit key -> starts this claim records
    full_keys: frozenset[str]  # concurrency keys found full (skipped by the next claims)
    full_clients: frozenset[str]
    limited: dict[str, datetime]  # rate-limit key -> when its window next opens


def admit(candidates: Sequence[Candidate], *, now: datetime,
          running_by_key: Mapping[str, int], running_by_client: Mapping[str, int],
          per_client: int, windows: Mapping[str, Window]) -> Admitted:
    """The candidates (in claim order) that keep every concurrency key under its limit,
    each client under ``per_client`` (tasks without a key), and every rate-limited key under
    its limit in the sliding window; the others wait with the reason. ``running_by_*``
    count the attempts in flight on every node."""
    by_key = dict(running_by_key)
    by_client = dict(running_by_client)
    used = {k: w.used for k, w in windows.items()}
    chosen: list[Candidate] = []
    waiting: dict[str, str] = {}
    full_keys: set[str] = set()
    full_clients: set[str] = set()
    limited: dict[str, datetime] = {}
    for c in candidates:
        key, client = c.concurrency_key, c.client_id
        if key is not None and by_key.get(key, 0) >= (c.concurrency_limit or 1):
            waiting[c.id] = f"concurrency key ({key})"
            full_keys.add(key)
            continue
        if key is None and client is not None and per_client > 0 \
                and by_client.get(client, 0) >= per_client:
            waiting[c.id] = f"client concurrency ({client})"
            full_clients.add(client)
            continue
        rate = c.rate_limit_key
        window = windows.get(rate) if rate is not None else None
        if rate is not None and window is not None and used[rate] >= window.limit:
            waiting[c.id] = f"rate limited ({rate})"
            limited[rate] = (window.first or now) + window.period
            continue
        chosen.append(c)
        if key is not None:
            by_key[key] = by_key.get(key, 0) + 1
        elif client is not None:
            by_client[client] = by_client.get(client, 0) + 1
        if rate is not None and window is not None:
            used[rate] += 1
    starts = {k: used[k] - w.used for k, w in windows.items() if used[k] > w.used}
    return Admitted(chosen, waiting, starts, frozenset(full_keys), frozenset(full_clients),
                    limited)


def backlogs_to_mark(decided: Admitted, marked: Mapping[tuple[str, str], datetime], *,
                     now: datetime, every: timedelta) -> dict[tuple[str, str], str]:
    """The queued backlogs to give a waiting reason now, each as (kind, key) -> reason: every
    rate-limit key found used up and concurrency key found full by this claim, unless its
    backlog was marked less than ``every`` ago (one UPDATE per key and window opening, not
    per claim). Tasks the claim never reached then say what they wait for too (CONTRACT
    §15 ``statusReason``)."""
    found = {("rate", key): f"rate limited ({key})" for key in decided.limited}
    found |= {("key", key): f"concurrency key ({key})" for key in decided.full_keys}
    return {k: reason for k, reason in found.items()
            if k not in marked or now - marked[k] >= every}


def lane_of(client_id: str | None, concurrency_key: str | None, host: str | None) -> int:
    """The fairness lane of a task (a signed 64-bit number): claims take turns across
    clients, concurrency keys and destination hosts (CONTRACT §15)."""
    raw = f"{client_id or ''}\x1f{concurrency_key or ''}\x1f{host or ''}".encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big", signed=True)


def next_tags(items: Sequence[tuple[int, int]], head: Mapping[int, int],
              lane_last: Mapping[int, int]) -> list[int]:
    """Fair tags for tasks entering ``queued`` in this order, each (lane, priority rank):
    one past the larger of the lane's last tag and the head of its priority's line (the
    tag the next claim takes), so a lane with a long backlog waits its turn behind a lane
    that just arrived, not the other way round."""
    last = dict(lane_last)
    tags: list[int] = []
    for lane, rank in items:
        tag = max(last.get(lane, 0), head.get(rank, 0)) + 1
        last[lane] = tag
        tags.append(tag)
    return tags


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
