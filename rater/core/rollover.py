"""Section 6: the start of a new cycle (流量不清零) and what else happens then.

In order, at the boundary T:
1. unused data of carry-eligible buckets (plan, recurring, night; not in their first
   cycle, not the subscriber's first cycle, not cancelled or changed) becomes a carried
   bucket valid to the new cycle's end; last cycle's carried buckets expire;
2. topup and month_end buckets, cancelled products, expired term packs are removed;
   plan, recurring, directional, night and assured buckets are reset to full;
3. counters reset (overage, fair-use usage, month-end orders; the record ids seen are
   kept: rater.core.duplicates);
4. a throttled line is restored (section 7);
5. a pending plan change and pending orders take effect;
6. fees of the new cycle: monthly fees in full, daily fees start accruing.
"""

from __future__ import annotations

from rater.catalog.decisions import CYCLE_BOUND_KINDS, PLAN_KIND, RENEWING_KINDS
from rater.catalog.model import FeeMode
from rater.core import draw, emit, products, throttling
from rater.core.cycles import cycle_at
from rater.core.events import Event
from rater.core.inputs import SubscriberStatus
from rater.core.runtime import Runtime
from rater.core.state import Bucket, FeeAccrual, Line


def roll_over(rt: Runtime, out: list[Event], line: Line) -> None:
    cat = rt.catalog
    t = line.cycle_end
    new = cycle_at(t, line.cycle_day, rt.offset_ms)
    closed = line.status == SubscriberStatus.CLOSED

    carried: list[Bucket] = []
    if not closed:
        for b in line.buckets:
            if b.remaining > 0 and b.valid_to >= t and draw.would_carry(b, line, cat):
                carried.append(
                    Bucket(
                        id=line.new_bucket_id(b.product),
                        product=b.product,
                        kind=b.kind,
                        unit=b.unit,
                        size=b.remaining,
                        used=0,
                        valid_from=t,
                        valid_to=new.end,
                        carried=True,
                        first_cycle=False,
                        priority=b.priority,
                        activated_at=b.activated_at,
                    )
                )

    cancelled = {s.bucket_id for s in line.subscriptions if s.cancelled}
    kept: list[Bucket] = []
    for b in line.buckets:
        if b.carried or b.id in cancelled or b.kind in CYCLE_BOUND_KINDS:
            continue
        if b.kind == PLAN_KIND:
            if line.pending_plan is not None:
                continue
        elif b.kind not in RENEWING_KINDS:  # term packs keep their own validity
            if b.valid_to > t:
                kept.append(b)
            continue
        b.used = 0
        b.valid_from = t
        b.valid_to = new.end
        b.first_cycle = False
        b.notified = 0
        kept.append(b)
    kept_ids = {b.id for b in kept}
    line.buckets = carried + kept
    line.subscriptions = [s for s in line.subscriptions if s.bucket_id in kept_ids]

    line.cycle_start, line.cycle_end, line.cycle_id, line.cycle_days = (
        new.start,
        new.end,
        new.id,
        new.days,
    )
    line.first_cycle = False
    line.overage_bytes = 0
    line.overage_fen = 0
    line.data_used = 0
    line.month_end_orders = 0
    line.days_accrued = 0
    line.accruals = []

    throttling.restore(rt, out, line, f"restore:{line.msisdn}:{new.id}", t, "new cycle")
    if closed:
        return

    if line.pending_plan is not None:
        plan = cat.plans[line.pending_plan]
        line.pending_plan = None
        products.attach_plan(
            rt, out, line, plan, t, f"fee:{line.msisdn}:{new.id}:{plan.code}", first_cycle=False
        )
    else:
        plan = cat.plans[line.plan]
        _renew_fee(rt, out, line, plan.code, True, plan.fee_fen, plan.fee_mode, t)
    for s in line.subscriptions:
        pack = cat.packs[s.product]
        if pack.kind in RENEWING_KINDS:
            _renew_fee(rt, out, line, pack.code, False, pack.fee_fen, pack.fee_mode, t)

    # The same once-fee pack may be pending twice (a topup ordered twice for next cycle):
    # its place in the list tells the two fees apart.
    pending, line.pending_products = line.pending_products, []
    for i, code in enumerate(pending):
        products.attach_pack(
            rt,
            out,
            line,
            cat.packs[code],
            t,
            f"fee:{line.msisdn}:{new.id}:{code}:pending{i}",
        )


def _renew_fee(
    rt: Runtime,
    out: list[Event],
    line: Line,
    product: str,
    is_plan: bool,
    fee_fen: int,
    mode: FeeMode,
    t: int,
) -> None:
    if fee_fen <= 0:
        return
    if mode == FeeMode.DAILY_BY_USAGE:
        line.accruals.append(FeeAccrual(product, is_plan, fee_fen, 0))
    elif mode == FeeMode.MONTHLY:
        emit.fee(
            rt,
            out,
            line,
            f"fee:{line.msisdn}:{line.cycle_id}:{product}",
            t,
            line.cycle_id,
            product,
            is_plan,
            fee_fen,
            f"monthly fee, renewed for cycle {line.cycle_id}: {fee_fen} fen",
        )
