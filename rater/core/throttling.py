"""Section 7: throttling, as rules on a line's state. A line is throttled once: one
throttle event when it goes from full speed to throttled, none while it stays so; it is
restored once, by the next cycle start or by a pack order that adds data (unless the
throttle is the fair-use cap's, which is on the cycle's whole usage)."""

from __future__ import annotations

from rater.catalog.decisions import RESTORE_ON_PACK_ORDER
from rater.catalog.model import Pack, PackKind
from rater.core import emit
from rater.core.events import Event, ThrottleReason, record_event_id
from rater.core.inputs import UsageRecord
from rater.core.runtime import Runtime
from rater.core.state import Line


def throttle(
    rt: Runtime, out: list[Event], line: Line, rec: UsageRecord, reason: str, speed_kbps: int
) -> None:
    """Throttle `line` because of `rec`, unless it already is (once per cycle)."""
    if line.throttled:
        return
    line.throttled = True
    line.throttle_reason = reason
    emit.throttle(
        rt,
        out,
        line,
        record_event_id("throttle", line.msisdn, line.cycle_id, rec),
        rec.start_time,
        reason,
        speed_kbps,
        rec.record_id,
    )


def restore(rt: Runtime, out: list[Event], line: Line, event_id: str, t: int, reason: str) -> None:
    """Full speed again; nothing happens, and no event, for a line that is not throttled."""
    if not line.throttled:
        return
    line.throttled = False
    line.throttle_reason = ""
    emit.restore(rt, out, line, event_id, t, reason)


def lifted_by_order(line: Line, pack: Pack) -> bool:
    """Does ordering `pack` restore the speed of this line? A pack that adds data does
    (even a night pack), but not an assured pack, and not against the fair-use cap."""
    return (
        RESTORE_ON_PACK_ORDER
        and line.throttled
        and pack.data_bytes > 0
        and pack.kind != PackKind.ASSURED
        and line.throttle_reason != ThrottleReason.FAIR_USE_CAP
    )
