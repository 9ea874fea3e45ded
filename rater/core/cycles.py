"""Section 2: local time, billing cycles and days, in integer epoch milliseconds.

The catalog's zone has a fixed UTC offset (the loader refuses daylight saving), so
local midnight is a plain integer offset away from UTC and no datetime is built on
the hot path.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DAY_MS = 86_400_000
MINUTE_MS = 60_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Cycle:
    """One billing cycle: [start, end) in UTC ms, its id (local start date) and length."""

    start: int
    end: int
    id: str
    days: int


def day_of_cycle(cycle_start: int, t: int) -> int:
    """0-based local day of a cycle (that starts at local midnight) that contains `t`."""
    return (t - cycle_start) // DAY_MS


def _local_midnight_ms(year: int, month: int, day: int, offset_ms: int) -> int:
    return calendar.timegm((year, month, day, 0, 0, 0)) * 1000 - offset_ms


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    m = month - 1 + n
    return year + m // 12, m % 12 + 1


def cycle_at(t: int, cycle_day: int, offset_ms: int) -> Cycle:
    """The cycle with cycle day `cycle_day` that contains UTC time `t`.

    Handbook example: on 18 April with cycle day 15 the cycle is 15 April - 14 May.
    """
    local = datetime.fromtimestamp((t + offset_ms) / 1000, tz=UTC)
    year, month = local.year, local.month
    if local.day < cycle_day:
        year, month = _add_months(year, month, -1)
    ny, nm = _add_months(year, month, 1)
    start = _local_midnight_ms(year, month, cycle_day, offset_ms)
    end = _local_midnight_ms(ny, nm, cycle_day, offset_ms)
    return Cycle(start, end, f"{year:04d}-{month:02d}-{cycle_day:02d}", (end - start) // DAY_MS)


def minute_of_day(t: int, offset_ms: int) -> int:
    return ((t + offset_ms) // MINUTE_MS) % 1440


def next_midnight(t: int, offset_ms: int) -> int:
    """The first local midnight strictly after `t`."""
    return ((t + offset_ms) // DAY_MS + 1) * DAY_MS - offset_ms


def to_ms(iso: str) -> int:
    """ISO-8601 with an offset (or Z) to epoch ms; for tests, examples and the CLI. A time
    without an offset is refused (ValueError), never guessed: the one rule for every
    time a person writes (command options, subscribers and usage files)."""
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"time {iso!r} has no UTC offset (write e.g. {iso}+08:00)")
    # in integers: float seconds times 1000 lands 1 ms early for some millisecond times
    # (…14.965 -> …14.964), and `rater record --from` would then copy a message of that ms
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def from_ms(t: int, offset_ms: int = 0) -> str:
    """Epoch ms to a readable local ISO time (offset given in ms)."""
    from datetime import timezone

    tz = timezone(timedelta(milliseconds=offset_ms))
    return datetime.fromtimestamp(t / 1000, tz=tz).isoformat(timespec="seconds")
