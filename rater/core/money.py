"""Section 1 of the rules: units, money and rounding. Integer fen, no floats.

Every amount that is split over time or over records is computed as a difference of
cumulative totals, so that the parts always add up exactly to the whole.
"""

from __future__ import annotations

KB = 1024


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def overage_fen_to_date(overage_bytes: int, price_fen_per_mb: int) -> int:
    """Cumulative overage charge of a cycle: per started KB, priced per MB.

    `ceil(ceil(bytes / 1024) * price / 1024)`; a record pays `to_date(after) - to_date(before)`.
    """
    return ceil_div(ceil_div(overage_bytes, KB) * price_fen_per_mb, KB)


def call_minutes(duration_s: int) -> int:
    """Started minutes of one call; a 0-second call is 0 minutes."""
    return ceil_div(duration_s, 60)


def accrued_fee(fee_fen: int, days: int, cycle_days: int) -> int:
    """What is due of a daily fee by the end of `days` days of a `cycle_days` cycle."""
    return fee_fen * days // cycle_days


def prorated_fee(fee_fen: int, from_day: int, cycle_days: int) -> int:
    """The part of a fee for days `from_day`..end of a cycle (0-based day index)."""
    return fee_fen - accrued_fee(fee_fen, from_day, cycle_days)
