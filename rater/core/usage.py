"""Rating one usage record: the hot path. Sections 1, 3, 5, 7, 8, 10 meet here.

A record belongs to the cycle and time window that contain its start time. It is
either charged (one charge event listing every bucket it drew from), or unrated with
a reason (late, international roaming, closed account, before activation), or a
duplicate of a record already charged this cycle (no event: it was charged once).
"""

from __future__ import annotations

from collections.abc import Callable

from rater.core import draw, emit, fees
from rater.core.duplicates import DAY_MS, prune, record_key, seen_before
from rater.core.events import (
    ChargeKind,
    Draw,
    Event,
    NotificationKind,
    Unit,
    UnratedEvent,
    UnratedReason,
    new_charge,
    new_draw,
)
from rater.core.inputs import Direction, Roaming, SubscriberStatus, UsageRecord, UsageType
from rater.core.money import call_minutes, overage_fen_to_date
from rater.core.runtime import Runtime
from rater.core.state import UNIT_DATA, UNIT_VIDEO, UNIT_VOICE, Account, Bucket, Line

FAIR_USE_CAP = "FAIR_USE_CAP"
ASSURED_EXHAUSTED = "ASSURED_EXHAUSTED"

REASON_MAX = 300  # a charge's `reason` never grows longer than this
REASON_DRAWS = 4  # draws named in a reason; more are counted ("+2 more")


_GB, _MB, _KB = 1 << 30, 1 << 20, 1 << 10


def size_text(n: int) -> str:
    """Bytes for a person, exact to 1/100 of the unit (rounded down), deterministic:
    1 GB, 1.5 MB, 100 B."""
    if n >= _GB:
        size, unit = _GB, " GB"
    elif n >= _MB:
        size, unit = _MB, " MB"
    elif n >= _KB:
        size, unit = _KB, " KB"
    else:
        return f"{n} B"
    q, r = divmod(n * 100 // size, 100)
    if not r:
        return f"{q}{unit}"
    if r % 10:
        return f"{q}.{r:02d}{unit}"
    return f"{q}.{r // 10}{unit}"


def _bounded(text: str) -> str:
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 3] + "..."


def _draws_text(rt: Runtime, line: Line, draws: list[Draw], amount: Callable[[int], str]) -> str:
    parts = []
    for d in draws[:REASON_DRAWS]:
        pack = rt.catalog.packs.get(d.product)
        what = f" ({pack.kind} pack)" if pack is not None else ""
        whose = f" of {d.owner}" if d.owner != line.msisdn else ""
        parts.append(f"{amount(d.amount)} from {d.bucket_id}{what}{whose}")
    if len(draws) > REASON_DRAWS:
        parts.append(f"+{len(draws) - REASON_DRAWS} more")
    return ", ".join(parts)


