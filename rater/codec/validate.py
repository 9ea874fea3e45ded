"""Cheap plausibility checks of decoded input, before it reaches the rating core.

A record that decodes fine can still be absurd (a corrupt counter in mediation, a clock
in the wrong century). Such records go to the dead-letter topic with the returned
(error_class, message) instead of being rated.
"""

from __future__ import annotations

from typing import Final

from rater.codec.errors import ErrorClass
from rater.core.inputs import UsageRecord

MAX_BYTES_PER_RECORD: Final = 1 << 40  # 1 TiB in one record
MAX_DURATION_S: Final = 48 * 3600
MIN_START_TIME_MS: Final = 946_684_800_000  # 2000-01-01T00:00:00Z

_INVALID: Final = ErrorClass.INVALID_VALUE.value
_FUTURE: Final = ErrorClass.FUTURE_TIMESTAMP.value


def check_usage(rec: UsageRecord, now_ms: int | None, max_future_ms: int) -> tuple[str, str] | None:
    """None if `rec` is plausible, else (error_class, message) with error_class
    INVALID_VALUE or FUTURE_TIMESTAMP.

    Flags: empty record_id or msisdn; uplink/downlink bytes negative or above 1 TiB;
    duration negative or above 48 h; negative sequence; start_time before 2000-01-01 or,
    when `now_ms` is given, more than `max_future_ms` after it. A data record with a
    nonzero duration is fine.
    """
    if not rec.record_id:
        return _INVALID, "empty record_id"
    if not rec.msisdn:
        return _INVALID, f"record {rec.record_id}: empty msisdn"
    up, down = rec.uplink_bytes, rec.downlink_bytes
    if not (0 <= up <= MAX_BYTES_PER_RECORD and 0 <= down <= MAX_BYTES_PER_RECORD):
        return _INVALID, (
            f"record {rec.record_id}: bytes out of range [0, {MAX_BYTES_PER_RECORD}] "
            f"(uplink {up}, downlink {down})"
        )
    if not 0 <= rec.duration_s <= MAX_DURATION_S:
        return _INVALID, (
            f"record {rec.record_id}: duration_s {rec.duration_s} out of range "
            f"[0, {MAX_DURATION_S}]"
        )
    if rec.sequence < 0:
        return _INVALID, f"record {rec.record_id}: negative sequence {rec.sequence}"
    start = rec.start_time
    if start < MIN_START_TIME_MS:
        return _INVALID, f"record {rec.record_id}: start_time {start} is before 2000-01-01"
    if now_ms is not None and start > now_ms + max_future_ms:
        return _FUTURE, (
            f"record {rec.record_id}: start_time {start} is {start - now_ms} ms in the future "
            f"(limit {max_future_ms} ms)"
        )
    return None
