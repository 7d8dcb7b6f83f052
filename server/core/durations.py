"""Duration buckets: how the rollups count attempts' durations (server/db/rollups.py), and so
what the reports' duration percentiles are.

A duration of ``ms`` milliseconds falls in the bucket named by its lowest value: below
``EXACT`` (128 ms) every millisecond is its own bucket; from there on each doubling
``[2**k, 2**(k+1))`` is cut into 64 buckets of equal width (``2**(k-6)`` ms). A bucket's
value (:func:`bucket_value`) is its middle, so a reported percentile is within 1/128 (0.8 %)
of the true one, and exact below 128 ms. Sixty-four buckets a doubling keep a day of one task
type within a few hundred rows however many attempts it had, which is what lets a month's
report read a few thousand rows instead of every attempt (HDR histograms and DDSketch make the
same trade).

:func:`bucket_sql` is the same function in SQL, for the triggers and the rebuild: integer
arithmetic both SQLite and PostgreSQL compute alike.
"""

from __future__ import annotations

from typing import Final

SUB_BUCKET_BITS: Final = 6  # 64 buckets a doubling
EXACT: Final = 1 << (SUB_BUCKET_BITS + 1)  # 128: below it, one bucket a millisecond
_TOP_BIT: Final = 46  # 2**46 ms is over 2,000 years: every duration is below it


def bucket_of(ms: int) -> int:
    """The lowest value of the bucket ``ms`` falls in."""
    if ms < EXACT:
        return ms
    shift = ms.bit_length() - 1 - SUB_BUCKET_BITS
    return (ms >> shift) << shift


def bucket_width(lowest: int) -> int:
    """How many milliseconds the bucket whose lowest value is ``lowest`` holds."""
    if lowest < EXACT:
        return 1
    return 1 << (lowest.bit_length() - 1 - SUB_BUCKET_BITS)


def bucket_value(lowest: int) -> int:
    """The value a bucket stands for in a percentile: its middle millisecond."""
    return lowest + (bucket_width(lowest) - 1) // 2


def bucket_sql(column: str) -> str:
    """:func:`bucket_of` of an integer ``column`` as a SQL expression."""
    steps = [f"WHEN {column} < {EXACT} THEN {column}"]
    for bit in range(SUB_BUCKET_BITS + 2, _TOP_BIT + 1):
        width = 1 << (bit - 1 - SUB_BUCKET_BITS)
        steps.append(f"WHEN {column} < {1 << bit} THEN {column} / {width} * {width}")
    return f"(CASE {' '.join(steps)} ELSE {column} END)"
