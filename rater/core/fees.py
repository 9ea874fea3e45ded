"""Section 3 fee modes: monthly (pro-rated at mid-cycle start), daily_by_usage (accrues
by day, rest charged at once when the allowance is used up), once (at order).

Daily parts use the cumulative rule: by the end of day k, floor(fee * k / N) is due,
so a whole cycle charges exactly the fee.
"""

from __future__ import annotations

from rater.catalog.model import FeeMode
from rater.core import emit
from rater.core.cycles import DAY_MS, day_of_cycle
from rater.core.events import Event
from rater.core.money import accrued_fee, prorated_fee
from rater.core.runtime import Runtime
from rater.core.state import UNIT_DATA, Bucket, FeeAccrual, Line


def start_fee(
    rt: Runtime,
    out: list[Event],
    line: Line,
    product: str,
    is_plan: bool,
    fee_fen: int,
    mode: FeeMode,
    t: int,
    event_id: str,
    prorate: bool,
) -> None:
    """Charge (or start accruing) a fee for the rest of the line's current cycle from `t`."""
    if fee_fen <= 0:
        return
    day = max(0, day_of_cycle(line.cycle_start, t))
    if mode == FeeMode.DAILY_BY_USAGE:
        line.accruals.append(FeeAccrual(product, is_plan, fee_fen, day))
        line.days_accrued = max(line.days_accrued, day)
        return
    fen = prorated_fee(fee_fen, day, line.cycle_days) if prorate else fee_fen
    n = line.cycle_days
    if prorate and day > 0:
        why = (
            f"{mode} fee pro-rated by days {n - day}/{n} (days {day + 1}-{n}): "
            f"{fee_fen} - floor({fee_fen} * {day} / {n}) = {fen} fen"
        )
    elif mode == FeeMode.ONCE:
        why = f"once fee at order: {fen} fen"
    elif prorate:
        why = f"{mode} fee, whole cycle: {fen} fen"
    else:
        why = f"{mode} fee at order, not pro-rated: {fen} fen"
    emit.fee(rt, out, line, event_id, t, line.cycle_id, product, is_plan, fen, why)


def accrue_day(rt: Runtime, out: list[Event], line: Line) -> None:
    """The end of day `days_accrued + 1` of the cycle: each running daily fee moves on."""
    k = line.days_accrued + 1
    t = line.cycle_start + k * DAY_MS
    for a in line.accruals:
        if a.done:
            continue
        target = accrued_fee(a.fee_fen, k, line.cycle_days) - accrued_fee(
            a.fee_fen, a.from_day, line.cycle_days
        )
        delta = target - a.charged
        if delta > 0:
            a.charged += delta
            emit.fee(
                rt,
                out,
                line,
                f"fee:{line.msisdn}:{line.cycle_id}:{a.product}:d{k}",
                t,
                line.cycle_id,
                a.product,
                a.is_plan,
                delta,
                _daily_reason(a, k, line.cycle_days, target, delta),
            )
    line.days_accrued = k


def _daily_reason(a: FeeAccrual, k: int, n: int, target: int, delta: int) -> str:
    """Daily accrual day k: what is due by the end of day k, less what was charged."""
    due = f"floor({a.fee_fen} * {k} / {n})"
    if a.from_day:
        due += f" - floor({a.fee_fen} * {a.from_day} / {n})"
    return (
        f"daily fee, day {k} of {n} (daily accrual): {due} = {target} fen due"
        f" - {target - delta} charged = {delta} fen"
    )


def _rest_reason(a: FeeAccrual, rest: int, bucket: str, t: int, line: Line) -> str:
    """Rest on exhaustion: the fee for the accrual's days, less what accrued already."""
    day = max(0, day_of_cycle(line.cycle_start, t)) + 1
    due = str(a.fee_fen)
    if a.from_day:
        due += f" - floor({a.fee_fen} * {a.from_day} / {line.cycle_days})"
    return (
        f"allowance used up: rest of the cycle's fee, on exhaustion of {bucket} on day {day}:"
        f" {due} - {a.charged - rest} accrued = {rest} fen"
    )


def bucket_used_up(rt: Runtime, out: list[Event], line: Line, b: Bucket, t: int) -> None:
    """Bucket `b` of `line` was just used up. A daily_by_usage product's fee ends with
    its own data only: not its minutes, and not data carried from the last cycle."""
    if b.unit == UNIT_DATA and not b.carried:
        settle_exhausted(
            rt,
            out,
            line,
            b.product,
            t,
            f"fee:{line.msisdn}:{line.cycle_id}:{b.product}:rest:{b.id}",
        )


def settle_exhausted(
    rt: Runtime, out: list[Event], line: Line, product: str, t: int, event_id: str
) -> None:
    """The allowance of a daily_by_usage product is used up: charge the rest of its fee now."""
    for a in line.accruals:
        if a.product == product and not a.done:
            rest = prorated_fee(a.fee_fen, a.from_day, line.cycle_days) - a.charged
            a.charged += rest
            a.done = True
            emit.fee(
                rt,
                out,
                line,
                event_id,
                t,
                line.cycle_id,
                product,
                a.is_plan,
                rest,
                _rest_reason(a, rest, event_id.rsplit(":", 1)[-1], t, line),
            )


def stop_accrual(line: Line, product: str) -> None:
    """A cancelled daily product accrues no more (what accrued stays charged)."""
    for a in line.accruals:
        if a.product == product:
            a.done = True


def has_running_accrual(line: Line) -> bool:
    return any(not a.done for a in line.accruals)
