"""The HighLevel rate budget, on a clock the test controls (and a real loop for waiting)."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from executors.ghl_rate import LocalRateBudget, RateBudget, RateBudgetExhausted


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def budget(limit: int = 10, window: float = 10.0, *, margin_slots: int | None = None,
           margin_seconds: float | None = None) -> tuple[LocalRateBudget, Clock]:
    clock = Clock()
    return LocalRateBudget(limit, window, margin_slots=margin_slots,
                           margin_seconds=margin_seconds, clock=clock), clock


async def take(b: LocalRateBudget, n: int, location: str = "L") -> None:
    for _ in range(n):
        assert b.delay(location) == 0.0
        await b.acquire(location)


def test_local_budget_has_every_method_of_the_protocol_with_its_signature() -> None:
    """The executor calls a RateBudget; a method renamed, made sync or given other parameters
    in LocalRateBudget would only break at run time (a Protocol is not checked at runtime)."""
    wanted = [name for name, member in vars(RateBudget).items()
              if callable(member) and not name.startswith("_")]
    assert sorted(wanted) == ["acquire", "observe", "penalize", "release"]
    for name in wanted:
        expected, actual = getattr(RateBudget, name), getattr(LocalRateBudget, name)
        assert inspect.iscoroutinefunction(actual) == inspect.iscoroutinefunction(expected), name
        assert [(p.name, p.kind) for p in inspect.signature(actual).parameters.values()] == [
            (p.name, p.kind) for p in inspect.signature(expected).parameters.values()], name


def test_capacity_keeps_a_margin() -> None:
    assert LocalRateBudget(100, 10).capacity("L") == 95
    assert LocalRateBudget(100, 10, margin_slots=0).capacity("L") == 100
    assert LocalRateBudget(10, 10).capacity("L") == 10
    assert LocalRateBudget(1, 10, margin_slots=5).capacity("L") == 1


async def test_slots_in_flight_wait_for_an_answer() -> None:
    b, _ = budget(limit=3)
    await take(b, 3)

    assert b.delay("L") is None  # only an answer can free a slot
    assert b.delay("other") == 0.0  # locations are apart


async def test_a_finished_request_counts_for_a_window_after_its_answer() -> None:
    b, clock = budget(limit=2, window=10.0, margin_seconds=0.5)
    await take(b, 2)
    clock.now += 3
    b.release("L")

    assert b.delay("L") == pytest.approx(10.5)
    clock.now += 10.4
    assert b.delay("L") == pytest.approx(0.1)
    clock.now += 0.1
    b.release("L")
    assert b.delay("L") == 0.0


async def test_observe_adopts_a_lower_server_limit_and_a_longer_window() -> None:
    b, clock = budget(limit=100, window=1.0, margin_slots=0, margin_seconds=0)
    b.observe("L", {"X-RATELIMIT-MAX": "3", "x-ratelimit-interval-milliseconds": "5000"})
    await take(b, 3)
    b.release("L")

    assert b.capacity("L") == 3
    assert b.delay("L") is not None
    clock.now += 4.9
    assert b.delay("L") is not None  # the server's 5 s window, not our 1 s
    b.observe("L", {"X-RateLimit-Max": "500"})
    assert b.capacity("L") == 100  # never above what we were configured with


async def test_observe_counts_requests_someone_else_spent() -> None:
    b, _ = budget(limit=10, window=10.0, margin_slots=0)
    await take(b, 1)
    # The server has seen 8 requests in its window; one of them is ours.
    b.observe("L", {"x-ratelimit-max": "10", "X-RateLimit-Remaining": "2"})
    b.release("L")

    await take(b, 2)
    delay = b.delay("L")
    assert delay is not None and delay > 0


async def test_observe_ignores_garbage() -> None:
    b, _ = budget(limit=5)
    b.observe("L", {"x-ratelimit-max": "lots", "x-ratelimit-remaining": "",
                    "x-ratelimit-daily-remaining": "nan"})
    assert b.capacity("L") == 5
    assert b.delay("L") == 0.0


def test_penalize_holds_the_location() -> None:
    b, clock = budget(window=10.0)
    b.penalize("L", 7)
    assert b.delay("L") == pytest.approx(7)
    b.penalize("L", None)  # a 429 without Retry-After: one window
    assert b.delay("L") == pytest.approx(10)
    clock.now += 10
    assert b.delay("L") == 0.0


def test_a_spent_daily_budget_is_refused_not_awaited() -> None:
    b, _ = budget()
    b.observe("L", {"X-RateLimit-Daily-Remaining": "0", "X-RateLimit-Limit-Daily": "200000"})

    with pytest.raises(RateBudgetExhausted) as info:
        b.delay("L")
    assert info.value.retry_after > 0
    b.observe("L", {"X-RateLimit-Daily-Remaining": "5"})
    assert b.delay("L") == 0.0


async def test_acquire_waits_for_a_release_then_the_window() -> None:
    b = LocalRateBudget(1, 0.05, margin_slots=0)
    await b.acquire("L")
    second = asyncio.create_task(b.acquire("L"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not second.done()

    b.release("L")
    await asyncio.wait_for(second, timeout=30)
    assert b.delay("L") is None  # the second request is now in flight


async def test_waiters_are_served_in_order() -> None:
    b = LocalRateBudget(1, 0.01, margin_slots=0)
    order: list[int] = []

    async def one(i: int) -> None:
        await b.acquire("L")
        order.append(i)
        await asyncio.sleep(0)
        b.release("L")

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(5))), timeout=30)
    assert order == [0, 1, 2, 3, 4]


async def test_cancelling_a_waiter_takes_no_slot() -> None:
    b, _ = budget(limit=1, margin_slots=0)
    await b.acquire("L")
    waiter = asyncio.create_task(b.acquire("L"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter

    b.release("L")
    delay = b.delay("L")
    assert delay is not None and delay > 0  # one finished request, nothing in flight


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        LocalRateBudget(0, 10)
    with pytest.raises(ValueError):
        LocalRateBudget(10, 0)
