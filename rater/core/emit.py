"""Builders for output events, so ids and common fields are made one way everywhere."""

from __future__ import annotations

from rater.core.events import (
    ChargeEvent,
    ChargeKind,
    Event,
    NotificationEvent,
    NotificationKind,
    ThrottleAction,
    ThrottleEvent,
    Unit,
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
    """A fee charge (monthly fee, pro-rata part, daily accrual, pack fee)."""
    if fen <= 0:
        return
    out.append(
        ChargeEvent(
            event_id=event_id,
            msisdn=line.msisdn,
            account=line.account,
            event_time=t,
            cycle=cycle,
            catalog_version=rt.version,
            kind=ChargeKind.PLAN_FEE if is_plan else ChargeKind.PACK_FEE,
            record_id=None,
            usage_type=None,
            product=product,
            quantity=0,
            unit=Unit.NONE,
            draws=(),
            overage=0,
            free=0,
            fen=fen,
            reason=reason,
        )
    )


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
        NotificationEvent(
            event_id=event_id,
            msisdn=line.msisdn,
            account=line.account,
            event_time=t,
            cycle=line.cycle_id,
            catalog_version=rt.version,
            kind=kind,
            product=product,
            bucket_id=bucket_id,
            command_id=command_id,
            reason=reason,
        )
    )


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
    """Section 7: one throttle event when the line goes from full speed to throttled."""
    if line.throttled:
        return
    line.throttled = True
    line.throttle_reason = reason
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
    if not line.throttled:
        return
    line.throttled = False
    line.throttle_reason = ""
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
