"""Rating a data record: the draws in consumption order (section 5, `draw.data_order`),
then what is left: free and throttled under an assured pack or past the fair-use cap,
else overage (sections 1 and 7); one charge event that lists every draw."""

from __future__ import annotations

from rater.catalog.model import PackKind
from rater.core import draw, throttling
from rater.core.allowance import take
from rater.core.events import (
    ChargeKind,
    Draw,
    Event,
    ThrottleReason,
    Unit,
    new_charge,
    record_event_id,
)
from rater.core.inputs import SubscriberStatus, UsageRecord, UsageType
from rater.core.money import overage_fen_to_date
from rater.core.reasons import data_reason
from rater.core.runtime import Runtime
from rater.core.state import Account, Bucket, Line


def rate_data(
    rt: Runtime, out: list[Event], account: Account, line: Line, rec: UsageRecord
) -> None:
    t = rec.start_time
    volume = rec.uplink_bytes + rec.downlink_bytes
    want = volume
    draws: list[Draw] = []
    order = draw.data_order(line, rt.catalog)
    if want and order.directional and rec.province == line.home_province:
        for b in order.directional:
            apps, groups = rt.directional_match[b.product]
            if rec.app_id in apps or rec.rating_group in groups:
                want = take(rt, out, line, b, want, t, draws)
                if not want:
                    break
    if want and order.night and rt.at_night(t):
        for b in order.night:
            want = take(rt, out, line, b, want, t, draws)
            if not want:
                break
    if want:
        for b in order.general:
            want = take(rt, out, line, b, want, t, draws)
            if not want:
                break
    if want and line.sharing_owner is not None:
        owner = account.lines.get(line.sharing_owner)
        if owner is not None and owner.status != SubscriberStatus.CLOSED:
            for b in draw.data_order(owner, rt.catalog).shared:
                want = take(rt, out, owner, b, want, t, draws)
                if not want:
                    break

    overage = free = fen = before = 0
    free_why = ""
    plan = rt.catalog.plans[line.plan]
    cap = plan.fair_use_cap_bytes
    if want:
        assured = _assured(line, t)
        if assured is not None:
            free = want
            free_why = f"assured pack {assured.product}: throttled"
            speed = rt.catalog.packs[assured.product].throttle_kbps
            throttling.throttle(rt, out, line, rec, ThrottleReason.ASSURED_EXHAUSTED, speed)
        else:
            overage = want
            if cap is not None:
                room = cap - line.data_used - (volume - want)
                overage = max(0, min(want, room))
                free = want - overage
                free_why = "fair-use cap reached: throttled"
            if overage:
                before = line.overage_fen
                line.overage_bytes += overage
                line.overage_fen = overage_fen_to_date(
                    line.overage_bytes, plan.data_price_fen_per_mb
                )
                fen = line.overage_fen - before
    line.data_used += volume
    # positional, in ChargeEvent's field order (new_charge skips the frozen __init__)
    out.append(
        new_charge(
            record_event_id("charge", line.msisdn, line.cycle_id, rec),
            line.msisdn,
            line.account,
            t,
            line.cycle_id,
            rt.version,
            ChargeKind.USAGE,
            rec.record_id,
            UsageType.DATA,
            None,
            volume,
            Unit.BYTES,
            tuple(draws),
            overage,
            free,
            fen,
            data_reason(
                rt,
                line,
                volume,
                draws,
                overage,
                free,
                fen,
                plan.data_price_fen_per_mb,
                before,
                free_why,
            ),
        )
    )
    if cap is not None and line.data_used >= cap:  # reaching the cap exactly throttles
        throttling.throttle(rt, out, line, rec, ThrottleReason.FAIR_USE_CAP, plan.throttle_kbps)


def _assured(line: Line, t: int) -> Bucket | None:
    """The line's assured pack in force at `t`: what is left is free and throttled."""
    for b in line.buckets:
        if b.kind == PackKind.ASSURED and b.valid_from <= t < b.valid_to:
            return b
    return None
