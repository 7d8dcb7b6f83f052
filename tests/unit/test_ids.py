"""new_id: prefix, 22 Crockford base32 digits (10 of milliseconds, 12 random), sortable."""

from __future__ import annotations

import re
import time

from server.core.ids import new_id

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def digits(value: int, length: int) -> str:
    """The reference: ``value`` in base32, most significant digit first."""
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(length)))


def test_the_shape_and_the_time_part() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id("tsk")
    after = time.time_ns() // 1_000_000
    assert re.fullmatch(r"tsk_[0-9a-hjkmnp-tv-z]{22}", made)
    stamp = made[4:14]
    assert digits(before, 10) <= stamp <= digits(after, 10)


def test_ids_sort_by_time_and_do_not_repeat() -> None:
    made = []
    for _ in range(3):
        made.append(new_id("exe"))
        time.sleep(0.002)
    assert made == sorted(made)
    assert len({new_id("exe") for _ in range(10_000)}) == 10_000


def test_the_random_part_uses_all_digits() -> None:
    seen = set().union(*(new_id("x")[-12:] for _ in range(500)))
    assert seen == set(ALPHABET)
