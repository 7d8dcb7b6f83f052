"""Identifiers: time-ordered, random-suffixed, prefixed by kind (``tsk_``, ``exe_`` ...)."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    """``prefix_`` + 10 chars of milliseconds + 12 random chars (ULID-like, sortable by time)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(8), "big") >> 4  # 60 bits
    return f"{prefix}_{_b32(ms, 10)}{_b32(rand, 12)}"
