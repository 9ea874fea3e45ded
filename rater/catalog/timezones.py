"""The catalog's time zone: an IANA name whose UTC offset is the same all year.

The rating core turns local times (cycle starts, the night window, daily fees) into
epoch milliseconds with one fixed offset, so a zone with daylight saving, or one that
changes its offset in the years around now, is refused when the catalog loads.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "TZ_CHECK_STEP",
    "TZ_CHECK_YEARS_AFTER",
    "TZ_CHECK_YEARS_BEFORE",
    "fixed_utc_offset_minutes",
]

# How many years around "now" the time zone is checked for a constant UTC offset.
TZ_CHECK_YEARS_BEFORE: Final = 2
TZ_CHECK_YEARS_AFTER: Final = 5
TZ_CHECK_STEP: Final = timedelta(hours=12)
# Zone names that load but do not name a real place: refused.
_NOT_A_PLACE: Final = frozenset({"localtime", "Factory", "posixrules"})


def fixed_utc_offset_minutes(name: str, around: datetime | None = None) -> int:
    """The UTC offset, in minutes, of an IANA time zone that has one offset all year.

    The offset is sampled every 12 hours from TZ_CHECK_YEARS_BEFORE years before `around`
    (default: now) to TZ_CHECK_YEARS_AFTER years after it: a zone with daylight saving, or
    one that changes its offset in that span, raises ValueError; so does an unknown name.
    """
    now = around or datetime.now(UTC)
    return _fixed_offset(name, now.year - TZ_CHECK_YEARS_BEFORE, now.year + TZ_CHECK_YEARS_AFTER)


@functools.lru_cache(maxsize=64)
def _fixed_offset(name: str, first_year: int, last_year: int) -> int:
    if name in _NOT_A_PLACE:
        raise ValueError(f"{name!r} is not an IANA time zone name (expected e.g. Asia/Shanghai)")
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r} (expected an IANA name such as Asia/Shanghai)"
        ) from None
    moment = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year, 12, 31, 12, tzinfo=UTC)
    first = moment.astimezone(zone).utcoffset()
    assert first is not None  # a ZoneInfo always knows its offset
    while moment <= end:
        offset = moment.astimezone(zone).utcoffset()
        if offset != first:
            raise ValueError(
                f"time zone {name} has no fixed UTC offset: it changes from "
                f"{_show_offset(first)} to {_show_offset(offset)} around "
                f"{moment.date().isoformat()} (daylight saving?); the rater needs a zone "
                f"with one offset all year, such as Asia/Shanghai"
            )
        moment += TZ_CHECK_STEP
    seconds = int(first.total_seconds())
    if seconds % 60:
        raise ValueError(f"time zone {name} has a UTC offset that is not whole minutes")
    return seconds // 60


def _show_offset(offset: timedelta | None) -> str:
    if offset is None:
        return "?"
    total = int(offset.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    hours, minutes = divmod(abs(total), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"
