"""Builders for output events, so ids and common fields are made one way everywhere."""

from __future__ import annotations

from rater.core.events import (
    ChargeKind,
    Event,
    NotificationKind,
    ThrottleAction,
    ThrottleEvent,
    Unit,
    new_charge,
    new_notification,
)
from rater.core.runtime import Runtime
from rater.core.state import Line


def fee(
    rt: Runtime,
    out: list[Event],
    line: Line,
    event_id: str,
    t: int,
    cycle: str,
    product: str,
    is_plan: bool,
    fen: int,
    reason: str,
) -> None:
    """A fee charge (monthly fee, pro-rata part, daily accrual, pack fee). `reason` states
    the fee rule and the sum, as the caller computed it."""
    if fen <= 0:
        return
    out.append(
        new_charge(
            event_id,
            line.msisdn,
            line.account,
            t,
            cycle,
            rt.version,
            ChargeKind.PLAN_FEE if is_plan else ChargeKind.PACK_FEE,
            None,
            None,
            product,
            0,
            Unit.NONE,
            (),
            0,
            0,
            fen,
            reason,
        )
    )  # positional, field order


def notify(
    rt: Runtime,
    out: list[Event],
    line: Line,
    event_id: str,
    t: int,
    kind: NotificationKind,
    reason: str,
    product: str | None = None,
    bucket_id: str | None = None,
    command_id: str | None = None,
) -> None:
    out.append(
        new_notification(
            event_id,
            line.msisdn,
            line.account,
            t,
            line.cycle_id,
            rt.version,
            kind,
            product,
            bucket_id,
            command_id,
            reason,
        )
    )  # positional, field order


def throttle(
    rt: Runtime,
    out: list[Event],
    line: Line,
    event_id: str,
    t: int,
    reason: str,
    speed_kbps: int,
    record_id: str | None,
) -> None:
    """A throttle event; whether the line is throttled is `rater.core.throttling`'s rule."""
    out.append(
        ThrottleEvent(
            event_id=event_id,
            msisdn=line.msisdn,
            account=line.account,
            event_time=t,
            cycle=line.cycle_id,
            catalog_version=rt.version,
            action=ThrottleAction.THROTTLE,
            speed_kbps=speed_kbps,
            reason=reason,
            record_id=record_id,
        )
    )


def restore(rt: Runtime, out: list[Event], line: Line, event_id: str, t: int, reason: str) -> None:
    """A restore event (see `rater.core.throttling.restore`)."""
    out.append(
        ThrottleEvent(
            event_id=event_id,
            msisdn=line.msisdn,
            account=line.account,
            event_time=t,
            cycle=line.cycle_id,
            catalog_version=rt.version,
            action=ThrottleAction.RESTORE,
            speed_kbps=None,
            reason=reason,
            record_id=None,
        )
    )