def data_reason(
    rt: Runtime,
    line: Line,
    volume: int,
    draws: list[Draw],
    overage: int,
    free: int,
    fen: int,
    price: int,
    before_fen: int,
    free_why: str,
) -> str:
    """How a data charge was computed (built only for the charge event being emitted):
    the draws in consumption order, the overage arithmetic with its rounding, what was
    free and why. At most REASON_MAX characters."""
    vol = size_text(volume)
    if len(draws) == 1 and not overage and not free:  # the common case, kept cheap
        d = draws[0]
        pack = rt.catalog.packs.get(d.product)
        what = f" ({pack.kind} pack)" if pack is not None else ""
        whose = f" of {d.owner}" if d.owner != line.msisdn else ""
        amount = vol if d.amount == volume else size_text(d.amount)
        return _bounded(f"data {vol}: {amount} from {d.bucket_id}{what}{whose}")
    text = f"data {vol}"
    if draws:
        text += ": " + _draws_text(rt, line, draws, size_text)
    if overage:
        kb = -(-line.overage_bytes // 1024)
        after = line.overage_fen
        if before_fen:
            text += (
                f"; overage {size_text(overage)} at {price} fen/MB: cycle to date "
                f"ceil({kb} KB * {price} / 1024) = {after} fen - {before_fen} fen before"
                f" = {fen} fen"
            )
        else:
            text += (
                f"; overage {size_text(overage)} at {price} fen/MB = "
                f"ceil({kb} KB * {price} / 1024) = {fen} fen"
            )
    if free:
        text += f"; {size_text(free)} free ({free_why})"
    if not draws and not overage and not free:
        text += ": nothing to draw"
    return _bounded(text)


def call_reason(
    rt: Runtime, line: Line, kind: str, minutes: int, draws: list[Draw], overage: int, price: int
) -> str:
    """How a voice or video charge was computed: minutes, draws, overage price."""
    text = f"{kind} {minutes} min"
    if draws:
        text += ": " + _draws_text(rt, line, draws, lambda n: f"{n} min")
    if overage:
        text += f"; overage {overage} min at {price} fen/min = {overage * price} fen"
    return _bounded(text)


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


def rate(rt: Runtime, out: list[Event], account: Account, line: Line, rec: UsageRecord) -> bool:
    """Rate `rec` on `line` (the clock is already advanced). False for a duplicate."""
    t = rec.start_time
    window = rt.duplicate_window_ms
    if t < account.clock - window:  # beyond the duplicate window (rater.core.duplicates)
        late = t < line.cycle_start  # the same detail each time the record comes back
        unrated(
            rt,
            out,
            rec,
            line.account,
            None,
            UnratedReason.LATE,
            f"record starts before the current cycle {line.cycle_id}"
            if late
            else f"record starts more than {window // 3_600_000} h before the account's clock",
            line.cycle_id,
        )
        return True
    seen = line.seen
    # Remembered whatever the outcome, so a repeat never emits a second event.
    if seen_before(seen, t, record_key(rec.record_id)):
        return False
    if len(seen) > window // DAY_MS + 2:  # a new day's bucket: drop the days out of it
        prune(seen, account.clock, window)
    if line.status == SubscriberStatus.CLOSED:
        unrated(
            rt,
            out,
            rec,
            line.account,
            line.cycle_id,
            UnratedReason.ACCOUNT_CLOSED,
            "the account is closed",
            line.cycle_id,
        )
        return True
    if t < line.activated_at:
        unrated(
            rt,
            out,
            rec,
            line.account,
            None,
            UnratedReason.BEFORE_ACTIVATION,
            "record starts before the subscriber was activated",
            line.cycle_id,
        )
        return True
    if t < line.cycle_start:
        unrated(
            rt,
            out,
            rec,
            line.account,
            None,
            UnratedReason.LATE,
            f"record starts before the current cycle {line.cycle_id}",
            line.cycle_id,
        )
        return True
    if rec.roaming == Roaming.INTERNATIONAL:
        unrated(
            rt,
            out,
            rec,
            line.account,
            line.cycle_id,
            UnratedReason.INTERNATIONAL_ROAMING,
            "international roaming is rated elsewhere",
            line.cycle_id,
        )
        return True
    if rec.usage_type == UsageType.DATA:
        _rate_data(rt, out, account, line, rec)
    else:
        _rate_call(rt, out, line, rec)
    return True


def _take(
    rt: Runtime,
    out: list[Event],
    owner: Line,
    b: Bucket,
    want: int,
    t: int,
    draws: list[Draw],
) -> int:
    """Draw up to `want` from bucket `b` of line `owner`; returns what is still wanted."""
    if not (b.valid_from <= t < b.valid_to):
        return want
    avail = b.size - b.used
    if avail <= 0:
        return want
    take = avail if avail < want else want
    b.used += take
    draws.append(new_draw(b.id, b.product, owner.msisdn, take))
    if b.notified < 100 and b.used * 5 >= b.size * 4:
        _notify_thresholds(rt, out, owner, b, t)
    return want - take


def _notify_thresholds(rt: Runtime, out: list[Event], owner: Line, b: Bucket, t: int) -> None:
    """Each threshold once per bucket per cycle of its line (`b.notified`), hence the ids."""
    if b.notified < 80:
        b.notified = 80
        emit.notify(
            rt,
            out,
            owner,
            f"n80:{owner.msisdn}:{owner.cycle_id}:{b.id}",
            t,
            NotificationKind.USAGE_80,
            "80% of the allowance used",
            b.product,
            b.id,
        )
    if b.used >= b.size:
        b.notified = 100
        emit.notify(
            rt,
            out,
            owner,
            f"n100:{owner.msisdn}:{owner.cycle_id}:{b.id}",
            t,
            NotificationKind.USAGE_100,
            "allowance used up",
            b.product,
            b.id,
        )
        if b.unit == UNIT_DATA and not b.carried:  # a daily fee ends with the data only
            fees.settle_exhausted(
                rt,
                out,
                owner,
                b.product,
                t,
                f"fee:{owner.msisdn}:{owner.cycle_id}:{b.product}:rest:{b.id}",
            )


def _rate_data(
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
                want = _take(rt, out, line, b, want, t, draws)
                if not want:
                    break
    if want and order.night and rt.night_minutes[((t + rt.offset_ms) // 60_000) % 1440]:
        for b in order.night:
            want = _take(rt, out, line, b, want, t, draws)
            if not want:
                break
    if want:
        for b in order.general:
            want = _take(rt, out, line, b, want, t, draws)
            if not want:
                break
    if want and line.sharing_owner is not None:
        owner = account.lines.get(line.sharing_owner)
        if owner is not None and owner.status != SubscriberStatus.CLOSED:
            for b in draw.data_order(owner, rt.catalog).shared:
                want = _take(rt, out, owner, b, want, t, draws)
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
            emit.throttle(
                rt,
                out,
                line,
                f"throttle:{line.msisdn}:{line.cycle_id}:"
                f"{rec.start_time // DAY_MS}:{rec.record_id}",
                t,
                ASSURED_EXHAUSTED,
                rt.catalog.packs[assured.product].throttle_kbps,
                rec.record_id,
            )
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
            f"charge:{line.msisdn}:{line.cycle_id}:{rec.start_time // DAY_MS}:{rec.record_id}",
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
    if cap is not None and line.data_used >= cap:
        emit.throttle(
            rt,
            out,
            line,
            f"throttle:{line.msisdn}:{line.cycle_id}:{rec.start_time // DAY_MS}:{rec.record_id}",
            t,
            FAIR_USE_CAP,
            plan.throttle_kbps,
            rec.record_id,
        )


def _assured(line: Line, t: int) -> Bucket | None:
    for b in line.buckets:
        if b.kind == "assured" and b.valid_from <= t < b.valid_to:
            return b
    return None


def _rate_call(rt: Runtime, out: list[Event], line: Line, rec: UsageRecord) -> None:
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
                want = _take(rt, out, line, b, want, t, draws)
        overage = want
        plan = rt.catalog.plans[line.plan]
        price = plan.voice_price_fen_per_min if unit == UNIT_VOICE else plan.video_price_fen_per_min
        fen = overage * price
        reason = call_reason(rt, line, kind, minutes, draws, overage, price)
    # positional, in ChargeEvent's field order (new_charge skips the frozen __init__)
    out.append(
        new_charge(
            f"charge:{line.msisdn}:{line.cycle_id}:{rec.start_time // DAY_MS}:{rec.record_id}",
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
