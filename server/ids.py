"""Identifiers: time-ordered, random-suffixed, prefixed by kind (``tsk_``, ``exe_`` ...)."""

from __future__ import annotations

import base64
import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
# RFC 4648 base32 digits → ours, digit for digit (base64.b32encode is C; a loop of divmods
# in Python cost more than the rest of an id).
_FROM_RFC4648 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())


def new_id(prefix: str) -> str:
    """``prefix_`` + 10 chars of milliseconds + 12 random chars (ULID-like, sortable by time).

    The 22 characters are the 110-bit number ``ms << 60 | rand`` in base32, most significant
    digit first: encoded as 15 bytes (120 bits, 24 digits) whose first two digits are 0.
    """
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(8), "big") >> 4  # 60 bits
    digits = base64.b32encode(((ms << 60) | rand).to_bytes(15, "big"))
    return f"{prefix}_{digits[2:].translate(_FROM_RFC4648).decode('ascii')}"
