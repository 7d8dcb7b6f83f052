"""Identifiers: time-ordered, random-suffixed, prefixed by kind (``tsk_``, ``exe_`` ...)."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
# Every pair of digits, by the 10-bit value it writes: an id's 22 digits are 11 look-ups
# (a divmod loop, or base64.b32encode — pure Python in 3.11 — cost several times more, and
# a task takes three ids).
_PAIRS = tuple(high + low for high in _ALPHABET for low in _ALPHABET)
_SHIFTS = tuple(range(100, -1, -10))


def new_id(prefix: str) -> str:
    """``prefix_`` + 10 chars of milliseconds + 12 random chars (ULID-like, sortable by time):
    the 110-bit number ``ms << 60 | rand`` in base32, most significant digit first."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(8), "big") >> 4  # 60 bits
    value = (ms << 60) | rand
    return prefix + "_" + "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])
