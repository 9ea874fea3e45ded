"""Rating one usage record: the hot path, and the one place that decides a record's
outcome. In order: a record older than the duplicate window is LATE (section 10); a
record the line has seen is a duplicate (no event: it was rated once); a record the
line does not rate gets an unrated event (section 12, `rater.core.unrated`); the rest
is charged, as data (`rater.core.data`) or as a call (`rater.core.calls`).

A record belongs to the cycle and time window that contain its start time.
"""

from __future__ import annotations

from rater.core import unrated
from rater.core.calls import rate_call
from rater.core.cycles import DAY_MS
from rater.core.data import rate_data
from rater.core.duplicates import prune, record_key, seen_before
from rater.core.events import Event
from rater.core.inputs import UsageRecord, UsageType
from rater.core.runtime import Runtime
from rater.core.state import Account, Line


def rate(rt: Runtime, out: list[Event], account: Account, line: Line, rec: UsageRecord) -> bool:
    """Rate `rec` on `line` (the clock is already advanced). False for a duplicate."""
    t = rec.start_time
    window = rt.duplicate_window_ms
    if t < line.last_usage - window:  # beyond the duplicate window (rater.core.duplicates)
        unrated.beyond_window(rt, out, line, rec)
        return True
    seen = line.seen
    # Remembered whatever the outcome, so a repeat never emits a second event.
    if seen_before(seen, t, record_key(rec.record_id)):
        return False
    last = line.last_usage
    if t > last:
        line.last_usage = t
        if (t - window) // DAY_MS > (last - window) // DAY_MS:  # the window's first day moved
            prune(seen, t, window)
    if unrated.refused(rt, out, line, rec):
        return True
    if rec.usage_type == UsageType.DATA:
        rate_data(rt, out, account, line, rec)
    else:
        rate_call(rt, out, line, rec)
    return True
