"""Rating a voice or video call (sections 1 and 3): started minutes, per call; an
incoming call is free; an outgoing one draws the plan's minutes of its kind, then pays
the plan's price per minute."""

from __future__ import annotations

from rater.core.allowance import take
from rater.core.events import ChargeKind, Draw, Event, Unit, new_charge, record_event_id
from rater.core.inputs import Direction, UsageRecord, UsageType
from rater.core.money import call_minutes
from rater.core.reasons import call_reason
from rater.core.runtime import Runtime
from rater.core.state import UNIT_VIDEO, UNIT_VOICE, Line


def rate_call(rt: Runtime, out: list[Event], line: Line, rec: UsageRecord) -> None:
    t = rec.start_time
    minutes = call_minutes(rec.duration_s)
    draws: list[Draw] = []
    overage = free = fen = 0
    kind = "voice" if rec.usage_type == UsageType.VOICE else "video"
    if rec.direction == Direction.MT:
        free = minutes  # incoming calls are free: every minute is accounted as free
        reason = f"{kind} {minutes} min: incoming call, free"
    else:
        unit = UNIT_VOICE if rec.usage_type == UsageType.VOICE else UNIT_VIDEO
        want = minutes
        for b in line.buckets:
            if want and b.unit == unit:
                want = take(rt, out, line, b, want, t, draws)
        overage = want
        plan = rt.catalog.plans[line.plan]
        price = plan.voice_price_fen_per_min if unit == UNIT_VOICE else plan.video_price_fen_per_min
        fen = overage * price
        reason = call_reason(rt, line, kind, minutes, draws, overage, price)
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
            rec.usage_type,
            None,
            minutes,
            Unit.MINUTES,
            tuple(draws),
            overage,
            free,
            fen,
            reason,
        )
    )
