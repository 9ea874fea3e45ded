"""Section 12: a valid record that is not rated. It gets an unrated event with its
reason and is charged nothing: late (before the line's cycle, or beyond the duplicate
window), before activation, on a closed account, or international roaming."""

from __future__ import annotations

from rater.core.cycles import DAY_MS
from rater.core.events import Event, UnratedEvent, UnratedReason
from rater.core.inputs import Roaming, SubscriberStatus, UsageRecord
from rater.core.runtime import Runtime
from rater.core.state import Line


def unrated(
    rt: Runtime,
    out: list[Event],
    rec: UsageRecord,
    account: str,
    cycle: str | None,
    reason: UnratedReason,
    detail: str,
    seen_in: str,
) -> None:
    """`seen_in`: the cycle of the record's line when it was rated ("-" with no line)."""
    out.append(
        UnratedEvent(
            event_id=f"unrated:{rec.msisdn}:{seen_in}:{reason}:"
            f"{rec.start_time // DAY_MS}:{rec.record_id}",
            msisdn=rec.msisdn,
            account=account,
            event_time=rec.start_time,
            cycle=cycle,
            catalog_version=rt.version,
            record_id=rec.record_id,
            reason=reason,
            detail=detail,
        )
    )


def beyond_window(rt: Runtime, out: list[Event], line: Line, rec: UsageRecord) -> None:
    """A record older than the duplicate window (rater.core.duplicates): LATE, with the
    same detail each time it comes back, so it is never charged twice."""
    window = rt.duplicate_window_ms
    unrated(
        rt,
        out,
        rec,
        line.account,
        None,
        UnratedReason.LATE,
        f"record starts before the current cycle {line.cycle_id}"
        if rec.start_time < line.cycle_start
        else f"record starts more than {window // 3_600_000} h before the line's latest record",
        line.cycle_id,
    )


def refused(rt: Runtime, out: list[Event], line: Line, rec: UsageRecord) -> bool:
    """Emit the unrated event of a record the line does not rate, and say so; False for
    a record to rate. The reasons in order: closed, before activation, late, roaming."""
    t = rec.start_time
    if line.status == SubscriberStatus.CLOSED:
        reason, cycle, detail = UnratedReason.ACCOUNT_CLOSED, line.cycle_id, "the account is closed"
    elif t < line.activated_at:
        reason, cycle = UnratedReason.BEFORE_ACTIVATION, None
        detail = "record starts before the subscriber was activated"
    elif t < line.cycle_start:
        reason, cycle = UnratedReason.LATE, None
        detail = f"record starts before the current cycle {line.cycle_id}"
    elif rec.roaming == Roaming.INTERNATIONAL:
        reason, cycle = UnratedReason.INTERNATIONAL_ROAMING, line.cycle_id
        detail = "international roaming is rated elsewhere"
    else:
        return False
    unrated(rt, out, rec, line.account, cycle, reason, detail, line.cycle_id)
    return True
