"""The product decisions, in one table that both the catalog loader and the rating core
read: what each pack kind allows and defaults (fee modes, carry-over, data, when an
order takes effect) and how the engine treats it (renewal, removal at the cycle end,
how many may be held, cancelling, sharing); the defaults of fields a catalog may leave
out; and the few rules of the engine an operator might want to change (notification
thresholds, the cycle-day range, whether a pack order lifts a throttle).

docs/rules.md states each rule; docs/catalog.md shows this table as the format's
reference. Change a decision here, nowhere else: the sets the core tests a bucket's
kind against (`CARRY_KINDS`, `RENEWING_KINDS`...) are derived from the table below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from rater.catalog.model import Effective, FeeMode, PackKind

__all__ = [
    "CANCEL_AT_ONCE_KINDS",
    "CARRY_KINDS",
    "CYCLE_BOUND_KINDS",
    "DEFAULT_MONTH_END_MAX_ORDERS",
    "DEFAULT_NIGHT_WINDOW",
    "DEFAULT_PRIORITY",
    "DEFAULT_THROTTLE_KBPS",
    "DEFAULT_TIMEZONE",
    "MAX_CYCLE_DAY",
    "MAX_RATING_GROUP",
    "MIN_CYCLE_DAY",
    "NOTIFY_THRESHOLDS",
    "PACK_KIND_RULES",
    "PER_CYCLE_FEE_MODES",
    "PLAN_FEE_MODES",
    "PLAN_KIND",
    "RENEWING_KINDS",
    "RESTORE_ON_PACK_ORDER",
    "SHARED_KINDS",
    "SINGLE_INSTANCE_KINDS",
    "TERM_VALIDITY_DAYS",
    "KindRule",
]

DEFAULT_TIMEZONE: Final = "Asia/Shanghai"  # configurable per catalog
DEFAULT_NIGHT_WINDOW: Final = ("23:00", "07:00")  # night packs: 23:00-07:00 local
TERM_VALIDITY_DAYS: Final = frozenset({90, 180})  # 90 or 180 days from activation
DEFAULT_MONTH_END_MAX_ORDERS: Final = 5  # at most 5 orders per cycle
DEFAULT_PRIORITY: Final = 100
DEFAULT_THROTTLE_KBPS: Final = 128
MAX_RATING_GROUP: Final = 2**32 - 1  # 3GPP rating groups are unsigned 32-bit

# A subscriber's cycle day (section 2): another is refused (BAD_CYCLE_DAY), so every
# month has the day.
MIN_CYCLE_DAY: Final = 1
MAX_CYCLE_DAY: Final = 28

# Notification thresholds, percent of a bucket, each sent once per bucket per cycle
# (section 11); the last is the bucket used up.
NOTIFY_THRESHOLDS: Final = (80, 100)

# Ordering a data pack while throttled restores the speed (section 7), unless the
# throttle came from the plan's fair-use cap: that cap is on the cycle's whole usage,
# so new data does not lift it.
RESTORE_ON_PACK_ORDER: Final = True

# The kind of a plan's buckets: a plan carries over (if it says so) and is shared.
PLAN_KIND: Final = "plan"

PER_CYCLE_FEE_MODES: Final = frozenset({FeeMode.MONTHLY, FeeMode.DAILY_BY_USAGE})
PLAN_FEE_MODES: Final = PER_CYCLE_FEE_MODES


@dataclass(frozen=True, slots=True)
class KindRule:
    """What the catalog allows and defaults for one pack kind."""

    default_fee_mode: FeeMode
    fee_modes: frozenset[FeeMode]
    default_carries_over: bool
    may_carry_over: bool
    needs_data: bool  # data must be > 0 (False: 0 is allowed, e.g. an assured pack)
    effective: frozenset[Effective]  # when an order of this kind may take effect
    renews: bool  # renewed to full with its fee at each cycle start, while subscribed
    cycle_bound: bool  # removed at the next cycle start
    single_instance: bool  # one of each product at a time (night: one of any product)
    cancel_at_once: bool  # cancelling removes it at once, no refund (else: stops renewing)
    shared: bool  # sharing members draw on the owner's buckets of this kind (section 8)


_ANY_TIME: Final = frozenset(Effective)
_ONCE: Final = frozenset({FeeMode.ONCE})

PACK_KIND_RULES: Final[Mapping[PackKind, KindRule]] = {
    # a fee per cycle, renewed every cycle; carries over
    PackKind.RECURRING: KindRule(
        default_fee_mode=FeeMode.MONTHLY,
        fee_modes=PER_CYCLE_FEE_MODES,
        default_carries_over=True,
        may_carry_over=True,
        needs_data=True,
        effective=_ANY_TIME,
        renews=True,
        cycle_bound=False,
        single_instance=True,
        cancel_at_once=False,
        shared=True,
    ),
    # the full fee at order, removed at the next cycle; never carries
    PackKind.TOPUP: KindRule(
        default_fee_mode=FeeMode.ONCE,
        fee_modes=_ONCE,
        default_carries_over=False,
        may_carry_over=False,
        needs_data=True,
        effective=_ANY_TIME,
        renews=False,
        cycle_bound=True,
        single_instance=False,
        cancel_at_once=True,
        shared=False,
    ),
    # until the end of the current cycle, at most 5 orders a cycle; never carries
    PackKind.MONTH_END: KindRule(
        default_fee_mode=FeeMode.ONCE,
        fee_modes=_ONCE,
        default_carries_over=False,
        may_carry_over=False,
        needs_data=True,
        effective=_ANY_TIME,
        renews=False,
        cycle_bound=True,
        single_instance=False,
        cancel_at_once=False,
        shared=False,
    ),
    # 90 or 180 days from activation, no renewal; never carries
    PackKind.TERM: KindRule(
        default_fee_mode=FeeMode.ONCE,
        fee_modes=_ONCE,
        default_carries_over=False,
        may_carry_over=False,
        needs_data=True,
        effective=_ANY_TIME,
        renews=False,
        cycle_bound=False,
        single_instance=True,
        cancel_at_once=True,
        shared=False,
    ),
    # effective at once, a fee by day by usage; never carries
    PackKind.DIRECTIONAL: KindRule(
        default_fee_mode=FeeMode.DAILY_BY_USAGE,
        fee_modes=frozenset({FeeMode.DAILY_BY_USAGE}),
        default_carries_over=False,
        may_carry_over=False,
        needs_data=True,
        effective=frozenset({Effective.IMMEDIATE}),
        renews=True,
        cycle_bound=False,
        single_instance=True,
        cancel_at_once=True,
        shared=False,
    ),
    # renewed per cycle; its unused data carries over
    PackKind.NIGHT: KindRule(
        default_fee_mode=FeeMode.MONTHLY,
        fee_modes=PER_CYCLE_FEE_MODES,
        default_carries_over=True,
        may_carry_over=True,
        needs_data=True,
        effective=_ANY_TIME,
        renews=True,
        cycle_bound=False,
        single_instance=True,
        cancel_at_once=False,
        shared=False,
    ),
    # renewed per cycle, never carries; may have no data of its own (throttle only)
    PackKind.ASSURED: KindRule(
        default_fee_mode=FeeMode.MONTHLY,
        fee_modes=PER_CYCLE_FEE_MODES,
        default_carries_over=False,
        may_carry_over=False,
        needs_data=False,
        effective=_ANY_TIME,
        renews=True,
        cycle_bound=False,
        single_instance=True,
        cancel_at_once=False,
        shared=False,
    ),
}


def _kinds(column: str) -> frozenset[str]:
    return frozenset(k for k, rule in PACK_KIND_RULES.items() if getattr(rule, column))


# What the rating core tests a bucket's kind against, from the table above.
# May carry unused data into the next cycle, if its product says so (section 6).
CARRY_KINDS: Final = _kinds("may_carry_over") | {PLAN_KIND}
# Sharing members draw on the owner's buckets of these kinds only (section 8).
SHARED_KINDS: Final = _kinds("shared") | {PLAN_KIND}
# Renewed to full at each cycle start while subscribed (section 6).
RENEWING_KINDS: Final = _kinds("renews")
# Removed at the next cycle start; term packs expire by their own validity.
CYCLE_BOUND_KINDS: Final = _kinds("cycle_bound")
# One of each product at a time (section 4).
SINGLE_INSTANCE_KINDS: Final = _kinds("single_instance")
# Cancelling removes the bucket at once; the others stop renewing, kept to the cycle end.
CANCEL_AT_ONCE_KINDS: Final = _kinds("cancel_at_once")
