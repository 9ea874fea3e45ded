"""Section 10: duplicates, within a bounded window.

A record is charged once however often it is delivered. Remembering every record id of
a cycle costs memory that grows with the cycle (about 267 KB per subscriber at the end
of a month of 100 records a day), so a line remembers only the records of the last
`window_ms` of event time, and refuses anything older:

- The window ends at the line's latest record (`Line.last_usage`, the latest start time
  of a record it remembers; it only moves forward, and only with usage: an order or a
  clock tick does not make a delayed record late). A record that starts more than
  `window_ms` before it is LATE: it is not rated, and its unrated event is the same
  each time it comes back, so a duplicate arriving after the window is never charged
  twice.
- Within the window a record is known by an 8-byte hash of its id (blake2b), kept in a
  bucket per UTC day of its start time (`Line.seen`: day -> keys). A redelivery carries
  the same id and start time, hence the same day and key: it is found, and is a
  DUPLICATE. Two different ids with the same key would make the second one a
  duplicate: with n records in a line's window the chance is about n^2 / 2^65 (3e-15
  for 400 records).
- A day's bucket is dropped once the whole day is older than the window: every record
  of that day is then refused as LATE anyway. Memory per line is at most the records of
  `window_ms` plus a day, whatever the length of the cycle.
- A record id reused on another day, within the window, is another record (its key is
  looked for in its own day only); the ids of its events carry the day, so they differ.

A new cycle does not clear the buckets: records of the closed cycle are LATE anyway
(section 2), and a redelivery of one within the window stays a DUPLICATE.
"""

from __future__ import annotations

from hashlib import blake2b

from rater.core.cycles import DAY_MS, HOUR_MS

DEFAULT_WINDOW_MS = 48 * HOUR_MS


def record_key(record_id: str) -> int:
    """The record id as a signed 64-bit integer: what a line's bucket keeps (Redis keeps
    a set of such integers in 8 bytes a member)."""
    return int.from_bytes(blake2b(record_id.encode(), digest_size=8).digest(), "big", signed=True)


def note_key(days: dict[int, list[int]], start_time: int, record_id: str) -> None:
    """Add a record's key to the list of its day: what a store is asked about (the
    duplicate buckets a batch reads, or reads ahead)."""
    day = start_time // DAY_MS
    keys = days.get(day)
    if keys is None:
        days[day] = [record_key(record_id)]
    else:
        keys.append(record_key(record_id))


def day_of(t: int) -> int:
    """The bucket of a start time: its UTC day since the epoch."""
    return t // DAY_MS


def first_kept_day(last_usage: int, window_ms: int) -> int:
    """The oldest day whose bucket may still hold a record inside the window."""
    return day_of(last_usage - window_ms)


def seen_before(seen: dict[int, set[int]], t: int, key: int) -> bool:
    """Whether the line has the record (start `t`, `key`); if not, remember it."""
    day = t // DAY_MS
    keys = seen.get(day)
    if keys is None:
        seen[day] = {key}
        return False
    if key in keys:
        return True
    keys.add(key)
    return False


def prune(seen: dict[int, set[int]], last_usage: int, window_ms: int) -> None:
    """Drop the buckets of days wholly outside the window."""
    first = first_kept_day(last_usage, window_ms)
    for day in [d for d in seen if d < first]:
        del seen[day]


def dropped_days(before: int, after: int, window_ms: int) -> range:
    """The days whose buckets leave the window when a line's latest record moves from
    `before` to `after`: a store deletes them. No bucket is later than the latest
    record's own day, nor earlier than the first kept day (dropped when the window
    passed it), so this names every bucket to drop and at most a window's worth of
    days."""
    start = first_kept_day(before, window_ms)
    stop = min(first_kept_day(after, window_ms), day_of(before) + 1)
    return range(start, max(start, stop))
