"""Section 2: local time, billing cycles and days, in integer epoch milliseconds.

The catalog's zone has a fixed UTC offset (the loader refuses daylight saving), so
local midnight is a plain integer offset away from UTC and no datetime is built on
the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
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


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm:
    integers only, a few times faster than calendar.timegm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) of a day count since 1970-01-01 (the inverse of the above)."""
    days += 719_468
    era = days // 146_097
    doe = days - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    m = month - 1 + n
    return year + m // 12, m % 12 + 1


@lru_cache(maxsize=4096)
def _cycle(year: int, month: int, cycle_day: int, offset_ms: int) -> Cycle:
    """The cycle starting on local (year, month, cycle_day): a handful per run, so kept
    (a Cycle is immutable)."""
    ny, nm = _add_months(year, month, 1)
    start = _days_from_civil(year, month, cycle_day) * DAY_MS - offset_ms
    end = _days_from_civil(ny, nm, cycle_day) * DAY_MS - offset_ms
    return Cycle(start, end, f"{year:04d}-{month:02d}-{cycle_day:02d}", (end - start) // DAY_MS)


def cycle_at(t: int, cycle_day: int, offset_ms: int) -> Cycle:
    """The cycle with cycle day `cycle_day` that contains UTC time `t`.

    Handbook example: on 18 April with cycle day 15 the cycle is 15 April - 14 May.
    """
    year, month, day = _civil_from_days((t + offset_ms) // DAY_MS)
    if day < cycle_day:
        year, month = _add_months(year, month, -1)
    return _cycle(year, month, cycle_day, offset_ms)


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
