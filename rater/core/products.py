"""Putting a plan or a pack on a line: its buckets, its subscription and its fee."""

from __future__ import annotations

from rater.catalog.decisions import PLAN_KIND
from rater.catalog.model import Pack, PackKind, Plan
from rater.core import draw, fees
from rater.core.cycles import DAY_MS
from rater.core.events import Event
from rater.core.runtime import Runtime
from rater.core.state import UNIT_DATA, UNIT_VIDEO, UNIT_VOICE, Bucket, Line, Subscription

PLAN_PRIORITY = 100


def attach_plan(
    rt: Runtime,
    out: list[Event],
    line: Line,
    plan: Plan,
    t: int,
    fee_event_id: str,
    first_cycle: bool,
) -> None:
    """The plan's included data and minutes from `t` to the cycle end, and its fee.
    `first_cycle`: put on by a command (a new line, a change at once), it is in its first
    cycle even from the cycle start, and carries nothing out of it; put on by the clock
    at a cycle start (a change for the next cycle), it is not."""
    line.plan = plan.code
    for unit, size in (
        (UNIT_DATA, plan.data_bytes),
        (UNIT_VOICE, plan.voice_min),
        (UNIT_VIDEO, plan.video_min),
    ):
        if size > 0:
            line.buckets.append(
                Bucket(
                    id=line.new_bucket_id(f"{plan.code}.{unit}"),
                    product=plan.code,
                    kind=PLAN_KIND,
                    unit=unit,
                    size=size,
                    used=0,
                    valid_from=t,
                    valid_to=line.cycle_end,
                    first_cycle=first_cycle,
                    priority=PLAN_PRIORITY,
                    activated_at=t,
                )
            )
    fees.start_fee(
        rt,
        out,
        line,
        plan.code,
        True,
        plan.fee_fen,
        plan.fee_mode,
        t,
        fee_event_id,
        prorate=plan.prorate_first_cycle,
    )


def detach_plan(line: Line) -> None:
    """Remove the plan's buckets (its remaining data does not carry) and stop its daily fee."""
    line.buckets = [b for b in line.buckets if not (b.kind == PLAN_KIND and not b.carried)]
    fees.stop_accrual(line, line.plan)


def attach_pack(
    rt: Runtime,
    out: list[Event],
    line: Line,
    pack: Pack,
    t: int,
    fee_event_id: str,
) -> Bucket:
    """One bucket for one order: valid to the cycle end, or `validity_days` for a term pack.
    Ordered after the cycle start, its first cycle is partial (`draw.partial_cycle`)."""
    valid_to = (
        t + pack.validity_days * DAY_MS
        if pack.kind == PackKind.TERM and pack.validity_days
        else line.cycle_end
    )
    bucket = Bucket(
        id=line.new_bucket_id(pack.code),
        product=pack.code,
        kind=pack.kind,
        unit=UNIT_DATA,
        size=pack.data_bytes,
        used=0,
        valid_from=t,
        valid_to=valid_to,
        first_cycle=draw.partial_cycle(line, t),
        priority=pack.priority,
        activated_at=t,
    )
    line.buckets.append(bucket)
    line.subscriptions.append(Subscription(pack.code, t, bucket.id))
    # not pro-rated: a monthly pack ordered mid-cycle pays its whole fee at order
    fees.start_fee(
        rt,
        out,
        line,
        pack.code,
        False,
        pack.fee_fen,
        pack.fee_mode,
        t,
        fee_event_id,
        prorate=False,
    )
    return bucket
